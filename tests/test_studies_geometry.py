"""The studies after the first three in report order (today adversarial, memorization,
freedom, scaling, phase diagram, settled, authors, and any study added later) in --smoke
mode; see test_studies.py for the checks, shared here. They write under one parent, so
they share one cell store and one teacher store (as the real studies do): a cell or a
teacher that two studies need is trained once."""

import pytest

from tests.test_studies import LATER, check_smoke_run


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


@pytest.mark.parametrize("name", LATER)
def test_study_smoke(name, study_root):
    check_smoke_run(name, study_root)


def test_authors_reports_each_seed_runs_start_end_and_fall(study_root):
    """per_run.csv: one row per seed-run of every part (smoke: 2 data lines × N = 2 × 2
    seeds), its centred C_within at the start and the end, the fall between them, its gates."""
    import pandas as pd

    from tests.test_studies import _run_here as _run

    out = study_root / "authors"
    if not (out / "report.md").exists():  # run alone or reordered: make the cells first
        check_smoke_run("authors", study_root)
    if "pending" in (out / "report.md").read_text():  # a test below set a cell aside
        assert _run("authors", "--smoke", "--report-only", "--out", str(out)).returncode == 0
    table = pd.read_csv(out / "per_run.csv")
    assert sorted(zip(table.data, table.dim, table.seed, strict=True)) == [
        (data, 2, seed) for data in ("shells", "subspaces") for seed in (0, 1)
    ]
    fall = table.copying_within_centred_start - table.copying_within_centred_end
    assert ((table.fall - fall).abs() < 1e-3 * (1 + fall.abs())).all()
    assert {"passes", "converged", "why"} <= set(table.columns)


@pytest.mark.parametrize(
    "flags",
    [["--report-only"], ["--data", "shells"], ["--parts", "shells-authors-lr-seeds0-1"]],
)
def test_authors_reads_finished_cells_of_parts_it_does_not_train(study_root, flags):
    """With a subspaces cell missing from the store, `--report-only` (and `--data shells`
    or `--parts <a shells part>`, which train only those) reports the finished cells, lists
    the missing part as pending, answers "inconclusive" and trains nothing of it."""
    import json

    from tests.test_studies import _run_here as _run

    out = study_root / "authors"
    if not (out / "report.md").exists():  # run alone or reordered: make the cells first
        check_smoke_run("authors", study_root)
    part = "subspaces-authors-lr-seeds0-1"
    cell = json.loads((out / part / "manifest.json").read_text())["cells"][0]["id"]
    store = study_root / "cells-smoke"
    aside = study_root / "aside"
    aside.mkdir(exist_ok=True)
    moved = [f.rename(aside / f.name) for f in store.glob(f"{cell}.*")]
    try:
        res = _run("authors", "--smoke", "--out", str(out), *flags)
        assert res.returncode == 0, res.stderr[-3000:]
        assert not list(store.glob(f"{cell}.*"))  # nothing was trained
        report = (out / "report.md").read_text()
        assert f"- `{part}`: pending at N = [2]" in report
        assert "| shells | authors-lr | 2 |" in report
        assert "| subspaces |" not in report
        meta = json.loads((out / "study.json").read_text())
        assert meta["verdict"] == "inconclusive at this budget"
        assert meta["evidence"].startswith("not finished (1 part pending)")
    finally:
        for f in moved:
            f.rename(store / f.name)


def test_authors_data_option_names_the_allowed_lines_before_compute(tmp_path):
    from tests.test_studies import _run_here as _run

    res = _run("authors", "--smoke", "--data", "subspaces,blobs", "--out", str(tmp_path / "a"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "authors: --data='subspaces,blobs' is invalid: allowed data lines ['shells', 'subspaces']"
    )
    assert not (tmp_path / "a").exists()


def test_authors_parts_option_names_the_allowed_parts_before_compute(tmp_path):
    from tests.test_studies import _run_here as _run

    res = _run("authors", "--smoke", "--parts", "shells-nope", "--out", str(tmp_path / "a"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "authors: --parts='shells-nope' is invalid: allowed parts (smoke) "
        "['shells-authors-lr-seeds0-1', 'subspaces-authors-lr-seeds0-1']"
    )
    assert not (tmp_path / "a").exists()


def test_settled_arms_option_names_the_allowed_arms_before_compute(tmp_path):
    from tests.test_studies import _run_here as _run

    res = _run("settled", "--smoke", "--arms", "cosine,nope", "--out", str(tmp_path / "s"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "settled: --arms='cosine,nope' is invalid: allowed arms ['cosine']"
    )
    assert not (tmp_path / "s").exists()  # nothing was set up, let alone trained


def test_settled_reads_each_dim_of_a_staged_arm_at_its_latest_complete_stage():
    """A stage begun at one d (seeds 0-1 of 4 at 200 steps) does not hide the stage before
    it, complete at every d: d = 8 is read at 100 steps (4 seeds), d = 2 at 200 (its 4
    seeds finished there), d = 32 at 200 (it has no complete stage: its latest is taken)."""
    import pandas as pd
    from settled import latest_per_dim

    def rows(d, seeds, window):
        return pd.DataFrame({"dim": d, "seed": list(seeds), "window": window})

    at_200 = pd.concat([rows(2, range(4), 200), rows(8, range(2), 200), rows(32, [0], 200)])
    at_100 = pd.concat([rows(2, range(4), 100), rows(8, range(4), 100), rows(32, [1], 100)])
    table, windows = latest_per_dim([(at_200, 200), (at_100, 100)], seeds=4)
    assert windows == {2: 200, 8: 100, 32: 200}
    for d, window in windows.items():
        assert set(table[table.dim == d].window) == {window}
    assert table.groupby("dim").seed.nunique().to_dict() == {2: 4, 8: 4, 32: 1}


def test_authors_drift_reads_the_fall_over_passing_seed_runs_only():
    """N = 2: every passing seed-run falls by ≈ 0.5 (its interval excludes 0); N = 8: none
    falls; a seed-run failing the gates with a fall of 9 is left out of both."""
    import pandas as pd
    from authors import drift_lines

    rows = [("s", "a", 2, seed, 0.5 + 0.01 * seed, 0.0, True) for seed in range(3)]
    rows += [("s", "a", 8, seed, 0.2, 0.2 + 0.01 * (seed - 1), True) for seed in range(3)]
    rows += [("s", "a", 8, 3, 9.0, 0.0, False)]
    per_run = pd.DataFrame(rows, columns=["data", "arm", "dim", "seed",
                                          "copying_within_centred_start",
                                          "copying_within_centred_end", "passes"])  # fmt: skip
    per_run["fall"] = per_run.copying_within_centred_start - per_run.copying_within_centred_end
    (line,) = drift_lines(per_run, [("s", "a")])
    assert "N = 2 (n = 3): 0.51 ± 0.02 → 0.00 ± 0.00, fall 0.51 ± 0.02" in line
    assert "N = 8 (n = 3): 0.20 ± 0.00 → 0.20 ± 0.02, fall 0.00 ± 0.02" in line
    assert line.endswith("holds 0 at 1 of 2 N with ≥ 3 seed-runs.")


def test_authors_evidence_adds_the_other_tests_that_hold_after_holm():
    """Primary pair (shells) with two passing seed-runs: inconclusive. The second pair
    (subspaces): the end pairing rises with N over 3 × 3 passing seed-runs (Spearman p ≈
    0.0, Holm keeps it), each N's start equal to its end, so the fall holds 0 at 3 of 3 N;
    a failing seed-run with a fall of 9 counts in neither."""
    import pandas as pd
    from authors import answer

    rows = [("shells", "no-regression", 2, seed, 0.1, 0.1, seed < 2) for seed in range(4)]
    for i, d in enumerate((2, 8, 32)):
        start = [0.1 * i + 0.01 * seed for seed in range(3)]
        rows += [("subspaces", "no-regression", d, seed, start[seed],
                  start[seed] + 0.001 * (seed - 1), True) for seed in range(3)]  # fmt: skip
    rows += [("subspaces", "no-regression", 32, 3, 9.0, 0.0, False)]
    per_run = pd.DataFrame(rows, columns=["data", "arm", "dim", "seed",
                                          "copying_within_centred_start",
                                          "copying_within_centred_end", "passes"])  # fmt: skip
    per_run["fall"] = per_run.copying_within_centred_start - per_run.copying_within_centred_end
    per_run["why"] = ""
    _, verdict, _ = answer(per_run)
    assert verdict[0] == "inconclusive at this budget"
    head, also = verdict[1].split("; besides the primary test, ")
    assert head == "fewer than four seed-runs pass the gates on shells, no-regression"
    assert also.startswith("on subspaces, no-regression the end pairing rises with N (ρ = +0.95")
    assert "over 9 passing seed-runs" in also
    assert also.endswith("its fall from the start's pairing: interval holds 0 at 3 of 3 N")

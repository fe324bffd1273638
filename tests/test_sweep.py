"""The sweep store and CLI on the tiny preset: schema, atomic cells, resume, shards, errors."""

import json
import os

import pandas as pd
import pytest

from dmdlab.cli import main
from dmdlab.plotting import plot_sweep
from dmdlab.presets import PRESETS
from dmdlab.store import cell_id
from dmdlab.summary import format_summary, summarize
from dmdlab.sweep import SweepSpec, run_sweep

# One compiled program serves every cell: only a dynamic field (a learning rate) varies.
LR_GRID = ["generator_lr=0.001,0.0005,0.0002"]


def _spec(seeds=2):
    return SweepSpec.build("tiny", ["dim=2"], LR_GRID, seeds)


class Interrupt(Exception):
    pass


def _kill_after_first_cell(msg):
    if "generator_lr" in msg and "[" in msg:  # the per-cell line, printed after the write
        raise Interrupt


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    results = run_sweep(_spec(), out, progress=False, plot=True, log=lambda m: None)
    return out, results


def test_store_schema_manifest_and_figures(uninterrupted):
    out, results = uninterrupted
    required = {
        "dim", "seed", "step", "copying", "mode_agreement", "kappa", "pairing_inefficiency",
        "teacher_pairing_inefficiency", "coverage_min", "coverage_max", "loglik_gap",
        "diverged", "generator_lr", "fake_ratio", "init", "teacher", "cell",
    }  # fmt: skip
    assert required <= set(results.columns)
    stored = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(stored, results)
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(results) == 3 * 2 * 3  # cells × seeds × recorded steps
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("base_config", "grid", "seeds", "dmdlab_version", "git_commit", "jax_version",
                "device_kind", "device_count", "cell_timings", "total_compile_s"):  # fmt: skip
        assert key in manifest
    assert manifest["grid"] == {"generator_lr": [0.001, 0.0005, 0.0002]}
    # a grid over a dynamic field compiles at most twice: the first cell's program trains
    # the teachers, the next loads them (the program that takes a stored teacher), and
    # every later cell reuses that one from memory (counted from JAX's monitoring events;
    # an earlier test in this process may have built either)
    sources = [manifest["cell_timings"][c["id"]]["compile_source"] for c in manifest["cells"]]
    assert sources[2:] == ["memory"], sources
    loaded = [manifest["cell_timings"][c["id"]]["loaded"] for c in manifest["cells"]]
    assert loaded == [0, 2, 2], loaded  # the teachers trained once
    for name in ("copying_vs_dim.png", "fidelity_vs_dim.png", "copying_over_training.png",
                 "kappa_by_seed.png", "pairings.png"):  # fmt: skip
        assert (out / name).stat().st_size > 10_000
    # each cell keeps its pairs for the pictures: z, T(z) and G(z) at the first and last record
    from dmdlab.store import load_pairs

    pairs = load_pairs(out / "cells", results.cell.iloc[0])
    assert pairs["student"].shape[:2] == (2, 3) and pairs["z"].shape == (2, 64, 2)
    assert list(pairs["eval_index"]) == [0, 1, 2]
    assert not list(out.rglob(".*.tmp-*"))  # atomic writes leave no temporaries
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.pickle"))


def test_interrupted_sweep_resumes_without_recomputing(tmp_path, uninterrupted):
    _, full = uninterrupted
    with pytest.raises(Interrupt):
        run_sweep(_spec(), tmp_path, progress=False, plot=False, log=_kill_after_first_cell)
    assert len(list((tmp_path / "cells").glob("*.parquet"))) == 1
    assert not (tmp_path / "results.parquet").exists()
    first = next((tmp_path / "cells").glob("*.parquet"))
    mtime = first.stat().st_mtime_ns
    # a half-written temporary from a killed writer is not a finished cell
    (tmp_path / "cells" / ".deadbeef.parquet.tmp-1").write_bytes(b"partial")
    logs = []
    resumed = run_sweep(_spec(), tmp_path, progress=False, plot=False, log=logs.append)
    assert any("1 of 3 cells already finished" in m for m in logs)
    assert first.stat().st_mtime_ns == mtime  # not recomputed
    pd.testing.assert_frame_equal(resumed, full)  # nothing lost, nothing duplicated


def test_a_rerun_that_trains_nothing_keeps_the_manifest_of_the_run_that_trained(
    tmp_path, uninterrupted
):
    """Every cell reused: the manifest (its date, commit, wall, skipped count) is left as
    the training run wrote it; one that no longer describes the sweep is rewritten."""
    import shutil

    out, full = uninterrupted
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = (copy / "manifest.json").read_bytes()
    rerun = run_sweep(_spec(), copy, progress=False, plot=False, log=lambda m: None)
    pd.testing.assert_frame_equal(rerun, full)
    assert (copy / "manifest.json").read_bytes() == before
    assert json.loads(before)["cells_skipped_this_run"] == 0  # the run that trained them
    stale = json.loads(before) | {"seeds": [9]}
    (copy / "manifest.json").write_text(json.dumps(stale))
    run_sweep(_spec(), copy, progress=False, plot=False, log=lambda m: None)
    rewritten = json.loads((copy / "manifest.json").read_text())
    assert rewritten["seeds"] == [0, 1]
    assert rewritten["cells_skipped_this_run"] == 3


def test_changed_config_is_a_new_cell(tmp_path, uninterrupted):
    a = _spec().cells()[0]
    assert cell_id(a, (0, 1)) != cell_id(a.replace(fake_ratio=3), (0, 1))
    assert cell_id(a, (0, 1)) != cell_id(a, (0, 1, 2))


def test_shards_merge_into_the_unsharded_table(tmp_path, uninterrupted):
    _, full = uninterrupted
    for i in range(3):
        part = run_sweep(_spec(), tmp_path, shard=(i, 3), progress=False, plot=False,
                         log=lambda m: None)  # fmt: skip
        assert (part is None) == (i < 2)  # only the last shard finds every cell done
    merged = run_sweep(_spec(), tmp_path, progress=False, plot=False, log=lambda m: None)
    pd.testing.assert_frame_equal(merged, full)


def test_summary_excludes_diverged_seeds_and_says_so(uninterrupted, tmp_path):
    _, full = uninterrupted
    broken = full.copy()
    last = broken.step == broken.step.max()
    hit = last & (broken.seed == 1) & (broken.generator_lr == 0.001)
    broken.loc[hit, "diverged"] = True
    broken.loc[hit, "copying"] = float("nan")
    table = summarize(broken, by=["generator_lr"])
    row = table[table.generator_lr == 0.001].iloc[0]
    assert row.seeds == 1 and row.diverged == 1
    ok = full[last & (full.seed == 0) & (full.generator_lr == 0.001)].copying.iloc[0]
    assert row.copying == pytest.approx(ok)
    assert "1 seed-run(s) diverged and are excluded" in format_summary(broken, by=["generator_lr"])
    # every run diverged: the summary says so, the figures are skipped, nothing raises
    gone = full.assign(diverged=True)
    assert format_summary(gone, by=["generator_lr"]).startswith("Every seed-run diverged")
    assert plot_sweep(gone, tmp_path, grid=["generator_lr"]) == []


@pytest.mark.parametrize(
    "argv, field",
    [
        (["sweep", "--preset", "tiny", "--grid", "dim=-3,4"], "dim"),
        (["sweep", "--preset", "tiny", "--grid", "dimm=3"], "dimm"),
        (["sweep", "--preset", "tiny", "--set", "n_modes=two"], "n_modes"),
        (["sweep", "--preset", "tiny", "--set", "teacher=gan"], "teacher"),
        (["sweep", "--preset", "nope"], "preset"),
        (["run", "--preset", "tiny", "--set", "mode_std=0"], "mode_std"),
    ],
)
def test_cli_rejects_bad_values_before_running(argv, field, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert field in err
    assert not (tmp_path / "x").exists()  # nothing ran, nothing was written


def test_cli_help_lists_presets(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in ("default", "full", "tiny", "--grid", "--set", "--shard", "gan_weight"):
        assert name in text


def test_cli_run_and_plot(tmp_path, capsys):
    out = tmp_path / "one"
    argv = ["run", "--preset", "tiny", "--set", "dim=2", "--set", "generator_lr=0.001"]
    assert main([*argv, "--seeds", "2", "--no-plot", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Summary at generator step 40" in text and "No run diverged." in text
    assert (out / "results.parquet").exists()
    assert not list(out.glob("*.png"))  # `dmdlab run` skips its figures on request
    assert main(["plot", str(out)]) == 0
    assert (out / "copying_vs_dim.png").exists()


def test_zip_ties_a_field_to_the_first_grid_field():
    spec = SweepSpec.build("tiny", [], ["dim=2,4", "generator_lr=0.001,0.0005"], 2,
                           ["steps=20,40"])  # fmt: skip
    cells = spec.cells()
    assert [(c.dim, c.generator_lr, c.steps) for c in cells] == [
        (2, 0.001, 20), (2, 0.0005, 20), (4, 0.001, 40), (4, 0.0005, 40),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="--zip steps: 1 value"):
        SweepSpec.build("tiny", [], ["dim=2,4"], 2, ["steps=20"])
    with pytest.raises(ValueError, match="given twice"):
        SweepSpec.build("tiny", ["steps=20"], ["dim=2,4"], 2, ["steps=20,40"])
    # the default preset's budgets follow d, also over a subset of its dims
    preset = PRESETS["default"]
    dims = preset.grid["dim"]

    def zipped(field, i):
        values = preset.zipped.get(field)
        return getattr(preset.base, field) if values is None else values[i]

    expected = {d: (zipped("steps", i), zipped("teacher_steps", i)) for i, d in enumerate(dims)}
    assert len(set(expected.values())) > 1  # the budgets do follow d
    budget = {c.dim: (c.steps, c.teacher_steps) for c in SweepSpec.build("default").cells()}
    assert budget == expected
    subset = SweepSpec.build("default", [], [f"dim={dims[-1]},{dims[0]}"]).cells()
    assert {(c.dim, c.steps, c.teacher_steps) for c in subset} == {
        (d, *expected[d]) for d in (dims[-1], dims[0])
    }
    assert {c.steps for c in SweepSpec.build("default", [], ["dim=3,5"]).cells()} == {
        preset.base.steps
    }  # dims the preset has no budget for take its base's
    # repeated grid values would count the same seeds twice; empty and repeated flags
    for bad, match in ((["dim=2,2"], "repeated"), (["dim=2,,4"], "empty value"),
                       (["dim=2", "dim=4"], "given twice")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            SweepSpec.build("tiny", [], bad, 2)
    with pytest.raises(ValueError, match="given twice"):
        SweepSpec.build("tiny", ["steps=20", "steps=40"], [], 2)
    # pinning the only swept field leaves a one-point sweep over d, not an empty grid
    assert SweepSpec.build("tiny", ["dim=2"], [], 2).grid == {"dim": [2]}
    # the CLI rejects a misaligned --zip before anything runs
    assert main(["sweep", "--preset", "tiny", "--zip", "steps=20,40,60"]) == 2


def test_cli_bad_paths_end_in_one_line(tmp_path, capsys):
    """No traceback for a sweep directory that is not one, or an --out that is a file."""
    assert main(["plot", str(tmp_path / "nowhere")]) == 2
    assert "is not a finished sweep directory" in capsys.readouterr().err
    afile = tmp_path / "a_file"
    afile.write_text("x")
    assert main(["sweep", "--preset", "tiny", "--out", str(afile)]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert main(["sweep", "--preset", "tiny", "--out", str(afile / "below")]) == 2
    assert "cannot write to --out" in capsys.readouterr().err
    sweep_dir = tmp_path / "damaged"
    sweep_dir.mkdir()
    (sweep_dir / "results.parquet").write_bytes(b"PAR1 garbage")
    (sweep_dir / "manifest.json").write_text("{not json")
    assert main(["plot", str(sweep_dir)]) == 2
    assert "holds a damaged results table or manifest.json" in capsys.readouterr().err


def test_damaged_or_swapped_cells_are_set_aside_and_recomputed(tmp_path, uninterrupted):
    """A truncated parquet, a missing json and two swapped cells: each is reported by id,
    moved aside, recomputed, and the merged table equals the uninterrupted one."""
    import shutil

    src, full = uninterrupted
    shutil.copytree(src / "cells", tmp_path / "cells")
    ids = [cell_id(c, _spec().seeds) for c in _spec().cells()]
    cells = tmp_path / "cells"
    a, b, c = (cells / f"{i}.parquet" for i in ids)
    a.write_bytes(a.read_bytes()[: a.stat().st_size // 2])  # cut in half
    tmp = cells / "swap"
    os.replace(b, tmp)
    os.replace(c, b)
    os.replace(tmp, c)  # b holds c's rows and c holds b's
    logs = []
    merged = run_sweep(_spec(), tmp_path, progress=False, plot=False, log=logs.append)
    assert sum("moved aside" in m for m in logs) == 3, logs
    assert any("unreadable" in m for m in logs) and any("another cell" in m for m in logs)
    assert len(list(cells.glob("*.damaged"))) == 6  # parquet + json of each
    pd.testing.assert_frame_equal(merged, full)
    # a table whose metadata is gone is not trusted either
    (cells / f"{ids[0]}.json").unlink()
    logs.clear()
    again = run_sweep(_spec(), tmp_path, progress=False, plot=False, log=logs.append)
    assert any(ids[0] in m and "unreadable" in m for m in logs)
    pd.testing.assert_frame_equal(again, full)


def test_a_kill_at_any_write_then_a_rerun_equals_an_uninterrupted_sweep(
    tmp_path, uninterrupted, monkeypatch
):
    """Property over kill points: the sweep is killed during its k-th file write (the
    temporary half written, as a SIGKILL would leave it), for k drawn at random from
    every write a sweep makes (3 per cell, 3 to merge); the rerun equals the
    uninterrupted table and leaves no half cell behind."""
    import numpy as np

    from dmdlab import store as store_module

    _, full = uninterrupted
    real_write = store_module._atomic_write
    n_writes = 3 * 3 + 3
    rng = np.random.default_rng(20261129)
    kills = sorted({int(k) for k in rng.choice(n_writes, size=4, replace=False)} | {2})
    for k in kills:  # k = 2 is the first cell's table, right after its metadata
        out = tmp_path / f"kill-{k}"
        count = [0]

        def dying_write(path, write, k=k, count=count):
            if count[0] == k:
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                tmp.write_bytes(b"half")
                raise Interrupt(path.name)
            count[0] += 1
            real_write(path, write)

        monkeypatch.setattr(store_module, "_atomic_write", dying_write)
        with pytest.raises(Interrupt):
            run_sweep(_spec(), out, progress=False, plot=False, log=lambda m: None)
        monkeypatch.setattr(store_module, "_atomic_write", real_write)
        logs = []
        resumed = run_sweep(_spec(), out, progress=False, plot=False, log=logs.append)
        assert not any("moved aside" in m for m in logs), (k, logs)  # no half cell seen
        pd.testing.assert_frame_equal(resumed, full, obj=f"kill at write {k}")


def test_progress_shows_each_phase_and_a_cached_program_says_so(tmp_path, uninterrupted, capsys):
    """On a terminal the bar names the running cell's phase and, while it trains, its
    latest record; off a terminal (progress=None under pytest) there is no bar, only one
    line per cell, which says whether its program was compiled or loaded from a cache (the
    fixture compiled this one, in this process, so here it is reused; the bar's program
    is another: it reports its records)."""
    spec = SweepSpec.build("tiny", ["dim=2"], ["generator_lr=0.001"], 2)
    lines = []
    run_sweep(spec, tmp_path / "bar", progress=True, plot=False, log=lines.append)
    err = capsys.readouterr().err
    for phase in ("compiling", "training", "evaluating"):
        assert f"generator_lr=0.001: {phase}" in err
    steps = spec.base.steps
    assert f"generator_lr=0.001: step {steps}/{steps} · κ " in err
    run_sweep(spec, tmp_path / "plain", progress=None, plot=False, log=lines.append)
    assert "cells" not in capsys.readouterr().err  # no bar
    assert sum("generator_lr=0.001: κ=" in m and " load " in m for m in lines) == 1


def test_a_cell_written_before_a_new_field_existed_stays_valid(tmp_path, uninterrupted):
    """cell_id hashes the non-default fields: a field added later (with a default that
    keeps the old behaviour) leaves a stored cell's id and validity as they were."""
    import json

    from dmdlab.store import cell_id, check_cell

    spec = SweepSpec.build("tiny", [], ["dim=2"], 2)
    config, seeds = spec.units()[0]
    store = tmp_path / "cells"
    run_sweep(spec, tmp_path, plot=False, progress=False, log=lambda m: None)
    cid = cell_id(config, seeds)
    meta_path = store / f"{cid}.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["cd_ema"]  # as an older version, which had no such field, wrote it
    meta_path.write_text(json.dumps(meta))
    assert check_cell(store, cid, config, seeds) is None
    # a stored value that differs from today's default is still a different config
    meta["config"]["eval_n"] = config.eval_n + 1
    meta_path.write_text(json.dumps(meta))
    assert "another config" in check_cell(store, cid, config, seeds)


def test_a_cell_reused_by_another_sweep_carries_that_sweeps_labels(tmp_path):
    """A cell is keyed by its config, whichever sweep stored it: reused by a sweep that
    grids protocol=dmd2,regressed it reads that sweep's label, and reused by a sweep
    without bundles it has no protocol column."""
    store = tmp_path / "cells"

    def sweep(name, sets, grids=(), log=lambda m: None):
        spec = SweepSpec.build("tiny", ["dim=2", "init_steps=20", *sets], list(grids), 2)
        return run_sweep(spec, tmp_path / name, cell_store=store, progress=False, plot=False,
                         log=log)  # fmt: skip

    sweep("regressed", ["init=regressed"])  # stored without a label
    logs = []
    bundled = sweep("bundled", [], ["protocol=dmd2,regressed"], logs.append)
    assert any("1 of 2 cells already finished" in m for m in logs)
    half = len(bundled) // 2
    assert bundled.groupby("protocol").size().to_dict() == {"dmd2": half, "regressed": half}
    plain = sweep("plain", [])  # the dmd2 cell, stored with protocol=dmd2
    assert "protocol" not in plain.columns

"""Study scripts run end to end in --smoke mode and write parseable outputs; the
report collects them. Studies are discovered (studies/_registry.py): the first three in
report order run here, the rest in test_studies_geometry.py (two files let the test
workers run them side by side).

Each study writes into its own directory under one temporary parent, so they share
one cell store (as the real studies do) and identical cells are trained once.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "studies"))
from _registry import studies  # noqa: E402

ALL = [entry.name for entry in studies()]
STUDIES, LATER = ALL[:3], ALL[3:]


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, f"studies/{script}.py", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _run_here(script: str, *args: str) -> subprocess.CompletedProcess:
    """studies/<script>.py's ``main(args)`` in this process, as :func:`_run` reports it:
    the script's own code and arguments, with the worker's compiled programs and caches
    shared (a study's smoke run in a fresh process spent ~10 s importing and compiling
    what the worker already had)."""
    import contextlib
    import importlib
    import io

    module = importlib.import_module(script)
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            module.main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
            if not isinstance(exit_.code, int | None):
                print(exit_.code, file=sys.stderr)
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def check_smoke_run(name: str, root: Path) -> None:
    """Run one study in --smoke mode into root/name and check what it wrote."""
    out = root / name
    res = _run_here(name, "--smoke", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((out / "study.json").read_text())
    assert meta["study"] == name and meta["mode"] == "smoke"
    report = (out / "report.md").read_text()
    assert report.startswith("# ") and "Regenerate: `python studies/" in report
    assert "Machine:" in report and "s summed over cells" in report
    for line in report.splitlines():
        if line.startswith("!["):  # every embedded figure exists
            assert (out / line.split("(")[1].rstrip(")")).exists(), line
    for part in meta["parts"]:
        table = pd.read_parquet(out / part / "results.parquet")
        assert len(table) and table.copying.notna().any()
        assert json.loads((out / part / "manifest.json").read_text())["cell_store"]
    assert meta["grid_points"] >= 1 and 0 <= meta["low_fidelity_points"] <= meta["grid_points"]


@pytest.mark.parametrize("name", STUDIES)
def test_study_smoke(name, study_root):
    check_smoke_run(name, study_root)


def test_report_collects_the_studies_that_ran(study_root):
    # normally the smoke tests above have written these; run alone (or reordered by a
    # scheduler), this test runs the missing studies itself rather than skipping
    for name in STUDIES:
        if not (study_root / name / "report.md").exists():
            check_smoke_run(name, study_root)
    target = study_root / "REPORT.md"
    res = _run("report", "--root", str(study_root), "--output", str(target))
    assert res.returncode == 0, res.stderr[-3000:]
    text = target.read_text()
    for name in STUDIES:
        assert f"({name}/" in text  # figures re-linked relative to REPORT.md
        assert f"`python studies/{name}.py --smoke`" in text
    for name in set(ALL) - set(STUDIES):  # not run here: listed, with no claims
        assert f"| {name} |" in text and f'<a id="{name}">' not in text
    assert "not run on the current world yet" in text


def test_bad_flag_is_rejected_before_compute():
    res = _run("adversarial", "--quick", "--smoke")
    assert res.returncode == 2 and "not allowed with argument" in res.stderr


def test_a_study_is_one_file(tmp_path):
    """A script that declares ORDER, CLAIM and SETTLE is listed (after the others by its
    ORDER); one that declares only some of them is an error that names what it lacks."""
    (tmp_path / "zeta.py").write_text('ORDER = 9\nCLAIM = "a new claim"\nSETTLE = "more seeds"\n')
    (tmp_path / "_helper.py").write_text("x = 1\n")
    (tmp_path / "alpha.py").write_text('ORDER = 1\nCLAIM = "first"\nSETTLE = "s"\n')
    assert [e.name for e in studies(tmp_path)] == ["alpha", "zeta"]
    assert studies(tmp_path)[1].claim == "a new claim"
    (tmp_path / "broken.py").write_text('ORDER = 5\nCLAIM = "half declared"\n')
    with pytest.raises(ValueError, match=r"broken\.py is not a study: it lacks SETTLE"):
        studies(tmp_path)
    assert "phase_diagram" in ALL and ALL[0] == "dimension"

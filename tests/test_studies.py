"""Every study script runs end to end in --smoke mode and writes parseable outputs.

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
STUDIES = ["dimension", "adversarial", "memorization", "freedom", "scaling", "phase_diagram"]


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, f"studies/{script}.py", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.mark.parametrize("name", STUDIES)
def test_study_smoke(name, study_root):
    out = study_root / name
    res = _run(name, "--smoke", "--out", str(out))
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


def test_report_collects_every_study(study_root):
    missing = [n for n in STUDIES if not (study_root / n / "report.md").exists()]
    if missing:
        pytest.skip(f"smoke outputs missing for {missing} (run with the smoke tests)")
    target = study_root / "REPORT.md"
    res = _run("report", "--root", str(study_root), "--output", str(target))
    assert res.returncode == 0, res.stderr[-3000:]
    text = target.read_text()
    for name in STUDIES:
        assert f"({name}/" in text  # figures re-linked relative to REPORT.md
    assert "python studies/adversarial.py --smoke" in text


def test_bad_flag_is_rejected_before_compute():
    res = _run("adversarial", "--quick", "--smoke")
    assert res.returncode == 2 and "not allowed with argument" in res.stderr

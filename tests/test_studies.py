"""Study scripts run end to end on the tiny preset and write parseable outputs."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_dimension_study_smoke(tmp_path):
    res = subprocess.run(
        [sys.executable, "studies/dimension.py", "--preset", "tiny", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    table = pd.read_parquet(tmp_path / "results.parquet")
    assert set(table.dim) == {2, 4}
    text = (tmp_path / "report.md").read_text()
    assert "Copying against dimension" in text and "C is" in text
    assert json.loads((tmp_path / "study.json").read_text())["study"] == "dimension"
    assert (tmp_path / "copying_vs_dim.png").exists()

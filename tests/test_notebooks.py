"""Every notebook runs top to bottom in its quick configuration (DMDLAB_QUICK=1)."""

import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))

pytest.importorskip("nbclient")
pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")

import run_all  # noqa: E402


@pytest.mark.parametrize("source", run_all.notebooks(), ids=lambda p: p.stem)
def test_notebook_executes(source, monkeypatch):
    monkeypatch.setenv("DMDLAB_QUICK", "1")
    target = run_all.execute(source, timeout=300)
    assert target.exists()
    # figures rendered inline, as a reader sees them
    assert '"image/png"' in target.read_text()

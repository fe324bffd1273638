"""The notebooks: each executes in quick mode, each .py agrees with its committed executed
.ipynb twin, and `make lab` serves them as notebooks."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "tools"))

jupytext = pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import run_notebooks as run_all  # noqa: E402

SOURCES = run_all.notebooks()


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in o.get(
        "data", {}) or o.get("output_type") == kind]  # fmt: skip


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_executes_in_quick_mode(source, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DMDLAB_QUICK", "1")
    t0 = time.perf_counter()
    target = run_all.execute(source, tmp_path / source.with_suffix(".ipynb").name, timeout=600,
                             progress=True)  # fmt: skip
    if time.perf_counter() - t0 > 180:  # 15–45 s alone; twice ~600 s inside a full suite run
        warnings.warn(f"{source.name} took {time.perf_counter() - t0:.0f} s; cell starts:\n"
                      + capsys.readouterr().out, stacklevel=1)  # fmt: skip
    nb = jupytext.read(target)
    assert _outputs(nb, "image/png")  # figures rendered inline, as a reader sees them
    assert not _outputs(nb, "error")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_twin_matches_its_source_and_shows_its_figures(source):
    """The committed .ipynb has the .py's cells, was executed in full mode top to bottom
    (every code cell ran, in order, none raised) and carries its figures; `make notebooks`
    regenerates it after an edit to the .py."""
    twin = source.with_suffix(".ipynb")
    assert twin.exists(), f"{twin.name} missing: run `make notebooks`"
    py, nb = jupytext.read(source), jupytext.read(twin)
    assert run_all.cells(py) == run_all.cells(nb), f"{twin.name} drifted from {source.name}"
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "not executed top to bottom"
    assert nb.metadata.get("dmdlab", {}).get("mode") == "full"
    assert not _outputs(nb, "error")
    assert _outputs(nb, "image/png")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_serves_the_notebooks():
    """`make lab` (headless here) starts JupyterLab on the notebooks directory, and jupytext
    serves each .py source as a notebook."""
    pytest.importorskip("jupyterlab")
    port, token = _free_port(), "dmdlab-test"
    args = f"--no-browser --port={port} --IdentityProvider.token={token}"
    proc = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env={**os.environ},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        listing = None
        for _ in range(180):
            time.sleep(1)
            if proc.poll() is not None:
                pytest.fail(f"make lab exited: {proc.stdout.read().decode()[-2000:]}")
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = json.load(response)
                break
            except OSError:
                continue
        assert listing is not None, "JupyterLab did not answer within 3 minutes"
        served = {c["name"]: c["type"] for c in listing["content"]}
        for source in SOURCES:
            assert served.get(source.name) == "notebook", served  # opened through jupytext
            assert served.get(source.with_suffix(".ipynb").name) == "notebook", served
        # nothing but the notebooks and their twins shows up as one (no runner script)
        extra = {n for n, kind in served.items() if kind == "notebook"} - {
            p.name for s in SOURCES for p in (s, s.with_suffix(".ipynb"))
        }
        assert not extra, extra
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)

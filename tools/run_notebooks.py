"""Execute every notebook top to bottom and write its executed twin: `make notebooks`.

Each `NN_name.py` (a jupytext percent script, the source that is reviewed and diffed) is
paired with `NN_name.ipynb` (committed with its outputs, so the figures can be read without
running anything). This script executes each source with nbclient in full mode and writes
the twin; a cell that raises fails the run. `DMDLAB_QUICK=1` selects tiny sizes (what the
tests run, into a temporary directory).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from unittest import mock

import jupytext
import nbclient

# the runner lives outside notebooks/: jupytext pairs every .py there as a notebook
HERE = Path(__file__).resolve().parents[1] / "notebooks"


def notebooks() -> list[Path]:
    """The notebook sources, in order."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def cells(nb) -> list[tuple[str, str]]:
    """(cell type, source) of each cell: what must agree between a .py and its .ipynb."""
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def execute(
    source: Path, target: Path | None = None, timeout: int = 1800, progress: bool = False
) -> Path:
    """Execute ``source`` in the notebooks directory and write the executed notebook to
    ``target`` (default: its .ipynb twin next to it). ``progress`` prints each code
    cell's start with the time since the notebook began."""
    nb = jupytext.read(source)
    t0 = time.perf_counter()

    def started(cell, cell_index, **_):
        if progress and cell.cell_type == "code":
            print(f"  [{time.perf_counter() - t0:5.0f} s] {source.name}: cell {cell_index}",
                  flush=True)  # fmt: skip

    client = nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(HERE)}},
        on_cell_start=started,
    )
    # no live frontend: notebooks draw a widget's static form (an interact widget held
    # its cell for the whole timeout under nbclient, 600 s of every test run); the kernel
    # inherits the environment
    with mock.patch.dict(os.environ, {"DMDLAB_HEADLESS": "1"}):
        client.execute()
    # cell ids are random per conversion; the twin is keyed by position, like the .py
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{k}"
    nb.metadata["dmdlab"] = {"mode": "quick" if os.environ.get("DMDLAB_QUICK") == "1" else "full"}
    target = target or source.with_suffix(".ipynb")
    jupytext.write(nb, target)
    return target


def main(names: list[str]) -> int:
    """Execute every notebook, or those whose file names contain one of ``names``."""
    chosen = [s for s in notebooks() if not names or any(n in s.name for n in names)]
    for source in chosen:
        t0 = time.perf_counter()
        target = execute(source, progress=True)
        print(f"{target.name}: ok in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

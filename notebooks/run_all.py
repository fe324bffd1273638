"""Execute every notebook (jupytext percent scripts) top to bottom: `make notebooks`.

Each `NN_name.py` is converted to `NN_name.ipynb` (generated, not committed) and executed
in place with nbclient; a cell that raises fails the run. `DMDLAB_QUICK=1` selects tiny sizes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
import nbclient

HERE = Path(__file__).resolve().parent


def notebooks() -> list[Path]:
    """The notebook sources, in order."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def execute(source: Path, timeout: int = 600) -> Path:
    """Convert ``source`` to .ipynb and execute it in the notebooks directory."""
    nb = jupytext.read(source)
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    )
    client.execute()
    target = source.with_suffix(".ipynb")
    jupytext.write(nb, target)
    return target


def main() -> int:
    for source in notebooks():
        t0 = time.perf_counter()
        target = execute(source)
        print(f"{target.name}: ok in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

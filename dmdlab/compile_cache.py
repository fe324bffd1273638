"""An on-disk cache of compiled programs, so a rerun of the same shapes skips XLA.

On CPU one DMD program takes 10–20 s to compile and often under a second to run;
a resumed sweep, a study rerun or a second notebook session would pay that again
for every cell. JAX's persistent compilation cache stores each executable keyed by
its HLO, the JAX version and the device, so a stale entry can never be reused.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["enable_compilation_cache"]

_OFF = ("0", "off", "false", "no", "none")


def enable_compilation_cache(directory=None) -> Path | None:
    """Turn on JAX's persistent compilation cache; returns its directory, or None when off.

    ``directory`` defaults to ``$DMDLAB_CACHE_DIR``, else ``~/.cache/dmdlab/xla``;
    ``DMDLAB_CACHE_DIR=off`` disables it. The command line and the study scripts call
    this; importing dmdlab alone never writes to disk.
    """
    if directory is None:
        env = os.environ.get("DMDLAB_CACHE_DIR")
        if env is not None and env.strip().lower() in _OFF:
            return None
        directory = env or Path.home() / ".cache" / "dmdlab" / "xla"
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    return path

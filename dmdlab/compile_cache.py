"""Compiled programs: an on-disk cache, so a rerun of the same shapes skips XLA, and
the in-memory caches, released before a long process runs out of memory maps.

On CPU one DMD program takes 10–20 s to compile and often under a second to run;
a resumed sweep, a study rerun or a second notebook session would pay that again
for every cell. JAX's persistent compilation cache stores each executable keyed by
its HLO, the JAX version and the device, so a stale entry can never be reused.

Each executable kept in memory holds thousands of memory maps (1800–3000 per DMD
program on CPU), and Linux stops a process at ``vm.max_map_count`` (often 65 530): a
campaign that compiles a program per d × window × start step crashed inside XLA's
compile after a few dozen. :func:`release_if_crowded` (called by the sweep after each
cell) drops every cached program once half the allowance is used; a later cell that
needs one compiles it again (or reads it from the on-disk cache).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jax

__all__ = ["enable_compilation_cache", "memory_maps", "program_cache", "release_if_crowded",
           "release_programs"]  # fmt: skip

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


_PROGRAM_CACHES: list = []


def program_cache(maxsize: int):
    """``functools.lru_cache(maxsize)`` for a function returning compiled programs,
    registered so :func:`release_programs` can empty it."""

    def wrap(fn):
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        _PROGRAM_CACHES.append(cached)
        return cached

    return wrap


def release_programs() -> None:
    """Drop every compiled program this process keeps: JAX's caches and each
    :func:`program_cache`."""
    import gc

    jax.clear_caches()
    for cached in _PROGRAM_CACHES:
        cached.cache_clear()
    gc.collect()


def memory_maps() -> int:
    """The number of memory maps this process holds (0 where /proc is absent)."""
    try:
        with open("/proc/self/maps", "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _max_maps() -> int:
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return 65530  # Linux's default


def release_if_crowded(fraction: float = 0.5) -> bool:
    """Release the compiled programs (:func:`release_programs`) once this process holds
    more than ``fraction`` of the kernel's memory-map allowance; returns whether it did."""
    if memory_maps() <= fraction * _max_maps():
        return False
    release_programs()
    return True

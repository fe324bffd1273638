"""Where a number was computed: one line naming the machine and the software, printed
next to every summary, report and benchmark (docs/science.md §9: numbers are bit-identical
only on one machine and software stack)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import jax

__all__ = ["machine_line"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """E.g. "x86_64, 2 CPU cores (Intel Xeon …); jax 0.10.2 on cpu × 1; dmdlab 0.1.0"."""
    from dmdlab._version import __version__

    dev = jax.local_devices()[0]
    kind = dev.device_kind if dev.platform != "cpu" else "cpu"
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores ({_cpu_model()}); jax "
        f"{jax.__version__} on {dev.platform}/{kind} × {jax.local_device_count()}; "
        f"dmdlab {__version__}"
    )

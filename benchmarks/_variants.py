"""What the variant benchmarks share (mode_balance.py, authors_gates.py)."""

from __future__ import annotations

import argparse


def picked_variants(parser: argparse.ArgumentParser, only: str | None, count: int) -> list[int]:
    """The variant numbers ``--only`` names (all ``count`` when None), in its order, or a
    one-line error naming the allowed ones (exit 2, before any compute)."""
    if only is None:
        return list(range(count))
    try:
        picked = [int(v) for v in only.split(",")]
    except ValueError:
        picked = [-1]
    if not picked or any(not 0 <= i < count for i in picked):
        parser.error(f"--only {only!r}: variant numbers 0-{count - 1}")
    return picked

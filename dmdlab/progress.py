"""Progress inside a cell: each record of a running program reaches the host as it is made.

A program built with ``progress=True`` (``dmdlab.engine.make_program``) calls :func:`emit`
at every record of every seed-run (a ``jax.debug.callback``: it reads the student's
samples, the training does not depend on it). :func:`reporting` routes those calls to a
sink for the duration of a launch; :class:`CellProgress` turns them into one line per
record, step, κ and gap over the seed-runs and an ETA, for a progress bar.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

__all__ = ["CellProgress", "emit", "reporting"]

_SINK: list[Callable | None] = [None]


def emit(step, kappa, gap) -> None:
    """One seed-run's record (scalars) from inside a compiled program, to the current sink."""
    sink = _SINK[0]
    if sink is not None:
        sink(int(step), float(kappa), float(gap))


@contextlib.contextmanager
def reporting(sink: Callable[[int, float, float], None] | None):
    """Route :func:`emit` to ``sink`` (step, κ, gap) inside the block."""
    previous, _SINK[0] = _SINK[0], sink
    try:
        yield
    finally:
        _SINK[0] = previous


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class CellProgress:
    """A sink for :func:`reporting` over the launches of a cell (``seeds`` seed-runs in
    launches of ``group``, the last padded by repeats) that each run the steps after
    ``first_step`` to ``steps``: at most every ``interval`` seconds (and at the last
    step) it calls ``show`` with "step s/steps · κ k · gap g · ETA t", κ and the gap
    averaged over the seed-runs that have reported that step (a launch reports its
    seed-runs in order: the padding's repeats are left out on one device)."""

    def __init__(self, show: Callable[[str], None], first_step: int, steps: int,
                 seeds: int = 1, group: int = 1, interval: float = 1.0,
                 clock=time.monotonic):  # fmt: skip
        self.show, self.first, self.steps = show, first_step, steps
        self.seeds, self.group = seeds, group
        self.launches = -(-seeds // group)
        self.interval, self.clock = interval, clock
        self.launch, self.t0, self.shown = 0, clock(), -math.inf
        self.step, self.values = None, []

    def next_launch(self) -> None:
        """The following launch (seed group) starts."""
        self.launch += 1

    def line(self, now: float) -> str:
        """The current line (the latest step's values) at time ``now``."""
        per = self.steps - self.first
        done = self.launch * per + (self.step - self.first)
        elapsed = now - self.t0
        eta = elapsed * (self.launches * per - done) / done if done > 0 else math.nan
        finite = lambda i: [v[i] for v in self.values if math.isfinite(v[i])]  # noqa: E731
        mean = lambda xs: f"{sum(xs) / len(xs):.2f}" if xs else "n/a"  # noqa: E731
        return (f"step {self.step}/{self.steps} · κ {mean(finite(0))} · gap "
                f"{mean(finite(1))} · ETA {_duration(eta)}")  # fmt: skip

    def __call__(self, step: int, kappa: float, gap: float) -> None:
        if step != self.step:
            self.step, self.values = step, []
        if len(self.values) < min(self.group, self.seeds - self.launch * self.group):
            self.values.append((kappa, gap))
        now = self.clock()
        if now - self.shown >= self.interval or step == self.steps:
            self.shown = now
            self.show(self.line(now))

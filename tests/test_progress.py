"""Progress inside a cell (dmdlab.progress): a program that reports its records trains
the same numbers, and its last line reads the κ and gap the metrics table computes."""

import math

import jax
import numpy as np
import pytest

from dmdlab.distill import run_seeds
from dmdlab.metrics import loglik_gap, mode_agreement
from dmdlab.presets import PRESETS
from dmdlab.progress import CellProgress

TINY = PRESETS["tiny"].base.replace(dim=4, steps=40)  # records every 20 steps
SEEDS = [0, 1, 2, 3]  # one launch


@pytest.fixture(scope="module")
def runs():
    lines: list[str] = []
    quiet, _ = run_seeds(TINY, SEEDS)
    shown, _ = run_seeds(TINY, SEEDS, progress=lines.append)
    return quiet, shown, lines


def test_a_reporting_program_trains_the_same_numbers(runs):
    quiet, shown, _ = runs
    for a, b in zip(jax.tree.leaves(quiet), jax.tree.leaves(shown), strict=True):
        np.testing.assert_array_equal(a, b)  # bit-identical: same machine and stack


def test_the_last_line_reads_the_last_records_kappa_and_gap(runs):
    quiet, _, lines = runs
    assert lines and lines[-1].startswith(f"step {TINY.steps}/{TINY.steps} · κ ")
    kappa, gap = [], []
    for i in range(len(SEEDS)):
        out = jax.tree.map(lambda x, i=i: x[i], quiet)
        mixture, samples = out.mixture, out.student_samples[-1]
        kappa.append(float(mode_agreement(mixture, samples, out.teacher_samples)[1]))
        gap.append(float(loglik_gap(mixture, samples, out.reference)))
    assert f"κ {np.mean(kappa):.2f} · gap {np.mean(gap):.2f}" in lines[-1]
    assert lines[-1].endswith("ETA 0 s")


def test_the_eta_is_the_elapsed_time_scaled_to_the_steps_left():
    clock = iter([0.0, 10.0, 10.0, 30.0, 30.0]).__next__  # the start, then one read per record
    lines: list[str] = []
    # three seed-runs in launches of two: the second launch is one seed-run and a repeat
    sink = CellProgress(lines.append, first_step=100, steps=300, seeds=3, group=2,
                        interval=0, clock=clock)  # fmt: skip
    sink(150, 0.5, 0.1)  # 50 of 400 steps in 10 s: 350 left, 70 s
    sink(150, math.nan, 0.3)  # a second seed-run of the same record: κ n/a is skipped
    assert lines[0] == "step 150/300 · κ 0.50 · gap 0.10 · ETA 70 s"
    assert lines[1] == "step 150/300 · κ 0.50 · gap 0.20 · ETA 70 s"
    sink.next_launch()
    sink(200, 0.2, 0.0)  # 300 of 400 steps in 30 s: 10 s left
    sink(200, 0.9, 0.9)  # the padding's repeat: not a seed-run of its own
    assert lines[2:] == ["step 200/300 · κ 0.20 · gap 0.00 · ETA 10 s"] * 2

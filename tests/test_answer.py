"""The computed paragraph a sweep over d ends with (dmdlab.answer): its sentences follow
the numbers, on tables with known answers."""

import numpy as np

from dmdlab.answer import answer_paragraph
from tests.test_window import _runs


def _table(kappa, c_within=lambda d, seed, step: 0.3, steps=range(0, 1001, 50)):
    frames = [_runs({"kappa": (lambda s, t, d=d: kappa(d, s, t)),
                     "copying_within": (lambda s, t, d=d: c_within(d, s, t))},
                    steps=steps, dim=d) for d in (2, 8, 32, 128)]  # fmt: skip
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def _text(table) -> str:
    return " ".join(answer_paragraph(table, width=10_000))


def test_a_trend_with_d_is_detectable_and_flat_noise_is_not():
    rng = np.random.default_rng(0)
    noise = {(d, s): rng.normal(0, 0.02) for d in (2, 8, 32, 128) for s in range(4)}
    rising = _text(_table(lambda d, s, t: 0.2 + 0.1 * np.log2(d) + noise[d, s]))
    assert "κ at the run's end (last 20%) against d: ρ = +" in rising
    assert "(detectable)" in rising.split("κ at the run's end")[1].split(";")[0]
    # the same spread of seeds at every d: nothing depends on d
    flat = _text(_table(lambda d, s, t: 0.5 + 0.02 * np.sin(3 * s) + 0.01 * s))
    assert "(not detectable)" in flat.split("κ at the run's end")[1].split(";")[0]


def test_a_run_still_moving_is_said_to_be_during_training():
    text = _text(_table(lambda d, s, t: 1 - t / 2000 + 0.01 * s))
    assert "still moving" in text and "values during training, not settled values" in text
    assert "still move at d = [2, 8, 32, 128]" in text
    steady = _text(_table(lambda d, s, t: 0.5 + 0.01 * s))
    assert "still moving" not in steady and "still move at" not in steady


def test_the_class_conditional_world_reads_c_within_only():
    table = _table(lambda d, s, t: 1.0).assign(world="blobs")
    text = _text(table)
    assert "C_within only" in text and "κ peaks" not in text


def test_fewer_than_two_dims_compare_nothing():
    table = _table(lambda d, s, t: 0.5)
    assert "nothing to compare" in _text(table[table.dim == 2])

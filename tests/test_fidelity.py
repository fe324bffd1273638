"""With the default preset's settings the 2-D, 8-mode student matches the data
(docs/science.md §4) and its teacher passes the teacher gates."""

import numpy as np

from dmdlab import distill
from dmdlab.analysis import fidelity_reasons
from dmdlab.sweep import SweepSpec


def test_default_student_covers_every_mode_in_2d():
    # the default preset's d = 2 teacher-init cell at 300 of its 1000 generator steps (the
    # suite's time: its early records, every 20 steps, are most of a cell's host metrics)
    cell = SweepSpec.build("default", ["init=teacher"], ["dim=2"]).cells()[0]
    table = distill(cell.replace(steps=300), [0])
    first, last = (table[table.step == s] for s in (0, table.step.max()))
    assert not last.diverged.any()
    # every mode within ±50% of its weight (coverage columns are share / weight)
    assert (last.coverage_min > 0.5).all(), last.coverage_min.tolist()
    assert (last.coverage_max < 1.5).all(), last.coverage_max.tolist()
    # log-likelihood under the true mixture within 1 nat per dimension of true samples'
    # (a one-step map from connected noise must leave some samples between modes)
    assert (np.abs(last.loglik_gap) < 1.0).all(), last.loglik_gap.tolist()
    # and the sample distance shrank several-fold from the initial mean-collapse
    assert (last.sliced_w2.to_numpy() < 0.3 * first.sliced_w2.to_numpy()).all()
    # and the cell passes every gate of the studies (student, teacher, start)
    means = last.drop(columns=["kept_by_mode"]).mean(numeric_only=True).to_dict()
    assert fidelity_reasons({**means, "teacher": "network", "start": "network"}) == []

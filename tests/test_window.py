"""Measurements that cannot be fooled (dmdlab.analysis.window), on records with known
answers: each failure mode of the old readings replayed, each reading's limits."""

import numpy as np
import pandas as pd
import pytest

from dmdlab.analysis import (
    course_fits,
    first_reach,
    record_gates,
    run_gates,
    runs_passing,
    settled_table,
)
from dmdlab.analysis.window import fit_bounded, mode_tv_allowance, trend_tests

GOOD = {"coverage_min": 0.9, "coverage_max": 1.1, "loglik_gap": 0.05, "teacher_coverage_min": 0.9,
        "teacher_loglik_gap": 0.04, "sliced_w2": 0.05, "teacher_sliced_w2": 0.05,
        "mode_tv": 0.02, "teacher_mode_tv": 0.02, "kappa": 1.0}  # fmt: skip


def _runs(values: dict, steps=range(0, 1001, 50), seeds=(0, 1, 2, 3), dim=2, **fixed):
    """A results table: every seed-run has every step; ``values`` maps a column to a
    constant or a function (seed, step) → value; the rest is a student equal to its
    teacher (GOOD)."""
    rows = []
    for seed in seeds:
        for step in steps:
            row = {"cell": f"c{dim}", "seed": seed, "step": step, "dim": dim, "diverged": False,
                   "teacher": "oracle", "n_modes": 8, "eval_n": 2048, **GOOD, **fixed}  # fmt: skip
            for name, v in values.items():
                row[name] = v(seed, step) if callable(v) else v
            rows.append(row)
    return pd.DataFrame(rows)


def test_a_student_equal_to_its_teacher_is_converged():
    gates = run_gates(_runs({}))
    assert gates.converged.all() and gates.passes.all()


@pytest.mark.parametrize("gap", [0.01, 0.05, 0.3])
def test_a_collapsed_student_fails_whatever_its_gap(gap):
    # all mass in one mode of 8: the one-sided gap can read small (finding 1), the
    # two-sided measures cannot
    collapsed = {"loglik_gap": gap, "coverage_min": 0.0, "coverage_max": 8.0,
                 "mode_tv": 0.875, "sliced_w2": 0.99, "kappa": 0.0}  # fmt: skip
    gated = record_gates(_runs(collapsed))
    assert not gated.loose.any() and not gated.converged.any()
    assert gated.why.str.contains("mode TV").all() and gated.why.str.contains("sliced W2").all()


def test_a_mode_permuting_student_passes_fidelity_with_low_kappa():
    # the right distribution, another pairing: fidelity passes, κ reads it
    gates = run_gates(_runs({"kappa": 0.0}))
    assert gates.converged.all()
    table, _ = settled_table(_runs({"kappa": 0.0}), "kappa")
    assert table.value.iloc[0] == 0.0


def test_gates_are_per_seed_run_over_the_window_not_a_mean_or_the_last_record():
    # finding 3: three of four seed-runs fail late in the window; the seed mean of the
    # last record would pass (the failing ones recover at the very end)
    def tv(seed, step):
        return 0.2 if seed > 0 and 850 <= step < 1000 else 0.02

    results = _runs({"mode_tv": tv})
    gates = run_gates(results)
    assert list(gates.converged) == [True, False, False, False]
    assert gates.why.iloc[1].startswith("mode TV") and "3 of 5 records" in gates.why.iloc[1]
    table, _ = settled_table(results, "kappa")
    assert table.k.iloc[0] == 1 and table.n.iloc[0] == 4
    assert np.isnan(table.converged_ci.iloc[0])  # no interval below three seed-runs


def test_a_grid_point_whose_mean_passes_keeps_only_its_converged_seed_runs():
    # three of four seed-runs fail the TV gate (≤ 0.02 + 2 × 0.023) a little over the
    # whole window, the fourth is far below it: their mean, 0.054, would pass
    tv = {0: 0.005, 1: 0.07, 2: 0.07, 3: 0.07}
    assert np.mean(list(tv.values())) < 0.02 + 2 * mode_tv_allowance(8, 2048) < 0.07
    results = pd.concat([_runs({"mode_tv": lambda s, t: tv[s]}),
                         _runs({"coverage_min": 0.2}, dim=8)])  # fmt: skip
    kept = runs_passing(results)
    assert sorted(kept.groupby(["dim", "seed"]).size().index) == [(2, 0)]
    assert len(kept) == (results.seed == 0).sum() // 2  # every record of that seed-run
    loose = runs_passing(results, converged=False)  # TV is not a loose gate; coverage is
    assert sorted(loose.loc[loose.dim == 2, "seed"].unique()) == [0, 1, 2, 3]
    assert loose[loose.dim == 8].empty


def test_a_cell_without_two_sided_columns_is_not_converged():
    results = _runs({}).drop(columns=["teacher_sliced_w2", "teacher_mode_tv"])
    gated = record_gates(results)
    assert not gated.converged.any() and gated.loose.all()
    assert (gated.why == "no two-sided fidelity recorded").all()


def test_a_seed_run_failing_the_floor_is_reported_by_its_floor_reason():
    # every record also lacks the two-sided columns (the more frequent reason overall); a
    # seed-run that fails the loose gate must say why it fails that, not only why it is
    # not converged
    results = _runs({"coverage_min": lambda s, t: 0.2 if s == 1 and t >= 900 else 0.9})
    gates = run_gates(results.drop(columns=["teacher_sliced_w2", "teacher_mode_tv"]))
    assert list(gates.passes) == [True, False, True, True]
    assert gates.why.iloc[1] == (
        "student worst-mode coverage 0.20 (3 of 5 records); "
        "not converged: no two-sided fidelity recorded (5 of 5 records)"
    )
    assert gates.why.iloc[0] == "no two-sided fidelity recorded (5 of 5 records)"


def test_the_reason_given_is_the_gate_failed_most_often_not_a_string_seen_most_often():
    # mode TV fails at every window record with a different value each time; sliced W2
    # fails at two records with the same value: counting reason strings would name W2
    results = _runs({"mode_tv": lambda s, t: 0.1 + t / 1e5,
                     "sliced_w2": lambda s, t: 0.2 if t in (800, 850) else 0.05})  # fmt: skip
    why = run_gates(results).why.iloc[0]
    assert why == "mode TV 0.110 > 0.067 (5 of 5 records)"  # the latest record's values


def test_a_run_that_never_reaches_a_level_is_listed_and_n_adjusts():
    # finding 2: seed 3 never gets within 1.5× of its teacher's sliced W2
    def w2(seed, step):
        return 0.5 if step == 0 else (0.2 if seed == 3 else 0.06)

    table, _ = first_reach(_runs({"sliced_w2": w2}), levels=(4.0, 1.5))
    at = table.set_index("level")
    assert at.loc[4.0, "reached"] == 4 and at.loc[4.0, "not_reached"] == ""
    assert at.loc[1.5, "reached"] == 3 and at.loc[1.5, "of"] == 4
    assert at.loc[1.5, "not_reached"] == "3"


def _decay(settled, tau, peak=0.8, t_peak=100):
    return lambda seed, step: (
        peak * step / t_peak if step < t_peak
        else settled + (peak - settled) * np.exp(-(step - t_peak) / tau)
    )  # fmt: skip


def test_a_decaying_course_is_fitted_and_resolved_when_the_run_covers_two_tau():
    results = _runs({"kappa": _decay(0.3, 400)}, steps=range(0, 4001, 50))
    table, fits = course_fits(results)
    assert fits.resolved.all()
    assert table.settled.iloc[0] == pytest.approx(0.3, abs=0.01)
    assert table.tau.iloc[0] == pytest.approx(400, rel=0.05)
    # the peak is the largest centred running mean of 3 records, not one record
    v = np.array([_decay(0.3, 400)(0, t) for t in range(0, 4001, 50)])
    assert table.peak.iloc[0] == pytest.approx(max(v[i - 1 : i + 2].mean() for i in range(1, 80)))
    assert table.peak.iloc[0] < 0.8


def test_a_run_shorter_than_its_decay_is_unresolved():
    fit = fit_bounded(np.arange(0, 1001, 50), [_decay(0.3, 5000)(0, t) for t in range(0, 1001, 50)])
    assert not fit["resolved"]


def test_the_settled_value_stays_in_range():
    # finding 4: a steep fall towards 0 with noise fitted unbounded went below 0
    rng = np.random.default_rng(0)
    steps = np.arange(0, 3001, 50)
    v = [max(0.0, _decay(0.0, 300)(0, t) + rng.normal(0, 0.03)) for t in steps]
    fit = fit_bounded(steps, v)
    assert 0.0 <= fit["settled"] <= 0.05


def test_the_settled_table_shows_a_slope_that_is_still_moving():
    results = _runs({"kappa": lambda seed, step: 1 - step / 2000 + 0.01 * seed})
    table, per_run = settled_table(results, "kappa")
    assert per_run.slope.to_numpy() == pytest.approx(-0.5, abs=1e-9)
    assert table.value.iloc[0] == pytest.approx(1 - 900 / 2000 + 0.015, abs=1e-9)
    assert table.window_from.iloc[0] == 800 and table.window_to.iloc[0] == 1000


def test_trend_tests_apply_holm_over_every_test_named():
    d = np.repeat([2, 8, 32, 128], 4)
    rising = d.astype(float) + np.tile([0, 0.1, 0.2, 0.3], 4)
    flat = np.tile([0.3, 0.1, 0.4, 0.2], 4)
    table = trend_tests({"primary": (d, rising), "other": (d, flat)}).set_index("test")
    assert table.loc["primary", "rho"] == pytest.approx(1.0, abs=0.1)
    assert table.loc["primary", "p_holm"] == pytest.approx(2 * table.loc["primary", "p"])
    assert table.loc["other", "p_holm"] >= table.loc["other", "p"]


def test_mode_tv_allowance_is_the_equal_weight_floor():
    assert mode_tv_allowance(2, 100) == pytest.approx(0.5 * 2 * np.sqrt(0.5 / (np.pi * 100)))

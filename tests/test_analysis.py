"""dmdlab.analysis against hand-computable cases (no training involved)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dmdlab.analysis import (
    bootstrap_transition,
    collapse_quality,
    compare_levels,
    effect_sentence,
    final_rows,
    holm,
    mean_ci,
    transition_dimension,
)


def _table(values: dict, factor="variant", steps=(0, 100)) -> pd.DataFrame:
    """Rows for {(dim, level): [per-seed final values]}; step 0 rows hold NaN."""
    rows = []
    for (dim, level), vals in values.items():
        for seed, v in enumerate(vals):
            for step in steps:
                rows.append({"cell": f"{dim}-{level}", "dim": dim, factor: level, "seed": seed,
                             "step": step, "kappa": v if step == steps[-1] else np.nan,
                             "diverged": False})  # fmt: skip
    return pd.DataFrame(rows)


def test_mean_ci_is_the_t_interval():
    v = np.array([1.0, 2.0, 4.0, np.nan])
    m, half, n = mean_ci(v)
    assert n == 3 and m == pytest.approx(7 / 3)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * np.std(v[:3], ddof=1) / np.sqrt(3))
    assert np.isnan(mean_ci([1.0])[1]) and mean_ci([])[2] == 0


def test_final_rows_drop_diverged_and_take_each_cells_last_step():
    t = _table({(2, "a"): [1.0, 2.0]})
    t.loc[(t.seed == 1), "diverged"] = True
    last = final_rows(t)
    assert list(last.seed) == [0] and (last.step == 100).all()


def test_paired_difference_removes_the_shared_seed_effect():
    # each seed has its own offset (its mixture); the treatment adds exactly 0.1
    offsets = [0.0, 0.5, -0.4, 0.9]
    t = _table({(8, "off"): offsets, (8, "on"): [o + 0.1 for o in offsets]})
    row = compare_levels(t, "variant", "off").set_index("variant").loc["on"]
    assert row["test"] == "paired" and row["diff"] == pytest.approx(0.1)
    assert row["diff_ci"] == pytest.approx(0.0, abs=1e-12) and row["p"] < 1e-10
    base = compare_levels(t, "variant", "off").set_index("variant").loc["off"]
    assert "higher with on" in effect_sentence(row, base, "copying", "on", "off", by="dim")


def test_unpaired_levels_use_welch_and_report_no_effect_when_the_interval_holds_zero():
    t = _table({(8, "off"): [0.0, 1.0, 0.5], (8, "on"): [0.1, 0.9]})
    t.loc[t.variant == "on", "seed"] += 10  # different seeds: not paired
    table = compare_levels(t, "variant", "off").set_index("variant")
    row, base = table.loc["on"], table.loc["off"]
    expected = stats.ttest_ind([0.1, 0.9], [0.0, 1.0, 0.5], equal_var=False).pvalue
    assert row["test"] == "welch" and row["p"] == pytest.approx(expected)
    assert "no detectable effect" in effect_sentence(row, base, "copying", "on", "off", by="dim")


def test_transition_dimension_interpolates_in_log_d():
    # C = 0 at d = 2, 8 and 1 at d = 32, 128: halfway (0.5) between 8 and 32 → d* = 16
    t = _table({(2, "x"): [0, 0], (8, "x"): [0, 0], (32, "x"): [1, 1], (128, "x"): [1, 1]})
    assert transition_dimension(t) == pytest.approx(16.0)
    lo, hi, frac = bootstrap_transition(t, n_boot=50)
    assert lo == pytest.approx(16.0) and hi == pytest.approx(16.0) and frac == 1.0
    flat = _table({(2, "x"): [0.3, 0.3], (8, "x"): [0.3, 0.3], (32, "x"): [0.3, 0.3]})
    assert np.isnan(transition_dimension(flat))
    two = _table({(2, "x"): [0, 0], (32, "x"): [1, 1]})
    assert np.isnan(transition_dimension(two))  # two dims say nothing about d*


def test_collapse_quality_limits():
    x = np.tile(np.linspace(0, 1, 6), 3)
    group = np.repeat([0, 1, 2], 6)
    same = x**2  # one curve for all groups: pooling loses nothing
    pooled, separate = collapse_quality(x, same, group)
    assert pooled == pytest.approx(1.0) and separate == pytest.approx(1.0)
    shifted = x**2 + group  # each group its own offset: pooling on x loses a lot
    pooled, separate = collapse_quality(x, shifted, group)
    assert separate == pytest.approx(1.0) and pooled < 0.5


def test_fidelity_flags_name_the_failing_check():
    from dmdlab.analysis import fidelity_flags

    t = _table({(2, "x"): [0.5, 0.5], (32, "x"): [0.5, 0.5]})
    t["coverage_min"] = np.where(t.dim == 32, 0.2, 0.9)
    t["loglik_gap"] = np.where(t.dim == 32, 0.1, 1.5)
    flags = fidelity_flags(t).set_index("dim")
    assert "coverage 0.20" in flags.loc[32, "why"] and "gap" not in flags.loc[32, "why"]
    assert "student gap 1.50" in flags.loc[2, "why"]
    t["loglik_gap"] = 0.1
    t["coverage_min"] = 0.9
    assert fidelity_flags(t).empty


def test_monotone_in_dim():
    from dmdlab.analysis import monotone_in_dim

    assert monotone_in_dim(_table({(2, "x"): [0, 0], (8, "x"): [0.5, 0.5], (32, "x"): [1, 1]}))
    assert not monotone_in_dim(_table({(2, "x"): [0, 0], (8, "x"): [1, 1], (32, "x"): [0.5, 0.5]}))


def test_d_star_needs_end_levels_that_differ():
    from dmdlab.analysis import ends_differ

    noisy = _table(
        {(2, "x"): [0.8, 0.9, 0.7], (8, "x"): [0.5, 0.6, 0.4], (32, "x"): [0.7, 0.85, 0.7]}
    )
    assert not ends_differ(noisy)[0]
    assert np.isfinite(transition_dimension(noisy))  # a crossing exists...
    assert np.isnan(transition_dimension(noisy, require_change=True))  # ...but locates noise
    clear = _table(
        {(2, "x"): [0.0, 0.1, 0.05], (8, "x"): [0.5, 0.6, 0.4], (32, "x"): [1, 0.9, 0.95]}
    )
    assert ends_differ(clear)[0] and np.isfinite(transition_dimension(clear, require_change=True))


def test_describe_transition_says_why_there_is_no_d_star():
    from dmdlab.analysis import describe_transition

    clear = _table(
        {(2, "x"): [0.0, 0.1, 0.05], (8, "x"): [0.5, 0.6, 0.4], (32, "x"): [1, 0.9, 0.95]}
    )
    d_star, text = describe_transition(clear, n_boot=50)
    assert d_star == pytest.approx(8.0) and text.startswith("d* = 8 (95% bootstrap interval")
    alike = _table(
        {(2, "x"): [0.8, 0.9, 0.7], (8, "x"): [0.5, 0.6, 0.4], (32, "x"): [0.7, 0.85, 0.7]}
    )
    assert "do not differ detectably" in describe_transition(alike)[1]
    assert "fewer than three dims" in describe_transition(_table({(2, "x"): [0, 0]}))[1]


def test_fidelity_gates_judge_student_and_network_teacher():
    from dmdlab.analysis import fidelity_reasons, passing

    good = {"coverage_min": 0.9, "loglik_gap": 0.2, "teacher_coverage_min": 0.9,
            "teacher_loglik_gap": 0.1, "teacher_map_agree": 0.97, "teacher_err_s1": 0.05,
            "teacher_err_smax": 0.5, "teacher": "network", "start": "network"}  # fmt: skip
    assert fidelity_reasons(good) == []
    assert "student gap 1.50" in fidelity_reasons({**good, "loglik_gap": 1.5})[0]
    assert (
        "agrees with the exact map for 80%"
        in fidelity_reasons({**good, "teacher_map_agree": 0.8})[0]
    )
    assert "excess error 0.40" in fidelity_reasons({**good, "teacher_err_s1": 0.4})[0]
    # the σ_max gate applies only to a student that starts from the teacher's read-out
    assert fidelity_reasons({**good, "teacher_err_smax": 3.0})
    assert fidelity_reasons({**good, "teacher_err_smax": 3.0, "start": "exact"}) == []
    # the oracle is exact and a memorizing teacher is meant to differ: no teacher gates
    assert fidelity_reasons({**good, "teacher_map_agree": 0.1, "teacher": "memorizing"}) == []
    # passing() drops exactly the failing grid points
    t = _table({(2, "x"): [0.5, 0.6], (8, "x"): [0.7, 0.8]}).assign(coverage_min=0.9)
    t.loc[t.dim == 8, "coverage_min"] = 0.1
    assert set(passing(t).dim) == {2}


def _units_table(kept_by_dim: dict) -> pd.DataFrame:
    """Final rows whose kept_by_mode lists come from {dim: [per-seed lists]}."""
    rows = []
    for dim, seeds in kept_by_dim.items():
        for seed, kept in enumerate(seeds):
            rows.append({"cell": f"{dim}", "dim": dim, "seed": seed, "step": 100,
                         "kept_by_mode": kept, "kappa": float(np.nanmean(kept)),
                         "diverged": False})  # fmt: skip
    return pd.DataFrame(rows)


def test_remap_rate_counts_seed_mode_units():
    from dmdlab.analysis import mode_units, remap_rate

    t = _units_table({2: [[0.1, 0.9, np.nan], [0.2, 0.3, 1.0]], 8: [[1.0, 1.0], [0.9, 0.6]]})
    units = mode_units(t)
    assert len(units) == 9  # the mode T never visits is not a unit
    rate = remap_rate(t, n_boot=200).set_index("dim")
    assert rate.loc[2, "rate"] == pytest.approx(3 / 5) and rate.loc[8, "rate"] == 0.0
    assert rate.loc[2, "lo"] <= 0.6 <= rate.loc[2, "hi"] and rate.loc[8, "hi"] == 0.0


def test_logistic_transition_finds_a_clear_step_and_nothing_in_a_flat_world():
    from dmdlab.analysis import logistic_transition

    rng = np.random.default_rng(0)
    # P(kept) rises from ~0 at d = 2, 4 to ~1 at d = 64, 128: d* between 4 and 64
    step = {d: [list(rng.random(8) < (0.05 if d <= 4 else 0.95 if d >= 64 else 0.5))
                for _ in range(8)] for d in (2, 4, 16, 64, 128)}  # fmt: skip
    fit = logistic_transition(_units_table(step), n_boot=100)
    assert fit["slope_lo"] > 0 and 4 < fit["d_star"] < 64 and fit["why"] == ""
    assert fit["d_lo"] <= fit["d_star"] <= fit["d_hi"]
    flat = {d: [list((rng.random(8) < 0.5).astype(float)) for _ in range(8)] for d in (2, 8, 32)}
    fit = logistic_transition(_units_table(flat), n_boot=100)
    assert np.isnan(fit["d_star"]) and "contains 0" in fit["why"]


def test_holm_matches_the_step_down_rule_by_hand():
    # sorted p 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 → 0.02, 0.03, 0.06, 0.04; the
    # step-down rule makes them non-decreasing: 0.02, 0.03, 0.06, 0.06
    adjusted = holm([0.01, 0.04, np.nan, 0.03, 0.005])
    np.testing.assert_allclose(adjusted[[4, 0, 3, 1]], [0.02, 0.03, 0.06, 0.06])
    assert np.isnan(adjusted[2])
    # never below the raw p, never above Bonferroni, capped at 1
    raw = np.array([0.2, 0.5, 0.001])
    adj = holm(raw)
    assert np.all(adj >= raw) and np.all(adj <= np.minimum(raw * 3, 1.0))
    assert holm([0.6, 0.7])[0] == 1.0


def test_dimension_verdict_reads_the_units():
    from dmdlab.analysis import dimension_verdict

    rng = np.random.default_rng(1)
    # remap at low d, copy at high d: the claim holds, with d* inside the range
    step = {d: [list(rng.random(8) < (0.05 if d <= 4 else 0.95 if d >= 64 else 0.5))
                for _ in range(8)] for d in (2, 4, 16, 64, 128)}  # fmt: skip
    verdict, evidence = dimension_verdict(_units_table(step), n_boot=100)
    assert verdict == "supported" and "d* = " in evidence
    # every mode kept everywhere: no remapping regime at low d
    kept = {d: [[1.0] * 8 for _ in range(4)] for d in (2, 8, 32)}
    assert dimension_verdict(_units_table(kept), n_boot=100)[0] == "not supported"
    # coin flips at every d: cannot tell
    flat = {d: [list((rng.random(8) < 0.5).astype(float)) for _ in range(8)] for d in (2, 8, 32)}
    assert dimension_verdict(_units_table(flat), n_boot=100)[0] == "inconclusive at this budget"
    assert dimension_verdict(_units_table(flat).iloc[:0])[0] == "inconclusive at this budget"


def test_training_course_tells_plateau_decay_and_vanishing_apart():
    from dmdlab.analysis import training_course

    rng = np.random.default_rng(2)
    steps = np.arange(0, 2001, 100)
    shapes = {
        "plateau": lambda s: 0.7 + 0.0 * s,
        "decay": lambda s: 0.8 - 0.2 * s / 2000,
        "gone": lambda s: 0.5 * np.exp(-s / 200),
    }
    rows = []
    for name, f in shapes.items():
        for seed in range(6):
            for s in steps:
                rows.append({"dim": name, "seed": seed, "step": s, "diverged": False,
                             "kappa": f(s) + rng.normal(0, 0.01)})  # fmt: skip
    course = training_course(pd.DataFrame(rows)).set_index("dim").course
    assert course.to_dict() == {"plateau": "plateau", "decay": "still falling", "gone": "vanishes"}


def test_kappa_at_first_pass_reads_the_first_step_that_passes_the_student_gates():
    from dmdlab.analysis import kappa_at_first_pass

    rows = []
    # seed 0 passes from step 200 (κ 0.8 there, 0.5 later); seed 1 from step 100; seed 2 never
    gaps = {0: [5.0, 2.0, 0.9, 0.8], 1: [5.0, 0.7, 0.6, 0.5], 2: [5.0, 3.0, 2.0, 1.5]}
    for seed, gap in gaps.items():
        for i, step in enumerate((0, 100, 200, 300)):
            rows.append({"dim": 2, "seed": seed, "step": step, "diverged": False,
                         "coverage_min": 0.0 if step == 0 else 0.8, "loglik_gap": gap[i],
                         "kappa": {0: 0.0, 100: 0.6, 200: 0.8, 300: 0.5}[step]})  # fmt: skip
    first = kappa_at_first_pass(pd.DataFrame(rows)).iloc[0]
    assert (first.seeds, first.never, first.step) == (2, 1, 150.0)
    assert first["mean"] == pytest.approx(0.7)

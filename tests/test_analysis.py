"""dmdlab.analysis against hand-computable cases (no training involved)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dmdlab.analysis import (
    collapse_quality,
    compare_levels,
    effect_sentence,
    final_rows,
    holm,
    mean_ci,
    share_ci,
)

# a grid point that passes every gate (loose and converged); tests override one field
GOOD = {"coverage_min": 0.9, "coverage_max": 1.1, "loglik_gap": 0.2,
        "teacher_coverage_min": 0.9, "teacher_loglik_gap": 0.1, "teacher_map_agree": 0.97,
        "teacher_err_s0.5": 0.05, "teacher_err_s1": 0.05, "teacher_err_s2": 0.05,
        "teacher_err_s5": 0.05, "teacher_err_smax": 0.5, "teacher": "network",
        "start": "network"}  # fmt: skip


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

    t = _table({(2, "x"): [0.5, 0.5], (32, "x"): [0.5, 0.5]}).assign(**GOOD)
    t["coverage_min"] = np.where(t.dim == 32, 0.2, 0.9)
    t["loglik_gap"] = np.where(t.dim == 32, 0.1, 1.5)
    flags = fidelity_flags(t).set_index("dim")
    assert "coverage 0.20" in flags.loc[32, "why"] and "gap" not in flags.loc[32, "why"]
    assert "student gap 1.50" in flags.loc[2, "why"]
    t["loglik_gap"] = 0.1
    t["coverage_min"] = 0.9
    assert fidelity_flags(t).empty


def test_share_ci_is_a_clipped_t_interval_and_refuses_two_seeds():
    m, lo, hi, n = share_ci([0.0, 0.125, 0.375])
    half = stats.t.ppf(0.975, 2) * np.std([0.0, 0.125, 0.375], ddof=1) / np.sqrt(3)
    assert (m, n) == (pytest.approx(1 / 6), 3)
    assert lo == 0.0 and hi == pytest.approx(1 / 6 + half)  # clipped at 0, not negative
    assert np.isnan(share_ci([0.25, 0.25])[1])  # two seeds: no interval at all
    # three seeds with the same share: a zero-width interval is what the t-interval says
    assert share_ci([0.25, 0.25, 0.25])[1:3] == (0.25, 0.25)


def test_fidelity_gates_judge_student_and_network_teacher():
    from dmdlab.analysis import fidelity_reasons, runs_passing

    good = dict(GOOD)
    assert fidelity_reasons(good) == []
    assert "student gap 1.50" in fidelity_reasons({**good, "loglik_gap": 1.5})[0]
    assert (
        "agrees with the exact map for 80%"
        in fidelity_reasons({**good, "teacher_map_agree": 0.8})[0]
    )
    assert "excess error 0.40" in fidelity_reasons({**good, "teacher_err_s1": 0.4})[0]
    # a missing column is an error, never a silent pass
    with pytest.raises(ValueError, match="teacher_err_s2"):
        fidelity_reasons({k: v for k, v in good.items() if k != "teacher_err_s2"})
    # the σ_max gate applies only to a student that starts from the teacher's read-out
    assert fidelity_reasons({**good, "teacher_err_smax": 3.0})
    assert fidelity_reasons({**good, "teacher_err_smax": 3.0, "start": "exact"}) == []
    # the oracle is exact and a memorizing teacher is meant to differ: no teacher gates
    assert fidelity_reasons({**good, "teacher_map_agree": 0.1, "teacher": "memorizing"}) == []
    # runs_passing(converged=False) drops exactly the seed-runs failing the loose gates
    t = _table({(2, "x"): [0.5, 0.6], (8, "x"): [0.7, 0.8]}).assign(**good)
    t.loc[t.dim == 8, "coverage_min"] = 0.1
    assert set(runs_passing(t, converged=False).dim) == {2}


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
    rate = remap_rate(t).set_index("dim")
    assert rate.loc[2, "rate"] == pytest.approx(3 / 5) and rate.loc[8, "rate"] == 0.0
    assert np.isnan(rate.loc[2, "lo"])  # two seeds: no interval
    three = _units_table({2: [[0.1, 0.9], [0.2, 0.3], [1.0, 1.0]]})
    rate = remap_rate(three).iloc[0]
    shares = np.array([0.5, 1.0, 0.0])
    half = stats.t.ppf(0.975, 2) * shares.std(ddof=1) / np.sqrt(3)
    assert rate.rate == pytest.approx(0.5) and rate.hi == pytest.approx(min(1.0, 0.5 + half))


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


def test_convergence_gates_against_the_teacher_and_the_trend():
    from dmdlab.analysis import convergence_reasons, seed_gates

    good = {**GOOD, "gap_slope": 0.0}
    assert convergence_reasons(good) == []
    # 3× the teacher's gap (0.1) is allowed, 0.35 is not
    assert "gap 0.35" in convergence_reasons({**good, "loglik_gap": 0.35})[0]
    # a teacher with no gap at all still leaves 0.05 nats/dim of slack
    assert convergence_reasons({**good, "teacher_loglik_gap": 0.0, "loglik_gap": 0.04}) == []
    assert "mode shares 0.60" in convergence_reasons({**good, "coverage_min": 0.6})[0]
    assert "still falling" in convergence_reasons({**good, "gap_slope": -0.2})[0]
    # per seed-run: a gap that falls 0.4 nats/dim per 1000 steps is not converged
    rows = []
    for seed, slope in ((0, 0.0), (1, -0.4)):
        for step in range(0, 1001, 100):
            rows.append({**GOOD, "dim": 2, "cell": "c", "seed": seed, "step": step,
                         "diverged": False, "kappa": 0.5,
                         "loglik_gap": 0.25 + slope * (step - 1000) / 1000})  # fmt: skip
    gates = seed_gates(pd.DataFrame(rows)).set_index("seed")
    assert gates.passes.all() and gates.converged.to_dict() == {0: True, 1: False}
    assert "still falling (-0.40" in gates.loc[1, "why"]


def test_fit_course_reads_peak_time_scale_and_settled_value():
    from dmdlab.analysis import course_table, fit_course

    steps = np.arange(0, 3001, 20)
    rise = np.minimum(1.0, steps / 100)
    # rises to 0.8 by step 100, then decays to 0.5 with τ = 400
    kappa = np.where(steps <= 100, 0.8 * rise, 0.5 + 0.3 * np.exp(-(steps - 100) / 400))
    fit = fit_course(steps, kappa)
    assert fit["form"] == "decay" and fit["peak_step"] == pytest.approx(100, abs=20)
    assert fit["tau"] == pytest.approx(400, rel=0.1) and fit["settled"] == pytest.approx(
        0.5, abs=0.01
    )
    # flat after its peak: no decay, settled = the late mean
    flat = np.where(steps <= 100, 0.7 * rise, 0.7)
    assert fit_course(steps, flat)["form"] == "no decay"
    # a decay far slower than the run: the settled value is not read off
    slow = np.where(steps <= 100, 0.8 * rise, 0.8 - 0.0001 * (steps - 100))
    assert fit_course(steps, slow)["form"] == "unresolved"
    rows = [{"dim": 2, "seed": s, "step": t, "diverged": False, "kappa": k}
            for s in range(3) for t, k in zip(steps, kappa, strict=True)]  # fmt: skip
    row = course_table(pd.DataFrame(rows)).iloc[0]
    assert row.n_settled == 3 and row.settled == pytest.approx(0.5, abs=0.01)
    # a seed-run whose decay is too slow to read adds to the seeds, not to n_settled
    rows += [{"dim": 2, "seed": 9, "step": t, "diverged": False, "kappa": k}
             for t, k in zip(steps, slow, strict=True)]  # fmt: skip
    row = course_table(pd.DataFrame(rows)).iloc[0]
    assert (row.seeds, row.n_settled) == (4, 3)


def test_matched_progress_compares_at_one_step_and_one_gap():
    from dmdlab.analysis import matched_progress

    rows = []
    # d = 2 reaches gap 0.5 at step 200, d = 8 at step 400; κ = 1 − step/1000 everywhere
    for dim, rate in ((2, 2.5e-3), (8, 1.25e-3)):
        for seed in range(3):
            for step in range(0, 601, 100):
                gap = 1.0 - rate * step
                rows.append({"dim": dim, "seed": seed, "step": step, "diverged": False,
                             "kappa": 1 - step / 1000, "loglik_gap": gap})  # fmt: skip
    table = matched_progress(pd.DataFrame(rows), gap=0.5).set_index("dim")
    assert (table.at_step == 600).all() and table.step_mean.tolist() == pytest.approx([0.4, 0.4])
    assert table.gap_step.tolist() == [200.0, 400.0]
    assert table.gap_mean.tolist() == pytest.approx([0.8, 0.6])

"""Statistics over a results table: final values, effects with intervals, d*, collapse.

Everything here reads the tidy table a sweep writes (one row per seed per recorded
step) and returns numbers or small tables; the studies phrase their sentences from
these. Diverged seed-runs are always excluded (and counted by the callers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "bootstrap_transition",
    "collapse_quality",
    "compare_levels",
    "describe_transition",
    "dimension_verdict",
    "divergence_sentence",
    "effect_sentence",
    "ends_differ",
    "fidelity_flags",
    "fidelity_reasons",
    "final_rows",
    "holm",
    "kappa_at_first_pass",
    "logistic_transition",
    "mean_ci",
    "mode_units",
    "monotone_in_dim",
    "passing",
    "remap_rate",
    "training_course",
    "transition_dimension",
]


def final_rows(results: pd.DataFrame, step: int | None = None) -> pd.DataFrame:
    """The rows at ``step`` (default: each cell's last recorded step) that did not diverge."""
    if step is None:
        last = results.groupby("cell").step.transform("max") if "cell" in results else None
        at = results[results.step == (last if last is not None else results.step.max())]
    else:
        at = results[results.step == step]
    return at[~at.diverged.astype(bool)]


def divergence_sentence(*tables: pd.DataFrame) -> str:
    """One sentence counting the diverged seed-runs over ``tables`` (each with cell, seed
    and diverged columns), the same in every summary and report."""
    n = sum(int(t.groupby(["cell", "seed"]).diverged.any().sum()) for t in tables if "cell" in t)
    return (
        f"{n} seed-run(s) diverged and are excluded from every mean." if n else "No run diverged."
    )


def mean_ci(values) -> tuple[float, float, int]:
    """(mean, 95% t-interval half-width, n) of the finite entries of ``values`` (n,).

    The half-width is NaN with fewer than two values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    if len(v) < 2:
        return float(v.mean()), float("nan"), 1
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(half), len(v)


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(mean(a) − mean(b), 95% Welch half-width, two-sided p)."""
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return float(diff), 0.0, float("nan") if diff == 0 else 0.0
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p = 2 * stats.t.sf(abs(diff) / se, dof)
    return float(diff), float(stats.t.ppf(0.975, dof) * se), float(p)


def compare_levels(
    results: pd.DataFrame, factor: str, baseline, metric: str = "kappa", by: str = "dim"
) -> pd.DataFrame:
    """Each level of ``factor`` against ``baseline``, per value of ``by``, at the final step.

    One row per (by, level): mean, 95% CI half-width and n of ``metric`` over seeds,
    and the difference to the baseline level with a 95% half-width and p-value, and
    ``p_holm``: that p-value Holm-adjusted over every comparison in the table. When
    both levels ran the same seeds (same mixture, same teacher per seed), the test is
    paired over seeds, which removes the between-mixture spread; otherwise Welch's.
    NaN where either side has fewer than two seeds.
    """
    last = final_rows(results)
    rows = []
    for key, group in last.groupby(by, sort=True):
        base = group[group[factor] == baseline].set_index("seed")[metric].astype(float)
        base = base[np.isfinite(base)]
        for level, sub in group.groupby(factor, sort=True):
            v = sub.set_index("seed")[metric].astype(float)
            v = v[np.isfinite(v)]
            m, ci, n = mean_ci(v.to_numpy())
            row = {by: key, factor: level, "mean": m, "ci": ci, "n": n}
            row["diff"] = row["diff_ci"] = row["p"] = float("nan")
            row["test"] = ""
            if len(v) >= 2 and len(base) >= 2 and level != baseline:
                if set(v.index) == set(base.index):
                    d = (v - base.loc[v.index]).to_numpy()
                    row["diff"], row["diff_ci"], _ = mean_ci(d)
                    row["p"] = _paired_p(d)
                    row["test"] = "paired"
                else:
                    row["diff"], row["diff_ci"], row["p"] = _welch(v.to_numpy(), base.to_numpy())
                    row["test"] = "welch"
            rows.append(row)
    columns = [by, factor, "mean", "ci", "n", "diff", "diff_ci", "p", "p_holm", "test"]
    table = pd.DataFrame(rows, columns=columns)  # the columns even when nothing passes
    # the table is one family of comparisons (every level at every `by` against the baseline)
    table["p_holm"] = holm(table["p"].to_numpy(dtype=float)) if len(table) else []
    return table


def holm(p) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, (n,) → (n,); NaN entries stay NaN and do not
    count towards the number of comparisons.

    Controls the family-wise error rate at any dependence between the tests; a
    comparison is detectable at level α when its adjusted p < α.
    """
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = ok.size
    # the i-th smallest p is multiplied by the number of hypotheses not yet rejected
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def _paired_p(d: np.ndarray) -> float:
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):  # constant: t undefined
        return float("nan") if d[0] == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def effect_sentence(
    row: dict, base: dict, metric: str, label: str, base_label: str, by: str = "dim"
) -> str:
    """One sentence from a :func:`compare_levels` row and its baseline row.

    The verdict follows the interval of the difference: "no detectable effect" when it
    contains 0, else "higher"/"lower" with the size."""
    head = (
        f"{metric} at {by}={row[by]} is {row['mean']:.2f} ± {row['ci']:.2f} with {label} "
        f"and {base['mean']:.2f} ± {base['ci']:.2f} with {base_label}"
    )
    if not np.isfinite(row["diff"]):
        return head + " (too few seeds for an interval of the difference)."
    lo, hi = row["diff"] - row["diff_ci"], row["diff"] + row["diff_ci"]
    kind = f"{row['test']} " if row.get("test") else ""
    interval = f"{kind}difference {row['diff']:+.2f}, 95% CI [{lo:+.2f}, {hi:+.2f}]"
    if lo <= 0 <= hi:
        return f"{head}: no detectable effect ({interval})."
    word = "higher" if row["diff"] > 0 else "lower"
    return f"{head}: {word} with {label} ({interval}, p = {row['p']:.2g})."


def ends_differ(results: pd.DataFrame, metric: str = "kappa") -> tuple[bool, float]:
    """Whether the final ``metric`` at the lowest and the highest d differ detectably:
    (Welch p < 0.05, p). Without that, a halfway crossing locates noise."""
    last = final_rows(results)
    lo_d, hi_d = last.dim.min(), last.dim.max()
    a = last[last.dim == lo_d][metric].to_numpy(float)
    b = last[last.dim == hi_d][metric].to_numpy(float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return False, float("nan")
    p = _welch(b, a)[2]
    return bool(p < 0.05), p


def transition_dimension(
    results: pd.DataFrame, metric: str = "kappa", require_change: bool = False
) -> float:
    """d*: where the per-dim mean final ``metric`` first crosses halfway between its
    lowest-d and highest-d means, interpolating linearly in log d. NaN when it never
    crosses, or with fewer than three dims (with two, the crossing is always their
    log-midpoint and says nothing), or — with ``require_change`` — when the end levels
    do not differ detectably (:func:`ends_differ`)."""
    if require_change and not ends_differ(results, metric)[0]:
        return float("nan")
    means = final_rows(results).groupby("dim")[metric].mean().sort_index()
    dims, values = means.index.to_numpy(float), means.to_numpy(float)
    if len(dims) < 3 or not np.all(np.isfinite(values)):
        return float("nan")
    if values[0] == values[-1]:  # no change between the ends: nothing to cross
        return float("nan")
    half = 0.5 * (values[0] + values[-1])
    for i in range(len(dims) - 1):
        a, b = values[i] - half, values[i + 1] - half
        if a == 0:
            return float(dims[i])
        if a * b < 0:
            t = a / (a - b)
            return float(np.exp(np.log(dims[i]) + t * (np.log(dims[i + 1]) - np.log(dims[i]))))
    return float("nan")


def monotone_in_dim(results: pd.DataFrame, metric: str = "kappa") -> bool:
    """Whether the per-dim mean final ``metric`` only rises or only falls with d.

    A halfway crossing of a non-monotone curve marks where it *first* crosses; the
    studies say so next to d*."""
    steps = np.diff(final_rows(results).groupby("dim")[metric].mean().sort_index().to_numpy())
    return bool(np.all(steps >= 0) or np.all(steps <= 0))


def bootstrap_transition(
    results: pd.DataFrame, metric: str = "kappa", n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """(2.5%, 97.5%, fraction of draws with a crossing) of d* under a bootstrap over
    seeds within each dim. The interval is NaN when under half the draws cross."""
    rng = np.random.default_rng(seed)
    last = final_rows(results)
    groups = [g for _, g in last.groupby("dim")]
    draws = []
    for _ in range(n_boot):
        sample = pd.concat([g.iloc[rng.integers(0, len(g), len(g))] for g in groups])
        draws.append(transition_dimension(sample, metric))
    draws = np.asarray(draws)
    ok = draws[np.isfinite(draws)]
    frac = len(ok) / n_boot
    if frac < 0.5:
        return float("nan"), float("nan"), frac
    return float(np.percentile(ok, 2.5)), float(np.percentile(ok, 97.5)), frac


def describe_transition(
    results: pd.DataFrame, metric: str = "kappa", n_boot: int = 1000
) -> tuple[float, str]:
    """(d*, one sentence about it) for the report of a sweep over dim.

    d* comes from :func:`transition_dimension` with ``require_change``; the sentence
    gives its bootstrap interval, says when the metric is not monotone (then d* is only the first
    crossing), or says why there is no d*: too few dims, end levels alike, no crossing.
    """
    d_star = transition_dimension(results, metric, require_change=True)
    if np.isfinite(d_star):
        lo, hi, frac = bootstrap_transition(results, metric, n_boot)
        interval = (
            f"95% bootstrap interval [{lo:.3g}, {hi:.3g}]"
            if np.isfinite(lo)
            else f"no stable interval: only {frac:.0%} of bootstrap draws cross"
        )
        text = f"d* = {d_star:.3g} ({interval})"
        if not monotone_in_dim(results, metric):
            text += "; not monotone in d, so this is only the first halfway crossing"
        return d_star, text + "."
    if final_rows(results).dim.nunique() < 3:
        return d_star, "fewer than three dims: d* is not defined."
    differ, p = ends_differ(results, metric)
    if not differ:
        return d_star, (
            f"the lowest-d and highest-d levels do not differ detectably (Welch p = {p:.2g}): "
            "no transition to locate, so no d*."
        )
    return d_star, "never crosses halfway between its end levels: no d* in this range."


def collapse_quality(
    x: np.ndarray, y: np.ndarray, group: np.ndarray, degree: int = 2
) -> tuple[float, float]:
    """How well curves y(x) of several groups fall on one curve.

    Returns (R² of one polynomial of ``degree`` in x fitted to all groups pooled,
    R² of a separate polynomial per group). Equal values mean a perfect collapse:
    knowing the group adds nothing once x is known. x, y, group: (n,).
    """
    x, y, group = (np.asarray(a) for a in (x, y, group))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, group = x[ok], y[ok], group[ok]
    total = np.sum((y - y.mean()) ** 2)
    if total == 0 or len(y) <= degree + 1:
        return float("nan"), float("nan")

    def residual(xs, ys):
        deg = min(degree, len(np.unique(xs)) - 1)
        coef = np.polyfit(xs, ys, deg)
        return np.sum((ys - np.polyval(coef, xs)) ** 2)

    pooled = 1 - residual(x, y) / total
    separate = 1 - sum(residual(x[group == g], y[group == g]) for g in np.unique(group)) / total
    return float(pooled), float(separate)


# Student and teacher sample fidelity: worst mode at ≥ half its share, ≤ 1 nat/dim gap.
FIDELITY_LIMITS = {"coverage_min": 0.5, "loglik_gap": 1.0}
# A network teacher is trusted when its ODE map picks the exact map's mode for ≥ 90% of
# noises, its excess error in the σ bands where modes are decided is ≤ 0.25 of the
# optimum, and at σ_max its error is below the z-dependent signal (SCIENCE.md §5c).
TEACHER_LIMITS = {"teacher_map_agree": 0.9, "teacher_err_band": 0.25, "teacher_err_smax": 1.0}
TEACHER_BANDS = ("teacher_err_s0.5", "teacher_err_s1", "teacher_err_s2", "teacher_err_s5")


def fidelity_reasons(row: dict) -> list[str]:
    """Why a grid point (a dict of metric means over seeds) fails the fidelity gates.

    Student and real score: worst-mode coverage < 0.5 or log-likelihood gap > 1
    nat/dim. A *network* real score also: map agreement with the exact ODE map < 0.9,
    excess error > 0.25 in a σ band 0.5–5, or (for a student that starts from it,
    ``start="network"``) σ_max error above the pairing signal.
    (The oracle is exact; a memorizing teacher is meant to differ from the mixture.)
    Empty when it passes."""
    reasons = []
    for who, prefix in (("student", ""), ("teacher", "teacher_")):
        cov, gap = row.get(f"{prefix}coverage_min"), row.get(f"{prefix}loglik_gap")
        if cov is not None and cov < FIDELITY_LIMITS["coverage_min"]:
            reasons.append(f"{who} worst-mode coverage {cov:.2f}")
        if gap is not None and gap > FIDELITY_LIMITS["loglik_gap"]:
            reasons.append(f"{who} gap {gap:.2f} nats/dim")
    if row.get("teacher", "network") != "network":
        return reasons
    agree = row.get("teacher_map_agree")
    if agree is not None and agree < TEACHER_LIMITS["teacher_map_agree"]:
        reasons.append(f"teacher map agrees with the exact map for {agree:.0%}")
    bands = [row[b] for b in TEACHER_BANDS if b in row]
    if bands and max(bands) > TEACHER_LIMITS["teacher_err_band"]:
        reasons.append(f"teacher excess error {max(bands):.2f} in the mode bands")
    smax = row.get("teacher_err_smax")
    # only where the student starts from the teacher's σ_max read-out (not the exact one)
    if (
        smax is not None
        and smax > TEACHER_LIMITS["teacher_err_smax"]
        and (row.get("start", "network") == "network")
    ):
        reasons.append(f"teacher σ_max error {smax:.1f}× the pairing signal")
    return reasons


def fidelity_flags(results: pd.DataFrame, by=("dim",)) -> pd.DataFrame:
    """Grid points whose student or real score does not match the data, at the final step.

    Means over seeds per ``by`` group, judged by :func:`fidelity_reasons`. Copying
    numbers from such cells measure a student (or teacher) that has not learned the
    distribution. Returns only the flagged rows, with a ``why`` column.
    """
    last = final_rows(results)
    cols = ["coverage_min", "loglik_gap", "teacher_coverage_min", "teacher_loglik_gap"]
    cols += ["teacher_map_agree", *TEACHER_BANDS, "teacher_err_smax"]
    cols = [c for c in cols if c in last]
    keys = list(by) + [k for k in ("teacher", "start") if k in last and k not in by]
    means = last.groupby(keys)[cols].mean().reset_index()
    means["why"] = ["; ".join(fidelity_reasons(r)) for r in means.to_dict("records")]
    return means[means.why != ""].reset_index(drop=True)


def passing(results: pd.DataFrame, by=("dim",)) -> pd.DataFrame:
    """The rows of ``results`` whose grid point passes :func:`fidelity_flags`."""
    flagged = fidelity_flags(results, by)
    if flagged.empty:
        return results
    bad = results.set_index(list(by)).index.isin(flagged.set_index(list(by)).index)
    return results[~bad]


# ---------------------------------------------------------------- modes as units
def mode_units(results: pd.DataFrame, by=("dim",)) -> pd.DataFrame:
    """One row per (grid point, seed, teacher mode) at each cell's final step: the mode's
    kept fraction and whether it was kept (≥ ½). Modes T sends no noise to are dropped.

    Seeds × modes are the units of SCIENCE.md §5: K per seed, which suits an outcome that
    is bimodal by seed. Columns: ``by``, seed, mode, kept_fraction, kept."""
    last = final_rows(results)
    rows = []
    for rec in last[[*by, "seed", "kept_by_mode"]].to_dict("records"):
        for k, frac in enumerate(np.asarray(rec["kept_by_mode"], dtype=float)):
            if np.isfinite(frac):
                rows.append({**{b: rec[b] for b in by}, "seed": rec["seed"], "mode": k,
                             "kept_fraction": frac, "kept": frac >= 0.5})  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, "seed", "mode", "kept_fraction", "kept"])


def remap_rate(
    results: pd.DataFrame, by=("dim",), n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per grid point: the share of (seed, mode) units remapped (kept fraction < ½) with a
    95% cluster-bootstrap interval (seeds resampled with their modes, percentile).

    Columns: ``by``, rate, lo, hi, units, seeds."""
    units = mode_units(results, by)
    rows = []
    for key, g in units.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        # a fresh generator per grid point: its interval does not depend on which other
        # grid points share the table (a summary and a study then print the same one)
        rng = np.random.default_rng(seed)
        per_seed = g.groupby("seed").kept.agg(["sum", "count"])
        removed = (per_seed["count"] - per_seed["sum"]).to_numpy(float)
        total = per_seed["count"].to_numpy(float)
        draws = rng.integers(0, len(total), (n_boot, len(total)))
        boot = removed[draws].sum(1) / total[draws].sum(1)
        rows.append({**dict(zip(by, key, strict=True)), "rate": removed.sum() / total.sum(),
                     "lo": float(np.percentile(boot, 2.5)), "hi": float(np.percentile(boot, 97.5)),
                     "units": int(total.sum()), "seeds": len(total)})  # fmt: skip
    return pd.DataFrame(rows)


def _logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the maximum-likelihood logistic regression of y ∈ {0, 1} on x.

    A ridge of 1e-6 keeps the optimum finite when the classes separate."""
    from scipy.optimize import minimize

    def nll(beta):
        eta = beta[0] + beta[1] * x
        return np.sum(np.logaddexp(0.0, eta) - y * eta) + 1e-6 * beta @ beta

    def grad(beta):
        p = 1.0 / (1.0 + np.exp(-(beta[0] + beta[1] * x)))
        return np.array([np.sum(p - y), np.sum((p - y) * x)]) + 2e-6 * beta

    res = minimize(nll, np.zeros(2), jac=grad, method="BFGS")
    return float(res.x[0]), float(res.x[1])


def logistic_transition(
    results: pd.DataFrame, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """d* from a logistic fit of "mode kept" on log d over (seed, mode) units.

    P(kept | d) = 1 / (1 + exp(−(a + b log d))); d* = exp(−a / b), where the fit crosses ½.
    Intervals: cluster bootstrap (seed-runs resampled within each d, with their modes;
    percentile). d* is reported only when the slope's interval excludes 0 and d* lies
    inside the swept range; otherwise ``d_star`` is NaN and ``why`` says which.
    Returns slope, slope_lo, slope_hi, d_star, d_lo, d_hi, why."""
    units = mode_units(results)
    out = {k: float("nan") for k in ("slope", "slope_lo", "slope_hi", "d_star", "d_lo", "d_hi")}
    if units.dim.nunique() < 3:
        return {**out, "why": "fewer than three dims"}
    x, y = np.log(units.dim.to_numpy(float)), units.kept.to_numpy(float)
    a, b = _logistic_fit(x, y)
    out["slope"] = b
    clusters = [g for _, g in units.groupby(["dim", "seed"])]
    by_dim: dict = {}
    for g in clusters:
        by_dim.setdefault(g.dim.iloc[0], []).append(g)
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(n_boot):
        sample = [gs[i] for gs in by_dim.values() for i in rng.integers(0, len(gs), len(gs))]
        s = pd.concat(sample)
        fits.append(_logistic_fit(np.log(s.dim.to_numpy(float)), s.kept.to_numpy(float)))
    fits = np.asarray(fits)
    out["slope_lo"], out["slope_hi"] = np.percentile(fits[:, 1], [2.5, 97.5])
    lo_d, hi_d = units.dim.min(), units.dim.max()
    if out["slope_lo"] <= 0 <= out["slope_hi"]:
        return {**out, "why": "the slope's 95% interval contains 0: no shift with d detected"}
    d_star = float(np.exp(-a / b))
    if not lo_d <= d_star <= hi_d:
        return {**out, "why": f"the fit crosses ½ at d = {d_star:.3g}, outside the swept range"}
    boot = np.exp(-fits[:, 0] / fits[:, 1])
    out["d_star"] = d_star
    out["d_lo"], out["d_hi"] = np.percentile(boot, [2.5, 97.5])
    return {**out, "why": ""}


VERDICTS = ("supported", "not supported", "inconclusive at this budget")


def dimension_verdict(kept: pd.DataFrame, n_boot: int = 1000) -> tuple[str, str]:
    """The claim "students remap noise in low d and copy in high d", judged from the rows
    of passing grid points of one start (one of :data:`VERDICTS`, and the evidence).

    Supported when the logistic fit of "mode kept" rises with log d and crosses ½ inside
    the range (:func:`logistic_transition`); not supported when at the lowest passing d
    the student keeps most modes (the remap rate's 95% interval lies below ½) or "kept"
    detectably falls with d; otherwise inconclusive, with the reason. ``n_boot``: cluster
    bootstrap resamples of the logistic fit."""
    if final_rows(kept).empty:
        return VERDICTS[2], "no grid point passes the fidelity gates"
    rates = remap_rate(kept)
    low = rates.iloc[0]
    dims = [int(d) for d in rates.dim]
    k, k_ci, _ = mean_ci(final_rows(kept)[lambda t: t.dim == low.dim].kappa)
    low_text = (
        f"at d = {dims[0]} the remap rate is {low.rate:.2f} [{low.lo:.2f}, {low.hi:.2f}] "
        f"and κ {k:.2f} ± {k_ci:.2f}; passing dims {dims}"
    )
    fit = logistic_transition(kept, n_boot=n_boot) if len(dims) >= 3 else None
    if fit is not None and np.isfinite(fit["d_star"]) and fit["slope"] > 0:
        return VERDICTS[0], (
            f"'mode kept' rises with log d; d* = {fit['d_star']:.3g} "
            f"[{fit['d_lo']:.3g}, {fit['d_hi']:.3g}]; {low_text}"
        )
    if low.hi < 0.5:
        shift = ""
        if fit is not None and fit["slope_lo"] > 0:
            shift = (
                f"; 'mode kept' does rise with log d (logistic slope {fit['slope']:+.2f}, 95% "
                f"[{fit['slope_lo']:+.2f}, {fit['slope_hi']:+.2f}]): the minority of remapped "
                "units shrinks with d, without a remapping majority to start from"
            )
        return VERDICTS[1], (
            f"the student keeps most modes even at the lowest passing d ({low_text}): no "
            "remapping regime there"
            + ("; the high-d half is untested" if len(dims) < 3 else "")
            + shift
        )
    if fit is not None and fit["slope_hi"] < 0:
        return VERDICTS[1], f"'mode kept' falls with d ({low_text})"
    why = "fewer than 3 dims pass" if fit is None else fit["why"]
    return VERDICTS[2], f"{why}; {low_text}"


def _run_keys(table: pd.DataFrame) -> list[str]:
    """The columns naming one seed-run: (cell, seed), or seed alone in a one-cell table."""
    return ["cell", "seed"] if "cell" in table else ["seed"]


def training_course(
    results: pd.DataFrame, metric: str = "kappa", by=("dim",), tail: float = 0.5
) -> pd.DataFrame:
    """Whether ``metric`` has settled by the end of training, per grid point.

    Per seed-run: the least-squares slope of ``metric`` against the generator step over
    the last ``tail`` of the recorded steps, per 1000 steps; then the mean and 95%
    t-interval over seeds of that slope and of the final value. ``course`` reads them:
    "vanishes" when the final value's interval contains 0, else "still falling" /
    "still rising" when the slope's interval excludes 0, else "plateau". Diverged
    seed-runs are left out. Columns: ``by``, seeds, final, final_ci, slope_per_1k,
    slope_ci, course."""
    ok = results[~results.diverged] if "diverged" in results else results
    rows = []
    for key, g in ok.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        steps = np.sort(g.step.unique())
        late = g[g.step >= steps[int(len(steps) * (1 - tail))]]
        slopes, finals = [], []
        for _, run in late.groupby(_run_keys(late)):
            run = run.dropna(subset=[metric])
            if len(run) >= 3:
                slopes.append(1000 * np.polyfit(run.step.to_numpy(float), run[metric], 1)[0])
                finals.append(float(run.sort_values("step")[metric].iloc[-1]))
        slope, slope_ci, n = mean_ci(np.asarray(slopes))
        final, final_ci, _ = mean_ci(np.asarray(finals))
        if n < 2:
            course = "too few seeds"
        elif final - final_ci <= 0 <= final + final_ci:
            course = "vanishes"
        elif slope + slope_ci < 0:
            course = "still falling"
        elif slope - slope_ci > 0:
            course = "still rising"
        else:
            course = "plateau"
        rows.append({**dict(zip(by, key, strict=True)), "seeds": n, "final": final,
                     "final_ci": final_ci, "slope_per_1k": slope, "slope_ci": slope_ci,
                     "course": course})  # fmt: skip
    cols = [*by, "seeds", "final", "final_ci", "slope_per_1k", "slope_ci", "course"]
    return pd.DataFrame(rows, columns=cols)


def kappa_at_first_pass(results: pd.DataFrame, by=("dim",), metric: str = "kappa") -> pd.DataFrame:
    """``metric`` at the first recorded step at which each seed-run's student passes its
    own gates (worst-mode coverage ≥ ½ of its weight, gap ≤ 1 nat/dim), per grid point.

    Students at different d reach the data after different numbers of steps, and κ moves
    during training, so comparing final κ across d at per-d budgets mixes d with training
    time; this compares them at the moment each first matches the data. Columns: ``by``,
    seeds (runs that ever pass), never (runs that never do), step (mean first-pass step),
    mean, ci (95% t-interval over seeds)."""
    ok = results[~results.diverged] if "diverged" in results else results
    limits = FIDELITY_LIMITS
    good = (ok.coverage_min >= limits["coverage_min"]) & (ok.loglik_gap <= limits["loglik_gap"])
    rows = []
    for key, g in ok.assign(good=good).groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        values, steps, never = [], [], 0
        for _, run in g.sort_values("step").groupby(_run_keys(g)):
            hit = run[run.good & (run.step > 0)]
            if hit.empty:
                never += 1
                continue
            values.append(float(hit[metric].iloc[0]))
            steps.append(float(hit.step.iloc[0]))
        m, ci, n = mean_ci(np.asarray(values))
        rows.append({**dict(zip(by, key, strict=True)), "seeds": n, "never": never,
                     "step": float(np.mean(steps)) if steps else float("nan"),
                     "mean": m, "ci": ci})  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, "seeds", "never", "step", "mean", "ci"])

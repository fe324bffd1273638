"""Where students stop remapping: modes as units, the remap rate, the logistic d*, and
the computed verdict on "remap in low d, copy in high d".

One d* estimator: the logistic fit of "mode kept" on log d over (seed, mode) units
(docs/science.md §5), which uses every unit and gives an interval; a halfway crossing of the
mean κ curve (used before) locates noise when the curve is flat and was dropped. The
verdict lives here, not in the dimension study, because ``make sweep``'s summary prints
it too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dmdlab.analysis.stats import final_rows, mean_ci, share_ci

__all__ = [
    "MIN_BOOT_SEEDS",
    "VERDICTS",
    "dimension_verdict",
    "logistic_transition",
    "mode_units",
    "rate_text",
    "remap_rate",
    "transition_sentence",
    "within_class_verdict",
]

MIN_BOOT_SEEDS = 5  # 5 seeds: 126 distinct cluster resamples per d


# ---------------------------------------------------------------- modes as units
def mode_units(results: pd.DataFrame, by=("dim",)) -> pd.DataFrame:
    """One row per (grid point, seed, teacher mode) at each cell's final step: the mode's
    kept fraction and whether it was kept (≥ ½). Modes T sends no noise to are dropped.

    Seeds × modes are the units of docs/science.md §5: K per seed, which suits an outcome that
    is bimodal by seed. Columns: ``by``, seed, mode, kept_fraction, kept."""
    last = final_rows(results)
    rows = []
    for rec in last[[*by, "seed", "kept_by_mode"]].to_dict("records"):
        for k, frac in enumerate(np.asarray(rec["kept_by_mode"], dtype=float)):
            if np.isfinite(frac):
                rows.append({**{b: rec[b] for b in by}, "seed": rec["seed"], "mode": k,
                             "kept_fraction": frac, "kept": frac >= 0.5})  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, "seed", "mode", "kept_fraction", "kept"])


def remap_rate(results: pd.DataFrame, by=("dim",)) -> pd.DataFrame:
    """Per grid point: the share of (seed, mode) units remapped (kept fraction < ½), and
    a 95% interval from the per-seed remapped shares (:func:`share_ci`: a t-interval over
    seeds, clipped to [0, 1]; NaN with fewer than three seeds). ``rate`` is the pooled
    share (= the mean of per-seed shares when every seed has all K modes).

    Columns: ``by``, rate, lo, hi, units, seeds."""
    units = mode_units(results, by)
    rows = []
    for key, g in units.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        per_seed = g.groupby("seed").kept.agg(["sum", "count"])
        removed = (per_seed["count"] - per_seed["sum"]).to_numpy(float)
        total = per_seed["count"].to_numpy(float)
        _, lo, hi, n = share_ci(removed / total)
        rows.append({**dict(zip(by, key, strict=True)), "rate": removed.sum() / total.sum(),
                     "lo": lo, "hi": hi, "units": int(total.sum()), "seeds": n})  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, "rate", "lo", "hi", "units", "seeds"])


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
    percentile), only with at least :data:`MIN_BOOT_SEEDS` seeds at every d (fewer have
    too few distinct resamples for a percentile interval). d* is reported only when the
    slope's interval excludes 0 and d* lies inside the swept range; otherwise ``d_star``
    is NaN and ``why`` says which. Returns slope, slope_lo, slope_hi, d_star, d_lo,
    d_hi, why."""
    units = mode_units(results)
    out = {k: float("nan") for k in ("slope", "slope_lo", "slope_hi", "d_star", "d_lo", "d_hi")}
    if units.dim.nunique() < 3:
        return {**out, "why": "fewer than three dims"}
    fewest = int(units.groupby("dim").seed.nunique().min())
    if fewest < MIN_BOOT_SEEDS:
        return {**out, "why": f"{fewest} seeds at some d: too few for a bootstrap interval"}
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


def transition_sentence(kept: pd.DataFrame, n_boot: int = 1000) -> tuple[float, str]:
    """(d*, one sentence) from :func:`logistic_transition` over ``kept`` (rows of
    passing grid points): d* with its interval, or why there is none."""
    fit = logistic_transition(kept, n_boot=n_boot)
    if np.isfinite(fit["d_star"]):
        return fit["d_star"], (
            f"d* = {fit['d_star']:.3g} (95% cluster bootstrap [{fit['d_lo']:.3g}, "
            f"{fit['d_hi']:.3g}]; logistic slope {fit['slope']:+.2f} per log d)"
        )
    if np.isfinite(fit["slope_lo"]):
        return fit["d_star"], (
            f"no d*: {fit['why']} (logistic slope of 'kept' on log d {fit['slope']:+.2f}, "
            f"95% cluster bootstrap [{fit['slope_lo']:+.2f}, {fit['slope_hi']:+.2f}])"
        )
    return fit["d_star"], f"no d*: {fit['why']}"


VERDICTS = ("supported", "not supported", "inconclusive at this budget")


def rate_text(row) -> str:
    """A :func:`remap_rate` row as text: "0.17 [0.00, 0.38]", or with too few seeds for
    an interval, "0.17 (n seeds: no interval)"."""
    if np.isfinite(row["lo"]):
        return f"{row['rate']:.2f} [{row['lo']:.2f}, {row['hi']:.2f}]"
    return f"{row['rate']:.2f} ({row['seeds']} seeds: no interval)"


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
        f"at d = {dims[0]} the remap rate is {rate_text(low)} "
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


def within_class_verdict(kept: pd.DataFrame, metric: str = "copying_within") -> tuple[str, str]:
    """The same claim judged *inside* classes, for the class-conditional world, where every
    class is one mode and mode-level κ is trivially high: from ``metric`` (C inside each
    class; 1 = G copies T's positions, 0 = unrelated) at the final step of converged grid
    points. Supported when it is below ½ at the lowest d and above ½ at the highest (each
    95% t-interval on its side) and rises with d (Spearman over seed-runs, p < 0.05); not
    supported when it is above ½ already at the lowest d, or falls with d; else
    inconclusive, with the reason."""
    last = final_rows(kept)
    if last.empty:
        return VERDICTS[2], "no grid point passes the gates"
    dims = sorted(last.dim.unique())
    lo, lo_ci, _ = mean_ci(last[last.dim == dims[0]][metric])
    hi, hi_ci, _ = mean_ci(last[last.dim == dims[-1]][metric])
    text = f"{metric} {lo:.2f} ± {lo_ci:.2f} at d = {dims[0]}"
    if len(dims) > 1:
        text += f", {hi:.2f} ± {hi_ci:.2f} at d = {dims[-1]}"
    text += f"; converged dims {[int(d) for d in dims]}"
    if len(dims) >= 2:
        from scipy import stats

        ok = last[[metric, "dim"]].dropna()
        rho, p = stats.spearmanr(ok.dim, ok[metric])
        text += f"; Spearman ρ(d, {metric}) = {rho:+.2f}, p = {p:.2g}"
        if lo + lo_ci < 0.5 and hi - hi_ci > 0.5 and rho > 0 and p < 0.05:
            return VERDICTS[0], text
        if rho < 0 and p < 0.05:
            return VERDICTS[1], f"{metric} falls with d ({text})"
    if lo - lo_ci > 0.5:
        return VERDICTS[1], f"the student copies inside classes already at the lowest d ({text})"
    why = "fewer than two converged dims" if len(dims) < 2 else "no clear change with d"
    return VERDICTS[2], f"{why} ({text})"

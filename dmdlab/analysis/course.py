"""Copying on the time axis (docs/science.md §8): whether a metric has settled, its fitted
course per seed-run (peak, time scale, settled value), and comparisons across d at
matched training progress (the same step, the same gap) rather than at unequal budgets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from dmdlab.analysis.gates import FIDELITY_LIMITS
from dmdlab.analysis.stats import mean_ci, run_keys

__all__ = [
    "course_table",
    "fit_course",
    "kappa_at_first_pass",
    "matched_progress",
    "training_course",
]


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
        for _, run in late.groupby(run_keys(late)):
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
        for _, run in g.sort_values("step").groupby(run_keys(g)):
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


def _decay(t, settled, amplitude, tau):
    return settled + amplitude * np.exp(-t / tau)


def fit_course(steps, values, smooth: int = 3, tol: float = 0.02) -> dict:
    """The course of one seed-run's metric (steps (E,), values (E,)): its peak, then an
    exponential approach to a settled value, v(t) = v_∞ + (v_peak − v_∞) e^{−(t − t_peak)/τ}
    for t ≥ t_peak, fitted by least squares (SciPy's ``curve_fit``).

    The peak is the maximum of a centred running mean over ``smooth`` records (one
    record's noise does not make a peak). Returns peak, peak_step, tau, settled (v_∞),
    end (the last value), form: "decay" when the fit converges with 0 < τ ≤ 3× the time
    after the peak (v_∞ is then within reach of the run, not an extrapolation); "no
    decay" when the values after the peak fall by less than ``tol`` (or less than twice
    the spread of the last third) from the peak to the mean of the last third (settled =
    that mean, τ = NaN); "unresolved" otherwise (τ longer than the run can show:
    v_∞ is NaN and the end value is all the run says)."""
    t, v = np.asarray(steps, float), np.asarray(values, float)
    ok = np.isfinite(v)
    t, v = t[ok], v[ok]
    out = {"peak": np.nan, "peak_step": np.nan, "tau": np.nan, "settled": np.nan,
           "end": float(v[-1]) if len(v) else np.nan, "form": "too short"}  # fmt: skip
    if len(v) < 6:
        return out
    run = pd.Series(v).rolling(smooth, center=True, min_periods=1).mean().to_numpy()
    i = int(np.argmax(run))
    out.update(peak=float(run[i]), peak_step=float(t[i]), end=float(v[-1]))
    after_t, after_v = t[i:] - t[i], v[i:]
    span = after_t[-1] if len(after_t) else 0.0
    tail = after_v[len(after_v) * 2 // 3 :]
    if len(after_v) < 5 or span <= 0:
        return {**out, "form": "no decay", "settled": float(np.mean(tail)) if len(tail) else np.nan}
    if run[i] - np.mean(tail) < max(tol, 2 * np.std(tail)):
        return {**out, "form": "no decay", "settled": float(np.mean(tail))}
    try:
        p0 = (after_v[-1], max(run[i] - after_v[-1], 1e-3), span / 3)
        (settled, _, tau), _ = curve_fit(_decay, after_t, after_v, p0=p0, maxfev=5000,
                                         bounds=([-1e3, 0.0, 1e-3], [1e3, 1e3, 1e6]))  # fmt: skip
    except (RuntimeError, ValueError):
        return {**out, "form": "unresolved"}
    if not 0 < tau <= 3 * span:
        return {**out, "form": "unresolved", "tau": float(tau)}
    return {**out, "form": "decay", "tau": float(tau), "settled": float(settled)}


def course_table(results: pd.DataFrame, metric: str = "kappa", by=("dim",)) -> pd.DataFrame:
    """:func:`fit_course` per seed-run, summarised per grid point: mean ± 95% t-interval
    over seeds of the peak, its step, the settled value (over seed-runs where it is
    resolved: ``n_settled`` of ``seeds``), the end value, and the median τ with its
    range. ``forms`` counts the fitted forms. Diverged seed-runs are left out."""
    ok = results[~results.diverged.astype(bool)] if "diverged" in results else results
    fits = []
    for key, g in ok.groupby([*by, *run_keys(ok)], sort=True):
        g = g.sort_values("step")
        fits.append({**dict(zip([*by, *run_keys(ok)], key, strict=True)),
                     **fit_course(g.step, g[metric])})  # fmt: skip
    fits = pd.DataFrame(fits)
    rows = []
    for key, g in fits.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key, strict=True))
        row["seeds"] = len(g)
        for name in ("peak", "peak_step", "settled", "end"):
            row[name], row[f"{name}_ci"], n = mean_ci(g[name])
            if name == "settled":
                row["n_settled"] = n  # the seed-runs whose settled value is resolved
        taus = g.tau[g.form == "decay"]
        row["tau_median"] = float(taus.median()) if len(taus) else np.nan
        row["tau_lo"], row["tau_hi"] = (
            (float(taus.min()), float(taus.max())) if len(taus) else (np.nan, np.nan)
        )
        row["forms"] = ", ".join(f"{f}: {c}" for f, c in g.form.value_counts().items())
        rows.append(row)
    return pd.DataFrame(rows)


def matched_progress(
    results: pd.DataFrame, metric: str = "kappa", by=("dim",), step=None, gap=None
) -> pd.DataFrame:
    """``metric`` compared across grid points at matched training progress: at the same
    generator ``step`` (default: the last step every grid point recorded), and at the
    first record where each seed-run's gap falls to ``gap`` nats/dim (default: the
    largest of the grid points' final mean gaps, a level every one of them reaches).
    Mean ± 95% t-interval over seed-runs; runs that never reach the gap are counted
    (``never``). Columns: ``by``, at_step, step_mean, step_ci, step_n, gap_level,
    gap_mean, gap_ci, gap_n, gap_step (mean first step at that gap), never."""
    ok = results[~results.diverged.astype(bool)] if "diverged" in results else results
    last_steps = ok.groupby(list(by)).step.max()
    at = int(last_steps.min()) if step is None else int(step)
    finals = ok[ok.step == ok.groupby(run_keys(ok)).step.transform("max")]
    level = float(finals.groupby(list(by)).loglik_gap.mean().max()) if gap is None else gap
    rows = []
    for key, g in ok.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        same = g[g.step == at][metric]
        values, when, never = [], [], 0
        for _, run in g.sort_values("step").groupby(run_keys(g)):
            hit = run[(run.loglik_gap <= level) & (run.step > 0)]
            if hit.empty:
                never += 1
                continue
            values.append(float(hit[metric].iloc[0]))
            when.append(float(hit.step.iloc[0]))
        m_s, ci_s, n_s = mean_ci(same)
        m_g, ci_g, n_g = mean_ci(values)
        rows.append({**dict(zip(by, key, strict=True)), "at_step": at, "step_mean": m_s,
                     "step_ci": ci_s, "step_n": n_s, "gap_level": level, "gap_mean": m_g,
                     "gap_ci": ci_g, "gap_n": n_g,
                     "gap_step": float(np.mean(when)) if when else np.nan,
                     "never": never})  # fmt: skip
    return pd.DataFrame(rows)

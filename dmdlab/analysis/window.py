"""Reading runs over a window of their last records (docs/science.md §8b), so that no one
record, no seed mean and no one-sided measure decides.

- :func:`record_gates`: the gates at every record. Loose: every mode holds half its
  weight, the gap ≤ 1 nat/dim, the real score trusted (:func:`fidelity_reasons`).
  Converged adds the student's *excess over its teacher* on three measures read on the
  same noises and the same reference sample: the log-likelihood gap (one-sided: blind to
  a collapsed student), the sliced W2 (two-sided) and the mode histogram's total
  variation (balance, against the teacher's value plus a binomial allowance).
- :func:`run_gates`: a seed-run is converged only if every record of its window is.
- :func:`settled_table`: per seed-run the mean of a metric over the window and its slope
  there; per grid point mean ± t-interval over seed-runs, and the same over the
  converged seed-runs alone (k / n printed).
- :func:`course_fits`: peak, decay time τ and settled value fitted on a bounded scale,
  "resolved" only when the run covers ≥ 2τ after its peak; bootstrap intervals.
- :func:`first_reach`: matched progress without silent drops.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import curve_fit

from dmdlab.analysis.gates import FIDELITY_LIMITS, fidelity_reasons
from dmdlab.analysis.stats import holm, mean_ci, run_keys

__all__ = [
    "WINDOW",
    "WINDOW_LIMITS",
    "course_fits",
    "first_reach",
    "gate_shortfall",
    "mode_tv_allowance",
    "record_gates",
    "run_gates",
    "runs_passing",
    "settled_table",
    "trend_tests",
    "window_rows",
]

# The window: the last 20% of a seed-run's steps.
WINDOW = 0.2
# Converged, at every record of the window: gap ≤ max(3 × the teacher's, teacher's + 0.05)
# nats/dim; sliced W2 ≤ 2 × the teacher's (both read against the same reference sample,
# so the teacher's value carries the finite-sample floor); mode TV ≤ the teacher's + 2 ×
# the binomial allowance of eval_n samples (mode_tv_allowance).
WINDOW_LIMITS = {"gap_factor": 3.0, "gap_slack": 0.05, "w2_factor": 2.0, "tv_allowances": 2.0}


def mode_tv_allowance(n_modes, n) -> np.ndarray:
    """The expected mode TV of n true samples over K equal modes, ½ K √(2 (1/K)(1 − 1/K)
    / (π n)): the largest binomial floor over weight vectors of K modes (the sum of
    √(π_k(1 − π_k)) is largest at equal weights), so an allowance, not a tight bound."""
    k, n = np.asarray(n_modes, float), np.asarray(n, float)
    return 0.5 * k * np.sqrt(2.0 * (1.0 / k) * (1.0 - 1.0 / k) / (np.pi * n))


def _mean_ci(values) -> tuple[float, float, int]:
    """:func:`mean_ci` with no interval below three seed-runs (docs/science.md §9)."""
    m, ci, n = mean_ci(values)
    return m, (ci if n >= 3 else float("nan")), n


def window_rows(results: pd.DataFrame, share: float = WINDOW) -> pd.DataFrame:
    """Each seed-run's records with step ≥ (1 − share) × its last step (diverged rows
    included: a divergence inside the window fails the window)."""
    last = results.groupby(run_keys(results)).step.transform("max")
    return results[results.step >= (1 - share) * last]


def record_gates(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with ``loose``, ``converged`` (bools) and ``why`` (the reasons, "" when
    converged) per record. A diverged record is neither. A record without the two-sided
    columns (a cell that predates them) is not converged: "no two-sided fidelity"."""
    lim = WINDOW_LIMITS
    loose, conv, whys = [], [], []
    for rec in results.to_dict("records"):
        if rec.get("diverged"):
            loose.append(False)
            conv.append(False)
            whys.append("diverged")
            continue
        why = fidelity_reasons(rec)
        loose.append(not why)
        gap, t_gap = rec["loglik_gap"], rec["teacher_loglik_gap"]
        allowed = max(lim["gap_factor"] * t_gap, t_gap + lim["gap_slack"])
        if not gap <= allowed:
            why.append(f"gap {gap:.2f} > {allowed:.2f}")
        w2, t_w2 = rec.get("sliced_w2", np.nan), rec.get("teacher_sliced_w2", np.nan)
        tv, t_tv = rec.get("mode_tv", np.nan), rec.get("teacher_mode_tv", np.nan)
        if not (np.isfinite(t_w2) and np.isfinite(t_tv)):
            why.append("no two-sided fidelity recorded")
        else:
            if not w2 <= lim["w2_factor"] * t_w2:
                why.append(f"sliced W2 {w2:.3f} > {lim['w2_factor']:g}× teacher's {t_w2:.3f}")
            tv_max = t_tv + lim["tv_allowances"] * float(
                mode_tv_allowance(rec["n_modes"], rec["eval_n"])
            )
            if not tv <= tv_max:
                why.append(f"mode TV {tv:.3f} > {tv_max:.3f}")
        conv.append(not why)
        whys.append("; ".join(why))
    # one concat, not three inserts into a wide (often fragmented) frame
    gates = pd.DataFrame({"loose": loose, "converged": conv, "why": whys}, index=results.index)
    return pd.concat([results.drop(columns=list(gates), errors="ignore"), gates], axis=1)


def _gate_of(reason: str) -> str:
    """The gate a reason names, without its numbers ("mode TV 0.111 > 0.068" → "mode
    TV"): reasons carry each record's values, so counting the strings would count
    every record once."""
    return re.split(r"\s[-+]?[\d.]*\d", reason, maxsplit=1)[0]


def _most_frequent(reasons: list[str], n: int) -> str:
    """The gate failed at most records, as its latest reason (that record's values) and
    how many of the window's ``n`` records fail it; "" when there is none."""
    if not reasons:
        return ""
    gates = pd.Series([_gate_of(r) for r in reasons])
    top = gates.value_counts().index[0]  # ties: the gate seen first
    latest = [r for r in reasons if _gate_of(r) == top][-1]
    return f"{latest} ({int((gates == top).sum())} of {n} records)"


def run_gates(results: pd.DataFrame, by=("dim",), share: float = WINDOW) -> pd.DataFrame:
    """One row per seed-run: ``by``, cell, seed, the window's records (``n_window``), how
    many of them are converged (``k_converged``), ``passes`` (loose at every window
    record), ``converged`` (converged at every one) and ``why``: the gate failed at most
    of the window's records, shown by its latest failing record's values and the count
    of records failing it (a gate, not a string: values differ per record); for a
    seed-run that fails the loose gate, its most frequent loose reason first, then the
    most frequent reason it is not converged."""
    gated = record_gates(window_rows(results, share))
    rows = []
    for key, g in gated.groupby([*by, *run_keys(gated)], sort=True):
        g = g.sort_values("step")
        every = [r for w in g.why if w for r in w.split("; ")]
        why = _most_frequent(every, len(g))
        if not g.loose.all():  # why it fails the floor, then why it is not converged
            failing = g[~g.loose.astype(bool)].to_dict("records")
            floor = [r for rec in failing for r in (
                ["diverged"] if rec.get("diverged") else fidelity_reasons(rec))]  # fmt: skip
            floor_why = _most_frequent(floor, len(g))
            same = _gate_of(floor_why) == _gate_of(why)
            why = floor_why if same else f"{floor_why}; not converged: {why}"
        rows.append({**dict(zip([*by, *run_keys(gated)], key, strict=True)),
                     "n_window": len(g), "k_converged": int(g.converged.sum()),
                     "passes": bool(g.loose.all()), "converged": bool(g.converged.all()),
                     "why": why})  # fmt: skip
    return pd.DataFrame(rows)


def gate_shortfall(results: pd.DataFrame, by=("dim",), share: float = WINDOW) -> pd.DataFrame:
    """Per grid point, over every seed-run's window records: the share of records that
    fail each gate (``fails_loose``, ``fails_gap``, ``fails_w2``, ``fails_tv``), and the
    medians of the student's sliced W2 over its teacher's (``w2_ratio``) and of the
    student's and teacher's mode TV (``mode_tv``, ``teacher_mode_tv``): how far the
    students are from converged, not only that they are not."""
    gated = record_gates(window_rows(results, share))
    kinds = {"fails_gap": "gap", "fails_w2": "sliced W2", "fails_tv": "mode TV"}
    flags = pd.DataFrame({name: gated.why.map(lambda w, k=kind: any(
        _gate_of(r) == k for r in w.split("; "))) for name, kind in kinds.items()})  # fmt: skip
    frame = pd.concat([gated[list(by)], flags], axis=1).assign(
        fails_loose=~gated.loose.astype(bool),
        w2_ratio=gated.get("sliced_w2", np.nan) / gated.get("teacher_sliced_w2", np.nan),
        mode_tv=gated.get("mode_tv", np.nan),
        teacher_mode_tv=gated.get("teacher_mode_tv", np.nan),
    )
    agg = {c: "mean" for c in ("fails_loose", *kinds)}
    agg |= {c: "median" for c in ("w2_ratio", "mode_tv", "teacher_mode_tv")}
    out = frame.groupby(list(by), sort=True).agg(agg)
    return out.assign(records=frame.groupby(list(by)).size()).reset_index()


def runs_passing(
    results: pd.DataFrame, by=("dim",), converged: bool = True, gates: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The rows of ``results`` (every record) of the seed-runs that are converged (or, with
    ``converged=False``, pass the loose gates) at every record of their window
    (:func:`run_gates`, computed unless ``gates`` is given): a grid point's other
    seed-runs are left out, whatever its mean does."""
    gates = run_gates(results, by) if gates is None else gates
    keys = [*by, *run_keys(results)]
    column = "converged" if converged else "passes"
    return results.merge(gates.loc[gates[column].astype(bool), keys], on=keys)


def _slope_per_1k(steps, values) -> float:
    t, v = np.asarray(steps, float), np.asarray(values, float)
    ok = np.isfinite(v)
    if ok.sum() < 3 or np.ptp(t[ok]) == 0:
        return float("nan")
    return float(1000 * np.polyfit(t[ok], v[ok], 1)[0])


def settled_table(results: pd.DataFrame, metric: str, by=("dim",), share: float = WINDOW
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """The model-free settled value of ``metric``: per seed-run its mean over the window
    (``value``) and its least-squares slope there per 1000 steps (``slope``), with the
    run's gates (:func:`run_gates`); and per grid point: ``n`` seed-runs, mean ± 95%
    t-interval of the value and of the slope over them, ``k`` converged and the value
    over those alone (an interval only from three). Returns (per grid point, per run)."""
    gates = run_gates(results, by, share)
    win = window_rows(results[~results.diverged.astype(bool)], share)
    keys = [*by, *run_keys(win)]
    per_run = win.groupby(keys, sort=True).apply(
        lambda g: pd.Series({"value": g[metric].mean(), "slope": _slope_per_1k(g.step, g[metric]),
                             "window_from": g.step.min(), "window_to": g.step.max()}),
        include_groups=False,
    ).reset_index()  # fmt: skip
    per_run = per_run.merge(gates, on=keys, how="left")
    rows = []
    for key, g in per_run.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        v, v_ci, n = _mean_ci(g.value)
        s, s_ci, _ = _mean_ci(g.slope)
        conv = g[g.converged.astype(bool)]
        c, c_ci, k = _mean_ci(conv.value)
        rows.append({**dict(zip(by, key, strict=True)), "n": n, "value": v, "value_ci": v_ci,
                     "slope": s, "slope_ci": s_ci, "k": k, "converged_value": c,
                     "converged_ci": c_ci if k >= 3 else np.nan,
                     "window_from": int(g.window_from.min()),
                     "window_to": int(g.window_to.max())})  # fmt: skip
    return pd.DataFrame(rows), per_run


def _approach(t, settled, amplitude, tau):
    return settled + amplitude * np.exp(-t / tau)


def fit_bounded(steps, values, lo: float = 0.0, hi: float = 1.0, smooth: int = 3) -> dict:
    """One seed-run's course of a metric bounded to [lo, hi]: the peak (max of a centred
    running mean over ``smooth`` records), then v(t) = v_∞ + (v_peak − v_∞) e^{−(t−t_peak)/τ}
    with v_∞ constrained to [lo, hi]. ``resolved`` only when the run covers ≥ 2τ after
    the peak (v_∞ then is read, not extrapolated). Returns peak, peak_step, tau, settled,
    span (steps after the peak), resolved."""
    t, v = np.asarray(steps, float), np.asarray(values, float)
    ok = np.isfinite(v)
    t, v = t[ok], v[ok]
    out = {"peak": np.nan, "peak_step": np.nan, "tau": np.nan, "settled": np.nan,
           "span": 0.0, "resolved": False}  # fmt: skip
    if len(v) < 6:
        return out
    run = pd.Series(v).rolling(smooth, center=True, min_periods=1).mean().to_numpy()
    i = int(np.argmax(run))
    after_t, after_v = t[i:] - t[i], v[i:]
    out.update(peak=float(run[i]), peak_step=float(t[i]), span=float(after_t[-1]))
    if len(after_v) < 5 or after_t[-1] <= 0:
        return out
    span = after_t[-1]
    start = float(np.clip(after_v[-1], lo + 1e-6, hi - 1e-6))
    try:
        (settled, _, tau), _ = curve_fit(
            _approach, after_t, after_v, p0=(start, max(run[i] - start, 1e-3), span / 3),
            bounds=([lo, -(hi - lo), 1.0], [hi, hi - lo, 1e7]), maxfev=5000,
        )  # fmt: skip
    except (RuntimeError, ValueError):
        return out
    return {**out, "tau": float(tau), "settled": float(settled), "resolved": bool(2 * tau <= span)}


def _bootstrap_ci(values, stat=np.median, n_boot: int = 2000, seed: int = 0):
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) < 3:
        return np.nan, np.nan
    rng = np.random.default_rng(seed)
    draws = [stat(rng.choice(v, len(v))) for _ in range(n_boot)]
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def course_fits(results: pd.DataFrame, metric: str = "kappa", by=("dim",), lo: float = 0.0,
                hi: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """:func:`fit_bounded` per seed-run (diverged ones left out), and per grid point: the
    peak (mean ± t-interval) and its mean step, the number resolved of n, and over the
    resolved ones the median τ and mean settled value with 95% bootstrap intervals over
    seed-runs (none below three). Returns (per grid point, per run)."""
    ok = results[~results.diverged.astype(bool)]
    keys = [*by, *run_keys(ok)]
    runs = ok.sort_values("step").groupby(keys, sort=True)
    fits = pd.DataFrame(
        [{**dict(zip(keys, key, strict=True)), **fit_bounded(g.step, g[metric], lo, hi)}
         for key, g in runs]
    )  # fmt: skip
    rows = []
    for key, g in fits.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        peak, peak_ci, n = _mean_ci(g.peak)
        res = g[g.resolved]
        tau_lo, tau_hi = _bootstrap_ci(res.tau)
        set_lo, set_hi = _bootstrap_ci(res.settled, np.mean)
        rows.append({**dict(zip(by, key, strict=True)), "n": n, "peak": peak, "peak_ci": peak_ci,
                     "peak_step": float(g.peak_step.mean()), "resolved": len(res),
                     "tau": float(res.tau.median()) if len(res) else np.nan,
                     "tau_lo": tau_lo, "tau_hi": tau_hi,
                     "settled": float(res.settled.mean()) if len(res) else np.nan,
                     "settled_lo": set_lo, "settled_hi": set_hi})  # fmt: skip
    return pd.DataFrame(rows), fits


def first_reach(results: pd.DataFrame, metric: str = "kappa", levels=(4.0, 2.0, 1.5),
                by=("dim",)) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Matched progress without silent drops: per seed-run and level L, the first record
    after step 0 where the student's sliced W2 ≤ L × its teacher's and every mode holds at
    least half its weight, and ``metric`` there. Per grid point and level: n reached of
    the seed-runs, mean ± t-interval of ``metric`` and of the step, and the seed-runs that
    never reach it listed by seed (``not_reached``). Returns (per grid point, per run)."""
    ok = results[~results.diverged.astype(bool)]
    keys = [*by, *run_keys(ok)]
    per_run = []
    for key, g in ok.sort_values("step").groupby(keys, sort=True):
        for level in levels:
            hit = g[(g.step > 0) & (g.sliced_w2 <= level * g.teacher_sliced_w2)
                    & (g.coverage_min >= FIDELITY_LIMITS["coverage_min"])]  # fmt: skip
            first = hit.iloc[0] if len(hit) else None
            per_run.append({**dict(zip(keys, key, strict=True)), "level": level,
                            "step": np.nan if first is None else float(first.step),
                            metric: np.nan if first is None else float(first[metric])})  # fmt: skip
    per_run = pd.DataFrame(per_run)
    rows = []
    for key, g in per_run.groupby([*by, "level"], sort=True):
        m, ci, n = _mean_ci(g[metric])
        s, s_ci, _ = _mean_ci(g.step)
        missing = g[g.step.isna()]
        rows.append({**dict(zip([*by, "level"], key, strict=True)), "reached": n, "of": len(g),
                     "mean": m, "ci": ci, "step": s, "step_ci": s_ci,
                     "not_reached": ", ".join(str(int(x)) for x in missing.seed)})  # fmt: skip
    return pd.DataFrame(rows), per_run


def trend_tests(tests: dict[str, tuple]) -> pd.DataFrame:
    """Spearman tests of a value against d, named, the first one primary: ``tests`` maps
    a name to (d (n,), values (n,)). Returns name, n, rho, p and p_holm (Holm over every
    test of the report, the primary included); NaN with fewer than four points."""
    rows = []
    for name, (x, y) in tests.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= 4 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0:
            rho, p = stats.spearmanr(x[ok], y[ok])
        else:
            rho = p = np.nan
        rows.append({"test": name, "n": int(ok.sum()), "rho": float(rho), "p": float(p)})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table.p.to_numpy(float)) if len(table) else []
    return table

"""Statistics over a results table: final rows, means with intervals, paired and Welch
effects with Holm's correction, and curve collapse.

Every function reads the tidy table a sweep writes (one row per seed per recorded step);
diverged seed-runs are excluded (and counted by the callers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "collapse_quality",
    "compare_levels",
    "divergence_sentence",
    "effect_sentence",
    "final_rows",
    "holm",
    "mean_ci",
    "pm",
    "run_keys",
    "share_ci",
    "welch",
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


def pm(value: float, ci: float, n: int | None = None, digits: int = 2) -> str:
    """ "m ± ci" for a mean and its interval half-width; no interval below three seed-runs
    (``n``, when given) or where ``ci`` is NaN; "n/a" for no value. One form for every
    summary, report and paragraph."""
    if not np.isfinite(value):
        return "n/a"
    if (n is not None and n < 3) or not np.isfinite(ci):
        return f"{value:.{digits}f} (no interval" + (f", n = {n})" if n is not None else ")")
    return f"{value:.{digits}f} ± {ci:.{digits}f}"


def share_ci(shares) -> tuple[float, float, float, int]:
    """(mean, lo, hi, n) of per-seed shares (n,) in [0, 1]: the mean and its 95%
    t-interval over seeds, clipped to [0, 1]; lo = hi = NaN with fewer than three seeds.

    Seeds are the independent units of a share pooled over (seed, mode) units; a
    cluster bootstrap over n seeds has only C(2n − 1, n) distinct resamples (10 for
    three seeds), so its percentiles are no interval at the seed counts in use here.
    A t-interval over per-seed shares is honest at small n when the shares are not all
    0 or 1; with fewer than three seeds no interval is reported."""
    v = np.asarray(shares, dtype=float)
    v = v[np.isfinite(v)]
    m, half, n = mean_ci(v)
    if n < 3:
        return m, float("nan"), float("nan"), n
    return m, float(max(0.0, m - half)), float(min(1.0, m + half)), n


def run_keys(table: pd.DataFrame) -> list[str]:
    """The columns naming one seed-run: (cell, seed), or seed alone in a one-cell table."""
    return ["cell", "seed"] if "cell" in table else ["seed"]


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
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
                    row["diff"], row["diff_ci"], row["p"] = welch(v.to_numpy(), base.to_numpy())
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

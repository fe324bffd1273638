"""The end-of-sweep text: summary tables, fidelity verdicts and the answer's lines.

Every number is computed at each cell's own final step (``analysis.final_rows``) over
seeds that did not diverge; columns and labels come from ``dmdlab.columns``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from dmdlab.analysis import (
    dimension_verdict,
    divergence_sentence,
    fidelity_flags,
    final_rows,
    mean_ci,
    passing,
    remap_rate,
)
from dmdlab.columns import summary_labels

__all__ = ["answer_lines", "format_summary", "summarize", "trend_sentence"]


# κ is the primary copying metric (SCIENCE.md §5), C only beside its baseline: the
# declarations' order in dmdlab.columns, read when a summary is made.
def _summarised() -> list[str]:
    return [*summary_labels("copying"), *summary_labels("fidelity")]


def summarize(results: pd.DataFrame, by=("dim",), step: int | None = None) -> pd.DataFrame:
    """Mean and 95% t-interval half-width over seeds, per grid point, at ``step``
    (default: each cell's last recorded step). Diverged seeds are excluded and counted.
    ``remap_share`` is the share of (seed, mode) units remapped (kept fraction < ½)."""
    by = list(by)
    at = results if step is None else results[results.step == step]
    if step is None and len(at):
        last = at.groupby("cell").step.transform("max") if "cell" in at else at.step.max()
        at = at[at.step == last]
    if "remap_share" not in at:  # tables written before the column existed
        at = at.assign(remap_share=at.remapped_modes / at.teacher_modes)
    rows = []
    for key, group in at.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ok = group[~group.diverged]
        row = dict(zip(by, key, strict=True))
        row["seeds"] = len(ok)
        row["diverged"] = int(group.diverged.sum())
        for m in _summarised():
            if m in ok:
                v = ok[m].to_numpy(dtype=float)
                row[m] = float(np.nanmean(v)) if len(v) else float("nan")
                row[f"{m}_ci"] = mean_ci(v)[1]
        rows.append(row)
    return pd.DataFrame(rows)


def trend_sentence(results: pd.DataFrame, metric: str = "copying") -> str:
    """One sentence, computed from the data, on whether ``metric`` rises with dim
    (Spearman rank correlation of per-seed final values with dim)."""
    last = final_rows(results)
    if last.dim.nunique() < 2:
        return "Only one dimension in this run: no trend to report."
    rho, p = stats.spearmanr(last.dim, last[metric])
    means = last.groupby("dim")[metric].mean()
    lo, hi = means.index.min(), means.index.max()
    span = f"{metric} {means[lo]:.2f} at d={lo} → {means[hi]:.2f} at d={hi}"
    if p < 0.05 and rho > 0:
        verdict = "rises with dimension"
    elif p < 0.05 and rho < 0:
        verdict = "falls with dimension"
    else:
        verdict = "shows no significant trend with dimension"
    return (
        f"In this run, {metric} {verdict} (Spearman ρ = {rho:.2f}, p = {p:.2g}, "
        f"n = {len(last)} seed-runs): {span}."
    )


def format_summary(results: pd.DataFrame, by=("dim",)) -> str:
    """The end-of-sweep text: copying and fidelity tables (mean ± 95% t-interval over
    seeds, each cell's final step), the fidelity verdict per grid point, trend sentences."""
    if final_rows(results).empty:
        n = int(results.groupby(["cell", "seed"]).ngroups) if "cell" in results else len(results)
        return (
            f"Every seed-run diverged ({n} of {n}): no numbers to summarise. The rows are in "
            "results.parquet with diverged_step; lower the learning rates and rerun."
        )
    table = summarize(results, by)
    steps = sorted(final_rows(results).step.unique())
    lines = [f"Summary at generator step {', '.join(map(str, steps))} "
             "(mean ± 95% t-interval over seeds):"]  # fmt: skip
    for title, summary in (("copying", "copying"), ("fidelity and start", "fidelity")):
        metrics = {m: label for m, label in summary_labels(summary).items() if m in table}
        lines.append(f"-- {title}")
        lines.append("  ".join(f"{h:>15}" for h in [*by, "seeds", *metrics.values()]))
        for row in table.to_dict("records"):
            cells = [f"{row[b]!s:>15}" for b in by] + [f"{int(row['seeds']):>15}"]
            for m in metrics:
                ci = row[m + "_ci"]
                ci = f"{ci:<5.3f}" if ci == ci else "n/a  "
                cells.append(f"{row[m]:>7.3f} ± {ci}".rjust(15))
            lines.append("  ".join(cells))
    flagged = fidelity_flags(results, by)
    for row in flagged.to_dict("records"):
        where = ", ".join(f"{b}={row[b]}" for b in by)
        lines.append(f"FAILS FIDELITY at {where}: {row['why']} (leave its copying numbers out)")
    if flagged.empty:
        lines.append("Every grid point passes the fidelity gates.")
    lines.append(divergence_sentence(results))
    if "dim" in by:
        ok = passing(results, by)
        lines += answer_lines(ok, by)
        if final_rows(ok).dim.nunique() < 2:
            lines.append("Fewer than two dims pass the fidelity gates: no trend to report.")
        else:
            lines.append("Over the grid points that pass: " + trend_sentence(ok, "kappa"))
    return "\n".join(lines)


def answer_lines(kept: pd.DataFrame, by=("dim",)) -> list[str]:
    """The question's answer over passing grid points: per grid point the remap rate
    (share of (seed, mode) units with kept fraction < ½; 95% cluster bootstrap over seeds)
    and κ (mean, 95% t-interval over seeds), then :func:`dimension_verdict` per start."""
    by = list(by)
    if final_rows(kept).empty:
        return ["-- remap → copy with d: no grid point passes the fidelity gates; no answer."]
    last = final_rows(kept)
    rates = remap_rate(kept, by)
    lines = [
        "-- remap → copy with d, over passing grid points (remap rate: (seed, mode) units with "
        "kept fraction < ½, 95% cluster bootstrap over seeds; κ: 95% t-interval)"
    ]
    lines.append("  ".join(f"{h:>15}" for h in [*by, "units", "remap rate", "κ"]))
    for r in rates.to_dict("records"):
        sel = np.logical_and.reduce([last[b] == r[b] for b in by])
        k, k_ci, _ = mean_ci(last[sel].kappa.to_numpy(float))
        cells = [f"{r[b]!s:>15}" for b in by] + [f"{r['units']:>15}"]
        cells.append(f"{r['rate']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]".rjust(15))
        cells.append(f"{k:.3f} ± {k_ci:.3f}".rjust(15))
        lines.append("  ".join(cells))
    if set(by) - {"dim", "start"}:  # the verdict is over d alone: other factors would pool
        return lines
    starts = sorted(kept.start.unique()) if "start" in kept else [None]
    for start in starts:
        rows = kept if start is None else kept[kept.start == start]
        verdict, evidence = dimension_verdict(rows)
        label = "" if start is None or len(starts) == 1 else f" (start={start})"
        lines.append(f"Remap in low d, copy in high d{label}: {verdict.upper()}: {evidence}.")
    return lines

"""The end-of-sweep text: summary tables, the gates (loose and converged, per seed-run
over its window), copying on the time axis (fitted courses, matched progress) and the
answer's lines, one verdict per protocol.

The tables are at each cell's own final step (``analysis.final_rows``) over seeds that
did not diverge; columns and labels come from ``dmdlab.columns``. The verdict is computed
from the seed-runs converged at every record of their window only, never from a grid
point whose mean passes.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from scipy import stats

from dmdlab.analysis import (
    course_table,
    dimension_verdict,
    divergence_sentence,
    final_rows,
    matched_progress,
    mean_ci,
    pm,
    rate_text,
    remap_rate,
    run_gates,
    runs_passing,
    within_class_verdict,
)
from dmdlab.columns import summary_labels
from dmdlab.worlds import conditional_table

__all__ = [
    "answer_lines",
    "course_lines",
    "format_summary",
    "gate_lines",
    "grid_table",
    "paragraph_lines",
    "summarize",
    "sweep_summary",
    "trend_sentence",
]


# κ is the primary copying metric (docs/science.md §5), C only beside its baseline: the
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


def format_summary(results: pd.DataFrame, by=("dim",), header: str = "") -> str:
    """The end-of-sweep text: ``header`` (the machine and versions it ran with), copying and
    fidelity tables (mean ± 95% t-interval over seeds, each cell's final step), per grid
    point the seed-runs passing the gates over their window, the course of κ and κ at matched
    progress, and the answer over the seed-runs converged over their window."""
    if final_rows(results).empty:
        n = int(results.groupby(["cell", "seed"]).ngroups) if "cell" in results else len(results)
        return (
            f"Every seed-run diverged ({n} of {n}): no numbers to summarise. The rows are in "
            "results.parquet with diverged_step; lower the learning rates and rerun."
        )
    by = list(by)
    table = summarize(results, by)
    steps = sorted(final_rows(results).step.unique())
    lines = [header] if header else []
    lines.append(f"Summary at generator step {', '.join(map(str, steps))} "
                 "(mean ± 95% t-interval over seeds):")  # fmt: skip
    for title, summary in (("copying", "copying"), ("fidelity and start", "fidelity")):
        metrics = {m: label for m, label in summary_labels(summary).items() if m in table}
        lines.append(f"-- {title}")
        rows = []
        for row in table.to_dict("records"):
            cells = [str(row[b]) for b in by] + [str(int(row["seeds"]))]
            for m in metrics:
                if m == "kappa" and _conditional_at(results, by, row):
                    cells.append("n/a (κ ≡ 1)")  # one mode per class: nothing to read
                    continue
                # no interval below three seeds (docs/science.md §9)
                ci = row[m + "_ci"] if row["seeds"] >= 3 else float("nan")
                ci = f"{ci:.3f}" if ci == ci else "n/a"
                cells.append(f"{row[m]:.3f} ± {ci}" if row[m] == row[m] else "n/a")
            rows.append(cells)
        lines += grid_table([*by, "seeds", *metrics.values()], rows, len(by) + 1)
    gates = run_gates(results, by)
    lines += gate_lines(results, by, gates)
    lines.append(divergence_sentence(results))
    if "dim" in by:
        lines += course_lines(results, by)
        converged = runs_passing(results, by, converged=True, gates=gates)
        lines += answer_lines(converged, by)
        lines += paragraph_lines(results, by)
    # prose wrapped at 100 columns (the tables fit already: grid_table)
    wrapped = [w for line in lines for w in (textwrap.wrap(line, 100, subsequent_indent="  ")
                                             if len(line) > 100 else [line])]  # fmt: skip
    return "\n".join(wrapped)


def sweep_summary(results: pd.DataFrame, manifest: dict) -> str:
    """summary.txt of a finished sweep, from its results table and manifest.json alone (the
    machine it ran on, its grid, the cells' wall time): ``dmdlab report`` on a moved or
    copied sweep directory rewrites it byte for byte."""
    header = f"Machine: {manifest.get('machine', 'not recorded')}"
    text = format_summary(results, by=list(manifest["grid"]), header=header)
    timings = manifest.get("cell_timings", {})
    wall = manifest.get("total_cell_wall_s")
    if wall is not None:
        text += (f"\ncells' wall time {wall:.0f} s over {len(timings)} cell(s), each counted "
                 "once (manifest.json)")  # fmt: skip
    return text + "\n"


def _conditional_at(results: pd.DataFrame, by, row: dict) -> bool:
    """Whether the grid point ``row`` (values of ``by``) is a class-conditional world."""
    if "world" not in results:
        return False
    return conditional_table(_at(results, list(by), [row[b] for b in by]))


def paragraph_lines(results: pd.DataFrame, by) -> list[str]:
    """:func:`dmdlab.answer.answer_paragraph` per protocol (each combination of the grid's
    fields other than dim)."""
    from dmdlab.answer import answer_paragraph

    protocol = [b for b in by if b != "dim"]
    if not protocol:
        return answer_paragraph(results)
    lines = []
    for key, rows in results.groupby(protocol, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{b}={v}" for b, v in zip(protocol, key, strict=True))
        lines += [f"== {label}", *answer_paragraph(rows)]
    return lines


def grid_table(headers: list[str], rows: list[list[str]], n_keys: int, width: int = 100
               ) -> list[str]:  # fmt: skip
    """A text table that fits ``width`` columns: each column as wide as its widest cell,
    right-aligned; when the columns do not fit one line, the value columns are split into
    several tables, each repeating the first ``n_keys`` (key) columns."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    keys = list(range(n_keys))
    key_width = sum(widths[i] + 2 for i in keys)
    groups, current, used = [], [], key_width
    for i in range(n_keys, len(headers)):
        if current and used + widths[i] + 2 > width:
            groups.append(current)
            current, used = [], key_width
        current.append(i)
        used += widths[i] + 2
    groups.append(current)
    lines = []
    for group in groups:
        cols = keys + group
        lines.append("  ".join(headers[i].rjust(widths[i]) for i in cols))
        lines += ["  ".join(r[i].rjust(widths[i]) for i in cols) for r in rows]
    return lines


def gate_lines(results: pd.DataFrame, by, gates: pd.DataFrame | None = None) -> list[str]:
    """Per grid point: how many of its seed-runs pass the loose gates and how many are
    converged, each at every record of its window (:func:`dmdlab.analysis.run_gates`, or
    ``gates`` when given), and the most frequent reason of each seed-run that is not."""
    gates = run_gates(results, by) if gates is None else gates
    lines = ["-- gates per seed-run over its window, the last 20% of its steps (passes: covers "
             "every mode at ≥ ½ its weight, gap ≤ 1 nat/dim, trusted teacher; converged: also "
             "gap, sliced W2 and mode balance within their limits of the teacher's; "
             "docs/science.md §8)"]  # fmt: skip
    for key, g in gates.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        where = ", ".join(f"{b}={v}" for b, v in zip(by, key, strict=True))
        n, k_pass, k_conv = len(g), int(g.passes.sum()), int(g.converged.sum())
        seeds_by_why: dict[str, list[str]] = {}  # one entry per distinct reason, in seed order
        for r in g[~g.converged.astype(bool)].itertuples():
            seeds_by_why.setdefault(r.why, []).append(str(r.seed))
        why = "; ".join(f"seed{'s' * (len(v) > 1)} {', '.join(v)}: {w}"
                        for w, v in seeds_by_why.items())  # fmt: skip
        lines.append(f"{where}: {k_pass}/{n} seed-runs pass, {k_conv}/{n} converged"
                     + (f" ({why})" if why else ""))  # fmt: skip
    return lines


def _at(table: pd.DataFrame, by, key) -> pd.DataFrame:
    """The rows of ``table`` at grid point ``key`` (values of ``by``)."""
    if table.empty:
        return table
    return table[np.logical_and.reduce([table[b] == v for b, v in zip(by, key, strict=True)])]


def course_lines(results: pd.DataFrame, by) -> list[str]:
    """κ on the time axis: per grid point its peak (step), the settled value κ_∞ of the
    fitted course where it resolves, and κ at matched progress (one step for every grid
    point; the first record at one gap level), each mean ± 95% t-interval over seeds."""
    # a class-conditional world has κ = 1 by construction: its course is C_within's
    metric, k = ("copying_within", "C") if conditional_table(results) else ("kappa", "κ")
    course = course_table(results, metric, by)
    matched = matched_progress(results, metric, by)
    lines = [
        f"-- {k if k == 'κ' else 'C_within'} over training (peak and settled value of {k}(t) = "
        f"{k}_∞ + ({k}_peak − {k}_∞) e^(−(t − t_peak)/τ); matched progress: step "
        f"{int(matched.at_step.iloc[0])} for all, and the first record with gap ≤ "
        f"{matched.gap_level.iloc[0]:.2f} nats/dim)",
    ]
    headers = [*by, f"{k}_peak", "peak step", "τ (median)", f"{k}_∞ (n)", f"{k} at step",
               f"{k} at gap", "gap step"]  # fmt: skip
    rows = []
    both = course.merge(matched, on=by)
    for r in both.to_dict("records"):
        tau = f"{r['tau_median']:.0f}" if r["tau_median"] == r["tau_median"] else "—"
        settled = (f"{pm(r['settled'], r['settled_ci'], r['n_settled'])} [{r['n_settled']}]"
                   if r["n_settled"] else f"— (0/{r['seeds']})")  # fmt: skip
        cells = [str(r[b]) for b in by] + [
            pm(r["peak"], r["peak_ci"], r["seeds"]), f"{r['peak_step']:.0f}", tau, settled,
            pm(r["step_mean"], r["step_ci"], r["step_n"]),
            pm(r["gap_mean"], r["gap_ci"], r["gap_n"]),
            f"{r['gap_step']:.0f}" if r["gap_step"] == r["gap_step"] else "—",
        ]  # fmt: skip
        rows.append([str(c).strip() for c in cells])
    return lines + grid_table(headers, rows, len(by))


def answer_lines(kept: pd.DataFrame, by=("dim",)) -> list[str]:
    """The question's answer over ``kept`` (the converged seed-runs' records): per grid
    point the remap rate (share of (seed, mode) units with kept fraction < ½; 95%
    t-interval over per-seed shares) and κ (mean, 95% t-interval over seeds), then
    :func:`dimension_verdict` per protocol (each combination of the grid's other fields)."""
    by = list(by)
    if final_rows(kept).empty:
        return ["-- remap → copy with d, over converged seed-runs: none is converged over its "
                "window, so no verdict yet; what the run does say follows."]  # fmt: skip
    last = final_rows(kept)
    rates = remap_rate(kept, by)
    lines = [
        "-- remap → copy with d, over converged seed-runs at their final step (remap rate: "
        "(seed, mode) units with kept fraction < ½, 95% t-interval over per-seed shares; κ: "
        "95% t-interval)"
    ]
    rows = []
    for r in rates.to_dict("records"):
        sel = np.logical_and.reduce([last[b] == r[b] for b in by])
        k, k_ci, _ = mean_ci(last[sel].kappa.to_numpy(float))
        cells = [str(r[b]) for b in by] + [str(r["units"]), rate_text(r), f"{k:.3f} ± {k_ci:.3f}"]
        rows.append(cells)
    lines += grid_table([*by, "units", "remap rate", "κ"], rows, len(by))
    protocol = [b for b in by if b != "dim"]
    groups = kept.groupby(protocol, sort=True) if protocol else [((), kept)]
    for key, rows in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{b}={v}" for b, v in zip(protocol, key, strict=True))
        # one mode per class in the class-conditional world: judge copying inside classes
        conditional = conditional_table(rows)
        verdict, evidence = (within_class_verdict if conditional else dimension_verdict)(rows)
        lines.append(f"Remap in low d, copy in high d{f' ({label})' if label else ''}: "
                     f"{verdict.upper()}: {evidence}.")  # fmt: skip
        if final_rows(rows).dim.nunique() >= 2:
            lines.append("  " + trend_sentence(rows, "kappa"))
    return lines

"""Study 3 — does copying belong to DMD, or to distribution matching?

    python studies/methods.py --quick      # CPU: d = 2, 8, 32 × 3 methods × 4 seeds
    python studies/methods.py              # GPU: d up to 1024 × 8 seeds

Three distillers from the same teacher, world, start (a copy of the teacher's weights),
seeds and evaluation (docs/science.md §4): DMD2 (its cells are the dimension study's
first seed group, shared through the cell store), SiD (score identity distillation: the
same fake score, the Fisher-divergence generator loss through x_t) and consistency
distillation (self-consistency along the teacher's ODE: the by-construction copying
reference). Per method and d: the gates, κ at the end and its course, and the per-sample
distance ratio; SiD and CD against DMD2 paired over seeds, Holm over the family. The
claim tested: copying (κ) is a property of DMD's loss, not shared by another
distribution-matching distiller.
"""

from __future__ import annotations

import pandas as pd

from _common import Study, fmt_table, parse_args
from dmdlab.analysis import compare_levels, course_table, final_rows, mean_ci, runs_passing
from dmdlab.plotting import plot_metric_by_level, save_figure
from dmdlab.presets import STUDY_BUDGETS
from dmdlab.summary import format_summary

ORDER = 3
CLAIM = "copying belongs to DMD, not to distribution matching in general"
SETTLE = (
    "converged DMD2 and SiD students at d ≥ 32 (the quick budgets reach d = 8), 8 seeds "
    "each; the full mode on the GPU machine"
)

DIMS = {"smoke": [2, 4], "quick": [2, 8, 32], "full": sorted(STUDY_BUDGETS["full"])}
METHODS = ["dmd2", "sid", "consistency"]
SEEDS = {"smoke": 2, "quick": 4, "full": 8}


def _per_method(results: pd.DataFrame, kept: pd.DataFrame) -> list[str]:
    """Markdown: per method and d, κ at the end (converged points), its peak, the
    distance ratio, C, the gap against the teacher's."""
    last = final_rows(kept)
    course = course_table(results, "kappa", by=["method", "dim"]).set_index(["method", "dim"])
    rows = ["| method | d | seeds | κ at the end | κ_peak (step) | distance ratio | C | "
            "gap / teacher's |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (method, d), g in last.groupby(["method", "dim"], sort=True):
        k, k_ci, _ = mean_ci(g.kappa)
        dr, dr_ci, _ = mean_ci(g.distance_ratio)
        c, c_ci, _ = mean_ci(g.copying)
        peak = course.loc[(method, d)] if (method, d) in course.index else None
        peak_text = "—" if peak is None else f"{peak.peak:.2f} ({peak.peak_step:.0f})"
        rows.append(
            f"| {method} | {d} | {len(g)} | {k:.2f} ± {k_ci:.2f} | {peak_text} | "
            f"{dr:.2f} ± {dr_ci:.2f} | {c:.2f} ± {c_ci:.2f} | {g.loglik_gap.mean():.2f} / "
            f"{g.teacher_loglik_gap.mean():.2f} |"
        )
    return rows


def _verdict(table: pd.DataFrame) -> tuple[str, str]:
    """From the κ comparison of SiD with DMD2 at converged dims: supported when SiD's κ
    differs detectably (Holm p < 0.05) at some d; not supported when at ≥ 2 converged dims
    it does not and the 95% intervals of the differences lie within ±0.2; otherwise
    inconclusive."""
    sid = table[(table.method == "sid") & table["diff"].notna()]
    if sid.empty:
        return "inconclusive at this budget", "no d where both DMD2 and SiD converged"
    text = "; ".join(f"d = {r.dim}: SiD − DMD2 κ {r['diff']:+.2f} ± {r.diff_ci:.2f} (Holm p = "
                     f"{r.p_holm:.2g})" for _, r in sid.iterrows())  # fmt: skip
    if (sid.p_holm < 0.05).any():
        return "supported", f"SiD's copying differs from DMD2's ({text})"
    narrow = ((sid["diff"].abs() + sid.diff_ci) <= 0.2).all()
    if len(sid) >= 2 and narrow:
        return "not supported", f"SiD copies like DMD2 ({text})"
    return "inconclusive at this budget", f"no detectable difference, intervals too wide ({text})"


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("methods", args)
    study.seeds = tuple(range(SEEDS[args.mode]))
    dims = DIMS[args.mode]
    budgets = [STUDY_BUDGETS[args.mode][d] for d in dims]
    zipped = {"steps": [b[0] for b in budgets], "teacher_steps": [b[1] for b in budgets]}
    results = study.sweep("methods", {"dim": dims, "method": METHODS}, zipped=zipped)
    by = ["dim", "method"]
    # seed-runs converged at every record of their window (docs/science.md §8b)
    converged = runs_passing(results, by=by)
    table = compare_levels(converged, "method", "dmd2", "kappa")
    verdict = _verdict(table)
    body = [
        f"Methods {METHODS} at dims {dims}, {len(study.seeds)} seeds, the dimension study's "
        "per-d budgets, teacher-weight init.",
        "",
        "```",
        format_summary(results, by=by, header=f"Machine: {study.machine}"),
        "```",
        "",
        "## Copying per method at the end (seed-runs converged over the window)",
        "",
        *(_per_method(results, converged) if not converged.empty else ["None converged."]),
        "",
        "## Against DMD2, paired over seeds (κ at the end; Holm over the family)",
        "",
        fmt_table(table.round(3)),
        "",
        f"Verdict: **{verdict[0]}**: {verdict[1]}.",
        "",
    ]
    figures = []
    for metric in ("kappa", "distance_ratio"):
        ax = plot_metric_by_level(results, "method", metric)
        figures.append(save_figure(ax, study.figure(f"{metric}_by_method.png"),
                                   f"{metric} per method against d").name)  # fmt: skip
    print(study.write_report("Methods: does copying belong to DMD?", body, figures,
                             f"{verdict[0]}: {verdict[1]}", verdict))  # fmt: skip


if __name__ == "__main__":
    main()

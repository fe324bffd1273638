"""Study 1 — does the student go from remapping to copying as d grows, once it has converged?

    python studies/dimension.py --quick      # CPU: d = 2, 8, 32 × 8 seeds, d = 128 × 4
    python studies/dimension.py              # the `full` preset's dims (GPU-sized)

DMD2's protocol (mixture world, VE, the student a copy of the teacher's weights) on the
convergence recipe (dmdlab.presets.RECIPE) at per-d budgets (STUDY_BUDGETS), records
every 10 steps for the first 300 and every 50 after. For each d: the gates (loose and
converged) per grid point and per seed-run; κ's course (peak, time scale τ, settled value
κ_∞ of a fitted exponential approach; docs/science.md §8); κ compared across d at matched
progress (one step for all, one gap level) and at the end; the paper's per-sample
measures (distance ratio, C within modes) beside κ. The verdict on "remap in low d, copy
in high d" is computed from converged grid points only; a d that does not converge is
listed with what it lacks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from _common import Study, parse_args
from dmdlab.analysis import (
    course_table,
    dimension_verdict,
    final_rows,
    matched_progress,
    mean_ci,
    passing,
    rate_text,
    remap_rate,
    seed_gates,
    transition_sentence,
)
from dmdlab.plotting import (
    plot_copying_over_training,
    plot_kappa_by_seed,
    plot_pairings,
    save_figure,
)
from dmdlab.presets import STUDY_BUDGETS
from dmdlab.summary import format_summary

# The study's entry in the report (studies/_registry.py reads these three).
ORDER = 1
CLAIM = "students remap noise in low d and copy the teacher in high d"
# what would settle the claim beyond the quick mode (inputs and budgets, not results)
SETTLE = (
    "converged students at d ≥ 32 under both protocols (the quick budgets reach d = 8 on "
    "2 CPU cores), 8 seeds each; the full mode (`python studies/dimension.py`: 256-wide "
    "nets, 10000 generator steps, d ≤ 1024 × 8 seeds) on the GPU machine"
)

DIMS = {"smoke": [2, 4], "quick": [2, 8, 32, 128], "full": sorted(STUDY_BUDGETS["full"])}
# fewer seeds where a cell is most expensive: d = 128 checks the gates, it does not vote
SEEDS_AT = {"quick": {128: 4}}


def _sweep(study: Study, mode: str) -> pd.DataFrame:
    """The per-d budgets as one zipped sweep, or per seed count where it varies."""
    dims = DIMS[mode]
    fewer = SEEDS_AT.get(mode, {})
    tables = []
    for seeds, group in ((study.seeds, [d for d in dims if d not in fewer]),
                         *((tuple(range(n)), [d]) for d, n in fewer.items())):  # fmt: skip
        if not group:
            continue
        budgets = [STUDY_BUDGETS[mode][d] for d in group]
        zipped = {"steps": [b[0] for b in budgets], "teacher_steps": [b[1] for b in budgets]}
        part = "course" if seeds == study.seeds else f"course-{len(seeds)}seeds"
        tables.append(study.sweep(part, {"dim": group}, zipped=zipped, seeds=seeds))
    return pd.concat(tables, ignore_index=True)


def _gates(results: pd.DataFrame) -> list[str]:
    """Markdown: per d, the budget, the loose and converged gates per seed-run and why."""
    per_seed = seed_gates(results)
    last = final_rows(results)
    rows = ["| d | steps (teacher) | seed-runs passing | converged | student gap / teacher's | "
            "worst / best mode share | why not (first seed-run that fails) |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, g in per_seed.groupby("dim"):
        at = last[last.dim == d]
        gap, gap_ci, _ = mean_ci(at.loglik_gap)
        why = next((w for w in g.why if w), "")
        rows.append(
            f"| {d} | {at.steps.iloc[0]} ({at.teacher_steps.iloc[0]}) | {int(g.passes.sum())}"
            f"/{len(g)} | {int(g.converged.sum())}/{len(g)} | {gap:.2f} ± {gap_ci:.2f} / "
            f"{at.teacher_loglik_gap.mean():.2f} | {at.coverage_min.mean():.2f} / "
            f"{at.coverage_max.mean():.2f} | {why} |"
        )
    return rows


def _course(results: pd.DataFrame) -> tuple[list[str], dict]:
    """Markdown of κ's fitted course and of κ at matched progress, per d; and the
    numbers the headline quotes."""
    course = course_table(results, "kappa")
    matched = matched_progress(results, "kappa")
    both = course.merge(matched, on="dim")
    rows = ["| d | seeds | κ_peak (step) | τ (median, range) | κ_∞ (seeds resolved) | κ at the end "
            f"| κ at step {int(matched.at_step.iloc[0])} | κ at gap ≤ "
            f"{matched.gap_level.iloc[0]:.2f} (mean step) | forms |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in both.itertuples():
        tau = (f"{r.tau_median:.0f} [{r.tau_lo:.0f}, {r.tau_hi:.0f}]" if np.isfinite(r.tau_median)
               else "—")  # fmt: skip
        settled = (f"{r.settled:.2f} ± {r.settled_ci:.2f} ({r.n_settled}/{r.seeds})"
                   if r.n_settled else f"— (0/{r.seeds})")  # fmt: skip
        rows.append(
            f"| {r.dim} | {r.seeds} | {r.peak:.2f} ± {r.peak_ci:.2f} ({r.peak_step:.0f}) | {tau} "
            f"| {settled} | {r.end:.2f} ± {r.end_ci:.2f} | {r.step_mean:.2f} ± {r.step_ci:.2f} "
            f"| {r.gap_mean:.2f} ± {r.gap_ci:.2f} ({r.gap_step:.0f}) | {r.forms} |"
        )
    return rows, {"course": course, "matched": matched}


def _trend_at(results: pd.DataFrame, step: int) -> str:
    """Spearman of κ against d over seed-runs at one recorded step."""
    at = results[(results.step == step) & ~results.diverged.astype(bool)]
    if at.dim.nunique() < 2:
        return f"at step {step}: fewer than two dims"
    rho, p = stats.spearmanr(at.dim, at.kappa)
    return f"at step {step}: Spearman ρ(d, κ) = {rho:+.2f}, p = {p:.2g} over {len(at)} seed-runs"


def _per_sample(kept: pd.DataFrame) -> list[str]:
    """Markdown: the paper's per-sample copying measures beside κ at the end, per d."""
    last = final_rows(kept)
    rates = remap_rate(kept).set_index("dim")
    rows = ["| d | κ | remap rate | distance ratio (mean; quartiles) | C within modes | "
            "within-mode (centred) | ΔE |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, g in last.groupby("dim"):
        k, k_ci, _ = mean_ci(g.kappa)
        dr, dr_ci, _ = mean_ci(g.distance_ratio)
        cw, cw_ci, _ = mean_ci(g.copying_within)
        wc, wc_ci, _ = mean_ci(g.within_mode_centred)
        de, de_ci, _ = mean_ci(g.pairing_inefficiency)
        rows.append(
            f"| {d} | {k:.2f} ± {k_ci:.2f} | {rate_text(rates.loc[d])} | {dr:.2f} ± {dr_ci:.2f}; "
            f"{g.distance_ratio_q25.mean():.2f}–{g.distance_ratio_q75.mean():.2f} | "
            f"{cw:.2f} ± {cw_ci:.2f} | {wc:.2f} ± {wc_ci:.2f} | {de:.2f} ± {de_ci:.2f} |"
        )
    return rows


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("dimension", args)
    results = _sweep(study, args.mode)
    converged = passing(results, converged=True)
    loose = passing(results)
    body = [
        f"DMD2's protocol on the convergence recipe, dims {DIMS[args.mode]}, "
        f"{len(study.seeds)} seeds (fewer where stated).",
        "",
        "```",
        format_summary(results, by=["dim"], header=f"Machine: {study.machine}"),
        "```",
        "",
        "## Gates: which d have learned the distribution",
        "",
        *_gates(results),
        "",
    ]
    course_rows, nums = _course(results)
    matched_step = int(nums["matched"].at_step.iloc[0])
    body += ["## κ on the time axis", "",
             "Per seed-run a course fitted after its peak (docs/science.md §8), then mean ± 95% "
             "t-interval over seeds; \"unresolved\": τ longer than three times the time after "
             "the peak, so κ_∞ is not read off. Matched progress: every d at the same step, "
             "and each seed-run at the first record where its gap reaches one level that "
             "every d reaches.", "", *course_rows, "",
             "κ against d " + _trend_at(results, matched_step) + "; "
             + _trend_at(results, 100) + ".", ""]  # fmt: skip
    if not loose.empty:
        body += ["## The paper's per-sample measures at the end (grid points passing the "
                 "loose gates)", "", *_per_sample(loose), ""]  # fmt: skip
    verdict = dimension_verdict(converged)
    transition = transition_sentence(converged)[1] if not converged.empty else "no d converged"
    converged_dims = [int(d) for d in sorted(final_rows(converged).dim.unique())]
    body += ["## Verdict", "",
             f"From converged grid points only ({converged_dims}): "
             f"**{verdict[0]}**: {verdict[1]}. Transition: {transition}.", ""]  # fmt: skip
    course = nums["course"].set_index("dim")
    falls = ", ".join(f"d = {d}: {r.peak:.2f} → {r.end:.2f}" for d, r in course.iterrows())
    trend = _trend_at(results, matched_step)
    headline = (f"{verdict[0]} (from converged d {converged_dims}); κ from its peak to the "
                f"end of the run: {falls}; κ against d {trend}.")  # fmt: skip
    figures = _figures(study, results)
    print(study.write_report("Remapping or copying, against dimension", body, figures, headline,
                             verdict))  # fmt: skip


def _figures(study: Study, results: pd.DataFrame) -> list[str]:
    """Draw the study's figures; their file names, in report order."""
    figures = []
    ax = plot_copying_over_training(results, grid=["dim"])
    figures.append(
        save_figure(ax, study.figure("copying_over_training.png"), "κ and gap over training").name
    )
    ax = plot_kappa_by_seed(results, grid=["dim"])
    figures.append(save_figure(ax, study.figure("kappa_by_seed.png"), "κ per seed").name)
    drawn = plot_pairings(results, study.store, study.figure("pairings.png"))
    if drawn is not None:
        figures.append(drawn.name)
    return figures


if __name__ == "__main__":
    main()

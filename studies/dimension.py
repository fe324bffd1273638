"""Study 1 — does the student go from remapping to copying as d grows, once it has converged?

    python studies/dimension.py --quick      # CPU: d = 2, 8, 32 × 8 seeds, d = 128 × 4
    python studies/dimension.py              # the `full` preset's dims (GPU-sized)

DMD2's protocol (mixture world, VE, the student a copy of the teacher's weights) on the
convergence recipe (dmdlab.presets.RECIPE) at per-d budgets (STUDY_BUDGETS), records
every 10 steps for the first 300 and every 50 after. For each d: the gates (loose and
converged) per seed-run over the last 20% of its records (docs/science.md §8b); κ's
course (peak, time scale τ, settled value κ_∞ of a fitted exponential approach;
docs/science.md §8); κ compared across d at matched
progress (one step for all, one gap level) and at the end; the paper's per-sample
measures (distance ratio, C within modes) beside κ. The verdict on "remap in low d, copy
in high d" is computed from the converged seed-runs only (k / n printed per d); the
Spearman tests of κ against d carry Holm's correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from _common import Study, parse_args
from dmdlab.analysis import (
    course_table,
    dimension_verdict,
    final_rows,
    matched_progress,
    mean_ci,
    pm,
    rate_text,
    remap_rate,
    run_gates,
    runs_passing,
    transition_sentence,
    trend_tests,
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


def _gates(results: pd.DataFrame, gates: pd.DataFrame) -> list[str]:
    """Markdown: per d, the budget, the loose and converged gates per seed-run over the last
    20% of its records (``gates``: :func:`run_gates`), and why not."""
    last = final_rows(results)
    rows = ["| d | steps (teacher) | seed-runs passing | converged | student gap / teacher's "
            "(last record) | worst / best mode share | why not (most frequent, first failing "
            "seed-run) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, g in gates.groupby("dim"):
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


def _trends(results: pd.DataFrame, matched_step: int) -> tuple[pd.DataFrame, str]:
    """Spearman of κ against d over seed-runs at the matched step (primary) and at step
    100, Holm over the two; the table and one sentence."""
    ok = results[~results.diverged.astype(bool)]
    tests = {}
    for step in dict.fromkeys([matched_step, 100]):
        at = ok[ok.step == step]
        tests[f"κ at step {step} against d"] = (at.dim.to_numpy(), at.kappa.to_numpy())
    table = trend_tests(tests)
    text = "; ".join(f"{r.test}: ρ = {r.rho:+.2f}, p = {r.p:.2g}, Holm p = {r.p_holm:.2g} "
                     f"over {r.n} seed-runs" for r in table.itertuples())  # fmt: skip
    return table, text


def _per_sample(kept: pd.DataFrame) -> list[str]:
    """Markdown: the paper's per-sample copying measures beside κ at the end, per d."""
    last = final_rows(kept)
    rates = remap_rate(kept).set_index("dim")
    rows = ["| d | κ | remap rate | distance ratio (mean; quartiles) | C within modes | "
            "within-mode (centred) | ΔE |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, g in last.groupby("dim"):
        k, dr, cw, wc, de = (pm(*mean_ci(g[m])) for m in (
            "kappa", "distance_ratio", "copying_within", "within_mode_centred",
            "pairing_inefficiency"))  # fmt: skip
        rows.append(
            f"| {d} | {k} | {rate_text(rates.loc[d])} | {dr}; "
            f"{g.distance_ratio_q25.mean():.2f}–{g.distance_ratio_q75.mean():.2f} | "
            f"{cw} | {wc} | {de} |"
        )
    return rows


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("dimension", args)
    results = _sweep(study, args.mode)
    # gates per seed-run over the last 20% of its records (docs/science.md §8b)
    gates = run_gates(results)
    converged = runs_passing(results, gates=gates)
    loose = runs_passing(results, converged=False, gates=gates)
    body = [
        f"DMD2's protocol on the convergence recipe, dims {DIMS[args.mode]}, "
        f"{len(study.seeds)} seeds (fewer where stated).",
        "",
        "```",
        format_summary(results, by=["dim"], header=f"Machine: {study.machine}"),
        "```",
        "",
        "## Gates: which seed-runs have learned the distribution",
        "",
        *_gates(results, gates),
        "",
    ]
    course_rows, nums = _course(results)
    matched_step = int(nums["matched"].at_step.iloc[0])
    body += ["## κ on the time axis", "",
             "Per seed-run a course fitted after its peak (docs/science.md §8), then mean ± 95% "
             "t-interval over seeds; \"unresolved\": τ longer than three times the time after "
             "the peak, so κ_∞ is not read off. Matched progress: every d at the same step, "
             "and each seed-run at the first record where its gap reaches one level that "
             "every d reaches.", "", *course_rows, ""]  # fmt: skip
    _, trend = _trends(results, matched_step)
    body += [f"Spearman over seed-runs (each its own mixture and teacher), the first test "
             f"primary: {trend}.", ""]  # fmt: skip
    if not loose.empty:
        body += ["## The paper's per-sample measures at the end (seed-runs passing the "
                 "loose gates over the window)", "", *_per_sample(loose), ""]  # fmt: skip
    verdict = dimension_verdict(converged)
    transition = transition_sentence(converged)[1] if not converged.empty else "no d converged"
    counts = ", ".join(f"d = {d}: {int(g.converged.sum())}/{len(g)}"
                       for d, g in gates.groupby("dim"))  # fmt: skip
    body += ["## Verdict", "",
             f"From the converged seed-runs only (over the window; {counts}): "
             f"**{verdict[0]}**: {verdict[1]}. Transition: {transition}.", ""]  # fmt: skip
    course = nums["course"].set_index("dim")
    falls = ", ".join(f"d = {d}: {r.peak:.2f} → {r.end:.2f}" for d, r in course.iterrows())
    headline = (f"{verdict[0]} (converged seed-runs: {counts}); κ from its peak to the "
                f"end of the run: {falls}; {trend}.")  # fmt: skip
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

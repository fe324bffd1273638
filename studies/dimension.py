"""Study 1 — does the student go from remapping to copying as d grows? With the start as a control.

    python studies/dimension.py --quick      # CPU: d = 2, 8, 32 × 8 seeds, network and exact start
    python studies/dimension.py              # the `full` preset's dims (GPU-sized)

κ (mode agreement with the teacher's map, the primary copying metric), within-mode
copying, the remapped share of (seed, mode) units and fidelity against d, for a student
that starts from the teacher network (``start=network``) and one that starts from the
exact σ_max denoiser (``start=exact``, docs/science.md §5b), with the same seeds. Only grid
points that pass the fidelity gates enter the statistics:

- per d: κ and within-mode copying (mean ± 95% t-interval over seeds), the remap rate
  (share of units with kept fraction < ½, 95% cluster bootstrap over seeds);
- d*: where a logistic fit of "mode kept" on log d crosses ½, with a cluster-bootstrap
  interval, only when the slope's interval excludes 0;
- does the start predict the end: Spearman correlation over seed-runs of final κ with the
  closed-form ``start_kappa`` and with ``start_alignment``.
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
from scipy import stats

from _common import Study, parse_args
from dmdlab.analysis import (
    dimension_verdict,
    final_rows,
    holm,
    kappa_at_first_pass,
    mean_ci,
    passing,
    remap_rate,
    training_course,
    transition_sentence,
)
from dmdlab.plotting import (
    plot_copying_over_training,
    plot_kappa_by_seed,
    plot_pairings,
    save_figure,
)
from dmdlab.presets import PRESETS
from dmdlab.summary import format_summary

# The study's entry in the report (studies/_registry.py reads these three).
ORDER = 1
CLAIM = "students remap noise in low d and copy the teacher in high d"
# what would settle the claim beyond the quick mode (inputs and budgets, not results)
SETTLE = (
    "students passing the gates at d ≥ 64 (the calibrated budgets reach d = 32 on "
    "2 CPU cores; d = 128 still fails at 2000 generator steps), and κ compared at matched "
    "training progress; the full mode (`python studies/dimension.py`: 256-wide nets, 8000 "
    "teacher and 2000 generator steps, d ≤ 1024 × 8 seeds) on the GPU machine"
)

# The per-d budgets of `make sweep` (the default preset), with more seeds: the budget at
# which every d of it passes the fidelity gates on 2 CPU cores. The "dims" part keeps one
# budget for all d and shows what happens without calibration. Smoke: the same code path
# over a cell the "dims" part already trained.
CALIBRATED = {
    "smoke": ({"dim": [2]}, {"steps": [40]}),
    # the default preset's dims and budgets, plus d = 32 at 2000 generator steps (where the
    # long runs showed its gap falls below 1 nat/dim; too slow for `make sweep`)
    "quick": (
        {"dim": [*PRESETS["default"].grid["dim"], 32]},
        {
            k: [*v, {"steps": 2000, "teacher_steps": 2000}[k]]
            for k, v in PRESETS["default"].zipped.items()
        },
    ),
    "full": None,
}
# Longer runs (≥ 3× the calibrated steps) at the higher dims: does copying settle?
LONG = {
    "smoke": ({"dim": [2]}, 40, 2),
    "quick": ({"dim": [32, 128]}, 2000, 3),
    "full": ({"dim": [32, 128, 512]}, 10000, 8),
}

GRIDS = {
    "smoke": {"start": ["network", "exact"], "dim": [2]},
    "quick": {"start": ["network", "exact"], "dim": [2, 8, 32]},
    "full": {"start": ["network", "exact"], "dim": PRESETS["full"].grid["dim"]},
}


def _per_dim(kept, start: str) -> list[str]:
    """Markdown rows of κ, within-mode copying and remap rate per d for one start."""
    sub = kept[kept.start == start]
    last = final_rows(sub)
    rates = remap_rate(sub).set_index("dim")
    rows = ["| d | seeds | κ | within-mode | remap rate [95% cluster bootstrap] | start_κ |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for d, g in last.groupby("dim"):
        k, k_ci, n = mean_ci(g.kappa)
        w, w_ci, _ = mean_ci(g.within_mode)
        s, s_ci, _ = mean_ci(g.start_kappa)
        r = rates.loc[d]
        rows.append(
            f"| {d} | {n} | {k:.2f} ± {k_ci:.2f} | {w:.2f} ± {w_ci:.2f} | "
            f"{r.rate:.2f} [{r.lo:.2f}, {r.hi:.2f}] ({int(r.units)} units) | {s:.2f} ± {s_ci:.2f} |"
        )
    return rows


def _start_predicts_end(kept) -> list[str]:
    """Spearman correlations over passing seed-runs of final κ with the start measures."""
    last = final_rows(kept)
    found = []
    for start, g in last.groupby("start"):
        for col in ("start_kappa", "start_alignment", "start_tilt_kappa"):
            ok = g[[col, "kappa"]].dropna()
            if len(ok) < 4 or ok[col].nunique() < 2:
                continue
            rho, p = stats.spearmanr(ok[col], ok.kappa)
            found.append((start, col, len(ok), rho, p))
    if not found:
        return ["Too few passing seed-runs to relate the start to the end."]
    adjusted = holm([f[-1] for f in found])  # every row of the table is one family
    lines = [f"| {s} | {c} | {n} | {r:+.2f} | {p:.2g} | {a:.2g} |"
             for (s, c, n, r, p), a in zip(found, adjusted, strict=True)]  # fmt: skip
    return ["| start | predictor | seed-runs | Spearman ρ with final κ | p | Holm p |",
            "|---|---|---|---|---|---|", *lines]  # fmt: skip


def _budgets(results, part_dir) -> list[str]:
    """Markdown rows: per d, the generator and teacher steps and the cell's wall seconds
    on this machine (from the part's manifest; blank for cells trained by an earlier run)."""
    last = final_rows(results)
    rows = ["| d | generator steps | teacher steps | seeds | cell wall time (s) |",
            "|---|---|---|---|---|"]  # fmt: skip
    manifest = json.loads((part_dir / "manifest.json").read_text())
    timing = manifest.get("cell_timings", {})
    for d, g in last.groupby("dim"):
        wall = timing.get(g.cell.iloc[0], {}).get("wall_s", float("nan"))
        rows.append(f"| {d} | {g.steps.iloc[0]} | {g.teacher_steps.iloc[0]} | {len(g)} | "
                    f"{wall:.0f} |")  # fmt: skip
    return rows


def _first_pass(kept) -> list[str]:
    """Markdown: κ at the first recorded step each seed-run's student matches the data,
    per d, beside the final κ (the per-d budgets differ, and κ moves during training)."""
    first = kappa_at_first_pass(kept)
    rows = ["κ where each student first matches the data (its own coverage and gap gates; "
            "mean ± 95% t-interval over seeds), since the per-d budgets differ in length and "
            "κ moves during training:", "",
            "| d | seeds that ever pass | mean first-pass step | κ there | final κ |",
            "|---|---|---|---|---|"]  # fmt: skip
    last = final_rows(kept)
    for r in first.itertuples():
        k, k_ci, _ = mean_ci(last[last.dim == r.dim].kappa)
        rows.append(f"| {r.dim} | {r.seeds} of {r.seeds + r.never} | {r.step:.0f} | "
                    f"{r.mean:.2f} ± {r.ci:.2f} | {k:.2f} ± {k_ci:.2f} |")  # fmt: skip
    return [*rows, ""]


def _course(results) -> tuple[list[str], str]:
    """Markdown of :func:`training_course` for κ, within-mode copying and the gap, and
    one sentence on κ."""
    rows = ["| d | metric | seeds | final (95% CI) | slope per 1000 steps, last half (95% CI) | "
            "reading |", "|---|---|---|---|---|---|"]  # fmt: skip
    tables = {m: training_course(results, m) for m in ("kappa", "within_mode", "loglik_gap")}
    for metric, table in tables.items():
        for r in table.itertuples():
            rows.append(
                f"| {r.dim} | {metric} | {r.seeds} | {r.final:.3f} ± {r.final_ci:.3f} | "
                f"{r.slope_per_1k:+.3f} ± {r.slope_ci:.3f} | {r.course} |"
            )
    k = tables["kappa"]
    sentence = "; ".join(f"d = {r.dim}: κ {r.course} ({r.final:.2f} ± {r.final_ci:.2f} at the "
                         f"end, {r.slope_per_1k:+.3f} ± {r.slope_ci:.3f} per 1000 steps)"
                         for r in k.itertuples())  # fmt: skip
    return rows, sentence


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("dimension", args)
    grid = GRIDS[args.mode]
    if args.mode == "quick":
        study.seeds = tuple(range(8))  # the outcome can be bimodal by seed: ≥ 8 units of it
    elif args.mode == "full":
        study.base, study.seeds = PRESETS["full"].base, tuple(range(PRESETS["full"].seeds))
    results = study.sweep("dims", grid)
    kept = passing(results, by=list(grid))
    body, headline_parts = _dims_part(results, kept, grid, len(study.seeds))

    verdict = dimension_verdict(kept[kept.start == "network"])
    verdict_from = "the fixed-budget part (network start)"
    cal = cal_kept = None
    if CALIBRATED[args.mode] is not None:
        cal, cal_kept, cal_body = _calibrated_part(study, args.mode)
        body += cal_body
        verdict = dimension_verdict(cal_kept)
        verdict_from = "the calibrated part"
        headline_parts.append(f"calibrated budgets: {verdict[0]} ({verdict[1]})")
    both = (
        kept
        if cal_kept is None
        else pd.concat([kept, cal_kept.assign(start="network, calibrated")])
    )
    body += ["## Does the start predict the end?", "", *_start_predicts_end(both), ""]
    body += [
        "Rows are seed-runs of passing grid points, pooled over d (so a shared trend with d "
        "also correlates). `start_kappa` needs no training: the κ between the exact "
        "σ_max denoiser's tilt and the exact ODE map (docs/science.md §5b).",
        "",
    ]
    long, long_body, course_sentence = _long_part(study, args.mode)
    body += long_body
    if course_sentence:
        headline_parts.append(f"over {LONG[args.mode][1]} steps: {course_sentence}")
    body += [f"The verdict is computed from {verdict_from}.", ""]
    headline = "; ".join(headline_parts) + "."
    figures = _figures(study, results, grid, long, LONG[args.mode], cal, both)
    print(study.write_report("Remapping or copying, against dimension", body, figures, headline,
                             verdict))  # fmt: skip


def _dims_part(results, kept, grid, n_seeds: int) -> tuple[list[str], list[str]]:
    """The fixed-budget part's report lines (per start) and headline phrases."""
    body = [f"Config: the study base, dims {grid['dim']}, both starts, seeds {n_seeds}.",
            "", "```", format_summary(results, by=list(grid)), "```", ""]  # fmt: skip
    headline_parts = []
    for start in grid["start"]:
        if kept[kept.start == start].empty:
            body += [f"## start = {start}: every grid point fails the fidelity gates", ""]
            headline_parts.append(f"start={start}: no grid point passes fidelity")
            continue
        body += [f"## start = {start} (passing grid points only)", "", *_per_dim(kept, start), ""]
        sentence = transition_sentence(kept[kept.start == start])[1]
        body += [f"Transition: {sentence}.", ""]
        rates = remap_rate(kept[kept.start == start])
        span = ", ".join(f"{r.rate:.2f} at d = {r.dim}" for r in rates.itertuples())
        headline_parts.append(f"start={start}: remap rate {span}; {sentence}")
    return body, headline_parts


def _calibrated_part(study, mode: str):
    """Every d at the budget `make sweep` uses: (results, passing rows, report lines)."""
    cal_grid, cal_zip = CALIBRATED[mode]
    base = PRESETS["tiny" if mode == "smoke" else "default"].base
    cal = study.sweep("calibrated", cal_grid, base=base, zipped=cal_zip)
    cal_kept = passing(cal)
    body = [
        "## Calibrated budgets: every d at the budget `make sweep` uses, "
        f"{len(study.seeds)} seeds (network start)",
        "",
        *_budgets(cal, study.out / "calibrated"),
        "",
        "```",
        format_summary(cal),
        "```",
        "",
    ]
    if not cal_kept.empty:
        body += [*_per_dim(cal_kept, "network"), ""]
        body += [f"Transition: {transition_sentence(cal_kept)[1]}.", ""]
        body += _first_pass(cal_kept)
    return cal, cal_kept, body


def _long_part(study, mode: str):
    """Copying over a long run: (results, report lines, the course sentence or "")."""
    grid_long, steps_long, n_long = LONG[mode]
    long = study.sweep("long", grid_long, base=study.base.replace(steps=steps_long),
                       seeds=tuple(range(n_long)))  # fmt: skip
    course_rows, course_sentence = _course(passing(long))
    body = [f"## Copying over training, to convergence ({steps_long} generator steps)", "",
            *_budgets(long, study.out / "long"), "", "```", format_summary(long), "```", "",
            "Grid points failing the gates at the end are left out of this table. Slopes are "
            "least-squares fits over the last half of the recorded steps, per seed; intervals "
            "are 95% t-intervals over seeds.", "", *course_rows, ""]  # fmt: skip
    if course_sentence:
        body += [f"Over training: {course_sentence}.", ""]
    return long, body, course_sentence


def _figures(study, results, grid, long, long_spec, cal, both) -> list[str]:
    """Draw the study's figures; their file names, in report order."""
    grid_long, steps_long, _ = long_spec
    figures = []
    ax = plot_kappa_by_seed(results, grid=list(grid))
    figures.append(save_figure(ax, study.figure("kappa_by_seed.png"), "κ per seed").name)
    ax = plot_copying_over_training(results, grid=list(grid))
    figures.append(
        save_figure(ax, study.figure("copying_over_training.png"), "κ and gap over training").name
    )
    ax = plot_copying_over_training(long, grid=list(grid_long))
    title = f"κ and gap over {steps_long} steps"
    figures.append(save_figure(ax, study.figure("copying_long.png"), title).name)
    if cal is not None:
        ax = plot_kappa_by_seed(cal, grid=["dim"])
        title = "κ per seed, calibrated budgets"
        figures.append(save_figure(ax, study.figure("kappa_by_seed_calibrated.png"), title).name)
        drawn = plot_pairings(cal, study.store, study.figure("pairings.png"))
        if drawn is not None:
            figures.append(drawn.name)
    _, ax = plt.subplots(figsize=(6, 4.2))
    last = final_rows(both)
    for start, g in last.groupby("start"):
        ax.scatter(g.start_kappa, g.kappa, label=f"start={start}", alpha=0.7)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.set(xlabel="start_κ (closed form)", ylabel="final κ")
    ax.legend()
    figures.append(save_figure(ax, study.figure("start_vs_end.png"), "Start vs end").name)
    return figures


if __name__ == "__main__":
    main()

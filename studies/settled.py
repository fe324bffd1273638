"""Study 9 — the settled answer: κ and C_within over one long common window at every d.

    python studies/settled.py --quick                 # CPU: d = 2, 8, 32, 128 × 8 seeds
    python studies/settled.py --quick --until 5000    # stop after the 5000-step window
    python studies/settled.py --quick --report-only   # report what the store holds
    python studies/settled.py --quick --gpu --stop-after 420   # a GPU machine: d = 1024 … 2

In the dimension study every d peaks at κ ≈ 0.8 by step ~100 and then decays, and every
run stops while κ is still falling, so a κ read at the end measures how far along its
decay each d is. Here every d runs the same window (DMD2's protocol on the convergence
recipe, records every 10 steps to 300, then every 100), grown in stages
(``WINDOWS``): each stage extends the previous stage's cells from their checkpoints
(dmdlab.resume), so a stage costs only its new steps, an interrupted campaign loses at
most the cell in flight, and the store resumes on another machine from what is
committed. The report reads the longest window every d has finished (the common
window) and says which stages are pending.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from _common import Study, parse_args
from dmdlab.analysis import (
    WINDOW_LIMITS,
    course_fits,
    first_reach,
    gate_shortfall,
    mean_ci,
    pm,
    run_gates,
    settled_table,
    trend_tests,
)
from dmdlab.analysis.window import mode_tv_allowance
from dmdlab.metrics import gap_tail
from dmdlab.plotting import plot_settling, save_figure
from dmdlab.presets import STUDY_BUDGETS
from dmdlab.sweep import SweepSpec

ORDER = 9
CLAIM = "κ and C_within settle to values that depend on d (read in one common window)"
SETTLE = (
    "d = 2, 8, 32, 128 × 8 seeds × 20 000 generator steps on the CPU (about 4 CPU-hours, "
    "resumable in stages), then d = 256 and 512 × 4 seeds; on a GPU d = 2 … 1024"
)

# the common windows, in the order the campaign reaches them
WINDOWS = {"smoke": [40, 80], "quick": [2000, 5000, 10000, 20000], "full": [5000, 20000]}
DIMS = {"smoke": [2, 4], "quick": [2, 8, 32, 128], "full": sorted(STUDY_BUDGETS["full"])}
# --gpu: the same recipe and windows on every d of the full ladder, the largest first (the
# CPU cannot reach them); its cells share ids with the CPU's where the config is the same
GPU_DIMS = {"smoke": [4, 2], "quick": [1024, 512, 256, 128, 64, 32, 16, 8, 4, 2]}
# the quick teacher budgets of the dimension study (its teacher gate passes with them);
# above d = 128 the d = 128 budget
TEACHER_STEPS = {"smoke": {2: 200, 4: 200},
                 "quick": {2: 6000, 4: 6000, 8: 6000, 16: 6000, 32: 6000, 64: 8000, 128: 8000,
                           256: 8000, 512: 8000, 1024: 8000},
                 "full": {d: 8000 for d in DIMS["full"]}}  # fmt: skip


FIDELITY = [
    "Gates per seed-run over the last 20% of its records (docs/science.md §8b; "
    "dmdlab.analysis.window): the table above lists each seed-run, converged or not, and "
    "why; the primary test and the verdict use the converged seed-runs only."
]


# After the last window: the learning-rate arm (cosine decay to 1% over the whole run, so
# it cannot grow in windows: one straight run per cell) at d = 8 and 128, the main
# recipe at d = 256 and 512 with 4 seeds, in the same windows (issue 32), and DMD2 without
# its per-sample normaliser at every d: the one-factor screen of benchmarks/mode_balance.py
# found it the change that brings the mode balance near its allowance at d = 32 (median TV
# 0.051 at 2000 steps, 0.059 at 6000, against the recipe's 0.105; the gap then the
# binding gate). `--arms no-normaliser` runs one arm alone (another process can run the rest).
# exact-no-normaliser: both changes that moved the mode balance at d = 32, with the exact
# real score (the mixture's denoiser; the teacher network serves the student's start only);
# at d = 128, where dropping the normaliser alone is partial (TV 0.077 at 2000 steps, the
# recipe's 0.098), the screen found TV 0.034 (its teacher's 0.021) and sliced W2 1.7× (the
# recipe's 2.5×), the gap the only gate left (benchmarks/mode_balance_d128.csv).
ARMS = {
    "quick": {"cosine": {"dims": [8, 128], "changes": {"lr_schedule": "cosine"}, "seeds": 8,
                         "staged": False},
              "high-d": {"dims": [256, 512], "changes": {}, "seeds": 4, "staged": True},
              "no-normaliser": {"dims": [2, 8, 32, 128], "changes": {"normalize": False},
                                "seeds": 8, "staged": True},
              "exact-no-normaliser": {"dims": [2, 8, 32, 128], "seeds": 8, "staged": True,
                                      "changes": {"normalize": False, "teacher": "oracle"}}},
    "smoke": {"cosine": {"dims": [2], "changes": {"lr_schedule": "cosine"}, "seeds": 2,
                         "staged": False}},
    "full": {},
}  # fmt: skip


def _arm_spec(study: Study, name: str, window: int) -> SweepSpec:
    """One arm (ARMS) at ``window`` steps: its dims and seeds, its field changes."""
    arm = ARMS[study.mode][name]
    zipped = {"teacher_steps": [TEACHER_STEPS[study.mode][d] for d in arm["dims"]]}
    return SweepSpec(window_base(study, window).replace(**arm["changes"]),
                     {"dim": arm["dims"]}, tuple(range(arm["seeds"])), zipped)  # fmt: skip


def run_arm(study: Study, name: str, window: int) -> pd.DataFrame:
    """Run (or resume) one arm at ``window`` steps."""
    spec = _arm_spec(study, name, window)
    return study.sweep(f"arm-{name}-{window}", spec.grid, base=spec.base, zipped=spec.zipped,
                       seeds=spec.seeds)  # fmt: skip


def arm_lines(study: Study, results: dict, arms: dict) -> list[str]:
    """The arms' section: per arm and d, κ over the last 20% beside the main run's in the
    same window (``results``: window → the main run's table; ``arms``: name → (table,
    partial, {d: window})), and their paired difference over the seeds both ran (same
    world, teacher and noise per seed). An unfinished arm reports each d at its own window
    (:func:`latest_per_dim`), marked partial where that d's seeds are not all finished."""
    lines = ["## Arms", ""]
    for name, (table, partial, windows) in arms.items():
        if table is None:
            lines.append(f"- {name}: pending (runs after the last window)")
            continue
        ours, our_runs = settled_table(table, "kappa")
        short_of = gate_shortfall(table).set_index("dim")
        for d in sorted(table.dim.unique()):
            window = windows[d]
            main = results[window]
            at = "" if window == max(results) else f" (in the {window}-step window)"
            same = main[main.dim == d]
            theirs, main_runs = settled_table(same, "kappa") if len(same) else (None, None)
            if theirs is not None:
                paired = our_runs.merge(main_runs, on=["dim", "seed"], suffixes=("", "_main"))
            a, f = ours.set_index("dim").loc[d], short_of.loc[d]
            short = partial and int(a.n) < ARMS[study.mode][name]["seeds"]
            versus = ""  # beside the main recipe where it ran the same d
            if theirs is not None and d in set(theirs.dim):
                b = theirs.set_index("dim").loc[d]
                diff = paired[paired.dim == d].pipe(lambda g: g.value - g.value_main)
                m, ci, n = mean_ci(diff.to_numpy(float))
                versus = (f" against the main recipe's {pm(b.value, b.value_ci)} (n = "
                          f"{int(b.n)}; slope {pm(b.slope, b.slope_ci)}); paired over the {n} "
                          f"seeds both ran: {pm(m, ci if n >= 3 else np.nan)}")  # fmt: skip
            lines.append(f"- {name}, d = {d}{' (partial: the finished cells)' if short else ''}"
                         f"{at}: κ over the last 20% {pm(a.value, a.value_ci)} (n = "
                         f"{int(a.n)}; slope {pm(a.slope, a.slope_ci)} per 1000 steps){versus}"
                         f"; converged {int(a.k)}/{int(a.n)}, mode TV {f.mode_tv:.3f} (teacher's "
                         f"{f.teacher_mode_tv:.3f}; {f.fails_tv:.0%} of window records over its "
                         f"allowance), sliced W2 {f.w2_ratio:.1f}× the teacher's")  # fmt: skip
    return [*lines, ""]


def latest_per_dim(found: list[tuple[pd.DataFrame, int]], seeds: int) -> tuple:
    """Each d of a staged arm at the latest window where all its ``seeds`` finished, else
    at the latest window that has any of its cells (so a stage begun at one d does not hide
    the stage before it finished at the others). ``found``: (table, window), latest window
    first. Returns (the rows chosen, concatenated; {d: window})."""
    chosen: dict = {}
    for table, window in found:
        for d, rows in table.groupby("dim"):
            full = rows.seed.nunique() >= seeds
            if d not in chosen or (full and not chosen[d][2]):
                chosen[d] = (rows, window, full)
    rows = pd.concat([r for r, _, _ in chosen.values()], ignore_index=True)
    return rows, {d: w for d, (_, w, _) in chosen.items()}


def _extra(argv) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--until", type=int, default=None)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--gpu", action="store_true", help="every d, the largest first")
    parser.add_argument("--arms", default=None,
                        help="comma-separated arms to train, in this order (default: all); "
                        "the others are read from the store as they are")  # fmt: skip
    return parser.parse_known_args(argv)


def window_base(study: Study, window: int):
    """The campaign's config at one window (its records: every 10 steps to 300, then
    every 100, so every window's records are the first records of the next)."""
    return study.base.replace(steps=window, eval_every=100 if study.mode != "smoke" else 20,
                              eval_early_every=10 if study.mode != "smoke" else 0,
                              eval_early_until=300 if study.mode != "smoke" else 0)  # fmt: skip


def run_window(study: Study, window: int) -> pd.DataFrame:
    """Every d at one window, each d's cells extended from the previous window's."""
    spec = _window_spec(study, window)
    return study.sweep(f"window-{window}", spec.grid, base=spec.base, zipped=spec.zipped)


def _window_spec(study: Study, window: int) -> SweepSpec:
    """Every d of the main run at one window."""
    zipped = {"teacher_steps": [TEACHER_STEPS[study.mode][d] for d in study.dims]}
    return SweepSpec(window_base(study, window), {"dim": study.dims}, study.seeds, zipped)


def _pending(study: Study, spec: SweepSpec) -> list[str]:
    """The cells of ``spec`` not finished yet (labels), without training anything."""
    return [f"d = {c.dim} seeds {g[0]}-{g[-1]}" for c, g in study.stored(spec)[1]]


# the records just after κ's peak (~step 100), where the mode balance is first read
EARLY = (100, 300)
# the one-factor screen of what moves the mode balance (benchmarks/mode_balance.py)
# (its tables: d = 32, every variant; d = 128, the variants run there)
MODE_BALANCE = tuple(Path(__file__).resolve().parents[1] / "benchmarks" / name
                     for name in ("mode_balance.csv", "mode_balance_d128.csv"))  # fmt: skip


def _min_detectable_rho(n: int) -> float:
    """The smallest |ρ| a two-sided test at α = 0.05 detects with power 0.8 over n
    independent seed-runs (Fisher's z: tanh((z_0.975 + z_0.8) / √(n − 3)))."""
    return float(np.tanh((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / np.sqrt(n - 3)))


def _mode_balance_lines(paths: tuple[Path, ...] = MODE_BALANCE) -> list[str]:
    """What moves the mode balance, from the committed one-factor screen
    (benchmarks/mode_balance.py): per table and variant, the median mode TV at its last
    record against the teacher's; nothing for a table that is absent."""
    return [line for path in paths if path.exists() for line in _screen_lines(path)]


def _screen_lines(path: Path) -> list[str]:
    table = pd.read_csv(path)
    last = table.sort_values("step").groupby("variant", sort=False).tail(1)
    last = last.set_index("variant").loc[table.variant.unique()].reset_index()
    flags = "" if path.name == "mode_balance.csv" else f" … --out benchmarks/{path.name}"
    lines = ["", f"What moves it: `python benchmarks/mode_balance.py{flags}` (d = "
             f"{int(last.dim.iloc[0])}, seeds 0-3, one field changed per variant; "
             f"{last.date.iloc[0]}, {last.machine.iloc[0]}): medians over the seeds at each "
             "variant's last record.", "",
             "| variant | steps | mode TV (teacher's) | sliced W2 / teacher's | gap (teacher's) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in last.itertuples():
        lines.append(f"| {r.variant} | {r.step} | {r.mode_tv:.3f} ({r.teacher_mode_tv:.3f}) "
                     f"| {r.sliced_w2 / r.teacher_sliced_w2:.1f} | {r.gap:.2f} "
                     f"({r.teacher_gap:.3f}) |")  # fmt: skip
    return lines


def _gap_tails(study: Study, cell: str) -> list[dict]:
    """Per seed-run of one cell, at its last record (:meth:`Study.last_pairs`):
    :func:`dmdlab.metrics.gap_tail` of its student's and its teacher's samples against 4096
    true samples of its world."""
    rows = []
    for config, seed, mix, data, student, teacher in study.last_pairs(cell):
        share, gap, rest = gap_tail(mix, student, data)
        of_teacher = gap_tail(mix, teacher, data)[0]
        rows.append({"dim": config.dim, "seed": seed, "n": len(teacher), "share": share,
                     "gap": gap, "rest": rest, "teacher_share": of_teacher})  # fmt: skip
    return rows


def gap_tail_lines(study: Study, results: pd.DataFrame) -> list[str]:
    """Where the students' log-likelihood gap comes from: per d, medians over seed-runs of
    :func:`_gap_tails` at each cell's last record."""
    rows = [r for cell in results.cell.unique() for r in _gap_tails(study, cell)]
    if not rows:
        return []
    table = pd.DataFrame(rows).groupby("dim").median(numeric_only=True)
    lines = ["## Where the gap comes from", "",
             "At each cell's last record (its stored pairs: n noises per seed-run): the share "
             "of the student's samples less likely than 99% of 4096 true samples are (its "
             "teacher's beside it), and the student's log-likelihood gap (nats/dim) over all "
             "its samples and without those; medians over seed-runs. A gap carried by a few "
             "off-mode samples reads a large share and a small rest; a rest below 0 is a bulk "
             "tighter than the data.", "",
             "| d | n | share: student, teacher | gap: all → without them |",
             "|---|---|---|---|"]  # fmt: skip
    for d, r in table.iterrows():
        lines.append(f"| {d} | {r.n:.0f} | {r.share:.1%}, {r.teacher_share:.1%} | "
                     f"{r.gap:.2f} → {r.rest:.2f} |")  # fmt: skip
    return [*lines, ""]


def _shortfall(results: pd.DataFrame) -> tuple[list[str], str]:
    """The report's lines on how far the seed-runs are from converged (each gate's share
    of failing window records, the medians behind it), and the verdict's phrase."""
    short = gate_shortfall(results)
    k, n = int(results.n_modes.iloc[0]), int(results.eval_n.iloc[0])
    allow = WINDOW_LIMITS["tv_allowances"] * float(mode_tv_allowance(k, n))
    lines = ["## How far from converged", "",
             "Over every seed-run's window records: the share failing each gate of "
             "docs/science.md §8b, and the medians it is read from (the student's sliced W2 "
             f"over its teacher's, allowed {WINDOW_LIMITS['w2_factor']:g}×; the mode "
             "histogram's TV, allowed the teacher's "
             f"+ {allow:.3f} at {k} modes and {n} samples).", "",
             "| d | records | fail the floor | fail gap | fail sliced W2 | fail mode TV | "
             "sliced W2 / teacher's | mode TV: student, teacher | mode TV at steps "
             f"{EARLY[0]}–{EARLY[1]} |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    # when the imbalance is set: the same median over the records just after κ's peak
    early = results[results.step.between(*EARLY)].groupby("dim").mode_tv.median()
    for r in short.itertuples():
        lines.append(f"| {r.dim} | {r.records} | {r.fails_loose:.0%} | {r.fails_gap:.0%} | "
                     f"{r.fails_w2:.0%} | {r.fails_tv:.0%} | {r.w2_ratio:.1f} | "
                     f"{r.mode_tv:.3f}, {r.teacher_mode_tv:.3f} | "
                     f"{early.get(r.dim, np.nan):.3f} |")  # fmt: skip
    lines += _mode_balance_lines()
    worst = short.sort_values("dim").iloc[-1]
    phrase = (f"the students have not matched the data: at d = {int(worst.dim)} "
              f"{worst.fails_tv:.0%} of window records miss the mode balance (median TV "
              f"{worst.mode_tv:.3f} against the teacher's {worst.teacher_mode_tv:.3f}; "
              f"{early.get(worst.dim, np.nan):.3f} at steps {EARLY[0]}–{EARLY[1]}) and "
              f"{worst.fails_w2:.0%} the sliced W2 ({worst.w2_ratio:.1f}× the "
              "teacher's)")  # fmt: skip
    return lines, phrase


def report(study: Study, results: pd.DataFrame, window: int, status: list[str]) -> tuple:
    """The report body, figures, headline and verdict from the common window's table."""
    settled_k, runs_k = settled_table(results, "kappa")
    settled_c, runs_c = settled_table(results, "copying_within")
    settled_r, _ = settled_table(results, "distance_ratio")
    course_k, fits_k = course_fits(results, "kappa")
    course_c, _ = course_fits(results, "copying_within", lo=-1.0, hi=1.0)
    gates = run_gates(results)
    reach, _ = first_reach(results, "kappa")
    n_runs = len(runs_k)
    body = [f"DMD2's protocol on the convergence recipe, dims {sorted(study.dims)}, "
            f"{len(study.seeds)} seeds; the common window: **{window} generator steps**.", "",
            "## Campaign status", "", *status, "",
            "## κ and C_within over training", "",
            "Bands: 95% t-interval over the seed-runs (n in the legend), clipped to the "
            "measure's range; shaded: the settling window (the last 20% of the run).", "",
            "## Per d: the peak, the value over the last 20% and whether it still moves", "",
            "Each seed-run's mean over the last 20% of the run (its settled value once the "
            "slope's interval holds 0), then mean ± 95% t-interval over seed-runs; slope: per "
            "1000 steps over the same window (an interval excluding 0 means still moving). "
            "Converged: every record of the window passes the gates of docs/science.md §8b "
            "(k / n seed-runs).", "",
            "| d | κ peak (step) | κ, last 20% | κ slope /1k | C_within, last 20% | C_within "
            "slope /1k | distance ratio, last 20% | converged | κ, last 20%, converged only |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for d in sorted(results.dim.unique()):
        k = settled_k.set_index("dim").loc[d]
        c = settled_c.set_index("dim").loc[d]
        r = settled_r.set_index("dim").loc[d]
        pk = course_k.set_index("dim").loc[d]
        body.append(
            f"| {d} | {pm(pk.peak, pk.peak_ci)} ({pk.peak_step:.0f}) | "
            f"{pm(k.value, k.value_ci)} | {pm(k.slope, k.slope_ci, digits=3)} | "
            f"{pm(c.value, c.value_ci)} | {pm(c.slope, c.slope_ci, digits=3)} | "
            f"{pm(r.value, r.value_ci)} | {int(k.k)}/{int(k.n)} | "
            f"{pm(k.converged_value, k.converged_ci)} |"
        )
    body += ["", "## The decay time", "",
             "Per seed-run an exponential approach from the peak, its settled value bounded "
             "to the measure's range; resolved only where the run covers ≥ 2τ after the "
             "peak. τ: median over resolved seed-runs with a 95% bootstrap interval.", "",
             "| d | κ: resolved | κ: τ [95%] | κ: fitted settled [95%] | C_within: resolved | "
             "C_within: τ [95%] |", "|---|---|---|---|---|---|"]  # fmt: skip
    for d in sorted(results.dim.unique()):
        a, b = course_k.set_index("dim").loc[d], course_c.set_index("dim").loc[d]
        tau = lambda r: (f"{r.tau:.0f} [{r.tau_lo:.0f}, {r.tau_hi:.0f}]"  # noqa: E731
                         if np.isfinite(r.tau) else "—")  # fmt: skip
        fitted = (f"{a.settled:.2f} [{a.settled_lo:.2f}, {a.settled_hi:.2f}]"
                  if np.isfinite(a.settled) else "—")  # fmt: skip
        body.append(f"| {d} | {a.resolved:.0f}/{a.n:.0f} | {tau(a)} | {fitted} | "
                    f"{b.resolved:.0f}/{b.n:.0f} "
                    f"| {tau(b)} |")  # fmt: skip
    early = results[(results.step == 100) & ~results.diverged.astype(bool)]
    tau_runs = fits_k[fits_k.resolved]
    conv_k = runs_k[runs_k.converged.astype(bool)]
    tests = trend_tests({
        "primary: κ over the last 20% against d, converged seed-runs": (conv_k.dim, conv_k.value),
        "κ over the last 20% against d, every seed-run": (runs_k.dim, runs_k.value),
        "C_within over the last 20% against d, converged seed-runs": (
            runs_c[runs_c.converged.astype(bool)].dim,
            runs_c[runs_c.converged.astype(bool)].value),
        "κ at step 100 against d": (early.dim, early.kappa),
        "κ's decay time τ against d (resolved runs)": (tau_runs.dim, tau_runs.tau),
    })  # fmt: skip
    body += ["", "## Across d", "",
             "Spearman's ρ over seed-runs (each seed-run its own mixture and teacher: "
             "independent units). The primary test was fixed before the data: κ over the last "
             "20% of the converged seed-runs against d. Holm's correction over the five tests.",
             "",
             "| test | n | ρ | p | p (Holm) |", "|---|---|---|---|---|"]  # fmt: skip
    for t in tests.itertuples():
        body.append(f"| {t.test} | {t.n} | {t.rho:+.2f} | {t.p:.2g} | {t.p_holm:.2g} |")
    primary = tests.iloc[0]
    n_conv = int(primary.n)
    mdr = _min_detectable_rho(n_conv) if n_conv > 3 else float("nan")
    power = (f"the design detects |ρ| ≥ {mdr:.2f} (α = 0.05, power 0.8)" if np.isfinite(mdr)
             else "the primary test cannot run yet")  # fmt: skip
    body += ["", f"With the primary test's n = {n_conv} converged seed-runs (of {n_runs}), "
             f"{power}.", "",
             "## Matched progress", "",
             "κ at the first record where the student's sliced W2 is within L× its teacher's "
             "and every mode holds half its weight; seed-runs that never get there are listed.",
             "", "| d | L | reached | κ there | step | not reached (seeds) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in reach.itertuples():
        body.append(f"| {r.dim} | {r.level:g} | {r.reached}/{r.of} | {pm(r.mean, r.ci)} | "
                    f"{pm(r.step, r.step_ci, digits=0)} | {r.not_reached or '—'} |")  # fmt: skip
    body += ["", "## Gates per seed-run (the window)", "",
             "| d | seed | converged | records converged | why not (most frequent) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for g in gates.sort_values(["dim", "seed"]).itertuples():
        body.append(f"| {g.dim} | {g.seed} | {'yes' if g.converged else 'no'} | "
                    f"{g.k_converged}/{g.n_window} | {g.why or '—'} |")  # fmt: skip
    shortfall, missing = _shortfall(results)
    body += ["", *shortfall, "", *gap_tail_lines(study, results)]
    per_d = settled_k.set_index("dim")
    voting = [int(d) for d, r in per_d.iterrows() if r.k >= 3]
    moving = [int(d) for d, r in per_d.iterrows()
              if np.isfinite(r.slope_ci) and r.slope + r.slope_ci < 0]  # fmt: skip
    counts = ", ".join(f"d = {d}: {int(r.k)}/{int(r.n)}" for d, r in per_d.iterrows())
    if len(voting) < 3:
        verdict = ("inconclusive at this budget",
                   f"fewer than 3 dims with ≥ 3 converged seed-runs in the {window}-step window "
                   f"(converged: {counts}); {missing}")  # fmt: skip
    elif moving:
        verdict = ("inconclusive at this budget",
                   f"κ is still falling in the {window}-step window at d = {moving} (slope "
                   f"interval below 0), so its settled value is not reached there")  # fmt: skip
    elif primary.p_holm < 0.05 and primary.rho > 0:
        verdict = ("supported", f"settled κ of converged seed-runs rises with d (ρ = "
                   f"{primary.rho:+.2f}, Holm p = {primary.p_holm:.2g}, n = {n_conv})")  # fmt: skip
    else:
        verdict = ("not supported",
                   f"settled κ of converged seed-runs does not rise with d (ρ = "
                   f"{primary.rho:+.2f}, Holm p = {primary.p_holm:.2g}; |ρ| ≥ {mdr:.2f} was "
                   "detectable)")  # fmt: skip
    falls = ", ".join(
        f"d = {d}: {course_k.set_index('dim').loc[d].peak:.2f} → "
        f"{settled_k.set_index('dim').loc[d].value:.2f}" for d in sorted(results.dim.unique())
    )  # fmt: skip
    headline = (f"In a common {window}-step window, κ from its peak to its mean over the "
                f"window's last 20%: "
                f"{falls}; κ there against d over every seed-run: ρ = "
                f"{tests.iloc[1].rho:+.2f}, Holm p = {tests.iloc[1].p_holm:.2g}; "
                f"{verdict[0]}: {verdict[1]}.")  # fmt: skip
    ax = plot_settling(results, window_from=int(0.8 * window))
    fig = save_figure(
        ax,
        study.figure("settling.png"),
        f"κ and C_within over {window} steps (bands: 95% t-interval over seeds)",
    )
    return body, [fig.name], headline, verdict


def main(argv=None) -> None:
    extra, rest = _extra(sys.argv[1:] if argv is None else argv)
    args = parse_args(__doc__, rest)
    chosen = list(ARMS[args.mode]) if extra.arms is None else extra.arms.split(",")
    if set(chosen) - set(ARMS[args.mode]):  # before any compute
        print(f"settled: --arms={extra.arms!r} is invalid: allowed arms "
              f"{list(ARMS[args.mode])}", file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    study = Study("settled", args)
    study.dims = GPU_DIMS[args.mode] if extra.gpu else DIMS[args.mode]
    windows = [w for w in WINDOWS[args.mode] if extra.until is None or w <= extra.until]
    if not windows:
        raise SystemExit(f"--until {extra.until}: below the first window {WINDOWS[args.mode][0]}")
    results, status = {}, []
    for window in WINDOWS[args.mode]:
        pending = _pending(study, _window_spec(study, window))
        if window in windows and (not extra.report_only or not pending):
            results[window] = run_window(study, window)
            status.append(f"- {window} steps: finished (every d, every seed group)")
        else:
            status.append(f"- {window} steps: pending ({len(pending)} cells: "
                          f"{', '.join(pending)})" if pending else
                          f"- {window} steps: finished")  # fmt: skip
    if not results:
        raise SystemExit("settled: no window is finished yet; nothing to report")
    last = WINDOWS[args.mode][-1]
    arms = {}
    order = chosen + [a for a in ARMS[args.mode] if a not in chosen]
    for name in order if not extra.gpu else []:
        pending = len(study.stored(_arm_spec(study, name, last))[1])
        trains = name in chosen and not extra.report_only
        if last in results and (trains or not pending):
            # a staged arm grows through the windows as the main run did (resumable)
            stages = WINDOWS[args.mode] if ARMS[args.mode][name]["staged"] else [last]
            table = [run_arm(study, name, w) for w in stages][-1]
            arms[name] = (table, False, dict.fromkeys(table.dim.unique(), last))
        else:  # its finished cells, each d at its latest stage (staged arms)
            stages = WINDOWS[args.mode] if ARMS[args.mode][name]["staged"] else [last]
            found = [(study.stored(_arm_spec(study, name, w))[0], w) for w in reversed(stages)
                     if w in results]  # fmt: skip
            found = [(t, w) for t, w in found if t is not None]
            rows, windows = (latest_per_dim(found, ARMS[args.mode][name]["seeds"]) if found
                             else (None, {}))  # fmt: skip
            arms[name] = (rows, True, windows)
            status.append(f"- arm {name} at {last} steps: pending ({pending} cells)")
    window = max(results)
    body, figures, headline, verdict = report(study, results[window], window, status)
    body += arm_lines(study, results, arms)
    study.parts = [f"window-{window}"]  # the report reads the common window's table
    print(study.write_report("The settled answer: copying over one common window", body,
                             figures, headline, verdict, fidelity=FIDELITY))  # fmt: skip


if __name__ == "__main__":
    main()

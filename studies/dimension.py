"""Study 1 — copying against dimension, with the transition dimension d*.

    python studies/dimension.py --quick      # the studies' quick base: d = 2 … 128, CPU
    python studies/dimension.py              # the `full` preset (GPU-sized)

C, κ, ΔE (student and teacher) and fidelity against d, with 95% CIs over seeds. d* is
where the final copying score crosses halfway between its lowest-d and highest-d
means (linear interpolation in log d; needs ≥ 3 dims), with a 95% interval from a
bootstrap over seeds.
"""

from __future__ import annotations

import numpy as np

from _common import Study, parse_args
from dmdlab.analysis import (
    bootstrap_transition,
    ends_differ,
    monotone_in_dim,
    transition_dimension,
)
from dmdlab.plotting import plot_sweep
from dmdlab.sweep import PRESETS, format_summary, summarize, trend_sentence

# quick: the base every quick study shares (so its cells at d ≤ 32 are reused there)
GRIDS = {"smoke": None, "quick": {"dim": [2, 8, 32, 128]}, "full": None}


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("dimension", args)
    if args.mode == "quick":
        grid, what = GRIDS["quick"], "the quick base of every study"
    else:
        preset = PRESETS["tiny" if args.mode == "smoke" else "full"]
        study.base, study.seeds, grid = preset.base, tuple(range(preset.seeds)), preset.grid
        what = f"preset `{'tiny' if args.mode == 'smoke' else 'full'}`: {preset.description}"
    results = study.sweep("dims", grid)
    figures = [p.name for p in plot_sweep(results, study.out, grid=["dim"])]

    table = summarize(results)
    first, last = table.iloc[0], table.iloc[-1]
    d_star = transition_dimension(results, require_change=True)
    differ, p_ends = ends_differ(results)
    body = [
        f"Config: {what}; dims {grid['dim']}.",
        "",
        "```",
        format_summary(results),
        "```",
        "",
        f"C is {first.copying:.2f} ± {first.copying_ci:.2f} at d = {int(first.dim)} and "
        f"{last.copying:.2f} ± {last.copying_ci:.2f} at d = {int(last.dim)} "
        f"(mean ± 95% CI over {int(last.seeds)} seeds, final step).",
    ]
    if np.isfinite(d_star):
        lo, hi, frac = bootstrap_transition(results)
        interval = (
            f"95% bootstrap interval [{lo:.3g}, {hi:.3g}]"
            if np.isfinite(lo)
            else f"no stable interval: only {frac:.0%} of bootstrap draws cross"
        )
        body.append(f"The halfway crossing d* is {d_star:.3g} ({interval}).")
        if not monotone_in_dim(results):
            body.append(
                "C is not monotone in d in this run, so d* only marks where it first "
                "crosses halfway; read it together with the table."
            )
    elif results.dim.nunique() < 3:
        body.append("Fewer than three dimensions: d* is not defined.")
    elif not differ:
        body.append(
            f"C at the lowest and the highest d do not differ detectably (Welch p = "
            f"{p_ends:.2g}): there is no transition to locate, so no d* is given."
        )
    else:
        body.append("C never crosses halfway between its end levels: no d* in this range.")
    headline = trend_sentence(results, "copying") + " " + trend_sentence(results, "kappa")
    if np.isfinite(d_star):
        headline += f" First halfway crossing of C: d* = {d_star:.3g}."
    print(study.write_report("Copying against dimension", body, figures, headline))


if __name__ == "__main__":
    main()

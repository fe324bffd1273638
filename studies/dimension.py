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
from dmdlab.analysis import describe_transition
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
    d_star, transition = describe_transition(results)
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
    body.append(f"Transition of C: {transition}")
    headline = trend_sentence(results, "copying") + " " + trend_sentence(results, "kappa")
    if np.isfinite(d_star):
        headline += f" First halfway crossing of C: d* = {d_star:.3g}."
    print(study.write_report("Copying against dimension", body, figures, headline))


if __name__ == "__main__":
    main()

"""Study 4 — what moves the transition? Geometric freedom, one factor at a time.

    python studies/freedom.py --quick    # CPU: d = 2, 8, 32 × 3 seeds, 7 variants
    python studies/freedom.py            # GPU: d = 2 … 512 × 8 seeds, 10 variants

The claim under test: students copy in high d because they lack the geometric freedom
to remap noise. Factors that add or remove freedom should move the copying curve C(d)
and its halfway crossing d*: fewer intrinsic dimensions m at the same ambient d (the
data occupy a thinner subspace), the number of modes K, the student's width, a random
instead of a teacher initialization, a few-step instead of a one-step student, the
student's width and depth (with the teacher's: the student starts as the teacher), and
how many fake-score updates precede each generator update.

Design: one factor at a time around the base config, each variant swept over the same
dims and seeds. The full product (≥ 3 levels of 6 factors × dims) would be ~ 700 cells
per seed; one-at-a-time costs (1 + variants) × dims cells and still answers "does
this factor move d*" for each factor, which is the question. Interactions between
two factors are what the phase diagram study maps (d × K and d × m).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from _common import Study, fmt_table, kept_runs, parse_args
from dmdlab.analysis import (
    compare_levels,
    dimension_verdict,
    divergence_sentence,
    transition_sentence,
)
from dmdlab.plotting import plot_metric_by_level, save_figure

# The study's entry in the report (studies/_registry.py reads these three).
ORDER = 6
CLAIM = "limited geometric freedom sets the transition"
# what would settle the claim beyond the quick mode (inputs and budgets, not results)
SETTLE = (
    "a remap → copy transition in the base first (see the dimension claim); then "
    "the variants at calibrated budgets"
)

DIMS = {"smoke": [2], "quick": [2, 8, 32], "full": [2, 8, 32, 128, 512]}


def variants(mode: str) -> dict[str, dict]:
    v = {
        "base": {},
        "m=2": {"intrinsic_dim": 2},
        "K=32": {"n_modes": 32},
        "width=64": {"width": 64},
        "depth=2": {"depth": 2},
        "init=random": {"init": "random"},
        "student_steps=2": {"student_steps": 2},
        "fake_ratio=1": {"fake_ratio": 1},
        # the learned skip gives the student a direct path from z to its output: does
        # that path itself favour copying? (docs/science.md §5c; issue: keep both, compare)
        "skip=edm": {"skip": "edm"},
        # the same network and gradients, started at the exact σ_max denoiser (§5b)
        "start=exact": {"start": "exact"},
    }
    if mode == "full":
        v["K=2"] = {"n_modes": 2}
        v["width=1024"] = {"width": 1024}
        v["m=8"] = {"intrinsic_dim": 8}
    if mode == "smoke":
        v = {k: v[k] for k in ("base", "m=2")}
    return v


def _differences(table) -> tuple[list[str], list[str]]:
    """One line per (variant, d) paired difference from the base, Holm-corrected, and
    the detectable ones as short phrases."""
    body, moved = [], []
    for _, r in table[table.variant != "base"].iterrows():
        if not np.isfinite(r["diff"]):
            continue
        lo, hi = r["diff"] - r["diff_ci"], r["diff"] + r["diff_ci"]
        sig = r["p_holm"] < 0.05
        if r["diff"] == 0 and r["diff_ci"] == 0:  # e.g. m = d: the variant is the base here
            body.append(f"- {r.variant}, d = {r.dim}: the same configuration as the base here")
            continue
        body.append(
            f"- {r.variant}, d = {r.dim}: Δκ = {r['diff']:+.2f}, 95% CI [{lo:+.2f}, {hi:+.2f}], "
            f"{r.test} p = {r.p:.3f}, Holm p = {r.p_holm:.3f}"
            + (" (detectable)" if sig else " (no detectable change)")
        )
        if sig:
            moved.append(f"{r.variant} at d = {r.dim} ({r['diff']:+.2f})")
    return body, moved


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("freedom", args)
    results = study.variants(variants(args.mode), {"dim": DIMS[args.mode]}, column="variant")

    kept, dropped = kept_runs(results, ["dim", "variant"])
    table = compare_levels(kept, "variant", "base", "kappa")
    rows = []
    for name, group in kept.groupby("variant", sort=False):
        per_dim = table[table.variant == name]
        row = {"variant": name}
        for d in DIMS[args.mode]:  # one column per d, in order, blank where it fails
            r = per_dim[per_dim.dim == d]
            row[f"κ(d={d})"] = f"{r['mean'].iloc[0]:.2f} ± {r['ci'].iloc[0]:.2f}" if len(r) else "–"
        row["d*"] = transition_sentence(group, n_boot=500)[1]
        rows.append(row)
    body = [
        "## κ per dimension and the halfway crossing d* per variant",
        "",
        "Seed-runs failing the fidelity gates at some record of their window are left out. "
        "d* is where a logistic fit of 'mode kept' on log d over (seed, mode) units crosses "
        "½, given only when its slope's 95% cluster-bootstrap interval excludes 0 and the "
        "crossing lies inside the swept dims.",
        "",
        *dropped,
        fmt_table(pd.DataFrame(rows)),
        "",
        "## Paired difference in κ from the base config, per dimension",
        "",
    ]
    lines, moved = _differences(table)
    body += lines
    body.append("")
    n_tests = int(table["p"].notna().sum())
    if moved:
        headline = (
            f"Detectable shifts of κ relative to the base after Holm's correction over the "
            f"{n_tests} comparisons: " + "; ".join(moved) + "."
        )
    else:
        headline = (
            f"No variant shifts κ detectably at any d after Holm's correction "
            f"over the {n_tests} comparisons in this run."
        )
    body.append(headline)
    body.append(divergence_sentence(results))

    ax = plot_metric_by_level(results, "variant", "kappa")
    save_figure(ax, study.figure("freedom.png"), "Copying vs d, one factor changed at a time")
    verdict = _verdict(kept, moved)
    print(study.write_report("What moves the transition?", body, ["freedom.png"], headline,
                             verdict))  # fmt: skip


def _verdict(kept, moved: list[str]) -> tuple[str, str]:
    """The claim "limited geometric freedom sets the transition" needs a transition to move:
    inconclusive unless the base itself goes from remapping to copying
    (:func:`dimension_verdict`); then supported when some variant shifts κ detectably
    (Holm-corrected) at some d over the seed-runs that pass, not supported when none does."""
    base_verdict, evidence = dimension_verdict(kept[kept.variant == "base"])
    if base_verdict != "supported":
        return "inconclusive at this budget", (
            f"the base shows no remap → copy transition to move ({base_verdict}: {evidence})"
        )
    if moved:
        return "supported", "κ shifts detectably with: " + "; ".join(moved)
    return "not supported", "no variant shifts κ detectably after Holm's correction"


if __name__ == "__main__":
    main()

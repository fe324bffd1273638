"""Study 2 — which of (dimension, the student's start, the data geometry) moves copying?

    python studies/protocols.py --quick      # CPU: d = 2, 8, 32 × 3 protocols × 4 seeds
    python studies/protocols.py              # GPU: d up to 1024 × 4 protocols × 8 seeds

The paper's low-d experiments and its high-d ones use different protocols
(docs/science.md §1b). This study runs each protocol at every d on the convergence recipe
and the dimension study's per-d budgets:

- ``dmd2``: DMD2's (mixture world, VE, the student a copy of the teacher's weights) —
  its cells are the dimension study's first seed group, shared through the cell store;
- ``workbench``: the workbench's own (class blobs on 2-dim subspaces, rectified flow, a
  plain MLP generator regressed onto the teacher's one-step clean prediction at t = 1);
- ``regressed``: DMD2's world and noising with the workbench's start (the init alone);
- ``blobs-teacher`` (full mode): the workbench's world and noising with DMD2's start.

Copying is read with the measures that apply to each world: κ and the remap rate over
modes in the mixture world, C inside classes (and the per-sample distance ratio) in the
class-conditional one, where every class is one mode. Per protocol: the gates, the measures
per d, and a verdict on "remap in low d, copy in high d" from converged seed-runs (over the window).
Between protocols at each d: paired differences (same seeds, same world where it is
shared), Holm-corrected over the study's family.
"""

from __future__ import annotations

import pandas as pd

from _common import Study, fmt_table, parse_args
from dmdlab.analysis import (
    compare_levels,
    dimension_verdict,
    final_rows,
    mean_ci,
    runs_passing,
    within_class_verdict,
)
from dmdlab.plotting import plot_metric_by_level, save_figure
from dmdlab.presets import PROTOCOLS, STUDY_BUDGETS
from dmdlab.summary import format_summary
from dmdlab.worlds import world_of

ORDER = 2
CLAIM = "the protocol (start, data, noising), not the dimension, decides remap vs copy"
SETTLE = (
    "converged students of every protocol at d ≥ 32 (the quick budgets reach d = 8), "
    "8 seeds each, and the blobs-teacher protocol; the full mode on the GPU machine"
)

DIMS = {"smoke": [2, 4], "quick": [2, 8, 32], "full": sorted(STUDY_BUDGETS["full"])}
NAMES = {"smoke": ["dmd2", "workbench"], "quick": ["dmd2", "workbench", "regressed"],
         "full": list(PROTOCOLS)}  # fmt: skip
SEEDS = {"smoke": 2, "quick": 4, "full": 8}


def _per_protocol(kept: pd.DataFrame) -> list[str]:
    """Markdown: per protocol and d, the copying measures at the end (converged points)."""
    last = final_rows(kept)
    rows = ["| protocol | d | seeds | κ | remap share | C within classes/modes | distance "
            "ratio | onestep ratio | start alignment | init error |",
            "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (name, d), g in last.groupby(["protocol", "dim"], sort=True):
        cells = []
        for col in ("kappa", "remap_share", "copying_within", "distance_ratio", "onestep_ratio",
                    "start_alignment", "init_error"):  # fmt: skip
            m, ci, _ = mean_ci(g[col])
            cells.append("—" if m != m else f"{m:.2f} ± {ci:.2f}")
        rows.append(f"| {name} | {d} | {len(g)} | " + " | ".join(cells) + " |")
    return rows


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("protocols", args)
    study.seeds = tuple(range(SEEDS[args.mode]))
    dims = DIMS[args.mode]
    budgets = [STUDY_BUDGETS[args.mode][d] for d in dims]
    zipped = {"steps": [b[0] for b in budgets], "teacher_steps": [b[1] for b in budgets]}
    results = study.sweep("protocols", {"dim": dims, "protocol": NAMES[args.mode]},
                          zipped=zipped)  # fmt: skip
    by = ["dim", "protocol"]
    # seed-runs converged at every record of their window (docs/science.md §8b)
    converged = runs_passing(results, by=by)
    body = [
        f"Protocols {NAMES[args.mode]} at dims {dims}, {len(study.seeds)} seeds, the dimension "
        "study's per-d budgets.",
        "",
        "```",
        format_summary(results, by=by, header=f"Machine: {study.machine}"),
        "```",
        "",
        "## Copying per protocol at the end (seed-runs converged over the window)",
        "",
        *(_per_protocol(converged) if not converged.empty else ["No seed-run converged."]),
        "",
        "## Verdict per protocol (seed-runs converged over the window)",
        "",
    ]
    verdicts = {}
    for name in NAMES[args.mode]:
        rows = converged[converged.protocol == name]
        conditional = world_of(PROTOCOLS[name]["world"]).conditional
        rule = within_class_verdict if conditional else dimension_verdict
        verdicts[name] = rule(rows)
        body.append(f"- **{name}**: {verdicts[name][0]}: {verdicts[name][1]}.")
    body += ["", "## Protocols against DMD2's at each d (paired over seeds, Holm over the "
             "family)", ""]  # fmt: skip
    for metric in ("kappa", "distance_ratio", "copying_within"):
        table = compare_levels(converged, "protocol", "dmd2", metric)
        body += [f"### {metric}", "", fmt_table(table.round(3)), ""]
    differs = {name: v[0] for name, v in verdicts.items()}
    overall = _overall(differs)
    headline = "; ".join(f"{name}: {v}" for name, v in differs.items()) + f". {overall[1]}"
    figures = []
    # κ is 1 by construction in a class-conditional world: those protocols are left out
    # of the κ figure (their pairing is the distance ratio's and C_within's)
    conditional = results.world.map(lambda w: world_of(w).conditional)
    for metric, label in (("kappa", "κ (mixture-world protocols)"),
                          ("distance_ratio", "distance ratio")):  # fmt: skip
        shown = results[~conditional] if metric == "kappa" else results
        ax = plot_metric_by_level(shown, "protocol", metric)
        ax.set(ylabel=label)
        figures.append(save_figure(ax, study.figure(f"{metric}_by_protocol.png"),
                                   f"{label} per protocol against d").name)  # fmt: skip
    print(study.write_report("Protocols: the start, the data and the dimension", body, figures,
                             headline, overall))  # fmt: skip


def _overall(verdicts: dict) -> tuple[str, str]:
    """The study's verdict: supported when the dimension claim holds under one protocol
    and not under another (the protocol decides); not supported when the protocols agree
    on a definite answer; inconclusive otherwise."""
    definite = {k: v for k, v in verdicts.items() if not v.startswith("inconclusive")}
    if len(set(definite.values())) > 1:
        return "supported", f"the protocols disagree ({definite}): the protocol moves the answer"
    if len(definite) >= 2:
        return (
            "not supported",
            f"every protocol with a definite answer says {next(iter(definite.values()))}",
        )
    return "inconclusive at this budget", "fewer than two protocols give a definite answer"


if __name__ == "__main__":
    main()

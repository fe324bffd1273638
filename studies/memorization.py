"""Study 3 — is copying caused by teacher memorization? Same sweep, different real scores.

    python studies/memorization.py --quick   # CPU: d = 2, 8 × 3 seeds
    python studies/memorization.py           # GPU: the `full` dims × 8 seeds

The real score is, in turn: the exact mixture denoiser ("oracle": no memorization at
all), the trained network teacher at two training lengths (less and more converged),
and the exact denoiser of N training points ("memorize-N": a teacher that has
memorized perfectly). If memorization caused copying, κ would rise from oracle →
network → memorizing. Each teacher's own quality is reported next to κ: excess
denoiser error at σ = 1, its map's agreement with the exact map, its samples'
log-likelihood gap.

In every arm the real score and the student's start come from the same source: the
oracle and memorize-N arms use ``start="exact"`` (the student starts as the exact
denoiser of the same data the real score is exact for), the network arms start from
the network. One cross arm, "oracle/network-start", keeps the earlier design (exact
real score, network start) so the report can say which of the two changes what.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from _common import Study, comparison_sections, fmt_table, parse_args
from dmdlab.analysis import final_rows, mean_ci, runs_passing
from dmdlab.plotting import plot_metric_by_level, save_figure

# The study's entry in the report (studies/_registry.py reads these three).
ORDER = 5
CLAIM = "copying is not caused by teacher memorization"
# what would settle the claim beyond the quick mode (inputs and budgets, not results)
SETTLE = "oracle and memorizing arms at passing d ≥ 8 with ≥ 8 seeds"

DIMS = {"smoke": [2], "quick": [2, 8], "full": [2, 8, 32, 128, 512]}


def teachers(mode: str) -> dict[str, dict]:
    base_steps = {"smoke": 200, "quick": 2000, "full": 8000}[mode]
    exact = {"start": "exact"}
    kinds = {
        "oracle": {"teacher": "oracle", **exact},
        "oracle/network-start": {"teacher": "oracle"},
        f"network-{base_steps // 5}": {"teacher": "network", "teacher_steps": base_steps // 5},
        f"network-{base_steps}": {"teacher": "network", "teacher_steps": base_steps},
        "memorize-16": {"teacher": "memorizing", "memorize_n": 16, **exact},
        "memorize-256": {"teacher": "memorizing", "memorize_n": 256, **exact},
    }
    if mode == "smoke":
        kinds = {k: kinds[k] for k in ("oracle", f"network-{base_steps}")}
    return kinds


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("memorization", args)
    results = study.variants(teachers(args.mode), {"dim": DIMS[args.mode]}, column="real")

    body = [
        "The student and fake-score networks are trained on the same data as the real score "
        "(the N points for memorize-N). Which arm changes what:",
        "",
        "- oracle vs oracle/network-start: the same exact real score and map T; only the "
        "student's starting map changes (exact tilt vs the network teacher's read-out).",
        "- network-N vs oracle/network-start: the same kind of start (a network's read-out); "
        "the real score changes from the network to the exact denoiser.",
        "- memorize-N vs oracle: both start exactly at their real score; the real score "
        "changes from the mixture's denoiser to N points' (a perfectly memorizing teacher).",
        "",
        "## The real scores' own quality (final step, mean over seeds)",
        "",
    ]
    last = final_rows(results)
    cols = ["teacher_err_s1", "teacher_map_agree", "start_alignment", "teacher_loglik_gap"]
    quality = last.groupby(["dim", "real"])[cols].mean().reset_index()
    body += [
        "`teacher_err_s1` is the real score's excess denoiser error at σ = 1 relative to the "
        "optimum for the *mixture* (0 for the oracle; for a memorizing teacher it measures how "
        "far N points' denoiser is from the mixture's, which shrinks as N grows). "
        "`teacher_map_agree` is how often its ODE map picks the exact map's mode; "
        "`start_alignment` how well the student's starting tilt matches the exact one "
        "(1 for an exact start); `teacher_loglik_gap` its ODE samples' gap in nats/dim.",
        "",
        fmt_table(quality.round(4)),
        "",
    ]
    sections, headline = comparison_sections(
        results,
        "real",
        "oracle",
        lambda kind: f"the {kind} arm",
        "the oracle",
        "other arms vs the oracle",
    )
    body += sections

    _, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    plot_metric_by_level(results, "real", "kappa", ax=ax[0])
    plot_metric_by_level(results, "real", "within_mode", ax=ax[1])
    save_figure(ax, study.figure("teacher_kind.png"), "Copying by kind of real score")
    print(study.write_report("Is copying caused by teacher memorization?", body,
                             ["teacher_kind.png"], headline, _verdict(results)))  # fmt: skip


def _verdict(results) -> tuple[str, str]:
    """Over the seed-runs that pass the gates over their window: supported when, at some
    d, the oracle arm (exact real score, exact start: nothing memorized, nothing trained)
    copies: κ's 95% t-interval lies above 0. Not
    supported when the oracle arm is at chance (interval within ±0.1 of 0) while a
    memorizing arm copies. Otherwise inconclusive."""
    last = final_rows(runs_passing(results, by=["dim", "real"], converged=False))
    oracle = last[last.real == "oracle"]
    if oracle.empty:
        return "inconclusive at this budget", "the oracle arm fails the fidelity gates"
    rows = []
    for d, g in oracle.groupby("dim"):
        m, ci, n = mean_ci(g.kappa)
        rows.append((d, m, ci, n))
    hits = [r for r in rows if np.isfinite(r[2]) and r[1] - r[2] > 0]
    text = "; ".join(
        f"oracle κ = {m:.2f} ± {ci:.2f} at d = {d} ({n} seeds)" for d, m, ci, n in rows
    )
    if hits:
        return "supported", f"copying without any memorization: {text}"
    memo = last[last.real.str.startswith("memorize")]
    memo_copies = any(
        mean_ci(g.kappa)[0] - mean_ci(g.kappa)[1] > 0 for _, g in memo.groupby(["dim", "real"])
    )
    if memo_copies and all(abs(m) + ci < 0.1 for _, m, ci, _ in rows if np.isfinite(ci)):
        return "not supported", f"only memorizing teachers copy: {text}"
    return "inconclusive at this budget", text


if __name__ == "__main__":
    main()

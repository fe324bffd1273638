"""Study 3 — is copying caused by teacher memorization? Same sweep, different real scores.

    python studies/memorization.py --quick   # CPU: d = 2, 8, 32 × 3 seeds
    python studies/memorization.py           # GPU: the `full` dims × 8 seeds

The real score is, in turn: the exact mixture denoiser ("oracle": no memorization at
all), the trained network teacher at two training lengths (less and more converged),
and the exact denoiser of N training points ("memorize-N": a teacher that has
memorized perfectly). If memorization caused copying, C would rise from oracle →
network → memorizing. Each teacher's own quality is reported next to C: excess
denoiser error at σ = 1 and its samples' log-likelihood gap.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from _common import Study, comparison_sections, fmt_table, parse_args
from dmdlab.analysis import final_rows
from dmdlab.plotting import plot_metric_by_level, save_figure

DIMS = {"smoke": [2], "quick": [2, 8, 32], "full": [2, 8, 32, 128, 512]}


def teachers(mode: str) -> dict[str, dict]:
    base_steps = {"smoke": 200, "quick": 1500, "full": 8000}[mode]
    kinds = {
        "oracle": {"teacher": "oracle"},
        f"network-{base_steps // 5}": {"teacher": "network", "teacher_steps": base_steps // 5},
        f"network-{base_steps}": {"teacher": "network", "teacher_steps": base_steps},
        "memorize-16": {"teacher": "memorizing", "memorize_n": 16},
        "memorize-256": {"teacher": "memorizing", "memorize_n": 256},
    }
    if mode == "smoke":
        kinds = {k: kinds[k] for k in ("oracle", f"network-{base_steps}")}
    return kinds


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("memorization", args)
    results = study.variants(teachers(args.mode), {"dim": DIMS[args.mode]}, column="real")

    body = [
        "In every variant the student and the fake score start from the network trained on the "
        "same data (the N points for memorize-N); only the real score in the DMD gradient and "
        "the ODE map T that C is measured against change.",
        "",
        "## The real scores' own quality (final step, mean over seeds)",
        "",
    ]
    last = final_rows(results)
    quality = (
        last.groupby(["dim", "real"])[["teacher_err_s1", "teacher_loglik_gap"]].mean().reset_index()
    )
    body += [
        "`teacher_err_s1` is the excess denoiser error at σ = 1 relative to the optimum "
        "(0 for the oracle, and large for a memorizing teacher, which is exact for its N "
        "points but wrong for the distribution). `teacher_loglik_gap` is its ODE samples' "
        "gap in nats per dimension.",
        "",
        fmt_table(quality.round(4)),
        "",
    ]
    sections, headline = comparison_sections(
        results,
        "real",
        "oracle",
        lambda kind: f"the {kind} teacher",
        "the oracle",
        "other real scores vs the oracle",
    )
    body += sections

    _, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    plot_metric_by_level(results, "real", "copying", ax=ax[0])
    plot_metric_by_level(results, "real", "kappa", ax=ax[1])
    save_figure(ax, study.figure("teacher_kind.png"), "Copying by kind of real score")
    print(study.write_report("Is copying caused by teacher memorization?", body,
                             ["teacher_kind.png"], headline))  # fmt: skip


if __name__ == "__main__":
    main()

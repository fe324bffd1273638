"""Study 2 — is copying caused by the GAN term? The dimension sweep with it off and on.

    python studies/adversarial.py --quick    # CPU: d = 2, 8, 32 × 3 seeds, minutes
    python studies/adversarial.py            # GPU: the `full` dims × 8 seeds

DMD2 adds a GAN loss (generator weight 3e-3) whose discriminator shares the fake
score's trunk. Each weight is one variant of the same sweep; the report gives C per d
for each, the difference to "off" with a Welch 95% interval, and a verdict read from
that interval.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from _common import Study, comparison_sections, fmt_table, parse_args
from dmdlab.analysis import compare_levels, runs_passing
from dmdlab.plotting import plot_metric_by_level, save_figure

# The study's entry in the report (studies/_registry.py reads these three).
ORDER = 4
CLAIM = "copying is not caused by the GAN term"
# what would settle the claim beyond the quick mode (inputs and budgets, not results)
SETTLE = "the same comparison at passing d ≥ 8: calibrated budgets per d, 8 seeds"

DIMS = {"smoke": [2], "quick": [2, 8, 32], "full": [2, 8, 32, 128, 512]}
WEIGHTS = {"smoke": [0.0, 3e-3], "quick": [0.0, 3e-3, 3e-2], "full": [0.0, 3e-3, 3e-2]}


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("adversarial", args)
    variants = {f"{w:g}": {"gan_weight": w} for w in WEIGHTS[args.mode]}
    results = study.variants(variants, {"dim": DIMS[args.mode]}, column="gan")

    body, headline = comparison_sections(
        results, "gan", "0", lambda w: f"GAN weight {w}", "no GAN term", "GAN term vs none"
    )
    fid = compare_levels(results, "gan", "0", "loglik_gap")
    body += ["", "## Fidelity: log-likelihood gap per dimension (lower is better)", ""]
    body += [fmt_table(fid[["dim", "gan", "mean", "ci", "n"]].round(4)), ""]

    _, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    plot_metric_by_level(results, "gan", "kappa", ax=ax[0])
    plot_metric_by_level(results, "gan", "within_mode", ax=ax[1])
    save_figure(ax, study.figure("gan_effect.png"), "Copying with and without the GAN term")
    print(study.write_report("Is copying caused by the GAN term?", body, ["gan_effect.png"],
                             headline, _verdict(results)))  # fmt: skip


def _verdict(results) -> tuple[str, str]:
    """Over the seed-runs that pass the gates over their window: supported when, at some
    d, students without the GAN term copy (κ's 95% t-interval above 0) and no GAN weight
    shifts κ detectably there; not supported when κ without it is at chance while a GAN
    weight raises it detectably; else inconclusive."""
    kept = runs_passing(results, by=["dim", "gan"], converged=False)
    table = compare_levels(kept, "gan", "0", "kappa")
    base = table[(table.gan == "0") & (table["mean"] - table["ci"] > 0)]
    effects = table[(table.gan != "0") & table["diff"].notna()]
    shifted = effects[(effects["diff"] - effects["diff_ci"] > 0)]
    text = "; ".join(f"κ without GAN {r['mean']:.2f} ± {r['ci']:.2f} at d = {r.dim}"
                     for _, r in table[table.gan == "0"].iterrows())  # fmt: skip
    diffs = "; ".join(f"weight {r.gan}: {r['diff']:+.2f} ± {r['diff_ci']:.2f} at d = {r.dim}"
                      for _, r in effects.iterrows())  # fmt: skip
    if not base.empty and shifted.empty:
        return "supported", f"copying without the GAN term ({text}); paired effect of it: {diffs}"
    if base.empty and not shifted.empty:
        return "not supported", f"copying only with the GAN term ({text}; {diffs})"
    return "inconclusive at this budget", f"{text}; {diffs}" if text else "nothing passes"


if __name__ == "__main__":
    main()

"""Study 6 — κ over two-dimensional grids, with the transition boundary drawn on them.

    python studies/phase_diagram.py --quick   # CPU: 3 × 3 grids × 3 seeds
    python studies/phase_diagram.py           # GPU: 5 × 4 grids × 8 seeds

Two maps of the final mode agreement κ (the primary copying metric): ambient d × number
of modes K, and ambient d × intrinsic dimension m of the means (m ≤ d; cells with m > d
are left out). For each row (a K or an m) the halfway crossing d* of κ along d is
computed as in the dimension study and drawn across the heatmap; a row without a
crossing gets no point. Seed-runs failing the fidelity gates over their window are left
out of d* (and listed).
"""

from __future__ import annotations

import pandas as pd

from _common import Study, fmt_table, kept_runs, parse_args
from dmdlab.analysis import divergence_sentence, final_rows, run_gates, transition_sentence
from dmdlab.plotting import plot_heatmap, save_figure

# The study's entry in the report (studies/_registry.py reads these three).
ORDER = 8
CLAIM = "where the transition lies over d × K and d × m"
# what would settle the claim beyond the quick mode (inputs and budgets, not results)
SETTLE = "passing seed-runs at d ≥ 16 for every K and m: calibrated budgets per d"

GRIDS = {
    "smoke": {"dims": [2, 4], "K": [3], "m_dims": [2], "m": [2]},  # reuses the base programs
    "quick": {"dims": [2, 8, 32], "K": [2, 8, 32], "m_dims": [8, 16, 32], "m": [1, 4]},
    "full": {"dims": [2, 8, 32, 128, 512], "K": [2, 8, 32, 128], "m_dims": [8, 32, 128, 512],
             "m": [1, 2, 8, 32]},
}  # fmt: skip


def _map(results: pd.DataFrame, row: str, title: str, path: str) -> list[str]:
    final = final_rows(results)
    cells = final.groupby([row, "dim"]).kappa.mean().reset_index()
    kept, dropped = kept_runs(results, [row, "dim"])
    boundary, lines = {}, []
    for level, group in kept.groupby(row):
        d_star, what = transition_sentence(group, n_boot=300)
        boundary[level] = d_star
        lines.append(f"- {row} = {level}: {what}")
    gates = run_gates(results, by=[row, "dim"]).groupby([row, "dim"]).passes.all()
    failing = {key for key, ok in gates.items() if not ok}
    ax = plot_heatmap(cells, "dim", row, "kappa", boundary=pd.Series(boundary), failing=failing)
    save_figure(ax, path, title)
    labels = [
        f"{k:.2f}" + (" ✗" if (level, d) in failing else "")
        for level, d, k in zip(cells[row], cells.dim, cells.kappa, strict=True)
    ]
    table = cells.assign(kappa=labels).pivot(index=row, columns="dim", values="kappa")
    table = table.reset_index()
    table.columns = [str(c) if c == row else f"d={c}" for c in table.columns]
    note = (
        f"✗: a seed-run of the grid point fails the fidelity gates over its window "
        f"({len(failing)} of {len(cells)} points); the mean over seeds shown there includes "
        "it, and the crossings d* below use only the seed-runs that pass."
    )
    return ["", fmt_table(table), "", note, "", *dropped, *lines], [
        ln[2:].rstrip(".") for ln in lines
    ]


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    study = Study("phase_diagram", args)
    g = GRIDS[args.mode]
    by_k = study.sweep("d_x_K", {"n_modes": g["K"], "dim": g["dims"]})
    # m ≤ d: one sweep per m over the dims that can hold it
    parts = []
    for m in g["m"]:
        dims = [d for d in g["m_dims"] if d >= m]
        parts.append(study.sweep(f"d_x_m-{m}", {"dim": dims}, study.base.replace(intrinsic_dim=m)))
    by_m = pd.concat(parts, ignore_index=True)
    body = ["## Final κ over d × K (mean over seeds)"]
    text, k_lines = _map(by_k, "n_modes", "Final κ over d × K", study.figure("phase_d_x_K.png"))
    body += text
    body += ["", "## Final κ over d × intrinsic dimension m (mean over seeds)"]
    text, m_lines = _map(
        by_m, "intrinsic_dim", "Final κ over d × m", study.figure("phase_d_x_m.png")
    )
    body += text
    headline = "Halfway crossings along d: " + "; ".join(k_lines + m_lines) + "."
    body += ["", divergence_sentence(by_k, by_m)]
    print(study.write_report("Phase diagrams of copying", body,
                             ["phase_d_x_K.png", "phase_d_x_m.png"], headline))  # fmt: skip


if __name__ == "__main__":
    main()

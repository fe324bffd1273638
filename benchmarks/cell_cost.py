"""CPU seconds to a fidelity-passing cell: the default preset's cells, and cheaper variants.

    python benchmarks/cell_cost.py                   # every variant × d = 2, 8, 16; ~25 min
    python benchmarks/cell_cost.py --variants "teacher batch 512 (before)" --dims 2

Each variant changes fields of the default preset's cells (the same per-d budgets) and is
run as `make sweep` runs a cell: 3 seeds in one program, cold (the compilation cache is
not enabled here). A cell *passes* when :func:`dmdlab.analysis.fidelity_flags` has nothing
to say about it (the gates of the summary table). Printed and written to
``benchmarks/cell_cost.csv``: compile and run seconds, the multiply-adds by
``training_macs``, whether it passes (and why not), and κ and the remap rate at the last
step, so a cheaper cell that passes but answers differently is visible. Nothing here is
asserted in tests; the figures go to RESULTS.md with the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import jax
import pandas as pd

from dmdlab import SweepSpec, distill
from dmdlab.analysis import fidelity_flags, final_rows, mean_ci, remap_rate
from dmdlab.distill import training_macs
from dmdlab.presets import PRESETS

# What each variant changes in the default preset (whose teacher batch is 256 since the
# first run of this script; cost model in benchmarks/README.md):
#   teacher batch 512 — the preset before: twice the teacher's samples;
#   batch 128 — half the student's and fake score's samples per step;
#   width 64 — a quarter of the hidden layers' multiply-adds (still wider than d ≤ 16).
VARIANTS = {
    "teacher batch 512 (before)": {"teacher_batch_size": 512},
    "teacher batch 256 (default now)": {},
    "batch 128": {"teacher_batch_size": 512, "batch_size": 128},
    "width 64": {"teacher_batch_size": 512, "width": 64},
    "teacher batch 256 + batch 128": {"batch_size": 128},
    "all three": {"batch_size": 128, "width": 64},
}


def default_cells(dims=None) -> list:
    """The default preset's configs (what `make sweep` runs), optionally only ``dims``."""
    return [c for c in SweepSpec.build("default").cells() if dims is None or c.dim in dims]


def measure(config, seeds: int) -> dict:
    """One cell: timings, cost, gates and the copying answer at its last step."""
    t0 = time.perf_counter()
    table = distill(config, seeds)
    wall = time.perf_counter() - t0
    flags = fidelity_flags(table)
    last = final_rows(table)
    kappa, kappa_ci, _ = mean_ci(last.kappa.to_numpy())
    rate = remap_rate(table)
    return {
        "compile_s": table.attrs["compile_s"],
        "run_s": table.attrs["run_s"],
        "wall_s": wall,
        "macs_per_seed": training_macs(config),
        "passes": flags.empty,
        "why": "" if flags.empty else flags.why.iloc[0],
        "kappa": kappa,
        "kappa_ci": kappa_ci,
        "remap_rate": float(rate.rate.iloc[0]),
        "remap_lo": float(rate.lo.iloc[0]),
        "remap_hi": float(rate.hi.iloc[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--dims", nargs="+", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=PRESETS["default"].seeds)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("cell_cost.csv"))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__}, {jax.default_backend()}, {args.seeds} seeds")  # fmt: skip
    rows = []
    for name in args.variants:
        for base in default_cells(args.dims):
            config = base.replace(**VARIANTS[name])
            budget = {"steps": config.steps, "teacher_steps": config.teacher_steps}
            row = {"variant": name, "dim": config.dim, **budget, **measure(config, args.seeds)}
            rows.append(row)
            print(f"{name:>31} d={row['dim']:<3} compile {row['compile_s']:5.1f} s  run "
                  f"{row['run_s']:6.1f} s  {row['macs_per_seed']:.2g} MACs/seed  "
                  f"{'passes' if row['passes'] else 'FAILS: ' + row['why']}  "
                  f"κ {row['kappa']:.2f} ± {row['kappa_ci']:.2f}  remap "
                  f"{row['remap_rate']:.2f} [{row['remap_lo']:.2f}, {row['remap_hi']:.2f}]",
                  flush=True)  # fmt: skip
            pd.DataFrame(rows).to_csv(args.out, index=False)  # after each cell: resumable by eye


if __name__ == "__main__":
    main()

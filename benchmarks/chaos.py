"""How chaotic is DMD training? Twins that differ by one float ulp in the student's start.

    python benchmarks/chaos.py                       # the default preset's cells, 4 seeds
    python benchmarks/chaos.py --dims 2 8 --seeds 4 --steps 1000

For each d, every seed runs twice from the same world, teacher and keys: once as is, once
with every weight of the student's starting network moved by one ulp (``nextafter``
towards +inf). Printed per d (and written to benchmarks/chaos.csv): the first recorded
step at which the twins' κ, or their log-likelihood gap, differ by more than 0.01 (median
and range over seeds), the twins' final |Δκ| and |Δgap|, and beside them the seed-to-seed
standard deviation of the final κ and gap. When twins end as far apart as different seeds,
the seed-to-seed spread of a table is, at this budget, deterministic chaos: only the mean
over seeds carries information, and it is only statistically reproducible across machines.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dmdlab.distill import compiler_options
from dmdlab.engine import make_program
from dmdlab.environment import machine_line
from dmdlab.evaluate import metrics_table
from dmdlab.method import Hyperparams
from dmdlab.sweep import SweepSpec

HERE = Path(__file__).resolve().parent
THRESHOLD = 0.01


def _nudged(carry):
    """The start with every student weight one ulp up (the rest of the state as is)."""
    state, diverged = carry
    student = jax.tree.map(lambda p: jnp.nextafter(p, jnp.inf), state.student)
    return state._replace(student=student), diverged


def twins(config, seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The metrics tables of the seeds as they are and of their one-ulp twins."""
    program = make_program(config)
    jit = functools.partial(jax.jit, compiler_options=compiler_options(config) or None)
    setup = jit(jax.vmap(program.setup))
    run = jit(jax.vmap(program.run_from))
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
    hp = jax.tree.map(lambda v: jnp.full((len(seeds),), v), Hyperparams.of(config))
    ctx, carry = setup(keys, hp)
    tables = []
    for start in (carry, jax.vmap(_nudged)(carry)):
        out = jax.device_get(run(ctx, start, keys))
        tables.append(metrics_table(config, out, seeds))
    return tables[0], tables[1]


def separation(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the first step where κ or the gap of the twins differ by > THRESHOLD, and
    their final differences."""
    rows = []
    for seed, ga in a.groupby("seed"):
        gb = b[b.seed == seed].set_index("step")
        ga = ga.set_index("step")
        apart = (ga.kappa - gb.kappa).abs().gt(THRESHOLD) | (
            ga.loglik_gap - gb.loglik_gap
        ).abs().gt(THRESHOLD)
        first = apart[apart & (apart.index > 0)].index.min()
        last = ga.index.max()
        rows.append({"seed": seed, "first_apart": float(first) if pd.notna(first) else np.nan,
                     "d_kappa": abs(ga.kappa[last] - gb.kappa[last]),
                     "d_gap": abs(ga.loglik_gap[last] - gb.loglik_gap[last])})  # fmt: skip
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", help="default: the preset's")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps", type=int, help="override the preset's per-d steps")
    parser.add_argument("--out", type=Path, default=HERE / "chaos.csv")
    args = parser.parse_args(argv)
    grids = [f"dim={','.join(map(str, args.dims))}"] if args.dims else []
    sets = [f"steps={args.steps}"] if args.steps else []
    cells = SweepSpec.build(args.preset, sets, grids, args.seeds).cells()
    machine = machine_line()
    stamp = datetime.date.today().isoformat()
    print(f"{stamp}, {machine}")
    print("  d | init | steps | first step apart (median [min, max]) | final |Δκ| | final |Δgap| "
          "| seed-to-seed sd κ | sd gap | s")  # fmt: skip
    rows = []
    for cfg in cells:
        t0 = time.perf_counter()
        a, b = twins(cfg, list(range(args.seeds)))
        sep = separation(a, b)
        last = a[a.step == a.step.max()]
        row = {"date": stamp, "machine": machine, "dim": cfg.dim, "init": cfg.init,
               "steps": cfg.steps,
               "seeds": args.seeds, "first_apart_median": sep.first_apart.median(),
               "first_apart_min": sep.first_apart.min(), "first_apart_max": sep.first_apart.max(),
               "never_apart": int(sep.first_apart.isna().sum()),
               "d_kappa_mean": sep.d_kappa.mean(), "d_gap_mean": sep.d_gap.mean(),
               "sd_kappa": last.kappa.std(ddof=1), "sd_gap": last.loglik_gap.std(ddof=1),
               "seconds": time.perf_counter() - t0}  # fmt: skip
        rows.append(row)
        print(f"{cfg.dim:>3} | {cfg.init} | {cfg.steps:>5} | {row['first_apart_median']:.0f} "
              f"[{row['first_apart_min']:.0f}, {row['first_apart_max']:.0f}] "
              f"({row['never_apart']} never) | {row['d_kappa_mean']:.3f} | {row['d_gap_mean']:.3f} "
              f"| {row['sd_kappa']:.3f} | {row['sd_gap']:.3f} | {row['seconds']:.0f}")  # fmt: skip
    table = pd.DataFrame(rows)
    if args.out.exists():
        table = pd.concat([pd.read_csv(args.out), table], ignore_index=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()

"""Why do DMD students miss the mode weights at d ≥ 32? One factor at a time (#32).

    python benchmarks/mode_balance.py              # d = 32, 4 seeds, 2000 steps (~40 min)
    # chosen variants (by number) at d = 128, with the settled study's 8000-step teacher:
    python benchmarks/mode_balance.py --dim 128 --teacher-steps 8000 --only 10 \
        --out benchmarks/mode_balance_d128.csv

In the settled study (studies/settled.py) every d's students reach a mode histogram's total
variation of ~0.1 by step 100 and stay there to step 20 000 (the teacher's: 0.02), the
gate that fails at 93-94% of window records at d ≥ 32. Here the study's recipe (64-wide
networks, batches of 1024, 5 fake updates, teacher-weight init, the 6000-step teacher),
4 seeds, 2000 generator steps, one field changed per variant, each variant a cell of a
cell store (``--store``; its teachers trained once and shared by every variant; a cell
already there is read, not trained again). One variant is not DMD: the DMD1 regression
onto 4096 of the teacher's own ODE pairs at weight 100 (the DMD term ~1% of the loss),
which says what a one-step student of this width can hold when shown the teacher's map. Printed and
written to benchmarks/mode_balance.csv: per variant and recorded step the median over
seeds of the mode TV, the sliced W2 and the gap beside the teacher's, κ, and the cell's
wall seconds where it was computed (its metadata says on which machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import jax
import pandas as pd
from _variants import picked_variants

from dmdlab.compile_cache import enable_compilation_cache
from dmdlab.environment import machine_line
from dmdlab.presets import STUDY_BASES
from dmdlab.sweep import SweepSpec, run_sweep

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2, 3)
VARIANTS = {
    "DMD2 (the settled study's recipe)": {},
    "GAN term 3e-3 (DMD2's)": {"gan_weight": 3e-3},
    "GAN term 3e-2": {"gan_weight": 3e-2},
    "exact real score (oracle)": {"teacher": "oracle"},
    "no per-sample normaliser": {"normalize": False},
    "no per-sample normaliser, 6000 steps": {"normalize": False, "steps": 6000},
    "no per-sample normaliser, GAN term 3e-3": {"normalize": False, "gan_weight": 3e-3},
    "generator rate 1e-4": {"generator_lr": 1e-4},
    "10 fake updates per generator update": {"fake_ratio": 10},
    "not DMD: regression on 4096 teacher pairs": {
        "regression_weight": 100.0, "regression_target": "ode", "regression_pairs": 4096},
    # appended last: each variant's sweep folder is named by its number
    "no per-sample normaliser, exact real score": {"normalize": False, "teacher": "oracle"},
}  # fmt: skip
SHOWN = (100, 300, 1000, 2000, 4000, 6000)


def _rows(name: str, table: pd.DataFrame, seconds: float) -> pd.DataFrame:
    per_step = table.groupby("step").agg(
        mode_tv=("mode_tv", "median"), teacher_mode_tv=("teacher_mode_tv", "median"),
        sliced_w2=("sliced_w2", "median"), teacher_sliced_w2=("teacher_sliced_w2", "median"),
        gap=("loglik_gap", "median"), teacher_gap=("teacher_loglik_gap", "median"),
        kappa=("kappa", "median"),
    ).reset_index()  # fmt: skip
    return per_step.assign(variant=name, seconds=seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--teacher-steps", type=int, default=6000,
                        help="the settled study trains 8000 at d >= 64")  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "mode_balance.csv")
    parser.add_argument("--store", type=Path, default=HERE / ".cells",
                        help="the cell store (git-ignored)")  # fmt: skip
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated variant numbers (0 = the recipe), in VARIANTS' order",
    )
    args = parser.parse_args(argv)
    picked = picked_variants(parser, args.only, len(VARIANTS))
    enable_compilation_cache()
    stamp = datetime.date.today().isoformat()
    print(f"{stamp}, {machine_line()}")
    base = STUDY_BASES["quick"].replace(dim=args.dim, steps=args.steps,
                                        teacher_steps=args.teacher_steps, eval_every=100,
                                        eval_early_every=10, eval_early_until=300)  # fmt: skip
    rows = []
    for i, (name, changes) in enumerate(VARIANTS.items()):
        if i not in picked:
            continue
        spec = SweepSpec(base.replace(**changes), {"dim": [args.dim]}, SEEDS, {})
        table = run_sweep(spec, args.store / f"variant-{i}-d{args.dim}", plot=False,
                          progress=False, cell_store=args.store)  # fmt: skip
        cell = json.loads(next((args.store / f"variant-{i}-d{args.dim}").glob(
            "manifest.json")).read_text())["cells"][0]["id"]  # fmt: skip
        timing = json.loads((args.store / f"{cell}.json").read_text())["timing"]
        row = _rows(name, table, timing["wall_s"])  # the cell's own, stored or not
        rows.append(row)
        shown = row[row.step.isin(SHOWN)]
        shown = shown.drop(columns=["variant", "seconds"]).round(3).to_string(index=False)
        print(f"{name} ({row.seconds.iloc[0]:.0f} s)\n{shown}", flush=True)
    out = pd.concat(rows, ignore_index=True).assign(date=stamp, machine=machine_line(),
                                                     dim=args.dim)  # fmt: skip
    out.to_csv(args.out, index=False)
    print(f"wrote {args.out} ({len(out)} rows; jax {jax.__version__})")


if __name__ == "__main__":
    main()

"""What holds DMD students back? One factor at a time against the exact world (#23).

    python benchmarks/convergence.py                 # d = 8, the screen and the long runs
    python benchmarks/convergence.py --only screen   # the 1000-step screen alone (~15 min)

Every variant is DMD2 on the default preset's world at d = 8 (K = 8, s = 0.2; 128-wide
networks, a 6000-step teacher on batches of 256, teacher-weight init), 4 seeds, metrics
every 50 steps on 2048 held-out noises; one field changed per variant. Printed and written
to benchmarks/convergence.csv: per variant and recorded step the mean over seeds of the gap
(nats/dim), the teacher's, the worst and best mode's share of its weight and κ, with the
cell's seconds on this machine.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import jax
import pandas as pd

from dmdlab import distill
from dmdlab.compile_cache import enable_compilation_cache
from dmdlab.config import DMDConfig
from dmdlab.environment import machine_line

HERE = Path(__file__).resolve().parent
BASE = DMDConfig(dim=8, width=128, depth=3, teacher_steps=6000, teacher_batch_size=256,
                 eval_n=2048, eval_every=50, steps=1000)  # fmt: skip
SCREEN = {  # one factor each, 1000 generator steps
    "base (DMD2: batch 256, rate 1e-3, 5 fake updates)": {},
    "10 fake updates per generator update": {"fake_ratio": 10},
    "fake score rate 3e-4": {"fake_lr": 3e-4},
    "no per-sample normaliser": {"normalize": False},
    "batch 1024": {"batch_size": 1024},
    "generator rate 1e-4": {"generator_lr": 1e-4},
    "rates 3e-3": {"generator_lr": 3e-3, "fake_lr": 3e-3},
    "GAN term 3e-3 (DMD2's)": {"gan_weight": 3e-3},
    "exact real score (oracle)": {"teacher": "oracle"},
    "cosine decay of both rates": {"lr_schedule": "cosine"},
}
LONG = {  # the candidates that moved the gap, run on
    "base, 3000 steps": {"steps": 3000},
    "batch 1024, 4000 steps": {"batch_size": 1024, "steps": 4000},
    "batch 1024, rates 3e-3 with cosine decay, 4000 steps": {
        "batch_size": 1024, "steps": 4000, "generator_lr": 3e-3, "fake_lr": 3e-3,
        "lr_schedule": "cosine"},
}  # fmt: skip


def _row(name: str, table: pd.DataFrame, seconds: float) -> pd.DataFrame:
    per_step = table.groupby("step").agg(
        gap=("loglik_gap", "mean"), cov_min=("coverage_min", "mean"),
        cov_max=("coverage_max", "mean"), kappa=("kappa", "mean"),
        teacher_gap=("teacher_loglik_gap", "mean"),
    ).reset_index()  # fmt: skip
    return per_step.assign(variant=name, seconds=seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("screen", "long"))
    parser.add_argument("--out", type=Path, default=HERE / "convergence.csv")
    args = parser.parse_args(argv)
    enable_compilation_cache()
    stamp = datetime.date.today().isoformat()
    print(f"{stamp}, {machine_line()}")
    groups = {"screen": SCREEN, "long": LONG}
    rows = []
    for group, variants in groups.items():
        if args.only and args.only != group:
            continue
        for name, changes in variants.items():
            t0 = time.perf_counter()
            table = distill(BASE.replace(**changes), 4)
            row = _row(name, table, time.perf_counter() - t0).assign(group=group)
            rows.append(row)
            end = row.iloc[-1]
            print(f"{group:6} | {name:55} | step {int(end.step):5} | gap {end.gap:.2f} "
                  f"(teacher {end.teacher_gap:.2f}) | modes {end.cov_min:.2f}-{end.cov_max:.2f}"
                  f" | κ {end.kappa:.2f} | {row.seconds.iloc[0]:.0f} s", flush=True)  # fmt: skip
    out = pd.concat(rows, ignore_index=True).assign(date=stamp, machine=machine_line())
    out.to_csv(args.out, index=False)
    print(f"wrote {args.out} ({len(out)} rows; jax {jax.__version__})")


if __name__ == "__main__":
    main()

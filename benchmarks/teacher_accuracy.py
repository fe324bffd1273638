"""Teacher accuracy per σ band for {edm, learned skip} × {samples, exact targets} × d.

    python benchmarks/teacher_accuracy.py                 # d = 2 … 512, ~10 min on 2 cores
    python benchmarks/teacher_accuracy.py --dims 2 8      # a subset

Prints a markdown table and writes ``benchmarks/teacher_accuracy.csv``. Each row is one
teacher (seed 0, K = 8, s = 0.2, width 256, depth 3, batch 512) trained for ``--steps``:
its excess denoiser error relative to the optimum at each σ band (0 = exact), its error
at σ_max relative to the z-dependent signal there (:func:`dmdlab.metrics.sigma_max_error`),
how often its ODE map puts a noise in the same mode as the exact map (``map_agree``),
and the seconds its training took (compile excluded). ``sigma`` is the training σ
distribution: "edm" (log-normal + log-uniform) or "focused" (plus the band where modes
are decided, :func:`dmdlab.teachers.mode_sigma`, and σ_max itself).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dmdlab.compile_cache import enable_compilation_cache
from dmdlab.metrics import denoiser_error, mode_agreement, sigma_max_error
from dmdlab.mixture import GaussianMixture
from dmdlab.networks import NetSpec
from dmdlab.ode import teacher_map
from dmdlab.teachers import mode_sigma, train_network_teacher

BANDS = (0.1, 0.5, 1.0, 2.0, 5.0, 20.0)
VARIANTS = [  # (skip, target, σ distribution)
    ("edm", "samples", "edm"),  # the old teacher
    ("edm", "samples", "focused"),
    ("edm", "exact", "focused"),
    ("learned", "samples", "focused"),
    ("learned", "exact", "focused"),  # the new default
]


def measure(dim: int, skip: str, target: str, sigma: str, steps: int) -> dict:
    key = jax.random.key(0)
    mix = GaussianMixture.random(jax.random.fold_in(key, 1), dim, 8, 0.2)
    spec = NetSpec(dim, 256, 3, skip=skip)
    train = jax.jit(
        lambda k: train_network_teacher(
            k, mix, spec, steps=steps, batch_size=512, target=target, sigma_dist=sigma
        )[0]
    )
    compiled = train.lower(key).compile()
    t0 = time.perf_counter()
    teacher = jax.block_until_ready(compiled(key))
    seconds = time.perf_counter() - t0
    k_err, k_z = jax.random.split(jax.random.fold_in(key, 2))
    errs = np.asarray(denoiser_error(teacher, mix, k_err, BANDS, n=2048))
    z = jax.random.normal(k_z, (1024, dim))
    t_net = jax.jit(lambda t: teacher_map(t, z, steps=100))(teacher)
    t_exact = teacher_map(mix.denoise, z, steps=100)
    agree, _ = mode_agreement(mix, t_net, t_exact)
    row = {"dim": dim, "skip": skip, "target": target, "sigma": sigma, "steps": steps}
    row.update({f"err_s{s:g}": float(e) for s, e in zip(BANDS, errs, strict=True)})
    row["err_smax_signal"] = float(sigma_max_error(teacher, mix, z))
    row["map_agree"] = float(agree)
    row["sigma_mode"] = float(mode_sigma(mix))
    row["train_s"] = seconds
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8, 32, 128, 512])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".csv"))
    args = parser.parse_args()
    enable_compilation_cache()
    rows = []
    for dim in args.dims:
        for skip, target, sigma in VARIANTS:
            rows.append(measure(dim, skip, target, sigma, args.steps))
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()})
            pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    print(f"\nMachine: {platform.machine()}, {jax.devices()[0].device_kind}, jax {jax.__version__}")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    jnp.zeros(1)  # initialise the backend before timing anything
    main()

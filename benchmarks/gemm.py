"""What this machine's XLA can do in f32 matmuls, and what fraction of it dmdlab reaches.

    python benchmarks/gemm.py                 # ~2 min on 2 CPU cores
    python benchmarks/gemm.py --sizes 1024 4096 --dmd-seeds 1 8

Prints (1) the attainable f32 rate of a plain square GEMM through XLA (jit of a @ b) at a
few sizes, (2) the rate at the networks' own layer shape (batch 256 × width 256 @ 256 × 256),
and (3) dmdlab's achieved rate: generator steps of a fused DMD program (vmapped over seeds)
counted with the cost model of benchmarks/README.md, divided by the run time (compile
excluded). Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp

from dmdlab import DMDConfig, Hyperparams, make_train


def _time(fn, *args, reps: int) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm
    t0 = time.perf_counter()
    for _ in range(reps):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / reps


def matmul_rate(m: int, k: int, n: int, reps: int) -> float:
    """GFLOP/s of an (m, k) @ (k, n) f32 product through XLA."""
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (m, k), jnp.float32)
    b = jax.random.normal(kb, (k, n), jnp.float32)
    seconds = _time(jax.jit(jnp.matmul), a, b, reps=reps)
    return 2 * m * k * n / seconds / 1e9


def model_gflop_per_step(cfg: DMDConfig) -> float:
    """Generator-step FLOPs (one seed) from the cost model of benchmarks/README.md."""
    w, d, depth, b = cfg.width, cfg.dim, cfg.depth, cfg.batch_size
    forward = 2 * b * (2 * d * w + (depth - 1) * w * w + 32 * depth * w)
    return (4 * cfg.fake_ratio + 5) * forward / 1e9


def dmdlab_rate(d: int, width: int, seeds: int, steps: int) -> tuple[float, float]:
    """(achieved GFLOP/s, run seconds) of ``steps`` fused generator steps × ``seeds``."""
    cfg = DMDConfig(dim=d, width=width, steps=steps, eval_every=steps, teacher_steps=20,
                    ode_steps=8, eval_n=64)  # fmt: skip
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds, dtype=jnp.uint32))
    hp = jax.tree.map(lambda v: jnp.full((seeds,), v), Hyperparams.of(cfg))
    compiled = jax.jit(jax.vmap(make_train(cfg))).lower(keys, hp).compile()
    seconds = _time(compiled, keys, hp, reps=1)
    return model_gflop_per_step(cfg) * steps * seeds / seconds, seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--dmd-d", type=int, default=8)
    parser.add_argument("--dmd-width", type=int, default=256)
    parser.add_argument("--dmd-seeds", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--dmd-steps", type=int, default=100)
    args = parser.parse_args(argv)
    dev = jax.devices()[0]
    print(f"# {platform.machine()}, {dev.platform} ({dev.device_kind}), jax {jax.__version__}")
    print("\n| product | GFLOP/s |\n|---|---|")
    best = 0.0
    for n in args.sizes:
        rate = matmul_rate(n, n, n, reps=max(2, int(4e9 / (2 * n**3))))
        best = max(best, rate)
        print(f"| square GEMM {n}³ | {rate:.1f} |")
    w = args.dmd_width
    layer = matmul_rate(256, w, w, reps=2000)
    print(f"| network layer 256×{w} @ {w}×{w} | {layer:.1f} |")
    print(f"\nattainable (best square GEMM): {best:.1f} GFLOP/s")
    print("\n| dmdlab d | width | seeds | fused run (s) | GFLOP/s (cost model) | "
          "fraction of best GEMM |\n|---|---|---|---|---|---|")  # fmt: skip
    for s in args.dmd_seeds:
        rate, seconds = dmdlab_rate(args.dmd_d, w, s, args.dmd_steps)
        print(f"| {args.dmd_d} | {w} | {s} | {seconds:.2f} | {rate:.1f} | {rate / best:.0%} |")


if __name__ == "__main__":
    main()

"""dmdlab benchmark: DMD generator steps, S seeds fused vs a per-step Python loop; ODE map.

    make bench                                       # the CPU-sized grid below
    python benchmarks/bench.py --dims 2 64 512 2048 --seeds 1 8 64 --steps 50   # GPU grid
    python benchmarks/bench.py --dims 512 2048 --seeds 8 64 --dtypes float32 bfloat16

For each d and S it prints, for the same workload (``steps`` DMD generator steps, each
after ``fake_ratio`` fake-score updates, per seed; teacher training and evaluation
excluded and done once beforehand):

* fused: one program, ``jit(vmap(scan(step)))`` over S seeds — how dmdlab trains;
* loop: for each seed, a Python loop calling ``jit(step)`` once per step with donated
  state, the way most research code is written; "loop+sync" also fetches the loss to
  the host every step (what per-step logging costs);

with compile times, generator steps per second per seed, seed-steps per second in
total, the loop/fused time ratio, the compiled program's memory (arguments + outputs +
temporaries, from XLA) and, on GPU, the device's peak bytes in use. Achieved GFLOP/s
use the cost model of benchmarks/README.md. Then the teacher ODE map's samples/s.

Speed is measured here and recorded in RESULTS.md with the machine, never asserted
in tests.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp

from dmdlab import DMDConfig, GaussianMixture, Hyperparams, teacher_map
from dmdlab.engine import make_program


def model_gflop_per_step(cfg: DMDConfig) -> float:
    """Generator-step FLOPs (one seed) from the README's cost model, in GFLOP."""
    w, d, depth, b = cfg.width, cfg.dim, cfg.depth, cfg.batch_size
    forward = 2 * b * (2 * d * w + (depth - 1) * w * w + 32 * depth * w)
    return (4 * cfg.fake_ratio + 5) * forward / 1e9


def _memory(compiled) -> str:
    try:
        m = compiled.memory_analysis()
        total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
        return f"{total / 2**20:.0f} MiB"
    except Exception:  # not every backend reports it
        return "n/a"


def _peak() -> str:
    stats = jax.local_devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return f"{peak / 2**20:.0f} MiB" if peak else "n/a"


def _take(tree, i):
    """Seed i of a vmapped pytree (a fresh copy, so donating it is safe)."""
    return jax.tree.map(lambda x: x[i], tree)


def bench_steps(d: int, seed_counts: list[int], steps: int, width: int, loop_max: int,
                dtype: str = "float32") -> None:  # fmt: skip
    """Print one table: fused vs looped generator steps at each seed count S."""
    cfg = DMDConfig(dim=d, width=width, steps=steps, eval_every=steps, teacher_steps=20,
                    ode_steps=8, eval_n=64, matmul_dtype=dtype)  # fmt: skip
    program = make_program(cfg)
    gflop = model_gflop_per_step(cfg)
    print(f"\nd={d}, width={width}, {dtype} products: {gflop:.2f} GFLOP per generator step "
          "per seed (model)")  # fmt: skip
    print("  S | compile fused/loop (s) | fused s | loop s | loop+sync s | loop/fused "
          "| gen-steps/s/seed | seed-steps/s | GFLOP/s | program mem | peak")  # fmt: skip

    def fused(ctx, state, indices, keys):
        def body(st, inp):
            st, losses = program.step(ctx, st, *inp)
            return st, losses

        return jax.lax.scan(body, state, (indices, keys))

    fused_fn = jax.jit(jax.vmap(fused), donate_argnums=1)
    step_fn = jax.jit(program.step, donate_argnums=1)
    for s in seed_counts:
        keys = jax.vmap(jax.random.key)(jnp.arange(s, dtype=jnp.uint32))
        hp = jax.tree.map(lambda v, s=s: jnp.full((s,), v), Hyperparams.of(cfg))
        ctx, state = jax.block_until_ready(jax.jit(jax.vmap(program.setup))(keys, hp))
        indices, step_keys = jax.vmap(program.schedule)(keys)

        t0 = time.perf_counter()
        compiled = fused_fn.lower(ctx, state, indices, step_keys).compile()
        t_compile = time.perf_counter() - t0
        mem = _memory(compiled)
        fresh = jax.tree.map(jnp.copy, state)
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(ctx, fresh, indices, step_keys))
        t_fused = time.perf_counter() - t0

        # the loop: compile once (first call), then time whole seeds
        c0, s0 = _take((ctx, state), 0)
        t0 = time.perf_counter()
        step_c = step_fn.lower(c0, s0, indices[0, 0], step_keys[0, 0]).compile()
        t_compile_loop = time.perf_counter() - t0
        n_loop = min(s, loop_max)  # the loop's cost is linear in S: time n_loop seeds
        times = {}
        for sync in (False, True):
            t0 = time.perf_counter()
            for i in range(n_loop):
                c_i, st = _take((ctx, state), i)
                for j in range(steps):
                    st, losses = step_c(c_i, st, indices[i, j], step_keys[i, j])
                    if sync:
                        float(losses[0])  # per-step logging: a device→host transfer
                jax.block_until_ready(st)
            times[sync] = (time.perf_counter() - t0) * s / n_loop
        scaled = "" if n_loop == s else f" (×{s / n_loop:.0f} from {n_loop})"
        rate = steps / t_fused
        print(f"  {s} | {t_compile:.1f}/{t_compile_loop:.1f} | {t_fused:.2f} | "
              f"{times[False]:.2f}{scaled} | {times[True]:.2f} | {times[False] / t_fused:.2f}x | "
              f"{rate:.1f} | {rate * s:.0f} | {gflop * rate * s:.0f} | {mem} | {_peak()}",
              flush=True)  # fmt: skip


def bench_ode(d: int, n: int, steps: int) -> float:
    """Samples per second of the Heun teacher map with the exact mixture denoiser."""
    mix = GaussianMixture.random(jax.random.key(0), d, 8)
    z = jax.random.normal(jax.random.key(1), (n, d))
    fn = jax.jit(lambda z: teacher_map(mix.denoise, z, steps=steps))
    jax.block_until_ready(fn(z))
    t0 = time.perf_counter()
    jax.block_until_ready(fn(z))
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 64, 512])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=20, help="generator steps per seed")
    parser.add_argument("--widths", type=int, nargs="+", default=[256])
    parser.add_argument(
        "--loop-max", type=int, default=8, help="loop over at most this many seeds; scale up"
    )
    parser.add_argument("--ode-dims", type=int, nargs="*", default=[2, 64, 512])
    parser.add_argument(
        "--dtypes",
        nargs="+",
        default=["float32"],
        choices=["float32", "bfloat16"],
        help="matmul_dtype of the networks (bfloat16: bf16 products, f32 parameters)",
    )
    args = parser.parse_args()
    dev = jax.local_devices()[0]
    print(f"# {time.strftime('%Y-%m-%d')}, jax {jax.__version__}, {dev.platform}/"
          f"{dev.device_kind} × {jax.local_device_count()}, host {platform.machine()} "
          f"{platform.processor()}")  # fmt: skip
    print(f"# DMD steps: batch 256, depth 3, fake ratio 5, {args.steps} generator steps per seed")
    for dtype in args.dtypes:
        for width in args.widths:
            for d in args.dims:
                bench_steps(d, args.seeds, args.steps, width, args.loop_max, dtype)
    if args.ode_dims:
        print("\nteacher ODE map, exact denoiser, K = 8, n = 4096: d | Heun steps | samples/s")
    for d in args.ode_dims:
        for n_steps in (40, 200):
            print(f"  {d} | {n_steps} | {bench_ode(d, 4096, n_steps):.0f}", flush=True)


if __name__ == "__main__":
    main()

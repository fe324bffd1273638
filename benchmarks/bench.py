"""dmdlab benchmark: S seeds in one vectorized program vs S separate runs; the ODE map.

    make bench                      # CPU-sized (d = 8)
    python benchmarks/bench.py --dims 8 128 --seeds 1 8 32

Prints figures; records nothing by itself (copy them into benchmarks/RESULTS.md with the
machine and date). Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

from dmdlab import DMDConfig, GaussianMixture, run_seeds, teacher_map


def _timed_run(config: DMDConfig, seeds: list[int]) -> float:
    """Seconds for one already-compiled run of ``seeds`` (compiles and warms up first)."""
    run_seeds(config, seeds)
    return run_seeds(config, seeds)[1]["run_s"]


def bench_seeds(d: int, seed_counts: list[int], steps: int) -> None:
    cfg = DMDConfig(dim=d, steps=steps, eval_every=steps, teacher_steps=500, ode_steps=40)
    one = _timed_run(cfg, [0])
    print(f"d={d}: one seed, {steps} generator steps (+500 teacher steps): {one:.2f} s")
    print("  S, vectorized_s, separate_runs_s (S × one), speedup, seed-gen-steps/s")
    for s in seed_counts:
        vec = _timed_run(cfg, list(range(s)))
        print(f"  {s}, {vec:.2f}, {s * one:.2f}, {s * one / vec:.1f}x, {s * steps / vec:.0f}",
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
    parser.add_argument("--dims", type=int, nargs="+", default=[8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    dev = jax.local_devices()[0]
    print(f"# {time.strftime('%Y-%m-%d')}, jax {jax.__version__}, {dev.platform}/"
          f"{dev.device_kind} × {jax.local_device_count()}, host {platform.machine()}")  # fmt: skip
    for d in args.dims:
        bench_seeds(d, args.seeds, args.steps)
    print("teacher ODE map, exact denoiser, K = 8, n = 1024: d, Heun steps, samples/s")
    for d in args.dims:
        for n_steps in (40, 200):
            print(f"  {d}, {n_steps}, {bench_ode(d, 1024, n_steps):.0f}", flush=True)


if __name__ == "__main__":
    main()

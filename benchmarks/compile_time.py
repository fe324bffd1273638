"""Compile vs run time of whole dmdlab programs at XLA's default optimisation level and
at level 0, for the configs that decide the test suite's and the sweep's wall time.

    python benchmarks/compile_time.py             # tiny preset d=8; default preset d=8

Prints, per config: its training multiply-adds (``dmdlab.distill.training_macs``), then
compile and run seconds at each level for 2 seeds (one program; cold, since dmdlab's
compilation cache is not enabled here), and the level ``compiler_options`` picks for it.
Numbers go to RESULTS.md with the machine; nothing here is asserted in tests.
"""

from __future__ import annotations

import os
import platform
import time

import jax
import jax.numpy as jnp

from dmdlab import Hyperparams, make_train
from dmdlab.distill import compiler_options, training_macs
from dmdlab.presets import PRESETS


def measure(config, level: int | None, seeds: int = 2) -> tuple[float, float]:
    """(compile s, run s) of ``config``'s vmapped program over ``seeds`` seeds."""
    options = None if level is None else {"xla_backend_optimization_level": level}
    train = jax.jit(jax.vmap(make_train(config)), compiler_options=options)
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds, dtype=jnp.uint32))
    hp = jax.tree.map(lambda v: jnp.full((seeds,), v), Hyperparams.of(config))
    t0 = time.perf_counter()
    compiled = train.lower(keys, hp).compile()
    t1 = time.perf_counter()
    jax.block_until_ready(compiled(keys, hp))
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__}, {jax.default_backend()}")  # fmt: skip
    for name in ("tiny", "default"):
        config = PRESETS[name].base.replace(dim=8)
        picked = compiler_options(config).get("xla_backend_optimization_level", "default")
        print(f"{name} d=8: {training_macs(config):.2g} multiply-adds/seed; picks level {picked}")
        for level in (None, 0):
            c, r = measure(config, level)
            label = "default" if level is None else str(level)
            print(f"  level {label:>7}: compile {c:6.1f} s   run {r:6.1f} s   total {c + r:6.1f} s")


if __name__ == "__main__":
    main()

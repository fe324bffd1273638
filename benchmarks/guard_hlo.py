"""The divergence guard's cost in compiled code, and what a cheaper guard would change.

    python benchmarks/guard_hlo.py          # tiny preset, d = 2, 2 seeds

Prints, for one vmapped generator step (``make_program(config).step``) and the whole
``train`` program: optimised-HLO lines and compile seconds with the guard as it is (one
``jnp.all`` per leaf, then their ``and``), with a single reduction over every float value,
and (the step only) the method's step without the guard. Then, per method, whether the
single reduction trains bit-identical students (2 seeds, the preset's 40 steps). Figures go
to RESULTS.md with the machine and date; nothing here is asserted in tests.
"""

from __future__ import annotations

import datetime
import time

import jax
import jax.numpy as jnp
import numpy as np

import dmdlab.engine as engine
from dmdlab import Hyperparams
from dmdlab.compile_cache import release_programs
from dmdlab.distill import compiler_options, run_seeds
from dmdlab.environment import machine_line
from dmdlab.method import Setting
from dmdlab.methods import check, get_method
from dmdlab.presets import PRESETS

CURRENT = engine._all_finite


def one_reduction(tree) -> jax.Array:
    """Every float value's finiteness in one reduction (integer leaves are always finite)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.isfinite(jnp.concatenate([jnp.ravel(x) for x in leaves])))


def _compiled(fn, options, *args) -> tuple[int, float]:
    t = time.perf_counter()
    text = jax.jit(fn, compiler_options=options).lower(*args).compile().as_text()
    return len(text.splitlines()), time.perf_counter() - t


def sizes(config) -> None:
    """HLO lines and compile seconds of the vmapped step and train, per guard."""
    program, hp = engine.make_program(config), Hyperparams.of(config)
    keys = jax.vmap(jax.random.key)(jnp.arange(2, dtype=jnp.uint32))
    hps = jax.vmap(lambda _: hp)(keys)
    options = compiler_options(config)
    ctx, carry = jax.jit(jax.vmap(program.setup))(keys, hps)
    setting, method = Setting.of(check(config)), get_method(config.method)
    raw = jax.vmap(lambda cx, ca, k: method.step(setting, cx, ca[0], k))
    print(f"{'guard':<16} {'step lines':>10} {'step s':>7} {'train lines':>11} {'train s':>8}")
    lines, secs = _compiled(raw, options, ctx, carry, keys)
    print(f"{'none (raw step)':<16} {lines:>10} {secs:>7.1f} {'-':>11} {'-':>8}")
    for name, check_fn in (("per leaf (now)", CURRENT), ("one reduction", one_reduction)):
        engine._all_finite = check_fn
        step = jax.vmap(lambda cx, ca, k: program.step(cx, ca, 1, k))
        s_lines, s_secs = _compiled(step, options, ctx, carry, keys)
        t_lines, t_secs = _compiled(jax.vmap(program.train), options, keys, hps)
        print(f"{name:<16} {s_lines:>10} {s_secs:>7.1f} {t_lines:>11} {t_secs:>8.1f}")
    engine._all_finite = CURRENT


def identical(base) -> None:
    """Per method: are the students of the two guards bit-identical?"""
    for method in ("dmd2", "sid", "consistency"):
        config = base.replace(method=method)
        samples = []
        for check_fn in (CURRENT, one_reduction):
            release_programs()  # else the second guard would reuse the first's program
            engine._all_finite = check_fn
            out, _ = run_seeds(config, [0, 1])
            samples.append(np.asarray(out.student_samples))
        engine._all_finite = CURRENT
        diff = np.abs(samples[0] - samples[1])
        first = next((i for i in range(diff.shape[1]) if diff[:, i].max() > 0), None)
        where = "" if first is None else f" (first differs at record {first}, max {diff.max():.1e})"
        print(f"{method}: bit-identical {first is None}{where}")


if __name__ == "__main__":
    print(f"{datetime.date.today().isoformat()}, {machine_line()}")
    tiny = PRESETS["tiny"].base.replace(dim=2)
    sizes(tiny)
    identical(tiny)

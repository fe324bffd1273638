"""The DMD engine's programs: the regression term, stepping the pieces from Python, the
exact-start control and the compile-level choice (split from test_dmd.py so the two halves
run on different test workers)."""

import functools

import jax
import numpy as np
import pytest

from dmdlab import Hyperparams, distill
from dmdlab.distill import compiler_options, training_macs
from dmdlab.presets import PRESETS

TINY = PRESETS["tiny"].base.replace(dim=4)  # a 32-wide net, 40 steps: seconds


def test_regression_term_drives_copying_to_one():
    cfg = TINY.replace(dim=8, steps=200, eval_every=100, regression_weight=50.0)
    table = distill(cfg, [0])
    end = table[table.step == 200].copying.iloc[0]
    assert end > 0.9


def test_per_step_loop_reproduces_the_fused_training():
    """``make_program``'s pieces, stepped from Python, give train()'s student."""
    from dmdlab.engine import make_program

    cfg = TINY.replace(steps=6, eval_every=6)
    program = make_program(cfg)
    key, hp = jax.random.key(3), Hyperparams.of(cfg)
    jit = functools.partial(jax.jit, compiler_options=compiler_options(cfg) or None)
    fused = jit(program.train)(key, hp)
    ctx, state = jit(program.setup)(key, hp)
    step = jit(program.step)
    for index, k in zip(*program.schedule(key), strict=True):
        state, _ = step(ctx, state, index, k)
    samples, _ = jit(program.record)(ctx, state)
    np.testing.assert_allclose(samples, fused.student_samples[-1], rtol=1e-5, atol=1e-5)
    assert int(state[1]) == int(fused.diverged_step) == -1


def test_exact_start_begins_at_the_exact_sigma_max_denoiser():
    """docs/science.md §5b's control: same network, same gradients, but G₀ = D_exact(σ_max z)."""
    from dmdlab.engine import make_program

    cfg = TINY.replace(start="exact", teacher_steps=50)
    program = make_program(cfg)
    jit = functools.partial(jax.jit, compiler_options=compiler_options(cfg) or None)
    ctx, state = jit(program.setup)(jax.random.key(0), Hyperparams.of(cfg))
    samples, _ = jit(program.record)(ctx, state)
    exact = ctx.mixture.denoise(cfg.sigma_max * ctx.z_eval, cfg.sigma_max)
    np.testing.assert_allclose(samples, exact, rtol=1e-5, atol=1e-5)
    assert float(ctx.start.start_alignment) == pytest.approx(1.0, abs=1e-5)
    # the network start (50 teacher steps) is far from it: the control changes something
    net = make_program(cfg.replace(start="network"))
    ctx_n, _ = jit(net.setup)(jax.random.key(0), Hyperparams.of(cfg))
    assert float(ctx_n.start.start_alignment) < 0.99


def test_small_programs_compile_at_level_zero_on_cpu():
    """Compile-bound configs get XLA level 0; the sweep-sized ones keep the default."""
    small, big = PRESETS["tiny"].base, PRESETS["default"].base
    on_cpu = jax.default_backend() == "cpu"  # other backends keep XLA's default
    assert compiler_options(small) == ({"xla_backend_optimization_level": 0} if on_cpu else {})
    assert compiler_options(big) == {}
    assert training_macs(big) > 100 * training_macs(small)

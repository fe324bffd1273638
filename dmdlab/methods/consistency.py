"""Consistency distillation (CD; Song et al. 2023, Algorithm 2) as pure functions: the
copying = 1 reference, since it pairs noise with data *by construction* (it learns the
teacher's ODE map itself).

The student f_θ is the denoiser network (its one-step read-out, like DMD's student, is
f_θ(σ_max z, σ_max)); EDM's c_skip/c_out already give f(x, σ_min) ≈ x (c_skip = 1 − 4·10⁻⁶,
c_out = 0.002 at σ_min = 0.002), the boundary condition CD's own parametrisation imposes
exactly. Each step: data x₀ (the real score's data), a level pair σ_n < σ_{n+1} of a
``cd_levels``-point Karras discretisation (t-levels under flow), x_{n+1} = x₀ + σ_{n+1} ε,
one Heun step of the *teacher's* ODE down to σ_n, and the loss ‖f_θ(x_{n+1}, σ_{n+1}) −
f_θ⁻(x̂_n, σ_n)‖² against the EMA target θ⁻ (decay ``cd_ema``; 0.95 in CD at N = 18).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dmdlab.config import DMDConfig
from dmdlab.method import (
    Context,
    Method,
    Setting,
    batch_classes,
    no_dmd2_terms,
    optimizer,
    real_denoiser,
    student_denoiser,
)
from dmdlab.ode import karras_sigmas

__all__ = ["CONSISTENCY", "ConsistencyState", "levels", "step"]


class ConsistencyState(NamedTuple):
    """The student, its EMA target and the student's optimizer state."""

    student: object
    target: object
    student_opt: object


def levels(setting: Setting) -> jax.Array:
    """The discretisation (cd_levels,), ascending: Karras σ from σ_min to σ_max (VE), or
    the same σ's as flow t's."""
    c, noising = setting.config, setting.noising
    sigmas = karras_sigmas(c.cd_levels, c.sigma_max, 0.002)[::-1]
    return sigmas if c.parametrization == "ve" else noising.level_of_sigma(sigmas)


def _optimizer(setting: Setting, ctx: Context):
    return optimizer(setting, ctx.hp.generator_lr)


def init(setting: Setting, ctx: Context, student0) -> ConsistencyState:
    """The student and its target both from the student's starting weights."""
    return ConsistencyState(student0, student0, _optimizer(setting, ctx).init(student0))


def heun_step(denoise, x, level, level_next):
    """One Heun step of the probability-flow ODE dx/dl = (x − D(x, l))/l from ``level``
    to ``level_next`` (both (n,)): the same form for σ (VE) and t (flow)."""
    lo, hi = level_next[:, None], level[:, None]
    d = (x - denoise(x, level)) / hi
    x_euler = x + (lo - hi) * d
    d_next = (x_euler - denoise(x_euler, level_next)) / lo
    return x + (lo - hi) * 0.5 * (d + d_next)


def step(setting: Setting, ctx: Context, state: ConsistencyState, key):
    """One consistency-distillation update; returns (state, losses)."""
    c, noising = setting.config, setting.noising
    k_x, k_n, k_eps = jax.random.split(key, 3)
    grid = levels(setting)
    labels = batch_classes(setting, key, c.batch_size)
    # 1. data samples and a random adjacent pair of levels per sample
    x0 = (
        ctx.data.sample(k_x, c.batch_size) if labels is None else ctx.data.sample_given(k_x, labels)
    )
    n = jax.random.randint(k_n, (c.batch_size,), 0, c.cd_levels - 1)
    lo, hi = grid[n], grid[n + 1]
    x_hi = noising.noised(x0, jax.random.normal(k_eps, x0.shape), hi)
    # 2. one Heun step of the teacher's ODE from the higher level to the lower
    real = real_denoiser(setting, ctx)
    x_lo = jax.lax.stop_gradient(heun_step(lambda y, s: real(y, s, labels), x_hi, hi, lo))
    # 3. the EMA target's output at the lower level, the student's at the higher
    target = jax.lax.stop_gradient(student_denoiser(setting, ctx, state.target)(x_lo, lo, labels))

    def loss(params):
        out = student_denoiser(setting, ctx, params)(x_hi, hi, labels)
        return jnp.mean(jnp.sum((out - target) ** 2, -1))

    value, grads = jax.value_and_grad(loss)(state.student)
    updates, student_opt = _optimizer(setting, ctx).update(grads, state.student_opt, state.student)
    student = optax.apply_updates(state.student, updates)
    # 4. the target follows the student slowly
    mu = ctx.hp.cd_ema
    target = jax.tree.map(lambda t, s: mu * t + (1 - mu) * s, state.target, student)
    return ConsistencyState(student, target, student_opt), {"consistency_loss": value}


def _passes(config: DMDConfig) -> float:
    """Per step and sample: the student's forward and backward (≈ 3 passes), the target's
    forward and the teacher's two Heun evaluations."""
    return 6.0


def _check(config) -> list[str]:
    errors = no_dmd2_terms(config)
    if config.generator != "denoiser":  # f reads every level: a one-step MLP has none
        errors.append(f"generator={config.generator!r} is invalid: allowed 'denoiser' with "
                      "method='consistency' (f reads every level)")  # fmt: skip
    return errors


CONSISTENCY = Method(
    name="consistency",
    init=init,
    step=step,
    student=lambda state: state.student,
    record=lambda setting, ctx, state: {},
    passes=_passes,
    losses_filled=("consistency_loss",),
    records_filled=(),
    check=_check,
)

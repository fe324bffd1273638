"""Score identity Distillation (SiD; Zhou et al. 2024) as pure functions.

The fake score is DMD2's (:mod:`dmdlab.methods.fake_score`: ``fake_ratio`` denoising
updates on the student's samples per generator step; SiD's own loop alternates them
1:1, a config choice here so that the methods compare at one fake-score budget). The
generator's loss is SiD's score-identity (Fisher divergence) form, with the gradient taken
*through* x_t into both denoisers (their weights frozen), not DMD's stop-gradient
direction:

    L = mean[(D_real(x_t) − D_fake(x_t)) · ((D_real(x_t) − x) − α (D_real(x_t) − D_fake(x_t)))] / w

x = G_θ(z), x_t = x + σ ε, w = sg(mean|x − D_real(x_t)|) per sample (SiD's normaliser),
α = ``sid_alpha`` (1.2 in SiD), σ from the generator's range of the grid. At a fake
score equal to the real one the loss and its gradient are zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from dmdlab.config import DMDConfig
from dmdlab.method import (
    Context,
    Method,
    Setting,
    no_dmd2_terms,
    optimizer,
    pick_sigma,
    real_denoiser,
    student_denoiser,
    student_samples,
)
from dmdlab.methods.dmd2 import DMD2State, init
from dmdlab.methods.fake_score import fake_record, train_fake

__all__ = ["SID", "sid_loss", "step"]


def sid_loss(x, x_t, real, fake, alpha, normalize: bool = True):
    """SiD's generator loss (scalar) for student samples x (n, d) noised to x_t (n, d):
    ``real`` and ``fake`` map x_t to their clean predictions (n, d), differentiable in
    x_t; the normaliser mean|x − D_real| is per sample and carries no gradient (off with
    ``normalize=False``: the exactly solvable linear case)."""
    p_real, p_fake = real(x_t), fake(x_t)
    w = jax.lax.stop_gradient(jnp.maximum(jnp.mean(jnp.abs(x - p_real), -1, keepdims=True), 1e-5))
    w = w if normalize else 1.0
    diff = p_real - p_fake
    return jnp.mean(diff * ((p_real - x) - alpha * diff) / w)


def _generator_update(setting: Setting, ctx: Context, state: DMD2State, fake, key):
    c, spec, noising = setting.config, setting.spec, setting.noising
    k_sim, k_sigma, k_noise = jax.random.split(key, 3)
    # 1. fresh student inputs (backward simulation picks the rung of a few-step student)
    x_in, s_in, labels = student_samples(setting, ctx, state.student, k_sim, c.batch_size)
    sigma = pick_sigma(k_sigma, c.batch_size, setting.grid, *setting.gen_range)
    noise = jax.random.normal(k_noise, x_in.shape)
    real = real_denoiser(setting, ctx)

    def loss(params):
        # 2. the sample and its noised copy, both differentiable in θ
        x = student_denoiser(setting, ctx, params)(x_in, s_in, labels)
        x_t = noising.noised(x, noise, sigma)
        # 3. both scores read at x_t with frozen weights, the gradient through x_t
        frozen = jax.lax.stop_gradient(fake)
        return sid_loss(
            x, x_t, lambda y: real(y, sigma, labels),
            lambda y: spec.apply(frozen, y, sigma, labels), ctx.hp.sid_alpha,
        )  # fmt: skip

    value, grads = jax.value_and_grad(loss)(state.student)
    opt = optimizer(setting, ctx.hp.generator_lr)
    updates, student_opt = opt.update(grads, state.student_opt, state.student)
    return optax.apply_updates(state.student, updates), student_opt, value


def step(setting: Setting, ctx: Context, state: DMD2State, key):
    """One SiD step: ``fake_ratio`` fake-score updates, then one generator update."""
    k_fake, k_gen = jax.random.split(key)
    # 1. the fake score's updates, as DMD2's
    fake, fake_opt, dsm, _ = train_fake(setting, ctx, state.student, state.fake,
                                        state.fake_opt, k_fake)  # fmt: skip
    # 2. one generator update along SiD's loss against the updated fake score
    student, student_opt, value = _generator_update(setting, ctx, state, fake, k_gen)
    losses = {"sid_loss": value, "fake_loss": dsm}
    return DMD2State(student, fake, student_opt, fake_opt), losses


def _passes(config: DMDConfig) -> float:
    """Per step and sample: the fake score's updates (≈ 3 passes each) and the generator's
    student, real and fake passes, each with its backward through x_t (≈ 9)."""
    return float((3 * config.fake_ratio + 9) * config.student_steps)


SID = Method(
    name="sid",
    init=init,
    step=step,
    student=lambda state: state.student,
    record=fake_record,
    passes=_passes,
    losses_filled=("sid_loss", "fake_loss"),
    records_filled=("fake_error",),
    check=no_dmd2_terms,
)

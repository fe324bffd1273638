"""DMD2 (Yin et al. 2024, Algorithm 1) as pure functions (docs/science.md §4).

Two time scales: ``fake_ratio`` updates of the fake score on the student's samples
(:mod:`dmdlab.methods.fake_score`), then one generator update along the
distribution-matching direction g = (D_fake − D_real)/mean|x − D_real| at a random σ,
with DMD2's optional GAN term and DMD1's optional regression onto teacher pairs.
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
    optimizer,
    pick_sigma,
    real_denoiser,
    student_denoiser,
    student_samples,
)
from dmdlab.methods.fake_score import fake_optimizer, fake_record, train_fake

__all__ = [
    "DMD2",
    "DMD2State",
    "GenBatch",
    "dmd_gradient",
    "generator_loss",
    "generator_update",
    "step",
]


def dmd_gradient(x, p_real, p_fake, normalize: bool = True, time_weight=None):
    """DMD2's distribution-matching direction g for samples x (n, d).

    g = (p_fake − p_real) / mean_coords|x − p_real| per sample (the normalizer replaces
    DMD's α/σ weighting); without ``normalize``, g = p_fake − p_real. ``time_weight``
    (n,), optional: each sample's g times it (``dmd_time_weight="flow"``: 1 − t, which
    with the normalizer is the authors' workbench's reweighted score gradient, docs/
    science.md §4). Minimizing ½‖x − stopgrad(x − g)‖² moves x along −g.
    """
    g = p_fake - p_real
    if normalize:
        g = g / jnp.mean(jnp.abs(x - p_real), axis=-1, keepdims=True)
    if time_weight is not None:
        g = g * time_weight[:, None]
    return g


class DMD2State(NamedTuple):
    """What one DMD2 step updates: the student and fake score with their optimizers."""

    student: object
    fake: object
    student_opt: object
    fake_opt: object


class GenBatch(NamedTuple):
    """A generator step's inputs: the trained rung's input x_in (n, d) and level s_in
    (n,), the samples' classes (n,) (None when unconditional), the DMD noise level σ (n,)
    and noise (n, d); for the GAN term its level (n,) and noise (n, d) (None when off);
    the indices (n,) of the regression pairs (None when off)."""

    x_in: jax.Array
    s_in: jax.Array
    labels: jax.Array | None
    sigma: jax.Array
    noise: jax.Array
    gan_sigma: jax.Array | None
    gan_noise: jax.Array | None
    reg_idx: jax.Array | None


def generator_loss(params, setting: Setting, ctx: Context, batch: GenBatch, real,
                   fake_params):  # fmt: skip
    """The generator's loss (DMD2 Algorithm 1, generator update).

    x = G_θ(x_in); x_t = sg(x) + σ·noise; g = DMD direction from the real and fake
    denoisers at x_t (:func:`dmd_gradient`); L_DM = ½‖x − sg(x − g)‖² (its gradient in x
    is g). Plus ``gan_weight`` × softplus(−ℓ(x noised)) with a GAN batch, and
    ``regression_weight`` × ‖G_θ(z_reg) − T(z_reg)‖² (DMD1) with regression indices, or
    (``regression_target="onestep"``) × ‖G_θ(z) − D(start(z), top)‖² on the batch itself.

    Returns (total, (dm, gan)), scalars."""
    c, spec, hp, noising = setting.config, setting.spec, ctx.hp, setting.noising
    labels = batch.labels
    # 1. the student's sample at the trained rung
    x = student_denoiser(setting, ctx, params)(batch.x_in, batch.s_in, labels)
    # 2. noise it and read both scores there (no gradient through either)
    x_noisy = noising.noised(jax.lax.stop_gradient(x), batch.noise, batch.sigma)
    p_real = jax.lax.stop_gradient(real(x_noisy, batch.sigma, labels))
    p_fake = jax.lax.stop_gradient(spec.apply(fake_params, x_noisy, batch.sigma, labels))
    # 3. the distribution-matching direction and its surrogate loss
    # the authors' weighting: (s_fake − s_real)·(1 − t)·t²/((1 − t)‖x̂_real − x‖₁) is,
    # with s = ((1 − t) x̂ − x_t)/t², (1 − t)(x̂_fake − x̂_real)/‖x̂_real − x‖₁
    weight = 1.0 - batch.sigma if c.dmd_time_weight == "flow" else None
    g = jax.lax.stop_gradient(dmd_gradient(x, p_real, p_fake, c.normalize, weight))
    dm = 0.5 * jnp.mean((x - jax.lax.stop_gradient(x - g)) ** 2)
    total, gan = dm, jnp.float32(0.0)
    # 4. DMD2's GAN term: the fake score's trunk as discriminator
    if batch.gan_sigma is not None:
        x_gan = noising.noised(x, batch.gan_noise, batch.gan_sigma)
        _, logit = spec.apply_with_logit(fake_params, x_gan, batch.gan_sigma, labels)
        gan = jnp.mean(jax.nn.softplus(-logit))
        total = total + hp.gan_weight * gan
    # 5a. the authors' regression onto the teacher's one-step read-out from the same z
    if c.regression_weight > 0 and c.regression_target == "onestep":
        target = jax.lax.stop_gradient(real(batch.x_in, batch.s_in, labels))
        total = total + hp.regression_weight * jnp.mean((x - target) ** 2)
    # 5b. DMD1's regression on teacher pairs
    if batch.reg_idx is not None:
        z_reg, t_reg = ctx.z_reg[batch.reg_idx], ctx.t_reg[batch.reg_idx]
        c_reg = None if ctx.c_reg is None else ctx.c_reg[batch.reg_idx]
        pred = student_denoiser(setting, ctx, params)(noising.start(z_reg), noising.top, c_reg)
        total = total + hp.regression_weight * jnp.mean((pred - t_reg) ** 2)
    return total, (dm, gan)


def _student_optimizer(setting: Setting, ctx: Context):
    return optimizer(setting, ctx.hp.generator_lr)


def generator_update(setting: Setting, ctx: Context, student, student_opt, fake, key):
    """One generator update against the fake score ``fake``. Returns (student,
    optimizer state, dm, gan)."""
    c = setting.config
    k_sim, k_sigma, k_noise, k_gan_sigma, k_gan_noise, k_reg = jax.random.split(key, 6)
    shape = (c.batch_size, c.dim)
    x_in, s_in, labels = student_samples(setting, ctx, student, k_sim, c.batch_size)
    gan_sigma = gan_noise = reg_idx = None
    if c.gan_weight > 0:
        gan_sigma = pick_sigma(k_gan_sigma, c.batch_size, setting.grid, *setting.gen_range)
        gan_noise = jax.random.normal(k_gan_noise, shape)
    if c.regression_weight > 0 and c.regression_target == "ode":
        reg_idx = jax.random.randint(k_reg, (c.batch_size,), 0, c.regression_pairs)
    batch = GenBatch(
        x_in,
        s_in,
        labels,
        pick_sigma(k_sigma, c.batch_size, setting.grid, *setting.gen_range),
        jax.random.normal(k_noise, x_in.shape),
        gan_sigma,
        gan_noise,
        reg_idx,
    )
    real = real_denoiser(setting, ctx)
    loss = jax.value_and_grad(generator_loss, has_aux=True)
    (_, (dm, gan_loss)), grads = loss(student, setting, ctx, batch, real, fake)
    updates, student_opt = _student_optimizer(setting, ctx).update(grads, student_opt, student)
    return optax.apply_updates(student, updates), student_opt, dm, gan_loss


def init(setting: Setting, ctx: Context, student0) -> DMD2State:
    """The student from its starting weights; the fake score a copy of the teacher."""
    fake0 = ctx.teacher.params
    return DMD2State(
        student0,
        fake0,
        _student_optimizer(setting, ctx).init(student0),
        fake_optimizer(setting, ctx).init(fake0),
    )


def step(setting: Setting, ctx: Context, state: DMD2State, key):
    """One step of DMD2's Algorithm 1; returns (state, losses)."""
    k_fake, k_gen = jax.random.split(key)
    # 1. fake_ratio updates of the fake score on the student's current samples (TTUR)
    fake, fake_opt, dsm, disc = train_fake(setting, ctx, state.student, state.fake,
                                           state.fake_opt, k_fake)  # fmt: skip
    # 2. one generator update along the DMD direction against the updated fake score
    student, student_opt, dm, gan = generator_update(
        setting, ctx, state.student, state.student_opt, fake, k_gen
    )
    losses = {"dm_loss": dm, "fake_loss": dsm, "gan_gen_loss": gan, "gan_disc_loss": disc}
    return DMD2State(student, fake, student_opt, fake_opt), losses


def _passes(config: DMDConfig) -> float:
    """Per step and sample: the fake score's ``fake_ratio`` updates (forward + backward,
    ≈ 3 passes each) and the generator's (student forward + backward, real and fake
    forwards ≈ 6 passes), per rung of a few-step student."""
    return float((3 * config.fake_ratio + 6) * config.student_steps)


DMD2 = Method(
    name="dmd2",
    init=init,
    step=step,
    student=lambda state: state.student,
    record=fake_record,
    passes=_passes,
    losses_filled=("dm_loss", "fake_loss", "gan_gen_loss", "gan_disc_loss"),
    records_filled=("fake_error",),
    check=lambda config: [],  # its options (GAN, regression) are its own
)

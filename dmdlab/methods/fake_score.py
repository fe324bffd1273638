"""The fake score: a denoiser of the teacher's architecture that tracks the student's
distribution (docs/science.md §4), shared by the distribution-matching methods (DMD2, SiD).

It starts as a copy of the teacher and is trained on stop-gradient student samples by
denoising score matching, σ drawn uniformly from the whole Karras grid; DMD2's optional
discriminator head rides on its trunk.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dmdlab.method import (
    ERROR_SIGMAS,
    Context,
    Setting,
    optimizer,
    pick_sigma,
    student_denoiser,
    student_samples,
)
from dmdlab.metrics import denoiser_error
from dmdlab.networks import NetSpec
from dmdlab.teachers import denoising_loss

__all__ = [
    "GanBatch",
    "fake_error",
    "fake_optimizer",
    "fake_record",
    "fake_score_loss",
    "fake_update",
    "train_fake",
]


class GanBatch(NamedTuple):
    """The discriminator's inputs: data samples ``x_real`` (n, d), levels (n,), and the
    noise (n, d) added to the student's samples and to the data samples."""

    x_real: jax.Array
    sigma: jax.Array
    noise_fake: jax.Array
    noise_real: jax.Array


def fake_score_loss(params, spec: NetSpec, x, sigma, noise, sigma_data: float,
                    gan: GanBatch | None = None, disc_weight=0.0, noising=None,
                    labels=None):  # fmt: skip
    """The fake score's loss on student samples x (n, d): denoising score matching at
    levels σ (n,) with ``noise`` (n, d), L = E λ‖D_φ(x_σ, σ) − x‖² (EDM's weight, or the
    flow's under a flow ``noising``), plus, with ``gan``, ``disc_weight`` × the
    discriminator's loss on the fake score's trunk: softplus(ℓ(G noised)) +
    softplus(−ℓ(data noised)). ``labels`` (n,): the samples' classes.

    Returns (total, (dsm, disc)), scalars."""
    dsm = denoising_loss(lambda y, s: spec.apply(params, y, s, labels), x, sigma, noise,
                         sigma_data, noising=noising)  # fmt: skip
    if gan is None:
        return dsm, (dsm, jnp.float32(0.0))
    # discriminator on the fake score's trunk: student = fake, data = real
    x_fake = _noised(noising, x, gan.noise_fake, gan.sigma)
    x_data = _noised(noising, gan.x_real, gan.noise_real, gan.sigma)
    _, logit_fake = spec.apply_with_logit(params, x_fake, gan.sigma, labels)
    _, logit_real = spec.apply_with_logit(params, x_data, gan.sigma, labels)
    disc = jnp.mean(jax.nn.softplus(logit_fake)) + jnp.mean(jax.nn.softplus(-logit_real))
    return dsm + disc_weight * disc, (dsm, disc)


def _noised(noising, x, eps, level):
    if noising is None or noising.kind == "ve":
        return x + level[:, None] * eps
    return noising.noised(x, eps, level)


def fake_optimizer(setting: Setting, ctx: Context):
    """AdamW at ``fake_lr`` with the config's warmup (docs/science.md §4); a cosine
    schedule spans all ``fake_ratio`` × steps of its updates (until this was so, the fake
    score's rate reached 1% a ``fake_ratio``-th of the way through the run)."""
    return optimizer(setting, ctx.hp.fake_lr, setting.config.fake_ratio)


def fake_update(setting: Setting, ctx: Context, carry, key):
    """One fake-score update on the current student's samples; ``carry`` = (student
    params, fake params, fake optimizer state). Returns (carry, (dsm, disc))."""
    c, spec = setting.config, setting.spec
    student, fake, fake_state = carry
    k_sim, k_sigma, k_noise, k_real, k_gan_sigma, k_gan_noise = jax.random.split(key, 6)
    # 1. samples of the current student (no gradient into it)
    x_in, s_in, labels = student_samples(setting, ctx, student, k_sim, c.batch_size)
    x = jax.lax.stop_gradient(student_denoiser(setting, ctx, student)(x_in, s_in, labels))
    # 2. levels uniform over the whole grid: the fake score must be right at the top too
    sigma = pick_sigma(k_sigma, c.batch_size, setting.grid)
    noise = jax.random.normal(k_noise, x.shape)
    gan = None
    if c.gan_weight > 0:
        gan_noise = jax.random.normal(k_gan_noise, (2, *x.shape))
        data = (ctx.data.sample(k_real, c.batch_size) if labels is None
                else ctx.data.sample_given(k_real, labels))  # fmt: skip
        gan = GanBatch(
            data,
            pick_sigma(k_gan_sigma, c.batch_size, setting.grid, *setting.gen_range),
            gan_noise[0],
            gan_noise[1],
        )
    # 3. a denoising step (plus the discriminator's, on the same trunk)
    loss = jax.value_and_grad(fake_score_loss, has_aux=True)
    (_, (dsm, disc)), grads = loss(fake, spec, x, sigma, noise, c.sigma_data, gan,
                                   ctx.hp.gan_disc_weight, setting.noising, labels)  # fmt: skip
    updates, fake_state = fake_optimizer(setting, ctx).update(grads, fake_state, fake)
    return (student, optax.apply_updates(fake, updates), fake_state), (dsm, disc)


def fake_error(setting: Setting, ctx: Context, fake) -> jax.Array:
    """The fake score's excess denoiser error against the data's exact denoiser per σ
    band (len(ERROR_SIGMAS),): how far the student's distribution still is from the
    data's, as the fake score sees it."""
    spec, c = setting.spec, setting.config
    if c.parametrization == "ve" and not c.conditional:
        return denoiser_error(
            lambda x, s: spec.apply(fake, x, s), ctx.mixture, ctx.k_err, ERROR_SIGMAS, n=256
        )
    return denoiser_error(lambda x, s, labels=None: spec.apply(fake, x, s, labels), ctx.mixture,
                          ctx.k_err, ERROR_SIGMAS, n=256, noising=setting.noising,
                          conditional=c.conditional)  # fmt: skip


def train_fake(setting: Setting, ctx: Context, student, fake, fake_opt, key):
    """``fake_ratio`` fake-score updates on the student's current samples (the two time
    scales of DMD2 and SiD). Returns (fake, fake_opt, mean dsm loss, mean disc loss)."""
    (_, fake, fake_opt), (dsm, disc) = jax.lax.scan(
        lambda carry, k: fake_update(setting, ctx, carry, k),
        (student, fake, fake_opt),
        jax.random.split(key, setting.config.fake_ratio),
    )
    return fake, fake_opt, jnp.mean(dsm), jnp.mean(disc)


def fake_record(setting: Setting, ctx: Context, state) -> dict:
    """The records of a method with a fake score (``state.fake``): its error per σ band."""
    return {"fake_error": fake_error(setting, ctx, state.fake)}

"""Teachers: anything with ``denoise(x (n, d), σ) -> (n, d)`` (also callable).

- :class:`OracleTeacher` — the mixture's exact denoiser.
- :class:`MemorizingTeacher` — the exact denoiser of N training points; its ODE map
  lands on those points.
- :class:`NetworkTeacher` — an MLP denoiser trained by denoising score matching
  (:func:`train_network_teacher`); its training length is the convergence knob.

All three are JAX pytrees, so they pass through ``jit`` and ``vmap``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from dmdlab.mixture import GaussianMixture
from dmdlab.networks import NetSpec
from dmdlab.optim import adamw

__all__ = [
    "MemorizingTeacher",
    "NetworkTeacher",
    "OracleTeacher",
    "denoising_loss",
    "sample_teacher_sigma",
    "train_network_teacher",
]

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class OracleTeacher:
    """The exact denoiser E[x_0 | x_σ] of ``mixture``."""

    mixture: GaussianMixture

    def denoise(self, x: jax.Array, sigma) -> jax.Array:
        """(n, d), σ scalar or (n,) → (n, d)."""
        return self.mixture.denoise(x, sigma)

    __call__ = denoise


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MemorizingTeacher:
    """The exact denoiser of the empirical distribution of ``points`` (N, d)."""

    points: jax.Array

    @property
    def mixture(self) -> GaussianMixture:
        return GaussianMixture.empirical(self.points)

    def denoise(self, x: jax.Array, sigma) -> jax.Array:
        """(n, d), σ scalar or (n,) → (n, d)."""
        return self.mixture.denoise(x, sigma)

    __call__ = denoise


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NetworkTeacher:
    """A trained denoiser network: ``spec.apply(params, x, σ)``."""

    params: object
    spec: NetSpec = dataclasses.field(metadata=dict(static=True))

    def denoise(self, x: jax.Array, sigma) -> jax.Array:
        """(n, d), σ scalar or (n,) → (n, d)."""
        return self.spec.apply(self.params, x, sigma)

    __call__ = denoise


def sample_teacher_sigma(key: jax.Array, n: int, sigma_max: float = SIGMA_MAX) -> jax.Array:
    """σ (n,) for denoiser training: half EDM log-normal (P_mean −1.2, P_std 1.2),
    half log-uniform over [0.002, σ_max].

    The log-uniform half is what teaches the network σ ≈ σ_max, where the student is
    read (SCIENCE.md §7); log-normal alone almost never draws it.
    """
    k_ln, k_lu, k_pick = jax.random.split(key, 3)
    lognormal = jnp.exp(-1.2 + 1.2 * jax.random.normal(k_ln, (n,)))
    u = jax.random.uniform(k_lu, (n,))
    loguniform = jnp.exp(jnp.log(SIGMA_MIN) + u * (jnp.log(sigma_max) - jnp.log(SIGMA_MIN)))
    pick = jax.random.bernoulli(k_pick, 0.5, (n,))
    return jnp.clip(jnp.where(pick, lognormal, loguniform), SIGMA_MIN, sigma_max)


def denoising_loss(denoise, x0: jax.Array, sigma: jax.Array, noise: jax.Array, sigma_data: float):
    """EDM's weighted x0-prediction loss, mean over samples of λ(σ)·mean_coords (D − x0)².

    λ(σ) = 1/σ² + 1/σ_data², which makes the loss O(1) at every σ. x0, noise (n, d), σ (n,).
    """
    weight = 1.0 / sigma**2 + 1.0 / sigma_data**2
    err = denoise(x0 + sigma[:, None] * noise, sigma) - x0
    return jnp.mean(weight * jnp.mean(err**2, axis=-1))


def train_network_teacher(
    key: jax.Array,
    data: GaussianMixture,
    spec: NetSpec,
    *,
    steps: int = 4000,
    batch_size: int = 512,
    learning_rate=1e-3,
    sigma_max: float = SIGMA_MAX,
    init_params=None,
) -> tuple[NetworkTeacher, jax.Array]:
    """Fit ``spec`` to ``data`` by denoising score matching; one ``lax.scan``, jit/vmap-able.

    ``data`` is any mixture to sample from (``GaussianMixture.empirical(points)`` trains
    on a finite set). Returns the teacher and its loss per step (steps,).
    """
    k_init, k_train = jax.random.split(key)
    params = spec.init(k_init) if init_params is None else init_params
    opt = adamw(learning_rate, decay_steps=steps)

    def step(carry, k):
        params, opt_state = carry
        k_x, k_s, k_n = jax.random.split(k, 3)
        x0 = data.sample(k_x, batch_size)
        sigma = sample_teacher_sigma(k_s, batch_size, sigma_max)
        noise = jax.random.normal(k_n, x0.shape)

        def loss_fn(p):
            return denoising_loss(
                lambda x, s: spec.apply(p, x, s), x0, sigma, noise, spec.sigma_data
            )

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(
        step, (params, opt.init(params)), jax.random.split(k_train, steps)
    )
    return NetworkTeacher(params, spec), losses

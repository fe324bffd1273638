"""The one denoiser architecture shared by teacher, student and fake score.

D(x, σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x, c_noise(σ))  (EDM, Karras et al. 2022),
with F an MLP conditioned on a Fourier embedding of c_noise. Parameters are kept
as flax NNX state so training code stays purely functional: ``apply(params, x, σ)``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["DenoiserNet", "NetSpec", "edm_precond"]


def edm_precond(sigma: jax.Array, sigma_data: float):
    """EDM's (c_skip, c_out, c_in, c_noise) for σ of any shape."""
    s2 = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / s2
    c_out = sigma * sigma_data / jnp.sqrt(s2)
    c_in = 1.0 / jnp.sqrt(s2)
    c_noise = jnp.log(sigma) / 4.0
    return c_skip, c_out, c_in, c_noise


class DenoiserNet(nnx.Module):
    """MLP F(c_in x, c_noise) with EDM preconditioning and a GAN head on its last hidden layer.

    Every hidden layer gets its own projection of the σ embedding (a standard way
    to let each layer depend on the noise level). ``__call__`` maps x (n, d), σ (n,)
    to D(x, σ) (n, d); ``features`` returns the last hidden layer (n, width) that
    DMD2's discriminator head reads.
    """

    def __init__(self, dim: int, width: int, depth: int, sigma_data: float, *, rngs: nnx.Rngs):
        n_freq = 16
        self.sigma_data = sigma_data
        self.n_freq = n_freq
        self.inp = nnx.Linear(dim, width, rngs=rngs)
        self.emb = nnx.Linear(2 * n_freq, width, rngs=rngs)
        self.hidden = nnx.List(
            [nnx.Linear(width, width, rngs=rngs) for _ in range(max(depth - 1, 0))]
        )
        self.hidden_emb = nnx.List(
            [nnx.Linear(2 * n_freq, width, rngs=rngs) for _ in range(max(depth - 1, 0))]
        )
        self.out = nnx.Linear(width, dim, rngs=rngs)
        self.gan_head = nnx.Linear(width, 1, rngs=rngs)

    def _trunk(self, x: jax.Array, sigma: jax.Array):
        _, _, c_in, c_noise = edm_precond(sigma, self.sigma_data)
        # Fixed (not learned) frequencies, so weight decay cannot erode them.
        freqs = jnp.exp(jnp.linspace(0.0, jnp.log(64.0), self.n_freq))
        phase = c_noise[:, None] * freqs
        emb = jnp.concatenate([jnp.sin(phase), jnp.cos(phase)], axis=-1)
        h = nnx.silu(self.inp(c_in[:, None] * x) + self.emb(emb))
        for layer, proj in zip(self.hidden, self.hidden_emb, strict=True):
            h = nnx.silu(layer(h) + proj(emb))
        return h

    def __call__(self, x: jax.Array, sigma: jax.Array) -> jax.Array:
        c_skip, c_out, _, _ = edm_precond(sigma, self.sigma_data)
        return c_skip[:, None] * x + c_out[:, None] * self.out(self._trunk(x, sigma))

    def denoise_and_logit(self, x: jax.Array, sigma: jax.Array):
        """D(x, σ) (n, d) and the discriminator logit (n,) from the same trunk pass."""
        c_skip, c_out, _, _ = edm_precond(sigma, self.sigma_data)
        h = self._trunk(x, sigma)
        return c_skip[:, None] * x + c_out[:, None] * self.out(h), self.gan_head(h)[:, 0]


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """Static description of the denoiser family; ``init`` and ``apply`` are pure.

    ``init(key)`` returns a parameter pytree (vmappable over keys);
    ``apply(params, x (n, d), σ scalar or (n,))`` returns D(x, σ) (n, d).
    """

    dim: int
    width: int = 256
    depth: int = 3
    sigma_data: float = 1.0

    def _build(self, key) -> DenoiserNet:
        return DenoiserNet(self.dim, self.width, self.depth, self.sigma_data, rngs=nnx.Rngs(key))

    @property
    def graphdef(self):
        return _graphdef(self)

    def init(self, key: jax.Array):
        """Fresh parameters (a pytree of arrays)."""
        return nnx.split(self._build(key))[1]

    def module(self, params) -> DenoiserNet:
        return nnx.merge(self.graphdef, params)

    def apply(self, params, x: jax.Array, sigma) -> jax.Array:
        """D_params(x, σ): x (n, d), σ scalar or (n,) → (n, d)."""
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        return self.module(params)(x, sigma)

    def apply_with_logit(self, params, x: jax.Array, sigma):
        """(D(x, σ) (n, d), discriminator logit (n,))."""
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        return self.module(params).denoise_and_logit(x, sigma)


_GRAPHDEFS: dict = {}


def _graphdef(spec: NetSpec):
    # The graph structure depends only on the spec; build it once, abstractly.
    if spec not in _GRAPHDEFS:
        abstract = nnx.eval_shape(lambda: spec._build(jax.random.key(0)))
        _GRAPHDEFS[spec] = nnx.split(abstract)[0]
    return _GRAPHDEFS[spec]

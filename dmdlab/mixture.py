"""Isotropic Gaussian mixtures in R^d with their exact noised densities and denoiser.

Everything here is closed form (SCIENCE.md §2): the data density, the density of
x_σ = x_0 + σ ε, the posterior over components and E[x_0 | x_σ]. This is the
"exact world" every learned quantity in dmdlab is checked against.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from dmdlab._checks import check_positive_sigma, check_rows

__all__ = ["GaussianMixture"]


def _is_concrete(leaf) -> bool:
    """A value this process can read: not a tracer, nor a global array spanning other
    processes' devices (a multi-process program's output, before it is gathered)."""
    if isinstance(leaf, np.ndarray):
        return True
    return (
        isinstance(leaf, jax.Array)
        and not isinstance(leaf, jax.core.Tracer)
        and leaf.is_fully_addressable
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """p(x) = Σ_k π_k N(x; μ_k, s_k² I_d), a JAX pytree (vmappable over seeds).

    Attributes:
      weights: (K,) mixture weights π_k, non-negative, summing to 1.
      means: (K, d) component means μ_k.
      stds: (K,) isotropic standard deviations s_k ≥ 0 (0 = a point mass, as in
        the memorizing teacher's empirical distribution).
    """

    weights: jax.Array
    means: jax.Array
    stds: jax.Array

    def __post_init__(self):
        # Validate user-built mixtures; skip while JAX rebuilds the pytree with
        # tracers or placeholder leaves (vmap axes, tree utilities).
        if not all(_is_concrete(x) for x in (self.weights, self.means, self.stds)):
            return
        # Leading axes are allowed: a stack of mixtures (one per seed) is a mixture too.
        w, mu, s = np.asarray(self.weights), np.asarray(self.means), np.asarray(self.stds)
        if mu.ndim < 2 or mu.shape[-2] < 1 or mu.shape[-1] < 1:
            raise ValueError(f"means must have shape (K, d) with K, d >= 1, got {mu.shape}")
        if w.shape != mu.shape[:-1]:
            raise ValueError(f"weights must have shape (K,) = {mu.shape[:-1]}, got {w.shape}")
        if s.shape != mu.shape[:-1]:
            raise ValueError(f"stds must have shape (K,) = {mu.shape[:-1]}, got {s.shape}")
        if np.any(w < 0) or not np.allclose(w.sum(-1), 1.0, atol=1e-4):
            raise ValueError(f"weights must be >= 0 and sum to 1, got sums {w.sum(-1)}")
        if np.any(s < 0) or not np.all(np.isfinite(s)):
            raise ValueError("stds must be finite and >= 0")

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(
        cls,
        key: jax.Array,
        dim: int,
        n_modes: int,
        std: float = 0.2,
        intrinsic_dim: int | None = None,
    ) -> GaussianMixture:
        """Equal-weight mixture with means μ_k ~ N(0, I_d) and common std.

        With ``intrinsic_dim=m`` the means are ``sqrt(d/m) U c_k``, c_k ~ N(0, I_m),
        U a random (d, m) orthonormal basis: they live in an m-dim subspace and
        still have E‖μ_k‖² = d, so the per-coordinate scale does not depend on m.
        Works under ``jax.vmap`` over ``key``.
        """
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if not isinstance(n_modes, (int, np.integer)) or n_modes < 1:
            raise ValueError(f"n_modes must be an integer >= 1, got {n_modes!r}")
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std!r}")
        if intrinsic_dim is not None and not 1 <= intrinsic_dim <= dim:
            raise ValueError(f"intrinsic_dim must be in [1, dim={dim}], got {intrinsic_dim!r}")
        k_mean, k_basis = jax.random.split(key)
        if intrinsic_dim is None or intrinsic_dim == dim:
            means = jax.random.normal(k_mean, (n_modes, dim))
        else:
            basis, _ = jnp.linalg.qr(jax.random.normal(k_basis, (dim, intrinsic_dim)))
            coef = jax.random.normal(k_mean, (n_modes, intrinsic_dim))
            means = math.sqrt(dim / intrinsic_dim) * coef @ basis.T
        weights = jnp.full((n_modes,), 1.0 / n_modes)
        stds = jnp.full((n_modes,), float(std))
        return cls(weights, means, stds)

    @classmethod
    def empirical(cls, points: jax.Array) -> GaussianMixture:
        """The empirical distribution of ``points`` (N, d): N equal-weight point masses."""
        points = jnp.asarray(points)
        if points.ndim != 2:
            raise ValueError(f"points must have shape (N, d), got {points.shape}")
        n = points.shape[0]
        return cls(jnp.full((n,), 1.0 / n), points, jnp.zeros((n,)))

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """Ambient dimension d."""
        return self.means.shape[-1]

    @property
    def n_modes(self) -> int:
        """Number of components K."""
        return self.means.shape[-2]

    def variance(self) -> jax.Array:
        """Mean per-coordinate variance of the data, tr Cov(x) / d (scalar)."""
        mean = self.weights @ self.means
        spread = jnp.sum((self.means - mean) ** 2, axis=-1) / self.dim
        return self.weights @ (spread + self.stds**2)

    # ------------------------------------------------------------------ sampling
    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """n i.i.d. samples, shape (n, d)."""
        x, _ = self.sample_with_labels(key, n)
        return x

    def sample_with_labels(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """n samples (n, d) and the index (n,) of the component each came from."""
        k_comp, k_noise = jax.random.split(key)
        labels = jax.random.categorical(k_comp, jnp.log(self.weights), shape=(n,))
        eps = jax.random.normal(k_noise, (n, self.dim))
        return self.means[labels] + self.stds[labels, None] * eps, labels

    # ------------------------------------------------------------------ densities
    def _component_logits(self, x: jax.Array, var: jax.Array) -> jax.Array:
        """log π_k + log N(x; μ_k, var_k I) for x (n, d), var (n, K) → (n, K)."""
        # ‖x − μ‖² expanded so the (n, K, d) difference tensor is never built: the
        # memorizing teacher has K = N training points.
        sq = (
            jnp.sum(x**2, axis=-1, keepdims=True)
            - 2.0 * x @ self.means.T
            + jnp.sum(self.means**2, axis=-1)
        )
        sq = jnp.maximum(sq, 0.0)
        d = self.dim
        return jnp.log(self.weights) - 0.5 * sq / var - 0.5 * d * jnp.log(2.0 * jnp.pi * var)

    def _noised_var(self, x: jax.Array, sigma) -> jax.Array:
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        return self.stds**2 + sigma[:, None] ** 2

    def log_prob(self, x: jax.Array) -> jax.Array:
        """log p(x) for x (n, d) → (n,). Needs every std > 0."""
        x = check_rows(x, self.dim, "x")
        var = jnp.broadcast_to(self.stds**2, (x.shape[0], self.n_modes))
        return jax.nn.logsumexp(self._component_logits(x, var), axis=-1)

    def noised_log_prob(self, x: jax.Array, sigma) -> jax.Array:
        """log p_σ(x), the density of x_0 + σ ε; x (n, d), σ scalar or (n,) → (n,)."""
        x = check_rows(x, self.dim, "x")
        check_positive_sigma(sigma, x.shape[0])
        return jax.nn.logsumexp(self._component_logits(x, self._noised_var(x, sigma)), axis=-1)

    def posterior(self, x: jax.Array, sigma) -> jax.Array:
        """p(component k | x_σ = x) for x (n, d), σ scalar or (n,) → (n, K)."""
        x = check_rows(x, self.dim, "x")
        check_positive_sigma(sigma, x.shape[0])
        return jax.nn.softmax(self._component_logits(x, self._noised_var(x, sigma)), axis=-1)

    def denoise(self, x: jax.Array, sigma) -> jax.Array:
        """Exact E[x_0 | x_σ = x] for x (n, d), σ scalar or (n,) → (n, d).

        Σ_k w_k(x, σ) [μ_k + s_k²/(s_k² + σ²)(x − μ_k)], w the posterior over components.
        """
        x = check_rows(x, self.dim, "x")
        check_positive_sigma(sigma, x.shape[0])
        var = self._noised_var(x, sigma)
        w = jax.nn.softmax(self._component_logits(x, var), axis=-1)
        shrink = self.stds**2 / var  # (n, K): how much of x each component keeps
        return jnp.sum(w * shrink, axis=-1, keepdims=True) * x + (w * (1.0 - shrink)) @ self.means

    def assign(self, x: jax.Array) -> jax.Array:
        """Index (n,) of the most probable component for each row of x (n, d)."""
        x = check_rows(x, self.dim, "x")
        var = jnp.broadcast_to(jnp.maximum(self.stds**2, 1e-12), (x.shape[0], self.n_modes))
        return jnp.argmax(self._component_logits(x, var), axis=-1)

"""The exactly solvable DMD case (docs/science.md §5): linear student, Gaussian target.

Target N(μ, s² I_d); student G(z) = A z + b; fake score the exact denoiser of the
student's own distribution N(b, A Aᵀ); real score the exact denoiser of the target;
no per-sample normalizer. The expected DMD update is dA ∝ −M(Σ) A with M a matrix
function of Σ = A Aᵀ, so with A = P Q (P = Σ^½) the rotation Q never moves: the
student keeps the pairing it started with and, once P → s I, its copying score is
tr(Q)/d. This module runs that dynamics with the engine's own :func:`dmd_gradient`
and σ sampling, as a check of the engine and the cleanest picture of laziness.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from dmdlab.methods.dmd2 import dmd_gradient
from dmdlab.methods.sid import sid_loss
from dmdlab.noising import GRID, Noising
from dmdlab.ode import karras_sigmas

__all__ = ["LinearStudent", "gaussian_denoiser", "polar", "train_linear_student"]


class LinearStudent(NamedTuple):
    """G(z) = A z + b with A (d, d), b (d,)."""

    A: jax.Array
    b: jax.Array

    def __call__(self, z: jax.Array) -> jax.Array:
        """z (n, d) → (n, d)."""
        return z @ self.A.T + self.b


def gaussian_denoiser(mean: jax.Array, cov: jax.Array):
    """Exact E[x_0 | x_σ] for x_0 ~ N(mean (d,), cov (d, d)): a function (x (n, d), σ) → (n, d).

    D(x, σ) = mean + Σ (Σ + σ² I)⁻¹ (x − mean).
    """
    # One eigendecomposition serves every σ: Σ(Σ + σ²I)⁻¹ = V diag(λ/(λ + σ²)) Vᵀ.
    lam, vecs = jnp.linalg.eigh(cov)

    def denoise(x, sigma):
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        gain = lam / (lam + sigma[:, None] ** 2)  # (n, d)
        return mean + (((x - mean) @ vecs) * gain) @ vecs.T

    return denoise


def polar(A: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A = P Q with P = (A Aᵀ)^½ symmetric PSD and Q orthogonal; returns (P, Q)."""
    u, s, vt = jnp.linalg.svd(A)
    return (u * s) @ u.T, u @ vt


def train_linear_student(
    key: jax.Array,
    student: LinearStudent,
    mean: jax.Array,
    std: float,
    *,
    steps: int = 2000,
    batch_size: int = 512,
    learning_rate: float = 0.05,
    sigma_max: float = 80.0,
    method: str = "dmd2",
    sid_alpha: float = 1.2,
) -> tuple[LinearStudent, jax.Array]:
    """Plain SGD with exact scores on DMD's loss ½‖x − sg(x − g)‖² (summed over
    coordinates; ``method="dmd2"``) or on SiD's generator loss (``method="sid"``: the
    engine's :func:`sid_loss` with the fake score frozen at the student's own exact
    denoiser, no per-sample normaliser), σ drawn as the engine draws it.

    Both expected updates are dA = −M(Σ) A with M a matrix function of Σ = A Aᵀ (and of the
    target's s² I), so the rotation Q of A = P Q never moves. Returns the final student and
    Q after every step (steps, d, d), so callers can watch it (not) move.
    """
    if method not in ("dmd2", "sid"):
        raise ValueError(f"method={method!r} is invalid: allowed 'dmd2' | 'sid'")
    d = mean.shape[0]
    grid = karras_sigmas(GRID, sigma_max, 0.002)
    gen_range = Noising("ve", sigma_max).generator_range()
    real_cov = std**2 * jnp.eye(d)

    def step(params, k):
        k_z, k_s, k_n = jax.random.split(k, 3)
        z = jax.random.normal(k_z, (batch_size, d))
        sigma = grid[jax.random.randint(k_s, (batch_size,), *gen_range)]
        noise = jax.random.normal(k_n, (batch_size, d))
        fake = gaussian_denoiser(params.b, params.A @ params.A.T)
        real = gaussian_denoiser(mean, real_cov)

        def loss_fn(p):
            x = p(z)
            if method == "sid":  # through x and x_t; the scores' own weights frozen
                x_t = x + sigma[:, None] * noise
                total = sid_loss(x, x_t, lambda y: real(y, sigma), lambda y: fake(y, sigma),
                                 sid_alpha, normalize=False)  # fmt: skip
                return total * d  # sid_loss averages over coordinates too
            x_noisy = jax.lax.stop_gradient(x) + sigma[:, None] * noise
            g = dmd_gradient(x, real(x_noisy, sigma), fake(x_noisy, sigma), normalize=False)
            g = jax.lax.stop_gradient(g)
            return 0.5 * jnp.mean(jnp.sum((x - jax.lax.stop_gradient(x - g)) ** 2, -1))

        grads = jax.grad(loss_fn)(params)
        params = jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)
        return params, polar(params.A)[1]

    return jax.lax.scan(step, student, jax.random.split(key, steps))

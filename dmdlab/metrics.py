"""Metrics of a noise→data pairing and of sample fidelity (SCIENCE.md §5).

Pairing metrics take row-paired (n, d) arrays: row i of ``student`` and of
``teacher`` came from the same noise z_i. All are jnp functions (jit/vmap-able)
returning scalars, except :func:`pairing_inefficiency`, which solves an exact
assignment problem on the host with SciPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from dmdlab._checks import check_paired, check_rows
from dmdlab.mixture import GaussianMixture

__all__ = [
    "copying_score",
    "coverage",
    "denoiser_error",
    "loglik_gap",
    "mode_agreement",
    "pairing_inefficiency",
    "sliced_wasserstein",
]


def _mean_cross_sq_dist(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean of ‖a_i − b_j‖² over all n² pairs, in O(n d)."""
    return (
        jnp.mean(jnp.sum(a**2, -1))
        + jnp.mean(jnp.sum(b**2, -1))
        - 2.0 * jnp.dot(jnp.mean(a, 0), jnp.mean(b, 0))
    )


def copying_score(student: jax.Array, teacher: jax.Array) -> jax.Array:
    """C = 1 − E‖G(z) − T(z)‖² / E‖G(z) − T(z′)‖², z′ independent of z. Scalar.

    student, teacher: (n, d), row-paired. The denominator averages over all pairs
    i ≠ j, so it is exact for the sample, not a random shuffle. 1 = exact copy of the
    teacher's pairing; ≈ 0 (within ~1/√n) for a pairing unrelated to it; negative
    means farther than chance. Invariant to a common rescaling and translation.
    """
    student, teacher = check_paired(student, teacher, "student", "teacher")
    n = student.shape[0]
    # Centering on the joint mean avoids cancellation in the expanded cross term.
    center = 0.5 * (jnp.mean(student, 0) + jnp.mean(teacher, 0))
    g, t = student - center, teacher - center
    paired = jnp.mean(jnp.sum((g - t) ** 2, -1))
    all_pairs = _mean_cross_sq_dist(g, t)
    unpaired = (n * all_pairs - paired) / (n - 1)
    return 1.0 - paired / unpaired


def mode_agreement(
    mixture: GaussianMixture, student: jax.Array, teacher: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(agreement, κ): fraction of rows whose most probable component matches, and
    Cohen's κ = (p_o − p_e)/(1 − p_e) against the agreement p_e expected by chance
    from the two marginal mode frequencies.

    agreement ∈ [0, 1]; κ ∈ [−1, 1], 1 = same modes, ≈ 0 = chance. κ is NaN when
    both sides put every row in one and the same mode (p_e = 1: undefined).
    Invariant to a common rescaling only if the mixture is rescaled too.
    """
    student, teacher = check_paired(student, teacher, "student", "teacher")
    check_rows(student, mixture.dim, "student")
    a, b = mixture.assign(student), mixture.assign(teacher)
    p_o = jnp.mean(a == b)
    k = mixture.n_modes
    freq_a = jnp.bincount(a, length=k) / a.shape[0]
    freq_b = jnp.bincount(b, length=k) / b.shape[0]
    p_e = jnp.dot(freq_a, freq_b)
    kappa = jnp.where(p_e < 1.0, (p_o - p_e) / jnp.where(p_e < 1.0, 1.0 - p_e, 1.0), jnp.nan)
    return p_o, kappa


def pairing_inefficiency(z, x) -> float:
    """ΔE = (E_pair − E_OT) / (E_indep − E_OT) of the coupling (z_i, x_i). Float.

    z (n, d) noise, x (n, d) data, row-paired. The cost is ‖x − z̃‖² with z̃ = m + s z
    the noise moved to the data's scale: m = mean of x, s² = tr Cov(x)/d (so the
    metric is invariant to rescaling and translating x). E_pair is the coupling's
    mean cost, E_OT the optimal transport (exact assignment over the n samples,
    SciPy's ``linear_sum_assignment``), E_indep the mean over all n² pairs.
    0 = optimal-transport pairing, ≈ 1 = random pairing, > 1 = worse than random;
    NaN for non-finite input. Cost O(n³) on the host; n ≈ 512 takes milliseconds.
    """
    z, x = check_paired(z, x, "z", "x")
    z = np.asarray(z, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(x))):
        return float("nan")  # a diverged run has no pairing to measure
    mean = x.mean(0)
    scale = np.sqrt(np.mean(np.sum((x - mean) ** 2, -1)) / x.shape[1])
    zt = mean + scale * z
    cost = (
        np.sum(x**2, -1)[:, None] + np.sum(zt**2, -1)[None, :] - 2.0 * x @ zt.T
    )  # cost[i, j] = ‖x_i − z̃_j‖²
    rows, cols = linear_sum_assignment(cost)
    e_ot = cost[rows, cols].mean()
    e_pair = np.trace(cost) / len(x)
    e_ind = cost.mean()
    denom = e_ind - e_ot
    if not np.isfinite(denom) or denom <= 0:
        return float("nan")
    return float((e_pair - e_ot) / denom)


def coverage(mixture: GaussianMixture, x: jax.Array) -> jax.Array:
    """Fraction of rows of x (n, d) assigned to each component, (K,).

    Equals the weights π (within sampling error) for true samples; a 0 entry is a
    dropped mode. Compare entry-wise with ``mixture.weights``.
    """
    labels = mixture.assign(check_rows(x, mixture.dim, "x"))
    return jnp.bincount(labels, length=mixture.n_modes) / labels.shape[0]


def loglik_gap(mixture: GaussianMixture, x: jax.Array, reference: jax.Array) -> jax.Array:
    """(mean log p(reference) − mean log p(x)) / d under the true mixture, nats per
    dimension. Scalar.

    ≈ 0 when x is distributed like the reference samples; > 0 when x is less likely
    (off-manifold or blurry); < 0 when x is *more* likely than true samples, the sign
    of samples collapsing onto the modes' centres. Divided by d so that it compares
    across dimensions. Not scale-invariant: it is measured in the mixture's own units.
    """
    x = check_rows(x, mixture.dim, "x")
    reference = check_rows(reference, mixture.dim, "reference")
    return (jnp.mean(mixture.log_prob(reference)) - jnp.mean(mixture.log_prob(x))) / mixture.dim


def sliced_wasserstein(
    key: jax.Array, x: jax.Array, y: jax.Array, n_projections: int = 128
) -> jax.Array:
    """Sliced 2-Wasserstein distance between the samples x and y (both (n, d)). Scalar.

    sqrt of the mean over random unit directions θ of W2²(θ·x, θ·y), each 1-D W2
    exact by sorting. 0 for identical samples; scales linearly with a common
    rescaling (divide by the data's scale for a scale-free number).
    """
    x, y = check_paired(x, y, "x", "y")
    theta = jax.random.normal(key, (x.shape[1], n_projections))
    theta = theta / jnp.linalg.norm(theta, axis=0, keepdims=True)
    px, py = jnp.sort(x @ theta, axis=0), jnp.sort(y @ theta, axis=0)
    return jnp.sqrt(jnp.mean((px - py) ** 2))


def denoiser_error(
    denoise, mixture: GaussianMixture, key: jax.Array, sigmas, n: int = 512
) -> jax.Array:
    """Excess error of a denoiser relative to the optimum, per σ: shape (len(sigmas),).

    E‖D(x_σ, σ) − D*(x_σ, σ)‖² / E‖D*(x_σ, σ) − x_0‖², D* the mixture's exact
    denoiser, x_0 ~ mixture. By orthogonality of the conditional mean, the numerator
    is the denoiser's MSE minus the optimal MSE: 0 = optimal, 1 = twice the optimal
    error. Scale-invariant.
    """
    sigmas = jnp.asarray(sigmas, dtype=jnp.float32)

    def one(k, sigma):
        k_x, k_n = jax.random.split(k)
        x0 = mixture.sample(k_x, n)
        x = x0 + sigma * jax.random.normal(k_n, x0.shape)
        best = mixture.denoise(x, sigma)
        excess = jnp.mean(jnp.sum((denoise(x, sigma) - best) ** 2, -1))
        optimal = jnp.mean(jnp.sum((best - x0) ** 2, -1))
        return excess / optimal

    keys = jax.random.split(key, sigmas.shape[0])
    return jax.lax.map(lambda a: one(*a), (keys, sigmas))

"""Every metric at its known limits, and its invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from dmdlab import GaussianMixture
from dmdlab.metrics import (
    copying_score,
    coverage,
    denoiser_error,
    gap_tail,
    loglik_gap,
    mode_agreement,
    mode_tv,
    mode_tv_floor,
    pairing_inefficiency,
    sliced_wasserstein,
)


@pytest.fixture
def mixture(key):
    return GaussianMixture.random(key, 16, 6, std=0.3)


def test_copying_score_limits_and_invariance(key, mixture):
    t = mixture.sample(key, 2000)
    assert float(copying_score(t, t)) == pytest.approx(1.0, abs=1e-6)
    shuffled = t[jax.random.permutation(jax.random.fold_in(key, 1), 2000)]
    assert abs(float(copying_score(shuffled, t))) < 0.05
    noisy = t + 0.1 * jax.random.normal(key, t.shape)
    c = float(copying_score(noisy, t))
    assert 0.5 < c < 1.0
    assert float(copying_score(3.0 * noisy + 7.0, 3.0 * t + 7.0)) == pytest.approx(c, abs=1e-4)


def test_mode_agreement_limits(key, mixture):
    t = mixture.sample(key, 4000)
    agree, kappa = mode_agreement(mixture, t, t)
    assert float(agree) == 1.0 and float(kappa) == pytest.approx(1.0, abs=1e-6)
    shuffled = t[jax.random.permutation(key, 4000)]
    agree, kappa = mode_agreement(mixture, shuffled, t)
    assert abs(float(kappa)) < 0.05
    assert float(agree) == pytest.approx(1.0 / 6, abs=0.05)
    # everything in one and the same mode: κ undefined
    one = jnp.broadcast_to(mixture.means[0], (10, 16))
    assert np.isnan(float(mode_agreement(mixture, one, one)[1]))


def test_pairing_inefficiency_limits_and_invariance(key):
    d, n = 8, 300
    z = jax.random.normal(key, (n, d))
    x = jnp.tanh(jax.random.normal(jax.random.fold_in(key, 1), (n, d))) * 2.0 + 1.0
    # the OT coupling of these samples, found independently by the same cost
    xs, zs = np.asarray(x, np.float64), np.asarray(z, np.float64)
    scale = np.sqrt(np.mean(np.sum((xs - xs.mean(0)) ** 2, 1)) / d)
    cost = ((xs[:, None] - (xs.mean(0) + scale * zs)[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    x_ot = jnp.zeros_like(x).at[cols].set(x[rows])  # x_ot[j] is paired with z[j]
    assert pairing_inefficiency(z, x_ot) == pytest.approx(0.0, abs=1e-9)
    random_de = [
        pairing_inefficiency(z, x[jax.random.permutation(jax.random.fold_in(key, i), n)])
        for i in range(5)
    ]
    assert np.mean(random_de) == pytest.approx(1.0, abs=0.05)
    # a monotone map of z is optimal for the quadratic cost
    assert pairing_inefficiency(z, 3.0 * z + 1.0) == pytest.approx(0.0, abs=1e-9)
    mid = pairing_inefficiency(z, x)
    assert pairing_inefficiency(z, 10.0 * x - 4.0) == pytest.approx(mid, abs=1e-6)


def test_coverage_of_true_samples_is_the_weights(key):
    w = jnp.array([0.1, 0.2, 0.3, 0.4])
    m = GaussianMixture(w, 3.0 * jax.random.normal(key, (4, 10)), jnp.full(4, 0.3))
    np.testing.assert_allclose(coverage(m, m.sample(key, 20000)), w, atol=0.015)
    collapsed = jnp.broadcast_to(m.means[2], (50, 10))
    np.testing.assert_allclose(coverage(m, collapsed), [0, 0, 1, 0])


def test_loglik_gap_limits(key, mixture):
    a, b = mixture.sample(key, 5000), mixture.sample(jax.random.fold_in(key, 1), 5000)
    assert abs(float(loglik_gap(mixture, a, b))) < 0.02
    blurry = a + 0.5 * jax.random.normal(key, a.shape)
    assert float(loglik_gap(mixture, blurry, b)) > 0.5
    collapsed = mixture.means[mixture.assign(a)]
    assert float(loglik_gap(mixture, collapsed, b)) < 0


def test_gap_tail_splits_off_mode_samples_from_the_bulk(key, mixture):
    """True samples: the quantile's share below it and no gap. A tenth of them moved far
    from every mode: a share ≥ a tenth, a large gap, and the rest's gap near 0. One
    Gaussian N(0, I) sampled at half its scale: no share, and both gaps the closed form
    E log p(z/2) − E log p(z) = −(1 − 1/4) d / 2, i.e. −0.375 nats/dim."""
    ref = mixture.sample(jax.random.fold_in(key, 1), 4000)
    share, gap, rest = gap_tail(mixture, ref, ref, 0.01)
    assert abs(share - 0.01) <= 1 / 4000 and gap == 0.0 and rest < 0
    x = mixture.sample(key, 4000)
    far = x.at[:400].add(30.0)
    share, gap, rest = gap_tail(mixture, far, ref, 0.01)
    assert share >= 0.1 and gap > 5.0 and abs(rest) < 0.02
    d = 12
    one = GaussianMixture(jnp.ones(1), jnp.zeros((1, d)), jnp.ones(1))
    z = jax.random.normal(key, (20000, d))
    ref = jax.random.normal(jax.random.fold_in(key, 2), (20000, d))
    share, gap, rest = gap_tail(one, 0.5 * z, ref, 0.01)
    assert share == 0.0 and gap == rest and abs(gap + 0.375) < 0.01


def test_sliced_wasserstein(key, mixture):
    a, b = mixture.sample(key, 1000), mixture.sample(jax.random.fold_in(key, 1), 1000)
    assert float(sliced_wasserstein(key, a, a)) == 0.0
    same = float(sliced_wasserstein(key, a, b))
    shifted = float(sliced_wasserstein(key, a + 1.0, b))
    assert same < shifted / 4  # sampling noise is small against a unit shift
    assert float(sliced_wasserstein(key, 2 * a, 2 * b)) == pytest.approx(2 * same, rel=1e-4)


def test_denoiser_error_is_zero_for_the_oracle_and_exact_for_the_identity(key, mixture):
    sigmas = (0.1, 1.0, 10.0)
    err = denoiser_error(mixture.denoise, mixture, key, sigmas, n=256)
    np.testing.assert_allclose(err, 0.0, atol=1e-8)
    # For N(μ, s² I) and the no-op denoiser D(x) = x: excess E‖x − D*‖² = d σ⁴/(s² + σ²)
    # and optimal error d s² σ²/(s² + σ²), so the ratio is exactly σ²/s².
    s = 0.5
    gauss = GaussianMixture(jnp.ones(1), jnp.zeros((1, 8)), jnp.array([s]))
    x_err = denoiser_error(lambda x, sig: x, gauss, key, sigmas, n=8192)
    np.testing.assert_allclose(x_err, np.square(sigmas) / s**2, rtol=0.05)


def test_metrics_reject_mismatched_shapes(mixture):
    with pytest.raises(ValueError, match="student and teacher"):
        copying_score(jnp.zeros((5, 3)), jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="z and x"):
        pairing_inefficiency(jnp.zeros((5, 3)), jnp.zeros((5, 2)))
    with pytest.raises(ValueError, match="x must"):
        coverage(mixture, jnp.zeros((5, 3)))


def test_mode_tv_limits_and_its_noise_floor(key, mixture):
    # all mass in one mode: 1 − π_k, however the samples sit inside it
    k = int(jnp.argmin(mixture.weights))
    one = mixture.means[k] + 0.01 * jax.random.normal(key, (500, mixture.dim))
    assert float(mode_tv(mixture, one)) == pytest.approx(1 - float(mixture.weights[k]), abs=1e-6)
    # true samples read the binomial floor, not 0: mean over draws within 15% of it
    n = 1000
    draws = [float(mode_tv(mixture, mixture.sample(jax.random.fold_in(key, i), n)))
             for i in range(40)]  # fmt: skip
    floor = mode_tv_floor(mixture.weights, n)
    assert np.mean(draws) == pytest.approx(floor, rel=0.15)
    assert floor == pytest.approx(mode_tv_floor(mixture.weights, 4 * n) * 2, rel=1e-9)

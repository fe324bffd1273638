"""GaussianMixture against closed forms: Tweedie's identity, sampling frequencies, input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture


def _mixtures(key):
    """Equal and unequal weights and stds, several d and K."""
    out = []
    for d, k in [(2, 1), (2, 8), (16, 3), (128, 5), (512, 4)]:
        out.append(GaussianMixture.random(jax.random.fold_in(key, d * 10 + k), d, k, std=0.2))
    k1, k2, k3 = jax.random.split(key, 3)
    w = jax.nn.softmax(jax.random.normal(k1, (6,)))
    out.append(
        GaussianMixture(
            w, jax.random.normal(k2, (6, 32)), jax.random.uniform(k3, (6,), minval=0.05, maxval=1.0)
        )
    )
    return out


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 10.0, 80.0])
def test_denoise_matches_tweedie(key, sigma):
    @jax.jit
    def both_sides(m, x):
        score = jax.grad(lambda y: m.noised_log_prob(y, sigma).sum())(x)
        return m.denoise(x, sigma), x + sigma**2 * score

    for m in _mixtures(key):
        x0 = m.sample(jax.random.fold_in(key, 1), 64)
        x = x0 + sigma * jax.random.normal(jax.random.fold_in(key, 2), x0.shape)
        denoised, tweedie = both_sides(m, x)
        # float32: the cancellation in x + σ² ∇log p costs ~1e-7 of |x|.
        tol = 1e-5 * (1.0 + float(jnp.max(jnp.abs(x))))
        np.testing.assert_allclose(denoised, tweedie, atol=tol, rtol=0)


def test_denoise_accepts_per_row_sigma(key):
    m = GaussianMixture.random(key, 4, 3)
    x = jax.random.normal(key, (5, 4))
    sigmas = jnp.array([0.1, 0.5, 1.0, 5.0, 50.0])
    rowwise = jnp.stack([m.denoise(x[i : i + 1], sigmas[i])[0] for i in range(5)])
    np.testing.assert_allclose(m.denoise(x, sigmas), rowwise, rtol=1e-5, atol=1e-6)


def test_single_gaussian_denoiser_is_linear_shrinkage(key):
    mu, s, sigma = jnp.array([[1.0, -2.0, 0.5]]), 0.3, 2.0
    m = GaussianMixture(jnp.ones(1), mu, jnp.array([s]))
    x = jax.random.normal(key, (10, 3))
    expected = mu + s**2 / (s**2 + sigma**2) * (x - mu)
    np.testing.assert_allclose(m.denoise(x, sigma), expected, rtol=1e-5, atol=1e-6)


def test_log_prob_matches_scipy(key):
    from scipy.stats import multivariate_normal

    m = _mixtures(key)[-1]
    x = np.asarray(m.sample(key, 20), np.float64)
    w, mu, s = (np.asarray(a, np.float64) for a in (m.weights, m.means, m.stds))
    ref = np.log(
        sum(w[k] * multivariate_normal(mu[k], s[k] ** 2 * np.eye(m.dim)).pdf(x) for k in range(6))
    )
    np.testing.assert_allclose(m.log_prob(jnp.asarray(x)), ref, rtol=1e-4)


def test_sampling_frequencies_and_assign(key):
    w = jnp.array([0.5, 0.3, 0.2])
    m = GaussianMixture(w, 4.0 * jax.random.normal(key, (3, 16)), jnp.full(3, 0.2))
    x, labels = m.sample_with_labels(jax.random.fold_in(key, 1), 20000)
    np.testing.assert_allclose(jnp.bincount(labels, length=3) / 20000, w, atol=0.015)
    # well-separated modes: the most probable component is the one sampled from
    assert float(jnp.mean(m.assign(x) == labels)) > 0.999
    # per-coordinate spread around each mean is the component std
    resid = x - m.means[labels]
    np.testing.assert_allclose(float(jnp.std(resid)), 0.2, rtol=0.02)


def test_random_geometry_and_intrinsic_dim(key):
    m = GaussianMixture.random(key, 256, 64)
    assert m.dim == 256 and m.n_modes == 64 and m.means.shape == (64, 256)
    np.testing.assert_allclose(float(jnp.mean(m.means**2)), 1.0, rtol=0.05)
    low = GaussianMixture.random(key, 64, 20, intrinsic_dim=3)
    assert int(jnp.linalg.matrix_rank(low.means, rtol=1e-4)) == 3
    np.testing.assert_allclose(float(jnp.mean(low.means**2)), 1.0, rtol=0.5)


def test_variance_matches_samples(key):
    m = GaussianMixture.random(key, 8, 4, std=0.5)
    x = m.sample(key, 200000)
    np.testing.assert_allclose(float(m.variance()), float(jnp.mean(jnp.var(x, 0))), rtol=0.02)


def test_vmap_over_seeds(key):
    ms = jax.vmap(lambda k: GaussianMixture.random(k, 3, 2))(jax.random.split(key, 4))
    assert ms.means.shape == (4, 2, 3)
    x = jnp.zeros((4, 5, 3))
    assert jax.vmap(lambda m, y: m.denoise(y, 1.0))(ms, x).shape == (4, 5, 3)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(dim=0, n_modes=2), "dim"),
        (dict(dim=2, n_modes=0), "n_modes"),
        (dict(dim=2, n_modes=2, std=0.0), "std"),
        (dict(dim=2, n_modes=2, std=-1.0), "std"),
        (dict(dim=2, n_modes=2, intrinsic_dim=3), "intrinsic_dim"),
    ],
)
def test_random_rejects_bad_input(key, kwargs, field):
    with pytest.raises(ValueError, match=field):
        GaussianMixture.random(key, **kwargs)


def test_constructor_and_calls_reject_bad_input(key):
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(jnp.array([0.5, 0.6]), jnp.zeros((2, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match="stds"):
        GaussianMixture(jnp.array([0.5, 0.5]), jnp.zeros((2, 3)), jnp.ones(3))
    m = GaussianMixture.random(key, 3, 2)
    with pytest.raises(ValueError, match="sigma"):
        m.denoise(jnp.zeros((4, 3)), 0.0)
    with pytest.raises(ValueError, match="sigma"):
        m.denoise(jnp.zeros((4, 3)), -1.0)
    with pytest.raises(ValueError, match="sigma"):
        m.denoise(jnp.zeros((4, 3)), jnp.ones(5))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 3\)"):
        m.denoise(jnp.zeros((4, 2)), 1.0)
    with pytest.raises(ValueError, match="x must"):
        m.log_prob(jnp.zeros((4,)))


def test_classes_of_different_intrinsic_dimension_are_exact():
    """Blobs with class_dims (2, 1, 2): each class's noised density and denoiser against
    the explicit Gaussian N(α μ_c, α² Σ_c + σ² I), Σ_c = B_c B_cᵀ + s² (I − B_c B_cᵀ)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from scipy.stats import multivariate_normal

    from dmdlab import GaussianMixture

    d, s = 5, 0.2
    mix = GaussianMixture.blobs(jax.random.key(0), d, 3, radius=0.5, thickness=s,
                                class_dims=(2, 1, 2))  # fmt: skip
    np.testing.assert_allclose(mix.subspace_dims(), [2, 1, 2], atol=1e-5)
    x = np.asarray(jax.random.normal(jax.random.key(1), (6, d))) * 2
    alpha, sigma = 0.6, 0.7
    covs, dens = [], []
    for k in range(3):
        b = np.asarray(mix.bases[k])
        p = b @ b.T
        cov = p + s**2 * (np.eye(d) - p)
        covs.append(cov)
        mean = np.asarray(mix.means[k])  # the density under VE noising (α = 1)
        dens.append(multivariate_normal(mean, cov + sigma**2 * np.eye(d)).pdf(x))
    want = np.log(np.asarray(dens).T @ np.asarray(mix.weights))
    got = mix.noised_log_prob(jnp.asarray(x), sigma)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    labels = jnp.array([0, 1, 2, 0, 1, 2])
    for i, k in enumerate(np.asarray(labels)):
        mu, cov = np.asarray(mix.means[k]), covs[k]
        gain = alpha * cov @ np.linalg.inv(alpha**2 * cov + sigma**2 * np.eye(d))
        want_i = mu + gain @ (x[i] - alpha * mu)
        got_i = mix.denoise(jnp.asarray(x), sigma, labels=labels, alpha=alpha)[i]
        np.testing.assert_allclose(got_i, want_i, rtol=1e-4, atol=1e-4)
    # the middle class is a line: its samples spread along one direction (plus thickness)
    z = mix.sample_given(jax.random.key(2), jnp.full((20000,), 1))
    eig = np.sort(np.linalg.eigvalsh(np.cov(np.asarray(z).T)))
    np.testing.assert_allclose(eig, [s**2] * 4 + [1.0], rtol=0.06)

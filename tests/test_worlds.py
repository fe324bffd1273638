"""The workbench's world and parametrization against closed forms: class blobs on random
subspaces (conditional Tweedie, samples in their subspace, the closed-form conditional
map against Heun) and flow matching (the exact velocity of a Gaussian, its map, its
agreement with the VE map as σ_max → ∞)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture
from dmdlab.noising import Noising
from dmdlab.ode import teacher_map


def _blobs(key, d=8, c=3, m=2, thickness=0.2):
    return GaussianMixture.blobs(key, d, c, class_dim=m, radius=5.0, thickness=thickness)


@pytest.mark.parametrize("sigma", [0.05, 0.5, 2.0, 30.0])
def test_blob_denoiser_matches_tweedie_per_class_and_overall(key, sigma):
    _check_tweedie(_blobs(key), key, sigma, rtol=2e-5)


def _check_tweedie(mix, key, sigma, rtol):
    """D(x, σ) = x + σ² ∇ log p_σ(x), per class and overall, at noised samples of ``mix``."""
    x0, labels = mix.sample_with_labels(jax.random.fold_in(key, 1), 64)
    x = x0 + sigma * jax.random.normal(jax.random.fold_in(key, 2), x0.shape)
    for lab in (labels, None):
        score = jax.grad(lambda y, lab=lab: mix.noised_log_prob(y, sigma, lab).sum())(x)
        tol = rtol * (1.0 + float(jnp.max(jnp.abs(x))))
        np.testing.assert_allclose(mix.denoise(x, sigma, lab), x + sigma**2 * score, atol=tol)


def test_blob_samples_lie_in_their_class_subspace_and_means_on_the_sphere(key):
    d, m = 16, 3
    mix = _blobs(key, d=d, c=4, m=m, thickness=1e-6)
    np.testing.assert_allclose(jnp.linalg.norm(mix.means, axis=1), 5.0 * np.sqrt(d), rtol=1e-5)
    x, labels = mix.sample_with_labels(jax.random.fold_in(key, 3), 400)
    b = mix.bases[labels]
    r = x - mix.means[labels]
    off = r - jnp.einsum("ndm,nm->nd", b, jnp.einsum("ndm,nd->nm", b, r))
    assert float(jnp.max(jnp.linalg.norm(off, axis=1))) < 1e-4  # only the thickness leaves it
    inside = jnp.einsum("ndm,nd->nm", b, r)  # unit scale inside the subspace
    assert float(jnp.std(inside)) == pytest.approx(1.0, abs=0.05)
    assert (mix.assign(x) == labels).all()  # far-apart means: every sample in its own class


@pytest.mark.parametrize("kind", ["ve", "flow"])
def test_closed_form_class_map_matches_heun(key, kind):
    mix = _blobs(key, d=8, c=3, m=2)
    noising = Noising(kind, 80.0)
    z = jax.random.normal(jax.random.fold_in(key, 4), (256, 8))
    labels = jnp.arange(256) % 3
    heun = noising.ode_map(lambda x, s: noising.exact(mix, x, s, labels), z, 200)
    exact = noising.class_map(mix, z, labels)
    scale = float(jnp.max(jnp.abs(exact - mix.means[labels])))
    assert float(jnp.max(jnp.abs(heun - exact))) < 1e-3 * scale


def test_flow_denoiser_is_the_exact_gaussian_velocity(key):
    mu, s = jnp.array([1.0, -2.0, 0.5]), 0.3
    one = GaussianMixture(jnp.ones(1), mu[None], jnp.array([s]))
    x = jax.random.normal(key, (32, 3))
    for t in (0.01, 0.3, 0.9, 1.0):
        a = 1 - t
        closed = mu + a * s**2 / (a**2 * s**2 + t**2) * (x - a * mu)
        got = Noising("flow").exact(one, x, t)
        np.testing.assert_allclose(got, closed, rtol=1e-5, atol=1e-6)
        velocity = (x - got) / t  # the flow teacher's target, v = (x_t − x̂_0) / t
        np.testing.assert_allclose(velocity, (x - closed) / t, rtol=1e-5, atol=1e-5)
    # at t = 1 the exact clean prediction is the mean, whatever the input
    np.testing.assert_allclose(Noising("flow").exact(one, x, 1.0), jnp.broadcast_to(mu, x.shape))


@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_flow_denoiser_matches_tweedie_through_the_change_of_variables(key, t):
    # x_t = (1 − t) x_σ with σ = t/(1 − t): E[x0 | x_t] = E[x0 | x_σ = x_t/(1 − t)]
    mix = GaussianMixture.random(key, 6, 4, std=0.3)
    x = jax.random.normal(jax.random.fold_in(key, 5), (64, 6))
    sigma = t / (1 - t)
    score = jax.grad(lambda y: mix.noised_log_prob(y, sigma).sum())(x / (1 - t))
    tweedie = x / (1 - t) + sigma**2 * score
    np.testing.assert_allclose(Noising("flow").exact(mix, x, t), tweedie, rtol=1e-4, atol=1e-4)


def test_flow_map_of_a_gaussian_and_its_ve_limit(key):
    mu, s = jnp.array([1.0, -2.0]), 0.4
    one = GaussianMixture(jnp.ones(1), mu[None], jnp.array([s]))
    z = jax.random.normal(key, (128, 2))
    flow = Noising("flow").ode_map(lambda x, t: Noising("flow").exact(one, x, t), z, 200)
    np.testing.assert_allclose(flow, mu + s * z, atol=2e-3)  # the OT map: μ + s z
    # VE from σ_max: μ + s (σ_max z − μ)/√(s² + σ_max²) → μ + s z as σ_max → ∞
    for sigma_max in (80.0, 2000.0):
        ve = teacher_map(one.denoise, z, sigma_max=sigma_max, steps=200)
        gap = float(jnp.max(jnp.abs(ve - flow)))
        assert gap == pytest.approx(s * float(jnp.max(jnp.abs(mu))) / sigma_max, abs=2e-3)


def test_class_dims_give_each_blob_class_its_own_dimension():
    import jax
    import numpy as np
    import pytest

    from dmdlab.config import DMDConfig
    from dmdlab.worlds import world_of

    cfg = DMDConfig(world="blobs", n_modes=3, dim=6, class_dim=2, class_dims="2,1,2")
    mix = world_of("blobs").build(cfg, jax.random.key(0))
    np.testing.assert_allclose(mix.subspace_dims(), [2, 1, 2], atol=1e-5)  # overrides class_dim
    for bad in ({"class_dims": "2,1,2"}, {"world": "blobs", "n_modes": 3, "class_dims": "2,1"},
                {"world": "blobs", "n_modes": 3, "class_dims": "2,x,2"},
                {"world": "blobs", "n_modes": 3, "dim": 4, "class_dims": "2,5,2"}):  # fmt: skip
        with pytest.raises(ValueError, match=r"class_dims=.* is invalid: allowed"):
            DMDConfig(**bad)


# ---------------------------------------------------------------- the authors' sphere shells
def _shells(key, d=4, dims=(1, 1, 1), thickness=0.1):
    return GaussianMixture.shells(key, d, dims, radius=0.6, thickness=thickness)


@pytest.mark.parametrize("dims", [(1, 1, 1), (2, 1, 0)])
@pytest.mark.parametrize("sigma", [0.05, 0.7, 5.0])
def test_shell_denoiser_matches_tweedie_per_class_and_overall(key, dims, sigma):
    # the density (a von Mises–Fisher normaliser) and the denoiser (its mean resultant
    # length) are separate formulas: Tweedie ties them
    _check_tweedie(_shells(key, dims=dims), key, sigma, rtol=5e-5)


def test_shell_denoiser_is_the_monte_carlo_posterior_mean(key):
    # E[x0 | x, class] by self-normalised importance weights over 200 000 class samples
    mix = _shells(key, dims=(2, 1, 1))
    sigma, c = 0.7, 0
    x = mix.sample_given(jax.random.fold_in(key, 3), jnp.zeros(4, int))
    x = x + sigma * jax.random.normal(jax.random.fold_in(key, 4), x.shape)
    xs = mix.sample_given(jax.random.fold_in(key, 5), jnp.full((200_000,), c))
    logw = -jnp.sum((x[:, None] - xs[None]) ** 2, -1) / (2 * sigma**2)
    mc = jax.nn.softmax(logw, axis=1) @ xs
    exact = mix.denoise(x, sigma, jnp.full((4,), c))
    np.testing.assert_allclose(exact, mc, atol=0.02)


def test_shell_density_integrates_to_one_and_flow_noising_is_a_rescaling(key):
    mix = GaussianMixture.shells(key, 2, (1, 0), radius=0.5, thickness=0.15)
    g = np.linspace(-6, 6, 401)
    pts = jnp.asarray(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2))
    for log_p in (mix.log_prob(pts), mix.noised_log_prob(pts, 0.3)):
        assert float(jnp.exp(log_p).sum()) * (g[1] - g[0]) ** 2 == pytest.approx(1.0, abs=1e-3)
    # x = α x0 + t ε is x/α = x0 + (t/α) ε rescaled: the same posterior mean
    x = jax.random.normal(jax.random.fold_in(key, 6), (32, 2))
    np.testing.assert_allclose(mix.denoise(x, 0.4, alpha=0.6), mix.denoise(x / 0.6, 0.4 / 0.6),
                               atol=1e-5)  # fmt: skip


def test_shell_samples_lie_on_their_spheres_and_the_variance_is_exact(key):
    d = 6
    mix = _shells(key, d=d, dims=(2, 1, 1), thickness=1e-6)
    np.testing.assert_allclose(jnp.linalg.norm(mix.means, axis=1), 0.6 * np.sqrt(d), rtol=1e-5)
    x, labels = mix.sample_with_labels(jax.random.fold_in(key, 7), 600)
    r = x - mix.means[labels]
    b = mix.bases[labels]
    inside = jnp.einsum("ndm,nd->nm", b, r)
    np.testing.assert_allclose(jnp.linalg.norm(r, axis=1), mix.radii[labels], rtol=1e-4)
    np.testing.assert_allclose(jnp.linalg.norm(inside, axis=1), mix.radii[labels], rtol=1e-4)
    # a circle's samples use only its basis's two columns
    assert float(jnp.max(jnp.abs(inside[labels != 0][:, 2]))) == 0.0
    thick = _shells(key, d=d, dims=(2, 1, 1), thickness=0.3)
    xs = thick.sample(jax.random.fold_in(key, 8), 200_000)
    assert float(jnp.var(xs, axis=0).mean()) == pytest.approx(float(thick.variance()), rel=0.02)


def test_a_shell_has_no_closed_form_map_and_says_so(key):
    with pytest.raises(ValueError, match="no closed form"):
        Noising("flow", 80.0).class_map(_shells(key), jnp.zeros((3, 4)), jnp.arange(3))


def test_a_shells_read_out_at_t_1_is_its_class_centre(key):
    # the authors' regression target T₁(z) = E[x0 | x1 = z, c]: x1 = ε carries nothing of
    # x0, so it is E[x0 | c], the centre of the class's sphere, for every z (the term pulls
    # the student off its shell towards it; docs/science.md §1b)
    mix = _shells(key, d=5, dims=(2, 1, 1))
    z = 3.0 * jax.random.normal(jax.random.fold_in(key, 9), (12, 5))
    labels = jnp.arange(12) % 3
    got = Noising("flow").exact(mix, z, 1.0, labels)
    np.testing.assert_allclose(got, mix.means[labels], atol=1e-5)
    # and the data's mean of a class is that centre (the sphere is symmetric)
    xs = mix.sample_given(jax.random.fold_in(key, 10), jnp.zeros(100_000, int))
    np.testing.assert_allclose(xs.mean(0), mix.means[0], atol=0.01)


def test_sphere_distance_is_zero_on_the_spheres_and_the_radial_offset_off_them(key):
    d = 6
    thin = _shells(key, d=d, dims=(2, 1, 1), thickness=1e-6)
    x, labels = thin.sample_with_labels(jax.random.fold_in(key, 11), 300)
    np.testing.assert_allclose(thin.sphere_distance(x), 0.0, atol=1e-4)
    # moved radially by δ inside its own subspace, or across it by δ: off by δ (the
    # classes' centres are far apart at radius 0.6√6 against radii ≥ 0.5 … no closer sphere)
    r = x - thin.means[labels]
    radial = r / jnp.linalg.norm(r, axis=1, keepdims=True)
    np.testing.assert_allclose(thin.sphere_distance(x + 0.1 * radial), 0.1, atol=1e-4)
    b = thin.bases[0]
    across = jnp.linalg.qr(jnp.concatenate([b, jnp.eye(d)], 1))[0][:, b.shape[1]]
    on0 = x[labels == 0]
    np.testing.assert_allclose(thin.sphere_distance(on0 + 0.05 * across), 0.05, atol=1e-4)
    # the centre of a sphere is its radius away from it
    got = thin.sphere_distance(thin.means)
    assert bool(jnp.all(got <= thin.radii + 1e-5))
    with pytest.raises(ValueError, match="shells"):
        GaussianMixture.random(key, 4, 3).sphere_distance(jnp.zeros((2, 4)))


def test_seed_mixture_is_the_world_a_seed_run_trains_on():
    from dmdlab import run_seeds, seed_mixture
    from dmdlab.presets import PRESETS

    config = PRESETS["tiny"].base.replace(world="shells", dim=3, class_dim=1, n_modes=3,
                                          mode_std=0.05, steps=1, eval_every=1)  # fmt: skip
    out, _ = run_seeds(config, [3, 5])
    for i, seed in enumerate((3, 5)):
        mix = seed_mixture(config, seed)
        for field in ("means", "weights", "stds", "radii", "bases"):
            # built eagerly here, inside the jitted program there: equal up to an ulp
            np.testing.assert_allclose(getattr(mix, field), getattr(out.mixture, field)[i],
                                       rtol=1e-6, atol=1e-7)  # fmt: skip

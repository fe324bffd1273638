"""The Heun ODE map against the closed-form single-Gaussian map and an adaptive solver."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture, MemorizingTeacher, OracleTeacher, teacher_map
from dmdlab.ode import karras_sigmas, teacher_map_adaptive

SIGMA_MAX = 80.0


def _single_gaussian(key, d=16, s=0.3):
    mu = jax.random.normal(key, (1, d))
    return GaussianMixture(jnp.ones(1), mu, jnp.array([s])), mu[0], s


def _exact_map(z, mu, s, sigma_max=SIGMA_MAX):
    # The ODE starts at x = σ_max z, so x − μ = σ_max z − μ at σ_max, and
    # x − μ ∝ √(s² + σ²) along the flow (docs/science.md §3 drops the −μ term, O(s/σ_max)).
    return mu + s * (sigma_max * z - mu) / np.sqrt(s**2 + sigma_max**2)


def _rel_err(t, exact, mu):
    return float(jnp.linalg.norm(t - exact) / jnp.linalg.norm(exact - mu))


def test_karras_schedule_endpoints_and_monotone():
    s = karras_sigmas(40)
    np.testing.assert_allclose([s[0], s[-1]], [80.0, 0.002], rtol=1e-5)
    assert bool(jnp.all(jnp.diff(s) < 0))
    with pytest.raises(ValueError, match="sigma_min"):
        karras_sigmas(10, sigma_max=1.0, sigma_min=2.0)


@pytest.mark.parametrize("s", [0.2, 1.0])
def test_single_gaussian_map_is_exact_at_default_steps(key, s):
    m, mu, s = _single_gaussian(key, s=s)
    z = jax.random.normal(jax.random.fold_in(key, 1), (256, m.dim))
    t = teacher_map(OracleTeacher(m), z)
    # error relative to the displacement T(z) − μ, the strict measure
    assert _rel_err(t, _exact_map(z, mu, s), mu) < 1e-3


def test_heun_error_falls_with_steps_at_second_order(key):
    m, mu, s = _single_gaussian(key)
    z = jax.random.normal(jax.random.fold_in(key, 1), (256, m.dim))
    exact = _exact_map(z, mu, s)
    errs = [_rel_err(teacher_map(m.denoise, z, steps=n), exact, mu) for n in (20, 40, 80)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[0] / errs[2] > 10  # 2nd order: ×4 per doubling, so ×16 over two doublings


def test_adaptive_reference_matches_closed_form(key):
    pytest.importorskip("diffrax")
    m, mu, s = _single_gaussian(key)
    z = jax.random.normal(jax.random.fold_in(key, 1), (64, m.dim))
    t = teacher_map_adaptive(m.denoise, z)
    assert _rel_err(t, _exact_map(z, mu, s), mu) < 1e-4


def test_heun_agrees_with_adaptive_on_a_mixture(key):
    pytest.importorskip("diffrax")
    m = GaussianMixture.random(key, 8, 4)
    z = jax.random.normal(jax.random.fold_in(key, 1), (128, 8))
    heun, ref = teacher_map(m.denoise, z), teacher_map_adaptive(m.denoise, z)
    assert float(jnp.mean(m.assign(heun) == m.assign(ref))) > 0.99
    assert float(jnp.median(jnp.linalg.norm(heun - ref, axis=1))) < 1e-2


def test_memorizing_teacher_lands_on_training_points(key):
    points = jax.random.normal(key, (32, 6))
    z = jax.random.normal(jax.random.fold_in(key, 1), (200, 6))
    t = teacher_map(MemorizingTeacher(points), z)
    nearest = jnp.min(jnp.linalg.norm(t[:, None] - points[None], axis=-1), axis=1)
    spacing = jnp.min(jnp.linalg.norm(points[:, None] - points[None], axis=-1) + 1e9 * jnp.eye(32))
    assert float(jnp.max(nearest)) < 1e-2 * float(spacing)


def test_vmap_through_the_sampler(key):
    ms = jax.vmap(lambda k: GaussianMixture.random(k, 4, 3))(jax.random.split(key, 3))
    z = jax.random.normal(key, (3, 10, 4))
    batched = jax.jit(jax.vmap(lambda m, zz: teacher_map(m.denoise, zz, steps=20)))(ms, z)
    one = teacher_map(jax.tree.map(lambda a: a[1], ms).denoise, z[1], steps=20)
    np.testing.assert_allclose(batched[1], one, rtol=1e-4, atol=1e-5)


def test_bad_input(key):
    m = GaussianMixture.random(key, 4, 3)
    with pytest.raises(ValueError, match="z must"):
        teacher_map(m.denoise, jnp.zeros(4))
    with pytest.raises(ValueError, match="steps"):
        teacher_map(m.denoise, jnp.zeros((2, 4)), steps=1)

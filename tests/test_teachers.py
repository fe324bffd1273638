"""Teachers: the trained network approaches the oracle as it trains; all share one interface."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture, MemorizingTeacher, OracleTeacher
from dmdlab.metrics import denoiser_error
from dmdlab.networks import NetSpec, edm_precond
from dmdlab.teachers import mode_sigma, sample_teacher_sigma, train_network_teacher


def test_edm_preconditioning_identities():
    sigma, sd = jnp.array([0.01, 1.0, 80.0]), 0.5
    c_skip, c_out, c_in, _ = edm_precond(sigma, sd)
    # unit variance of the network's input and target (Karras et al. 2022, App. B.6)
    np.testing.assert_allclose(c_in**2 * (sd**2 + sigma**2), 1.0, rtol=1e-6)
    # c_out² + c_skip² σ_d² ... the effective target weight: c_out² = σ² σ_d² / (σ² + σ_d²)
    np.testing.assert_allclose(c_out**2, sigma**2 * sd**2 / (sigma**2 + sd**2), rtol=1e-5)
    np.testing.assert_allclose(c_skip, sd**2 / (sigma**2 + sd**2), rtol=1e-6)


def test_teacher_sigma_covers_sigma_max(key):
    s = sample_teacher_sigma(key, 20000)
    assert float(s.min()) >= 0.002 and float(s.max()) <= 80.0
    assert float(jnp.mean(s > 40.0)) > 0.02  # log-uniform half reaches σ_max
    # "focused": a quarter at σ_max exactly and a quarter around the mode band
    f = sample_teacher_sigma(key, 20000, sigma_mode=8.0)
    assert float(jnp.mean(f == 80.0)) == pytest.approx(0.25, abs=0.02)
    assert float(jnp.mean((f > 8.0 / 2) & (f < 8.0 * 2))) > float(jnp.mean((s > 4) & (s < 16)))


def test_mode_sigma_is_half_the_nearest_neighbour_distance():
    # means 0, 2, 10 on a line: nearest-neighbour distances 2, 2, 8 → median 2 → σ = 1
    means = jnp.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0]])
    mix = GaussianMixture(jnp.full(3, 1 / 3), means, jnp.full(3, 0.1))
    assert float(mode_sigma(mix)) == pytest.approx(1.0)


def test_learned_skip_starts_as_the_edm_network(key):
    x, sigma = jax.random.normal(key, (16, 40)), jnp.geomspace(0.01, 80.0, 16)
    learned, edm = NetSpec(40, 32, 3, skip="learned"), NetSpec(40, 32, 3, skip="edm")
    np.testing.assert_array_equal(
        learned.apply(learned.init(key), x, sigma), edm.apply(edm.init(key), x, sigma)
    )
    with pytest.raises(ValueError, match="skip='none' is invalid"):
        NetSpec(3, skip="none")


@pytest.mark.parametrize("dim", [32, 128])
def test_exact_targets_and_learned_skip_give_a_near_exact_teacher(key, dim):
    """docs/science.md §5c: with width < d the learned skip removes EDM's floor, and exact
    targets converge fast. Budget (CI-sized, ~15 s on 2 cores): width 64 (< d at d = 128),
    depth 3, 4000 steps of 512. Measured: max error 0.067 at d = 32, 0.076 at d = 128."""
    m = GaussianMixture.random(key, dim, 8, std=0.2)
    spec = NetSpec(dim=dim, width=64, depth=3)
    teacher, _ = jax.jit(
        lambda k: train_network_teacher(k, m, spec, steps=4000, batch_size=512, target="exact")
    )(jax.random.key(1))
    errs = np.asarray(denoiser_error(teacher, m, jax.random.key(2), (0.5, 1.0, 2.0), n=1024))
    assert np.all(errs <= 0.1), errs


@pytest.mark.parametrize("matmul_dtype", ["float32", "bfloat16"])
def test_trained_teacher_approaches_the_oracle(key, matmul_dtype):
    # bf16 products must not cost the teacher its accuracy either
    m = GaussianMixture.random(key, 2, 4, std=0.2)
    spec = NetSpec(dim=2, width=64, depth=2, matmul_dtype=matmul_dtype)
    sigmas = (0.1, 1.0, 10.0)

    errs = []
    for steps in (0, 150, 1500):
        teacher, _ = train_network_teacher(jax.random.key(1), m, spec, steps=steps, batch_size=256)
        errs.append(np.asarray(denoiser_error(teacher, m, jax.random.key(2), sigmas, n=1024)))
    errs = np.stack(errs)
    # error falls with training (averaged over σ bands: single bands jitter by ~0.01),
    # ends below the untrained error at every band, and ends small
    mean = errs.mean(axis=1)
    assert mean[0] > mean[1] > mean[2], errs
    assert np.all(errs[2] < errs[0]) and np.all(errs[2] < 0.1), errs


def test_teachers_share_the_denoise_interface(key):
    m = GaussianMixture.random(key, 3, 2)
    pts = m.sample(key, 10)
    x = jax.random.normal(key, (5, 3))
    for teacher in (OracleTeacher(m), MemorizingTeacher(pts)):
        assert teacher(x, 1.0).shape == (5, 3)
        np.testing.assert_allclose(teacher(x, 1.0), teacher.denoise(x, 1.0))
    # the memorizing teacher at tiny σ returns the nearest training point
    near = MemorizingTeacher(pts)(pts + 1e-3, 1e-3)
    np.testing.assert_allclose(near, pts, atol=1e-4)


def test_network_teacher_is_a_pytree(key):
    m = GaussianMixture.random(key, 3, 2)
    teacher, _ = train_network_teacher(key, m, NetSpec(3, 16, 1), steps=2, batch_size=8)
    leaves = jax.tree.leaves(teacher)
    assert leaves and all(isinstance(a, jax.Array) for a in leaves)
    out = jax.jit(lambda t, x: t(x, 2.0))(teacher, jnp.ones((4, 3)))
    assert out.shape == (4, 3)


@pytest.mark.parametrize("points", [jnp.zeros((3,)), jnp.zeros((1, 2, 3))])
def test_memorizing_teacher_rejects_bad_points(points):
    with pytest.raises(ValueError, match="points"):
        GaussianMixture.empirical(points)


def test_bfloat16_products_keep_float32_outputs_and_reject_unknown_dtypes(key):
    spec = NetSpec(dim=3, width=16, depth=2, matmul_dtype="bfloat16")
    out = spec.apply(spec.init(key), jnp.ones((4, 3)), 1.0)
    assert out.dtype == jnp.float32 and out.shape == (4, 3)
    with pytest.raises(ValueError, match="matmul_dtype='float16' is invalid"):
        NetSpec(dim=3, matmul_dtype="float16")

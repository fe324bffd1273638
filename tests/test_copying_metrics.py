"""The copying metrics of docs/science.md §5–5b at their known limits: κ's companions
(within-mode copying, kept fractions, C's baseline) and the starting-map measures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture
from dmdlab.metrics import (
    copying_baseline,
    copying_score,
    kept_fractions,
    mode_agreement,
    sigma_max_error,
    start_alignment,
    start_kappa,
    within_mode_copying,
)
from dmdlab.ode import teacher_map


@pytest.fixture
def mixture(key):
    return GaussianMixture.random(key, 16, 6, std=0.3)


def _move_modes(mixture, x, perm):
    """x with each row moved from its mode k to mode perm[k] (same offset in the mode)."""
    k = mixture.assign(x)
    return x - mixture.means[k] + mixture.means[jnp.asarray(perm)[k]]


def test_kept_fractions_and_within_mode_copying_limits(key, mixture):
    t = mixture.sample(key, 3000)
    kept = kept_fractions(mixture, t, t)
    np.testing.assert_allclose(kept, 1.0)  # G = T keeps every mode
    assert float(within_mode_copying(mixture, t, t)) == pytest.approx(1.0, abs=1e-6)
    # G sends every mode somewhere else (a cyclic permutation): every mode is remapped
    moved = _move_modes(mixture, t, np.roll(np.arange(6), 1))
    np.testing.assert_allclose(kept_fractions(mixture, moved, t), 0.0)
    assert np.isnan(float(within_mode_copying(mixture, moved, t)))  # no mode agrees
    # the right modes but a shuffled position inside them: κ = 1, within-mode ≈ 0
    labels = np.asarray(mixture.assign(t))
    order = np.arange(len(t))
    rng = np.random.default_rng(0)
    for k in range(6):
        idx = np.flatnonzero(labels == k)
        order[idx] = rng.permutation(idx)
    shuffled = t[order]
    assert float(mode_agreement(mixture, shuffled, t)[1]) == pytest.approx(1.0)
    assert abs(float(within_mode_copying(mixture, shuffled, t))) < 0.05


def test_kept_fraction_is_nan_for_a_mode_the_teacher_never_visits(key, mixture):
    t = jnp.broadcast_to(mixture.means[2], (20, 16))
    kept = np.asarray(kept_fractions(mixture, t, t))
    assert kept[2] == 1.0 and np.isnan(np.delete(kept, 2)).all()


def test_copying_baseline_is_a_never_agreeing_student_and_falls_with_d(key):
    values = {}
    for d in (2, 128):  # docs/science.md §5: ≈ 0.75 at d = 2, ≈ 0.01 at d = 128 (K = 8, s = 0.2)
        mix = GaussianMixture.random(jax.random.fold_in(key, d), d, 8, std=0.2)
        t = mix.sample(key, 4000)
        values[d] = float(copying_baseline(mix, t))
        # it is the C of a student that moves T(z) into the nearest other mode's frame;
        # at d = 2 the modes overlap and a few moved points still fall in T's mode
        means = mix.means
        sq = jnp.sum((means[:, None] - means[None]) ** 2, -1) + jnp.diag(jnp.full(8, jnp.inf))
        g = _move_modes(mix, t, jnp.argmin(sq, 1))
        assert float(mode_agreement(mix, g, t)[0]) <= (0.0 if d == 128 else 0.25)
        assert values[d] == pytest.approx(float(copying_score(g, t)), abs=1e-6)
    assert values[2] > 0.5 and values[128] < 0.05


def test_start_kappa_is_one_when_the_tilt_decides_the_mode(key):
    # Two symmetric modes ±μ: the ODE keeps the mirror plane ⟨x, μ⟩ = 0, so T(z) lands in
    # the mode on z's side; the exact tilt Σ z/σ_max points there too.
    d = 8
    mu = jax.random.normal(key, (d,))
    mix = GaussianMixture(jnp.array([0.5, 0.5]), jnp.stack([mu, -mu]), jnp.full(2, 0.3))
    half = jax.random.normal(jax.random.fold_in(key, 1), (500, d))
    z = jnp.concatenate([half, -half])  # antithetic: the tilt's mean over z is exactly 0
    t = teacher_map(mix.denoise, z, steps=100)
    np.testing.assert_array_equal(mix.assign(t), (z @ mu < 0).astype(int))
    assert float(start_kappa(mix, z, t)) == pytest.approx(1.0)
    # against a pairing unrelated to z the same tilt is at chance
    t_other = t[jax.random.permutation(key, 1000)]
    assert abs(float(start_kappa(mix, z, t_other))) < 0.1


def test_start_alignment_limits(key, mixture):
    z = jax.random.normal(key, (500, 16))
    exact = mixture.denoise(80.0 * z, 80.0)
    assert float(start_alignment(exact, exact)) == pytest.approx(1.0, abs=1e-5)
    # only the z-dependent part counts: a constant shift or a rescaling changes nothing
    assert float(start_alignment(3.0 * exact + 5.0, exact)) == pytest.approx(1.0, abs=1e-5)
    unrelated = jax.random.normal(jax.random.fold_in(key, 1), exact.shape)
    assert abs(float(start_alignment(unrelated, exact))) < 0.05


def test_sigma_max_error_is_relative_to_the_z_dependent_signal(key, mixture):
    z = jax.random.normal(key, (500, 16))
    assert float(sigma_max_error(mixture.denoise, mixture, z)) == pytest.approx(0.0, abs=1e-8)
    # a denoiser that returns the exact read-out's mean over z has no tilt: error = signal
    mean = jnp.mean(mixture.denoise(80.0 * z, 80.0), axis=0)
    flat = sigma_max_error(lambda x, s: jnp.broadcast_to(mean, x.shape), mixture, z)
    assert float(flat) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("dim", [2, 32])
def test_readout_error_per_class_is_nan_where_the_exact_readout_has_no_tilt(key, dim):
    """Class blobs: under flow the exact read-out at t = 1 is the class mean (no tilt, NaN,
    not float rounding divided by itself); under VE at σ_max the per-class tilt, though
    ~1e-6 of the read-out, is a signal: a read-out that drops it has error = signal."""
    from dmdlab.metrics import _z_part, readout_error
    from dmdlab.noising import Noising

    mix = GaussianMixture.blobs(key, dim, 8, 2)
    z = jax.random.normal(jax.random.fold_in(key, 1), (2048, dim))
    labels = jax.random.randint(jax.random.fold_in(key, 2), (2048,), 0, 8)
    flow, ve = Noising("flow"), Noising("ve")
    exact = flow.exact(mix, flow.start(z), flow.top, labels)
    assert np.isnan(float(readout_error(exact + 0.01, exact, labels)))
    exact = ve.exact(mix, ve.start(z), ve.top, labels)
    no_tilt = exact - _z_part(exact, labels)
    assert float(readout_error(no_tilt, exact, labels)) == pytest.approx(1.0, rel=1e-3)


# ---------------------------------------------------------------- the paper's measures
def test_distance_ratio_is_zero_for_a_copy_and_about_one_for_shuffled_rows(key, mixture):
    from dmdlab.metrics import distance_ratios

    t = mixture.sample(key, 800)
    np.testing.assert_allclose(distance_ratios(t, t), 0.0, atol=1e-3)
    shuffled = jax.random.permutation(jax.random.fold_in(key, 1), t)
    assert float(jnp.mean(distance_ratios(shuffled, t))) == pytest.approx(1.0, abs=0.05)
    # within classes: a shuffle inside each class is ≈ 1 against same-class pairs
    labels = mixture.assign(t)
    order = jnp.lexsort((jax.random.uniform(jax.random.fold_in(key, 2), (800,)), labels))
    inside = t.at[order].set(t[jnp.roll(order, 1)])  # a cyclic shift inside sorted classes
    same = labels[order] == labels[jnp.roll(order, 1)]
    ratio = distance_ratios(inside, t, labels)[order][same]
    assert float(jnp.mean(ratio)) == pytest.approx(1.0, abs=0.1)


def test_copying_within_is_one_for_a_copy_and_tr_q_over_dc_for_a_rotated_gaussian(key):
    from dmdlab.metrics import copying_within

    # docs/science.md §6.5: G = μ + s Q z against T = μ + s z on a d_c-dim class: C = tr(Q)/d_c
    d, dc, s = 12, 4, 0.7
    mix = GaussianMixture.blobs(key, d, 2, class_dim=dc, radius=5.0, thickness=1e-6)
    z = jax.random.normal(jax.random.fold_in(key, 1), (6000, dc))
    labels = jnp.arange(6000) % 2
    b = mix.bases[labels]
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.fold_in(key, 2), (dc, dc)))
    t = mix.means[labels] + s * jnp.einsum("ndm,nm->nd", b, z)
    g = mix.means[labels] + s * jnp.einsum("ndm,nm->nd", b, z @ q.T)
    assert float(copying_within(t, t, labels)) == pytest.approx(1.0, abs=1e-5)
    c = float(copying_within(g, t, labels))
    assert c == pytest.approx(float(jnp.trace(q)) / dc, abs=0.03)


def test_within_mode_centred_sees_through_an_offset_the_uncentred_one_does_not(key, mixture):
    from dmdlab.metrics import within_mode_centred

    t = mixture.sample(key, 2000)
    k = mixture.assign(t)
    mirrored = 2 * mixture.means[k] - t  # G − μ = −(T − μ): −1 both ways
    assert float(within_mode_copying(mixture, mirrored, t)) == pytest.approx(-1.0, abs=1e-4)
    assert float(within_mode_centred(mixture, mirrored, t)) == pytest.approx(-1.0, abs=0.02)
    shifted = t + 0.4 * mixture.stds[0]  # the same positions, every mode off centre
    assert float(within_mode_centred(mixture, shifted, t)) == pytest.approx(1.0, abs=1e-4)
    assert float(within_mode_copying(mixture, shifted, t)) < 0.95


def test_assignment_copying_limits(key, mixture):
    from dmdlab.metrics import assignment_copying

    t = mixture.sample(key, 300)
    match, excess = assignment_copying(t, t)
    assert match == 1.0 and excess == pytest.approx(0.0, abs=1e-9)
    shuffled = jax.random.permutation(jax.random.fold_in(key, 1), t)
    match, excess = assignment_copying(shuffled, t)
    assert match < 0.05 and excess == pytest.approx(1.0, abs=0.15)
    assert np.isnan(assignment_copying(t.at[0, 0].set(jnp.nan), t)[0])


def test_onestep_ratio_compares_with_the_teachers_one_step(key, mixture):
    from dmdlab.metrics import onestep_ratio

    t = mixture.sample(key, 200)
    onestep = jnp.broadcast_to(mixture.weights @ mixture.means, t.shape)  # the data mean
    assert float(onestep_ratio(t, t, onestep)) == 0.0
    assert float(onestep_ratio(onestep, t, onestep)) == pytest.approx(1.0)


def test_memorized_share_is_one_on_training_points_and_small_for_fresh_samples(key, mixture):
    from dmdlab.metrics import memorized_share

    points = mixture.sample(key, 64)
    on = points[jnp.arange(200) % 64] + 1e-4  # the training points themselves, barely moved
    assert float(memorized_share(on, points)) == 1.0
    fresh = mixture.sample(jax.random.fold_in(key, 1), 200)
    assert float(memorized_share(fresh, points)) < 0.1
    assert np.isnan(memorized_share(fresh.at[0, 0].set(jnp.nan), points))

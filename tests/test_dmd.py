"""The DMD engine: the exactly solvable linear case, determinism, options, divergence, sharding."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from dmdlab import Hyperparams, distill, metrics_table, run_seeds
from dmdlab.linear import LinearStudent, polar, train_linear_student
from dmdlab.metrics import copying_score, ot_redundancy, pairing_inefficiency
from dmdlab.presets import PRESETS

TINY = PRESETS["tiny"].base.replace(dim=4)  # a 32-wide net, 40 steps: seconds


# ---------------------------------------------------------------- exactly solvable case
def _linear_case(key, d, rotation, method="dmd2"):
    k1, k2, k3 = jax.random.split(key, 3)
    s, mu = 0.5, jax.random.normal(k1, (d,))
    u, _ = jnp.linalg.qr(jax.random.normal(k2, (d, d)))
    p0 = (u * jax.random.uniform(k3, (d,), minval=0.2, maxval=1.5)) @ u.T  # SPD, ≠ s I
    student, qs = jax.jit(
        lambda st: train_linear_student(
            key, st, mu, s, steps=2500, batch_size=2048, learning_rate=0.5, method=method
        )
    )(LinearStudent(p0 @ rotation, jnp.zeros(d)))
    z = jax.random.normal(jax.random.fold_in(key, 7), (4000, d))
    teacher = mu + s * (80.0 * z - mu) / np.sqrt(s**2 + 80.0**2)  # exact T(z)
    return student, qs, s, mu, float(copying_score(student(z), teacher))


# every method whose expected update is a matrix function of Σ times A (diffrax's way:
# one test, every method, the exact answer); consistency distillation's exact answer (the
# teacher's map) is tests/test_methods.py's
@pytest.mark.parametrize("method", ["dmd2", "sid"])
@pytest.mark.parametrize("d", [8, 32])
def test_linear_gaussian_keeps_its_rotation(key, d, method):
    q0, _ = jnp.linalg.qr(jax.random.normal(jax.random.fold_in(key, d), (d, d)))
    student, qs, s, mu, c = _linear_case(key, d, q0, method)
    p, _ = polar(student.A)
    # the distribution is matched: Σ = A Aᵀ → s² I and b → μ ...
    np.testing.assert_allclose(p, s * np.eye(d), atol=1e-3)
    np.testing.assert_allclose(student.b, mu, atol=1e-3)
    # ... but the pairing is the one it started with: Q never moved, C = tr(Q0)/d
    drift = jnp.max(jnp.linalg.norm(qs - q0, axis=(1, 2))) / np.sqrt(d)
    assert float(drift) < 0.1
    assert c == pytest.approx(float(jnp.trace(q0)) / d, abs=0.05)


@pytest.mark.parametrize("method", ["dmd2", "sid"])
def test_linear_gaussian_teacher_init_copies(key, method):
    _, _, _, _, c = _linear_case(key, 16, jnp.eye(16), method)
    assert c > 0.98


# ---------------------------------------------------------------- the network engine
@pytest.fixture(scope="module")
def tiny_table():
    return distill(TINY, [0, 1])


def test_table_schema_and_steps(tiny_table):
    required = {
        "seed", "step", "copying", "mode_agreement", "kappa", "pairing_inefficiency",
        "teacher_pairing_inefficiency", "coverage_min", "coverage_max", "loglik_gap",
        "diverged", "dim", "n_modes", "init", "teacher", "fake_ratio",
    }  # fmt: skip
    assert required <= set(tiny_table.columns)
    assert sorted(tiny_table.step.unique()) == [0, 20, 40]
    assert len(tiny_table) == 2 * 3 and not tiny_table.diverged.any()
    assert np.isfinite(tiny_table[["copying", "kappa", "loglik_gap"]].to_numpy()).all()


def test_threaded_pairing_inefficiency_keeps_each_seed_and_record_in_place():
    # the pooled solves come back as (seed, record): each must be its own sample set's ΔE
    from types import SimpleNamespace

    from dmdlab.evaluate import _pairing_inefficiencies

    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 32, 3))
    out = SimpleNamespace(z=z, student_samples=rng.normal(size=(2, 5, 32, 3)),
                          teacher_samples=rng.normal(size=(2, 32, 3)))  # fmt: skip
    out.student_samples[1, 3] = 2.0 * z[1] + 1.0  # the OT coupling: ΔE = 0 there only
    both, teacher_both = _pairing_inefficiencies(out)  # (S, E, 2): ΔE, OT redundancy
    student, teacher = both[..., 0], teacher_both[..., 0]
    expected = [[pairing_inefficiency(z[i], out.student_samples[i, e]) for e in range(5)]
                for i in range(2)]  # fmt: skip
    np.testing.assert_array_equal(student, expected)
    np.testing.assert_array_equal(teacher, [pairing_inefficiency(z[i], out.teacher_samples[i])
                                            for i in range(2)])  # fmt: skip
    assert student[1, 3] == pytest.approx(0.0, abs=1e-9) and np.all(np.delete(student, 8) > 0.1)
    redundancy = [[ot_redundancy(z[i], out.student_samples[i, e]) for e in range(5)]
                  for i in range(2)]  # fmt: skip
    np.testing.assert_array_equal(both[..., 1], redundancy)
    np.testing.assert_array_equal(
        teacher_both[..., 1], [ot_redundancy(z[i], out.teacher_samples[i]) for i in range(2)]
    )


def test_same_seed_same_numbers_different_seed_different_run(tiny_table):
    again = distill(TINY, [0, 1])
    cols = ["copying", "kappa", "pairing_inefficiency", "loglik_gap", "dm_loss"]
    np.testing.assert_array_equal(again[cols].to_numpy(), tiny_table[cols].to_numpy())
    s0, s1 = (tiny_table[tiny_table.seed == s] for s in (0, 1))
    assert not np.allclose(s0.copying.to_numpy(), s1.copying.to_numpy())


def test_a_seeds_numbers_do_not_depend_on_its_company(tiny_table):
    # seeds run in fixed launches of SEED_GROUP per device: [0, 1] alone (padded) and
    # inside [0 … 7] (two full launches) are the same program on the same inputs
    many = distill(TINY, list(range(8)))
    cols = [c for c in tiny_table.columns if c not in ("kept_by_mode",)]
    pd.testing.assert_frame_equal(
        many[many.seed < 2][cols].reset_index(drop=True), tiny_table[cols].reset_index(drop=True)
    )


def test_learning_rate_shares_the_compiled_program(tiny_table):
    from dmdlab.distill import _compiled

    before = _compiled.cache_info().misses
    distill(TINY.replace(generator_lr=5e-4), [0, 1])
    distill(TINY.replace(generator_lr=2e-4), [0, 1])
    assert _compiled.cache_info().misses == before  # the fixture's program serves both


def test_divergence_is_flagged_per_seed_without_touching_the_others(tiny_table):
    lr = jnp.array([TINY.generator_lr, 1e30], jnp.float32)  # seed 1 blows up
    hp = jax.tree.map(lambda v: jnp.full(2, v), Hyperparams.of(TINY))._replace(generator_lr=lr)
    out, _ = run_seeds(TINY, [0, 1], hparams=hp)
    assert int(out.diverged_step[0]) == -1
    assert int(out.diverged_step[1]) >= 1
    table = metrics_table(TINY, out, [0, 1])
    # the healthy seed is exactly what it is in a batch where nothing diverged
    cols = ["copying", "kappa", "loglik_gap"]
    np.testing.assert_array_equal(
        table[table.seed == 0][cols].to_numpy(), tiny_table[tiny_table.seed == 0][cols].to_numpy()
    )
    bad = table[(table.seed == 1) & (table.step == table.step.max())]
    assert bad.diverged.all() and bad.copying.isna().all()


def test_diverged_rows_are_marked_and_not_averaged(tiny_table):
    table = distill(TINY.replace(generator_lr=1e30), [0, 1])
    last = table[table.step == table.step.max()]
    assert last.diverged.all()
    assert last.copying.isna().all()


def test_gan_term_changes_the_loss_of_a_few_step_student(tiny_table):
    # one program for both options (each compile costs the suite ~20 s): a 3-step student
    # trained with backward simulation, and the GAN term on
    base = tiny_table[tiny_table.seed == 0]
    gan = distill(TINY.replace(gan_weight=0.5, student_steps=3), [0])
    assert np.isfinite(gan.kappa).all() and not gan.diverged.any()
    assert (gan.gan_gen_loss.iloc[1:] > 0).all() and (gan.gan_disc_loss.iloc[1:] > 0).all()
    assert (base.gan_gen_loss.iloc[1:] == 0).all()
    # another GAN weight is a traced number: same program, different training
    from dmdlab.distill import _compiled

    before = _compiled.cache_info().misses
    weaker = distill(TINY.replace(gan_weight=0.05, student_steps=3), [0])
    assert _compiled.cache_info().misses == before
    assert not np.allclose(weaker.dm_loss.iloc[1:], gan.dm_loss.iloc[1:])


def test_sharded_seed_axis_matches_one_device(tmp_path, tiny_table):
    # 2 seeds padded to 4 forced CPU devices × SEED_GROUP, against the one-device fixture
    cols = ["copying", "kappa", "pairing_inefficiency", "loglik_gap"]
    code = textwrap.dedent(
        f"""
        import jax, numpy as np
        from dmdlab import distill
        from tests.test_dmd import TINY
        assert jax.local_device_count() == 4
        np.save({str(tmp_path / "four.npy")!r}, distill(TINY, [0, 1], n_devices=4)[{cols!r}])
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    four = np.load(tmp_path / "four.npy")
    # every device runs SEED_GROUP seeds, as the one device does, but XLA compiles the
    # partitioned program with other fusions: measured 7.6e-6 apart, not bit-identical
    np.testing.assert_allclose(four, tiny_table[cols].to_numpy(), rtol=1e-4, atol=1e-4)


def test_the_divergence_guard_sees_a_nonfinite_value_in_any_float_leaf():
    """engine._all_finite (what the divergence guard checks): false as soon as any element of
    any float leaf is NaN or ±inf, whatever the leaf's shape or dtype; integer leaves pass."""
    from dmdlab.engine import _all_finite

    tree = {"w": jnp.ones((3, 4)), "b": jnp.zeros(5, jnp.bfloat16), "count": jnp.array(7),
            "nested": (jnp.ones(()), jnp.arange(4))}  # fmt: skip
    assert bool(_all_finite(tree))
    for path, bad in [("w", jnp.inf), ("b", jnp.nan), ("nested", -jnp.inf)]:
        broken = dict(tree)
        if path == "nested":
            broken["nested"] = (jnp.full((), bad), tree["nested"][1])
        else:
            broken[path] = tree[path].at[-1].set(bad)
        assert not bool(_all_finite(broken)), path
    assert bool(
        jax.jit(jax.vmap(_all_finite))(jax.tree.map(lambda x: jnp.stack([x, x]), tree)).all()
    )

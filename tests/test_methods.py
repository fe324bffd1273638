"""Every distillation method through the one harness (diffrax's tests over all solvers are
the model): each runs vmapped over seeds, deterministically, and learns; DMD2's and SiD's
generator gradients vanish where the fake score equals the real one, and agree where
they must; consistency distillation from the exact teacher reproduces its map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture, distill
from dmdlab.methods import METHODS, check, get_method
from dmdlab.methods.dmd2 import dmd_gradient
from dmdlab.methods.sid import sid_loss
from dmdlab.noising import Noising
from dmdlab.presets import PRESETS
from dmdlab.sweep import SweepSpec

TINY = PRESETS["tiny"].base.replace(dim=2, teacher="oracle")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_runs_vmapped_deterministic_and_moves_towards_the_data(method):
    cfg = TINY.replace(method=method, steps=60, eval_every=30)
    table = distill(cfg, [0, 1])
    again = distill(cfg, [0, 1])
    cols = ["kappa", "copying", "loglik_gap", "distance_ratio"]
    np.testing.assert_array_equal(table[cols].to_numpy(), again[cols].to_numpy())
    assert not table.diverged.any()
    first, last = (table[table.step == s] for s in (0, table.step.max()))
    # from the collapse onto the data mean at σ_max to spread-out samples, over the seeds
    # (at 60 tiny steps a SiD seed can still oscillate near its start: 0.86 → 0.86)
    assert last.sliced_w2.mean() < first.sliced_w2.mean()
    filled = set(get_method(method).losses_filled)
    assert np.isfinite(last[sorted(filled)]).all().all()
    for other in {"dm_loss", "sid_loss", "consistency_loss"} - filled:
        assert table[other].isna().all()  # a loss the method does not have is NaN


def test_the_method_field_is_validated_by_the_method_before_compute():
    # the config holds fields, types and ranges; the method checks its own rules where a
    # run is built (make_program, a sweep's cells), before anything is computed
    with pytest.raises(ValueError, match=r"method='cm' is invalid: allowed 'dmd2' \| 'sid'"):
        check(TINY.replace(method="cm"))
    with pytest.raises(ValueError, match=r"gan_weight=0\.003 is invalid"):
        check(TINY.replace(method="sid", gan_weight=3e-3))
    with pytest.raises(ValueError, match=r"generator='mlp' is invalid"):
        check(TINY.replace(method="consistency", generator="mlp", init="random"))
    with pytest.raises(ValueError, match=r"method='cm' is invalid"):
        distill(TINY.replace(method="cm"), [0])
    with pytest.raises(ValueError, match=r"gan_weight=0\.003 is invalid"):
        SweepSpec.build("tiny", sets=["method=sid", "gan_weight=3e-3"])


@pytest.mark.parametrize("kind", ["ve", "flow"])
def test_dmd_and_sid_gradients_vanish_at_fake_equals_real_and_share_their_direct_part(key, kind):
    noising = Noising(kind, 80.0)
    mix = GaussianMixture.random(key, 4, 3, std=0.3)
    x = mix.sample(jax.random.fold_in(key, 1), 64)
    eps = jax.random.normal(jax.random.fold_in(key, 2), x.shape)
    level = jnp.full((64,), 0.5 if kind == "flow" else 1.0)
    real = lambda y: noising.exact(mix, y, level)  # noqa: E731
    fake = lambda y: noising.exact(mix, y, level) * 0.9 + 0.1 * y  # noqa: E731 - another score
    # DMD: g = (D_fake − D_real)/mean|x − D_real| is 0 when they are equal
    x_t = noising.noised(x, eps, level)
    np.testing.assert_array_equal(dmd_gradient(x, real(x_t), real(x_t)), 0.0)
    # SiD: its gradient through x and x_t is 0 at fake = real ...
    sid = jax.grad(lambda y, f: sid_loss(y, noising.noised(y, eps, level), real, f, 1.2))
    np.testing.assert_allclose(sid(x, real), 0.0, atol=1e-7)
    # ... and its part through x alone (x_t held fixed) is DMD2's direction g / (n d)
    direct = jax.grad(lambda y: sid_loss(y, x_t, real, fake, 1.2))(x)
    g = dmd_gradient(x, real(x_t), fake(x_t))
    np.testing.assert_allclose(direct, g / x.size, rtol=1e-4, atol=1e-7)


def test_consistency_distillation_from_the_exact_teacher_reproduces_its_map_at_d2():
    cfg = TINY.replace(method="consistency", steps=2000, eval_every=1000, batch_size=256,
                       generator_lr=3e-3)  # fmt: skip
    last = distill(cfg, [0, 1]).query("step == 2000")
    # measured on this 32-wide net: C 0.99, modes 98-100% agree, distance ratio 0.08-0.11
    assert (last.copying > 0.97).all() and (last.mode_agreement > 0.95).all()
    assert (last.distance_ratio < 0.15).all()


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_a_fake_score_rate_follows_the_schedule_over_all_its_updates(schedule):
    """The fake score makes ``fake_ratio`` updates per generator step: under a cosine
    schedule its rate (read from the optimizer's own state) is at the cosine's half-way
    value half-way through the run and at 1% at its last update, as the generator's is at
    its last step (the closed form 0.01 + 0.99 (1 + cos πx) / 2 past the warmup)."""
    import types

    from dmdlab.method import Setting, optimizer
    from dmdlab.methods.fake_score import fake_optimizer

    cfg = TINY.replace(steps=100, fake_ratio=5, warmup=10, lr_schedule=schedule)
    setting = Setting.of(cfg)
    ctx = types.SimpleNamespace(hp=types.SimpleNamespace(fake_lr=1.0, generator_lr=1.0))

    def rates(opt, n):  # the rate each of n updates used (the optimizer's hyperparameter)
        params = jnp.zeros(3)

        def update(state, _):
            _, state = opt.update(jnp.ones(3), state, params)
            return state, state

        _, states = jax.lax.scan(update, opt.init(params), None, length=n)
        leaves = jax.tree_util.tree_flatten_with_path(states)[0]
        named = "hyperparams['learning_rate']"
        (rate,) = [x for path, x in leaves if jax.tree_util.keystr(path).endswith(named)]
        return np.asarray(rate)

    def cosine(count, total):
        x = np.clip((count - 10) / (total - 10), 0.0, 1.0)
        return 0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * x))

    fake = rates(fake_optimizer(setting, ctx), 500)
    generator = rates(optimizer(setting, 1.0), 100)
    if schedule == "constant":
        np.testing.assert_allclose(fake[10:], 1.0, rtol=1e-6)
        return
    np.testing.assert_allclose(fake[[249, 499]], [cosine(249, 500), cosine(499, 500)], rtol=1e-5)
    assert abs(fake[-1] - 0.01) < 1e-3 and abs(generator[-1] - 0.01) < 1e-3
    assert fake[249] > 0.5  # not decayed a fake_ratio-th of the way through the run

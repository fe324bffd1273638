"""One seed's run before its first step (docs/science.md §4–5): the exact world, the
teacher, the held-out evaluation set, DMD1's regression bank, the student's start and the
start measures. Pure and jit-able; ``dmdlab.engine`` runs the steps after it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dmdlab.config import DMDConfig
from dmdlab.method import (
    ERROR_SIGMAS,
    Context,
    Hyperparams,
    Method,
    Setting,
    batch_classes,
    real_denoiser,
    student_denoiser,
)
from dmdlab.metrics import (
    denoiser_error,
    label_agreement,
    readout_error,
    start_alignment,
    tilt_modes,
)
from dmdlab.mixture import GaussianMixture
from dmdlab.optim import adamw
from dmdlab.teachers import NetworkTeacher, train_network_teacher
from dmdlab.worlds import world_of

__all__ = [
    "RunKeys",
    "StartMeasures",
    "regress_student",
    "run_keys",
    "setup",
    "train_teacher",
]


class StartMeasures(NamedTuple):
    """Per seed, where the student starts and how good the real score is (scalars).

    docs/science.md §5b–5c: the student starts as its denoiser read at σ_max, the data mean
    plus a small z-dependent tilt that carries whatever pairing it inherits. Under flow
    matching the exact read-out (t = 1) has no tilt: the measures against it are NaN.
    In the class-conditional world the mode-level ones (tilt κ, start κ) are NaN: each
    class is one mode. ``init_error`` is 0 for a teacher-weight copy, the regression's
    final error for ``init="regressed"``.
    """

    teacher_err_smax: jax.Array  # real score's error at σ_max / the exact z-dependent signal
    teacher_map_agree: jax.Array  # share of z whose T(z) has the exact ODE map's mode
    start_alignment: jax.Array  # corr. of the student's step-0 tilt with the exact one
    start_tilt_kappa: jax.Array  # κ(mode the step-0 tilt points at, mode of T(z))
    start_kappa: jax.Array  # the same for the exact tilt and the exact map: no training
    init_error: jax.Array  # E‖G₀ − T₁‖² / (d·Var data): the start against the teacher's one step


class RunKeys(NamedTuple):
    """The keys one run's key is split into, by use (the order fixes the results)."""

    mixture: jax.Array
    memorize: jax.Array
    teacher: jax.Array
    init: jax.Array
    evaluation: jax.Array
    regression: jax.Array
    loop: jax.Array  # step i's key is fold_in(loop, i): the same whatever the records
    error: jax.Array  # the denoiser-error estimates


def run_keys(key: jax.Array) -> RunKeys:
    """Split one run's key into its :class:`RunKeys`."""
    return RunKeys(*jax.random.split(key, 8))


def seed_mixture(config: DMDConfig, seed: int) -> GaussianMixture:
    """The world seed-run ``seed`` of ``config`` trains on: what a
    report needs to read a stored cell's samples against their data."""
    return world_of(config.world).build(config, run_keys(jax.random.key(seed)).mixture)


# ---------------------------------------------------------------- setup
def _start_measures(ctx: Context, setting: Setting, real, student) -> StartMeasures:
    """:class:`StartMeasures` of one seed: ``real`` is the real score's denoiser,
    ``student`` the student's at step 0 (both (x (n, d), level, labels) → (n, d))."""
    c, noising = setting.config, setting.noising
    mixture, z, labels = ctx.mixture, ctx.z_eval, ctx.classes_eval
    x_top = noising.start(z)
    top = noising.top
    # The exact ODE map: where the teacher's pairing would send z with no training error.
    exact = lambda x, s: noising.exact(mixture, x, s, labels)  # noqa: E731
    t_exact = noising.ode_map(exact, z, c.ode_steps)
    t_modes = mixture.assign(ctx.teacher_samples)
    g0 = student(x_top, top, labels)  # the first rung's read-out: the starting tilt
    exact_top = exact(x_top, top)
    scale = c.dim * mixture.variance()
    if c.conditional:  # one mode per class: no mode-level start measures
        tilt_kappa = start_kappa = jnp.float32(jnp.nan)
    else:
        tilt_kappa = label_agreement(tilt_modes(mixture, g0), t_modes, mixture.n_modes)[1]
        start_kappa = label_agreement(
            tilt_modes(mixture, exact_top), mixture.assign(t_exact), mixture.n_modes
        )[1]
        spread = jnp.max(jnp.abs(exact_top - jnp.mean(exact_top, 0)))
        no_tilt = spread <= 1e-6 * jnp.max(jnp.abs(exact_top))  # the flow read-out at t = 1
        start_kappa = jnp.where(no_tilt, jnp.nan, start_kappa)
    return StartMeasures(
        teacher_err_smax=readout_error(real(x_top, top, labels), exact_top, labels),
        teacher_map_agree=jnp.mean(t_modes == mixture.assign(t_exact)),
        start_alignment=start_alignment(g0, exact_top, labels),
        start_tilt_kappa=tilt_kappa,
        start_kappa=start_kappa,
        init_error=jnp.mean(jnp.sum((g0 - ctx.teacher_onestep) ** 2, -1)) / scale,
    )


def _world(c: DMDConfig, keys: RunKeys, mixture):
    """The data distribution (the config's world, or the given mixture) and what the real
    score is built from: the mixture itself, or N memorized points of it."""
    if mixture is None:
        mixture = world_of(c.world).build(c, keys.mixture)
    data = mixture
    if c.teacher == "memorizing":
        data = GaussianMixture.empirical(mixture.sample(keys.memorize, c.memorize_n))
    return mixture, data


def _teacher(setting: Setting, keys: RunKeys, hp: Hyperparams, data):
    """The trained teacher network and its loss curve (teacher_steps,)."""
    c = setting.config
    return train_network_teacher(
        keys.teacher,
        data,
        setting.spec,
        steps=c.teacher_steps,
        batch_size=c.teacher_batch_size,
        learning_rate=hp.teacher_lr,
        sigma_max=c.sigma_max,
        target=c.teacher_target,
        sigma_dist=c.teacher_sigma,
        noising=setting.noising,
        conditional=c.conditional,
    )


def regress_student(setting: Setting, key, real, hp: Hyperparams):
    """The "regressed" start: fresh student weights fitted for ``init_steps`` steps (AdamW
    at ``init_lr``, default ``generator_lr``; batches of ``batch_size`` fresh noises) onto
    the real score's one-step read-out D(start(z), top, c) (docs/science.md §1b: the
    workbench regresses its generator onto the teacher's clean prediction at t = 1).
    Returns the parameters."""
    c, spec, noising = setting.config, setting.student_spec, setting.noising
    k_init, k_fit = jax.random.split(key)
    params = spec.init(k_init)
    opt = adamw(hp.generator_lr if c.init_lr is None else c.init_lr, warmup=c.warmup)

    def step(carry, k):
        p, state = carry
        labels = batch_classes(setting, k, c.batch_size)
        x = noising.start(jax.random.normal(k, (c.batch_size, c.dim)))
        target = jax.lax.stop_gradient(real(x, noising.top, labels))
        loss = lambda q: jnp.mean((spec.apply(q, x, noising.top, labels) - target) ** 2)  # noqa: E731
        grads = jax.grad(loss)(p)
        updates, state = opt.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)),
                                  jax.random.split(k_fit, c.init_steps))  # fmt: skip
    return params


def train_teacher(setting: Setting, key, hp: Hyperparams, mixture=None):
    """The teacher network of one run on its own: (params, losses (teacher_steps,)), the
    same numbers :func:`setup` trains (its keys, data and steps), to store and pass back
    as ``setup(..., teacher=...)`` (dmdlab.teacher_store)."""
    keys = run_keys(key)
    _, data = _world(setting.config, keys, mixture)
    teacher, losses = _teacher(setting, keys, hp, data)
    return teacher.params, losses


def setup(setting: Setting, method: Method, key, hp: Hyperparams, mixture=None, teacher=None):
    """The exact world, the teacher, the evaluation set and the initial state of one
    run. ``teacher``: (params, losses) from :func:`train_teacher` (a stored teacher), or
    None to train it here. Returns (:class:`Context`, (method state, diverged step −1))."""
    c, noising = setting.config, setting.noising
    keys = run_keys(key)

    # --- the exact world and the teacher
    mixture, data = _world(c, keys, mixture)
    if teacher is None:
        teacher, teacher_losses = _teacher(setting, keys, hp, data)
    else:
        teacher, teacher_losses = NetworkTeacher(teacher[0], setting.spec), teacher[1]
    ctx = Context(hp=hp, mixture=mixture, data=data, teacher=teacher, z_eval=None,
                  classes_eval=None, eps_eval=None, teacher_samples=None,
                  teacher_onestep=None, reference=None, teacher_error=None, start=None,
                  teacher_loss=jnp.mean(teacher_losses[-100:]),
                  teacher_losses=teacher_losses, start_params=None,
                  z_reg=None, c_reg=None, t_reg=None, k_err=keys.error)  # fmt: skip
    real = real_denoiser(setting, ctx)

    # --- held-out evaluation set: the same z (and class) for student and teacher
    k_z, k_eps, k_ref = jax.random.split(keys.evaluation, 3)
    z_eval = jax.random.normal(k_z, (c.eval_n, c.dim))
    labels = jnp.arange(c.eval_n) % c.n_modes if c.conditional else None  # balanced
    eps_eval = jax.random.normal(k_eps, (max(c.student_steps - 1, 1), c.eval_n, c.dim))
    t_eval = noising.ode_map(lambda x, s: real(x, s, labels), z_eval, c.ode_steps)
    reference = (
        mixture.sample(k_ref, c.eval_n) if labels is None else mixture.sample_given(k_ref, labels)
    )
    teacher_error = denoiser_error(
        real if c.conditional or c.parametrization == "flow" else lambda x, s: real(x, s),
        mixture, keys.error, ERROR_SIGMAS, n=c.eval_n,
        noising=None if c.parametrization == "ve" and not c.conditional else noising,
        conditional=c.conditional,
    )  # fmt: skip

    # --- DMD1's regression bank of teacher pairs (only built when used)
    z_reg = c_reg = t_reg = None
    if c.regression_weight > 0 and c.regression_target == "ode":
        z_reg = jax.random.normal(keys.regression, (c.regression_pairs, c.dim))
        c_reg = jnp.arange(c.regression_pairs) % c.n_modes if c.conditional else None
        t_reg = noising.ode_map(lambda x, s: real(x, s, c_reg), z_reg, c.ode_steps)

    # --- the student: a copy of the teacher network, regressed onto its read-out, or fresh
    if c.init == "teacher":
        student0 = teacher.params
    elif c.init == "regressed":
        student0 = regress_student(setting, keys.init, real, hp)
    else:
        student0 = setting.student_spec.init(keys.init)
    ctx = ctx._replace(z_eval=z_eval, classes_eval=labels, eps_eval=eps_eval,
                       teacher_samples=t_eval,
                       teacher_onestep=real(noising.start(z_eval), noising.top, labels),
                       reference=reference, teacher_error=teacher_error,
                       start_params=student0, z_reg=z_reg, c_reg=c_reg, t_reg=t_reg)  # fmt: skip
    start = _start_measures(ctx, setting, real, student_denoiser(setting, ctx, student0))
    ctx = ctx._replace(start=start)
    return ctx, (method.init(setting, ctx, student0), jnp.int32(-1))

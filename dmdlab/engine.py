"""The harness every distillation method runs in (docs/science.md §4): pure, jit-able, vmappable.

One run is: the exact world and the teacher (:func:`setup`), the student's starting
weights, a held-out evaluation set, the start measures, then ``config.steps`` steps of a
:class:`Method` fused in ``lax.scan`` with a divergence guard, the student recorded on
fixed held-out noise every ``config.eval_every`` steps (:func:`train`). A method only says
what one step does (``dmdlab.methods``); everything around it is here, so every method is
measured on the same world, teacher, noise and metrics.

``make_train(config)`` returns ``train(key, hparams) -> TrainOutput``; ``make_program``
also gives the setup/step/record/schedule pieces, so a Python loop over ``step``
reproduces ``train``. Metrics are computed afterwards from the records
(:mod:`dmdlab.evaluate`), so training never leaves the device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dmdlab.config import DMDConfig
from dmdlab.metrics import (
    denoiser_error,
    label_agreement,
    readout_error,
    start_alignment,
    tilt_modes,
)
from dmdlab.mixture import GaussianMixture
from dmdlab.networks import GeneratorSpec, NetSpec
from dmdlab.noising import Noising
from dmdlab.optim import adamw
from dmdlab.teachers import NetworkTeacher, train_network_teacher

__all__ = [
    "ERROR_SIGMAS",
    "GEN_SIGMA_RANGE",
    "KARRAS_GRID",
    "Context",
    "Hyperparams",
    "Method",
    "Program",
    "RunKeys",
    "Setting",
    "StartMeasures",
    "TrainOutput",
    "backward_simulation",
    "batch_classes",
    "chain_inputs",
    "extend",
    "generate",
    "make_program",
    "make_train",
    "optimizer",
    "pick_sigma",
    "real_denoiser",
    "record_blocks",
    "regress_student",
    "run_from",
    "run_keys",
    "schedule",
    "setup",
    "student_denoiser",
    "student_ladder",
    "student_samples",
    "train",
]

KARRAS_GRID = 1000  # DMD2 draws σ on a 1000-point Karras grid
GEN_SIGMA_RANGE = (20, 980)  # ... between these indices for the generator (σ ≈ 72 … 0.003)
CLASS_KEY = 7  # folded into a batch's key for its classes: unconditional draws unchanged
# σ bands where denoiser error is reported: across where modes are decided (≈ 1 at
# d = 2 up to ≈ 16 at d = 512) and the within-mode shrinkage (σ ≈ s = 0.2).
ERROR_SIGMAS = (0.1, 0.5, 1.0, 2.0, 5.0, 20.0)


class Hyperparams(NamedTuple):
    """The dynamic (traced, vmappable) fields of a run, as scalars: learning rates and
    loss weights (``config.DYNAMIC_FIELDS``). Whether a weighted term exists at all is
    fixed by the config (weight 0 = off), so a weight > 0 here only scales it."""

    generator_lr: jax.Array
    fake_lr: jax.Array
    teacher_lr: jax.Array
    gan_weight: jax.Array
    gan_disc_weight: jax.Array
    regression_weight: jax.Array
    sid_alpha: jax.Array
    cd_ema: jax.Array

    @classmethod
    def of(cls, config: DMDConfig) -> Hyperparams:
        return cls(*(jnp.float32(getattr(config, f)) for f in cls._fields))


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


class TrainOutput(NamedTuple):
    """Everything one run returns (add a leading seed axis when vmapped).

    E = config.n_evals recorded steps (``config.record_steps()``), n = eval_n.
    """

    mixture: GaussianMixture  # the data distribution
    z: jax.Array  # (n, d) held-out noise
    teacher_samples: jax.Array  # (n, d) T(z) by the real score's ODE
    reference: jax.Array  # (n, d) true samples, for fidelity
    classes: jax.Array | None  # (n,) each noise's class (class-conditional), else None
    train_points: jax.Array | None  # (N, d) a memorizing real score's points, else None
    teacher_onestep: jax.Array  # (n, d) T₁(z): the real score read once at the top level
    student_samples: jax.Array  # (E, n, d) G(z) at each recorded step
    losses: dict  # loss name → (E,) its mean since the last record (NaN at record 0)
    records: dict  # the method's own records: name → (E, …), e.g. "fake_error"
    teacher_error: jax.Array  # (len(ERROR_SIGMAS),) real score vs the exact denoiser
    start: StartMeasures  # the real score at σ_max and the student's starting map
    teacher_loss: jax.Array  # () final teacher training loss (mean of the last 100 steps)
    diverged_step: jax.Array  # () first generator step with a non-finite value, -1 if none
    final_state: object  # the method's state after the last step (student and helpers)


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


class Setting(NamedTuple):
    """What the config fixes for every step of a run: the ``config``, the teacher's (and
    fake score's) network ``spec``, the student's network ``student_spec`` (the same
    denoiser, or the plain MLP generator), the ``noising`` (VE or flow), the student's
    level ``ladder`` (L,) and DMD2's level ``grid`` (KARRAS_GRID,)."""

    config: DMDConfig
    spec: NetSpec
    student_spec: NetSpec | GeneratorSpec
    noising: Noising
    ladder: jax.Array
    grid: jax.Array

    @classmethod
    def of(cls, config: DMDConfig) -> Setting:
        c = config
        n_classes = c.n_modes if c.conditional else 0
        spec = NetSpec(c.dim, c.width, c.depth, c.sigma_data, c.matmul_dtype, c.skip,
                       c.parametrization, n_classes)  # fmt: skip
        noising = Noising(c.parametrization, c.sigma_max)
        student_spec = spec
        if c.generator == "mlp":
            student_spec = GeneratorSpec(c.dim, c.gen_width or c.width, c.gen_depth or c.depth,
                                         c.gen_activation, n_classes, noising.top,
                                         c.matmul_dtype)  # fmt: skip
        elif c.gen_width or c.gen_depth:
            student_spec = dataclasses.replace(spec, width=c.gen_width or c.width,
                                               depth=c.gen_depth or c.depth)  # fmt: skip
        return cls(c, spec, student_spec, noising, student_ladder(c), noising.grid())

    @property
    def gen_range(self) -> tuple[int, int]:
        """The grid indices the generator's losses draw their levels from."""
        return self.noising.generator_range()


class Context(NamedTuple):
    """What stays fixed while one seed's student trains (built by :func:`setup`)."""

    hp: Hyperparams
    mixture: GaussianMixture  # the data distribution
    data: GaussianMixture  # what the real score was built from: the mixture or N points
    teacher: NetworkTeacher  # the trained teacher network (student and fake start here)
    z_eval: jax.Array  # (n, d) held-out noise
    classes_eval: jax.Array | None  # (n,) their classes (class-conditional), else None
    eps_eval: jax.Array  # (max(L−1, 1), n, d) re-noising draws of a few-step student
    teacher_samples: jax.Array  # (n, d) T(z_eval)
    teacher_onestep: jax.Array  # (n, d) T₁(z_eval), the real score at the top level
    reference: jax.Array  # (n, d) true samples
    teacher_error: jax.Array  # (len(ERROR_SIGMAS),)
    start: StartMeasures
    teacher_loss: jax.Array  # ()
    start_params: object  # θ₀, for the exact-start offset D_exact − D_θ₀
    z_reg: jax.Array | None  # (regression_pairs, d) DMD1 regression noise, when used
    c_reg: jax.Array | None  # (regression_pairs,) their classes (class-conditional)
    t_reg: jax.Array | None  # (regression_pairs, d) its teacher targets
    k_err: jax.Array  # key for the denoiser-error estimates


class Method(NamedTuple):
    """A distillation method: what one training step does, as pure functions over the
    harness's :class:`Setting` and :class:`Context` (optax's transformations are the
    model: a pair of pure functions with explicit state).

    ``init(setting, ctx, student0) -> state``: the method's state from the student's
    starting weights (its helpers, e.g. a fake score, start from ``ctx.teacher``).
    ``step(setting, ctx, state, key) -> (state, losses)``: one generator update and
    whatever it needs first; ``losses`` a dict of scalars, keys among ``losses_filled``.
    ``student(state) -> params``: the generator's weights in the state.
    ``record(setting, ctx, state) -> dict``: extra per-record arrays (e.g. the fake
    score's error per σ band), names among ``records_filled``.
    ``passes(config) -> float``: network passes (forward ≈ 1, backward ≈ 2) per sample of
    one step, for the cost model (``dmdlab.distill.training_macs``).
    """

    name: str
    init: Callable
    step: Callable
    student: Callable
    record: Callable
    passes: Callable[[DMDConfig], float]
    losses_filled: tuple[str, ...]
    records_filled: tuple[str, ...]


class Program(NamedTuple):
    """The pieces of one run, each pure and jit-able (one seed; vmap for more).

    ``setup(key, hp) -> (ctx, state)``: world, teacher, evaluation set, initial state
    (a pair: the method's state and the first diverged step, −1 while healthy).
    ``step(ctx, state, step, key) -> (state, losses)``: one guarded method step.
    ``record(ctx, state) -> (samples (n, d), records dict)``.
    ``schedule(key) -> (indices (steps,), keys (steps,))``: the step numbers 1…steps and
    the key ``train`` gives each step, for a loop that reproduces it.
    ``train(key, hp) -> TrainOutput``: all of it, the steps fused in ``lax.scan``.
    ``run_from(ctx, carry, key) -> TrainOutput``: the fused steps from a given start.
    ``extend(key, hp, carry, first_step) -> TrainOutput``: the steps after the recorded
    step ``first_step`` from a checkpointed carry (static ``first_step``).
    """

    setup: Callable
    step: Callable
    record: Callable
    schedule: Callable
    train: Callable[[jax.Array, Hyperparams], TrainOutput]
    run_from: Callable
    extend: Callable


def student_ladder(config: DMDConfig) -> jax.Array:
    """The few-step student's level ladder (student_steps,): σ_max, …, student_sigma_min
    (VE), or t = 1 and the same ladder's t's (flow)."""
    if config.student_steps == 1 and config.parametrization == "ve":
        return jnp.array([config.sigma_max], jnp.float32)
    noising = Noising(config.parametrization, config.sigma_max)
    return noising.ladder(config.student_steps, config.student_sigma_min)


def optimizer(setting: Setting, learning_rate):
    """The optimizer of the networks a method trains (docs/science.md §4): AdamW after
    clipping, with the config's warmup, over the raveled parameters (``flat``: half the
    step's compile time); with ``lr_schedule="cosine"`` the rate then decays to 1% at the
    last step (DMD2 keeps it constant, the default)."""
    c = setting.config
    decay = c.steps if c.lr_schedule == "cosine" else None
    return adamw(learning_rate, warmup=c.warmup, decay_steps=decay, flat=True)


def pick_sigma(key, n, grid, lo=0, hi=KARRAS_GRID):
    """n noise levels (n,) drawn uniformly from ``grid[lo:hi]``."""
    return grid[jax.random.randint(key, (n,), lo, hi)]


def batch_classes(setting: Setting, key, n: int):
    """Classes (n,) for a batch of n noises, uniform over the classes, drawn from a key
    folded from ``key`` (an unconditional run draws nothing and keeps its keys); None
    for an unconditional world."""
    if not setting.config.conditional:
        return None
    k = jax.random.fold_in(key, CLASS_KEY)
    return jax.random.randint(k, (n,), 0, setting.config.n_modes)


# ---------------------------------------------------------------- the denoisers
def real_denoiser(setting: Setting, ctx: Context) -> Callable:
    """The real score's denoiser (x (n, d), level, labels) → (n, d): the teacher network,
    the exact mixture, or the exact denoiser of the N memorized points (``teacher``)."""
    c, noising = setting.config, setting.noising
    if c.teacher == "network":
        return ctx.teacher.denoise
    data = ctx.mixture if c.teacher == "oracle" else ctx.data
    return lambda x, s, labels=None: noising.exact(data, x, s, labels)


def student_denoiser(setting: Setting, ctx: Context, params) -> Callable:
    """The student's denoiser (x (n, d), level, labels) → (n, d) with ``params``.

    With ``start="exact"`` it carries the fixed offset D_exact − D_θ₀ (θ₀ its initial
    weights, D_exact the exact denoiser of the real score's data): at step 0 it *is*
    the exact denoiser, and its gradients are the network's."""
    spec, noising = setting.student_spec, setting.noising
    if setting.config.start == "network":
        return lambda x, s, labels=None: spec.apply(params, x, s, labels)

    def apply(x, s, labels=None):
        exact = noising.exact(ctx.data, x, s, labels)
        offset = exact - spec.apply(ctx.start_params, x, s, labels)
        return spec.apply(params, x, s, labels) + jax.lax.stop_gradient(offset)

    return apply


# ---------------------------------------------------------------- the few-step student
def chain_inputs(student, z, eps, ladder, noising: Noising, labels=None) -> jax.Array:
    """Inputs (L, n, d) each rung of the level ``ladder`` (L,) sees when the student runs
    on noise z (n, d) with re-noising draws ``eps`` (≥ L−1, n, d); no gradient."""
    x = noising.start(z)
    inputs = [x]
    for i in range(len(ladder) - 1):
        x0 = student(x, ladder[i], labels)
        x = noising.noised(x0, eps[i], ladder[i + 1])  # re-noise to the next rung
        inputs.append(x)
    return jax.lax.stop_gradient(jnp.stack(inputs))


def generate(student, z, eps, ladder, noising: Noising, labels=None) -> jax.Array:
    """G(z) (n, d): the student's full few-step chain on noise z (n, d)."""
    x_last = chain_inputs(student, z, eps, ladder, noising, labels)[-1]
    return student(x_last, ladder[-1], labels)


def backward_simulation(student, key, ladder, noising: Noising, shape, labels=None) -> tuple:
    """DMD2's backward simulation: run the student's earlier rungs without gradient on
    fresh noise of ``shape`` (n, d) and pick one rung to train.

    Returns that rung's input x (n, d) and its level (n,)."""
    k_z, k_eps, k_i = jax.random.split(key, 3)
    z = jax.random.normal(k_z, shape)
    eps = jax.random.normal(k_eps, (max(len(ladder) - 1, 1), *shape))
    i = jax.random.randint(k_i, (), 0, len(ladder))
    x_in = chain_inputs(student, z, eps, ladder, noising, labels)[i]
    return x_in, jnp.full((shape[0],), ladder[i])


def student_samples(setting: Setting, ctx: Context, params, key, n: int):
    """Fresh samples of the student with ``params``: (x (n, d), the rung input x_in, its
    level (n,), classes (n,) or None), the rung picked by backward simulation."""
    c = setting.config
    labels = batch_classes(setting, key, n)
    g = student_denoiser(setting, ctx, params)
    x_in, s_in = backward_simulation(g, key, setting.ladder, setting.noising, (n, c.dim), labels)
    return x_in, s_in, labels


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
    if mixture is None and c.world == "blobs":
        radius = 5.0 if c.mean_radius is None else c.mean_radius
        mixture = GaussianMixture.blobs(keys.mixture, c.dim, c.n_modes, c.class_dim, radius,
                                        c.mode_std)  # fmt: skip
    elif mixture is None:
        mixture = GaussianMixture.random(keys.mixture, c.dim, c.n_modes, c.mode_std,
                                         c.intrinsic_dim)  # fmt: skip
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
    at ``generator_lr``, batches of ``batch_size`` fresh noises) onto the real score's
    one-step read-out D(start(z), top, c) (docs/science.md §1b: the workbench regresses its
    generator onto the teacher's clean prediction at t = 1). Returns the parameters."""
    c, spec, noising = setting.config, setting.student_spec, setting.noising
    k_init, k_fit = jax.random.split(key)
    params = spec.init(k_init)
    opt = adamw(hp.generator_lr, warmup=c.warmup)

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


def setup(setting: Setting, method: Method, key, hp: Hyperparams, mixture=None):
    """The exact world, the teacher, the evaluation set and the initial state of one
    run. Returns (:class:`Context`, (method state, diverged step −1))."""
    c, noising = setting.config, setting.noising
    keys = run_keys(key)

    # --- the exact world and the teacher
    mixture, data = _world(c, keys, mixture)
    teacher, teacher_losses = _teacher(setting, keys, hp, data)
    ctx = Context(hp=hp, mixture=mixture, data=data, teacher=teacher, z_eval=None,
                  classes_eval=None, eps_eval=None, teacher_samples=None,
                  teacher_onestep=None, reference=None, teacher_error=None, start=None,
                  teacher_loss=jnp.mean(teacher_losses[-100:]), start_params=None,
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
    if c.regression_weight > 0:
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


# ---------------------------------------------------------------- one guarded step
def _all_finite(tree) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def guarded_step(setting: Setting, method: Method, ctx: Context, carry, step_index, key):
    """The method's step, frozen at its last finite state from the first step that
    produces a non-finite value (``carry`` = (state, diverged step)); the run's losses
    are NaN from then on. Returns (carry, losses)."""
    state, diverged_step = carry
    new, losses = method.step(setting, ctx, state, key)
    # One cond, not a select per leaf: XLA would fuse a copy of the whole finiteness
    # check into every leaf's select (10× the step's code and 3× its compile time).
    ok = _all_finite((new, losses)) & (diverged_step < 0)
    kept = jax.lax.cond(ok, lambda: new, lambda: state)
    diverged_step = jnp.where(ok | (diverged_step >= 0), diverged_step, step_index)
    nan = jax.tree.map(lambda v: jnp.where(ok, v, jnp.nan), losses)
    return (kept, diverged_step), nan


def record(setting: Setting, method: Method, ctx: Context, state):
    """The student's samples G(z_eval) (n, d) and the method's own records (a dict)."""
    student = student_denoiser(setting, ctx, method.student(state))
    samples = generate(student, ctx.z_eval, ctx.eps_eval, setting.ladder, setting.noising,
                       ctx.classes_eval)  # fmt: skip
    return samples, method.record(setting, ctx, state)


def schedule(c: DMDConfig, key, first_step: int = 0):
    """The step numbers first_step+1…steps (steps − first_step,) and each step's key, as
    ``train`` draws them: step i's key is ``fold_in(loop key, i)``, so the training does
    not depend on when the student is recorded, nor on where a run was resumed."""
    indices = jnp.arange(first_step + 1, c.steps + 1)
    loop = run_keys(key).loop
    return indices, jax.vmap(lambda i: jax.random.fold_in(loop, i))(indices)


def record_blocks(c: DMDConfig, first_step: int = 0) -> list[tuple[int, int]]:
    """The scans of one run from ``first_step`` (a recorded step): (block size, number
    of blocks) per stretch of equal spacing, the early records' stretch apart from the
    later one's (a run from 0 is two scans: every eval_early_every steps, then every
    eval_every). A resumed run's blocks are the tail of a straight run's."""
    steps = c.record_steps()
    if first_step not in steps:
        raise ValueError(f"first_step = {first_step} is not a recorded step of this config "
                         f"(records at {steps[:3]}…{steps[-1]})")  # fmt: skip
    runs: list[list[int]] = []
    prev = first_step
    for s in (s for s in steps if s > first_step):
        phase = s <= c.eval_early_until
        if runs and runs[-1][0] == s - prev and runs[-1][2] == phase:
            runs[-1][1] += 1
        else:
            runs.append([s - prev, 1, phase])
        prev = s
    return [(size, n) for size, n, _ in runs]


def train(setting: Setting, method: Method, key, hp: Hyperparams, mixture=None) -> TrainOutput:
    """One run: setup, then ``steps`` guarded method steps in ``lax.scan``, the student
    recorded every ``eval_every`` steps (and at step 0)."""
    ctx, carry0 = setup(setting, method, key, hp, mixture)
    return run_from(setting, method, ctx, carry0, key)


def extend(setting: Setting, method: Method, key, hp: Hyperparams, carry, first_step: int,
           mixture=None) -> TrainOutput:  # fmt: skip
    """The rest of one run from a checkpoint: the same setup as :func:`train` (world,
    teacher, evaluation set; its starting state is discarded), then the steps after
    ``first_step`` from ``carry`` = (method state, diverged step) saved there. On one
    machine and stack the records equal those of a straight run after ``first_step``."""
    ctx, _ = setup(setting, method, key, hp, mixture)
    return run_from(setting, method, ctx, carry, key, first_step)


def run_from(setting: Setting, method: Method, ctx: Context, carry0, key,
             first_step: int = 0) -> TrainOutput:  # fmt: skip
    """The steps of one run from a given start: ``carry0`` = (method state, diverged step)
    as :func:`setup` returns it, or altered (a perturbed student, for a chaos test), or
    saved at the recorded step ``first_step`` (a resumed run: its records start after
    ``first_step``, with no record there); ``key`` is the run's key (its loop key draws
    the steps' keys)."""
    c = setting.config
    indices, keys = schedule(c, key, first_step)

    def one_step(carry, inp):
        return guarded_step(setting, method, ctx, carry, *inp)

    def eval_block(carry, block):
        steps, block_keys = block
        carry, losses = jax.lax.scan(one_step, carry, (steps, block_keys))
        state, diverged_step = carry
        samples, records = record(setting, method, ctx, state)
        # Finite weights can still map held-out noise to inf: that is divergence too.
        bad = ~jnp.all(jnp.isfinite(samples)) & (diverged_step < 0)
        carry = (state, jnp.where(bad, steps[-1], diverged_step))
        means = jax.tree.map(lambda v: jnp.nanmean(v, axis=0), losses)
        return carry, (samples, records, means)

    if first_step == 0:  # the start is recorded too
        samples0, records0 = record(setting, method, ctx, carry0[0])
    # one scan per stretch of equal record spacing (record_blocks)
    carry, parts, start = carry0, [], 0
    for size, n_blocks in record_blocks(c, first_step):
        stop = start + n_blocks * size
        blocks = (indices[start:stop].reshape(n_blocks, size),
                  keys[start:stop].reshape(n_blocks, size))  # fmt: skip
        carry, part = jax.lax.scan(eval_block, carry, blocks)
        parts.append(part)
        start = stop
    (state, diverged_step) = carry
    samples, records, losses = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
    if first_step == 0:  # no losses before the first step: NaN at record 0
        losses = jax.tree.map(lambda v: jnp.concatenate([jnp.full((1,), jnp.nan), v]), losses)
        records = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), records0, records)
        samples = jnp.concatenate([samples0[None], samples])
    return TrainOutput(
        mixture=ctx.mixture,
        z=ctx.z_eval,
        teacher_samples=ctx.teacher_samples,
        reference=ctx.reference,
        classes=ctx.classes_eval,
        train_points=ctx.data.means if setting.config.teacher == "memorizing" else None,
        teacher_onestep=ctx.teacher_onestep,
        student_samples=samples,
        losses=losses,
        records=records,
        teacher_error=ctx.teacher_error,
        start=ctx.start,
        teacher_loss=ctx.teacher_loss,
        diverged_step=diverged_step,
        final_state=state,
    )


def make_train(
    config: DMDConfig, mixture: GaussianMixture | None = None
) -> Callable[[jax.Array, Hyperparams], TrainOutput]:
    """Pure ``train(key, hparams) -> TrainOutput`` for ``config``. Jit and vmap it.

    By default each key draws its own mixture (``GaussianMixture.random`` with the
    config's dim, n_modes, mode_std, intrinsic_dim); pass ``mixture`` to distill a
    mixture of your own instead (its dim must equal ``config.dim``).
    """
    return make_program(config, mixture).train


def make_program(config: DMDConfig, mixture: GaussianMixture | None = None) -> Program:
    """The :class:`Program` of ``config`` with its method (``config.method``): ``train``
    plus the setup/step/record it is built from (a per-step loop over ``step`` gives
    the same updates as ``train``)."""
    from dmdlab.methods import get_method

    if mixture is not None and mixture.dim != config.dim:
        raise ValueError(f"mixture.dim = {mixture.dim} must equal config.dim = {config.dim}")
    setting, method = Setting.of(config), get_method(config.method)
    return Program(
        setup=lambda key, hp: setup(setting, method, key, hp, mixture),
        step=lambda ctx, carry, i, key: guarded_step(setting, method, ctx, carry, i, key),
        record=lambda ctx, carry: record(setting, method, ctx, carry[0]),
        schedule=lambda key: schedule(config, key),
        train=lambda key, hp: train(setting, method, key, hp, mixture),
        run_from=lambda ctx, carry, key: run_from(setting, method, ctx, carry, key),
        extend=lambda key, hp, carry, first_step: extend(
            setting, method, key, hp, carry, first_step, mixture
        ),
    )

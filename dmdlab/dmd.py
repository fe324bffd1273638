"""DMD2 training as pure, jit-able, vmappable functions (SCIENCE.md §4).

The paper's pieces are module-level functions: :func:`backward_simulation` (DMD2's
few-step training inputs), :func:`fake_score_loss` (denoising score matching on the
student's samples, plus the discriminator), :func:`generator_loss` (the DMD direction
with its normaliser, plus the GAN and regression terms) and :func:`dmd_step`, one step
of DMD2's Algorithm 1. :func:`dmd_train` runs setup, then ``config.steps`` steps inside
``lax.scan``, recording the student's outputs on fixed held-out noise every
``config.eval_every`` steps; ``make_train(config)`` returns it as ``train(key,
hparams) -> TrainOutput``. Metrics are computed afterwards from the records
(:mod:`dmdlab.evaluate`), so training never leaves the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dmdlab.config import DMDConfig
from dmdlab.metrics import (
    denoiser_error,
    label_agreement,
    sigma_max_error,
    start_alignment,
    start_kappa,
    tilt_modes,
)
from dmdlab.mixture import GaussianMixture
from dmdlab.networks import NetSpec
from dmdlab.ode import karras_sigmas, teacher_map
from dmdlab.optim import adamw
from dmdlab.teachers import NetworkTeacher, denoising_loss, train_network_teacher

__all__ = [
    "ERROR_SIGMAS",
    "DMDContext",
    "DMDProgram",
    "DMDState",
    "GanBatch",
    "GenBatch",
    "Hyperparams",
    "Losses",
    "RunKeys",
    "Setting",
    "StartMeasures",
    "TrainOutput",
    "backward_simulation",
    "chain_inputs",
    "dmd_gradient",
    "dmd_record",
    "dmd_schedule",
    "dmd_setup",
    "dmd_step",
    "dmd_train",
    "fake_score_loss",
    "fake_update",
    "generate",
    "generator_loss",
    "generator_update",
    "make_program",
    "make_train",
    "real_denoiser",
    "run_keys",
    "student_denoiser",
    "student_ladder",
]

KARRAS_GRID = 1000  # DMD2 draws σ on a 1000-point Karras grid
GEN_SIGMA_RANGE = (20, 980)  # ... between these indices for the generator (σ ≈ 72 … 0.003)
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

    @classmethod
    def of(cls, config: DMDConfig) -> Hyperparams:
        return cls(*(jnp.float32(getattr(config, f)) for f in cls._fields))


class TrainOutput(NamedTuple):
    """Everything one run returns (add a leading seed axis when vmapped).

    E = config.n_evals recorded steps (0, eval_every, …, steps), n = eval_n.
    """

    mixture: GaussianMixture  # the data distribution
    z: jax.Array  # (n, d) held-out noise
    teacher_samples: jax.Array  # (n, d) T(z) by the real score's ODE
    reference: jax.Array  # (n, d) true samples, for fidelity
    student_samples: jax.Array  # (E, n, d) G(z) at each recorded step
    gen_loss: jax.Array  # (E,) mean distribution-matching loss since the last record
    fake_loss: jax.Array  # (E,) mean fake-score loss since the last record
    gan_gen_loss: jax.Array  # (E,) mean generator GAN loss (0 when off)
    gan_disc_loss: jax.Array  # (E,) mean discriminator loss (0 when off)
    fake_error: jax.Array  # (E, len(ERROR_SIGMAS)) fake score vs the data's exact denoiser
    teacher_error: jax.Array  # (len(ERROR_SIGMAS),) real score vs the exact denoiser
    start: StartMeasures  # the real score at σ_max and the student's starting map
    teacher_loss: jax.Array  # () final teacher training loss (mean of the last 100 steps)
    diverged_step: jax.Array  # () first generator step with a non-finite value, -1 if none
    student_params: object  # final student parameters
    fake_params: object  # final fake-score parameters


class StartMeasures(NamedTuple):
    """Per seed, where the student starts and how good the real score is (scalars).

    SCIENCE.md §5b–5c: the student starts as its denoiser read at σ_max, the data mean
    plus a small z-dependent tilt that carries whatever pairing it inherits.
    """

    teacher_err_smax: jax.Array  # real score's error at σ_max / the exact z-dependent signal
    teacher_map_agree: jax.Array  # share of z whose T(z) has the exact ODE map's mode
    start_alignment: jax.Array  # corr. of the student's step-0 tilt with the exact one
    start_tilt_kappa: jax.Array  # κ(mode the step-0 tilt points at, mode of T(z))
    start_kappa: jax.Array  # the same for the exact tilt and the exact map: no training


def student_ladder(config: DMDConfig) -> jax.Array:
    """The few-step student's σ ladder (student_steps,): σ_max, …, student_sigma_min."""
    if config.student_steps == 1:
        return jnp.array([config.sigma_max], jnp.float32)
    return karras_sigmas(config.student_steps, config.sigma_max, config.student_sigma_min)


def dmd_gradient(x, p_real, p_fake, normalize: bool = True):
    """DMD2's distribution-matching direction g for samples x (n, d).

    g = (p_fake − p_real) / mean_coords|x − p_real| per sample (the normalizer replaces
    DMD's α/σ weighting); without ``normalize``, g = p_fake − p_real. Minimizing
    ½‖x − stopgrad(x − g)‖² moves x along −g.
    """
    g = p_fake - p_real
    if normalize:
        g = g / jnp.mean(jnp.abs(x - p_real), axis=-1, keepdims=True)
    return g


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


class RunKeys(NamedTuple):
    """The keys one run's key is split into, by use (the order fixes the results)."""

    mixture: jax.Array
    memorize: jax.Array
    teacher: jax.Array
    init: jax.Array
    evaluation: jax.Array
    regression: jax.Array
    loop: jax.Array  # split per block of eval_every steps, then per step
    error: jax.Array  # the denoiser-error estimates


def run_keys(key: jax.Array) -> RunKeys:
    """Split one run's key into its :class:`RunKeys`."""
    return RunKeys(*jax.random.split(key, 8))


class Losses(NamedTuple):
    """One generator step's losses (scalars; NaN from the step a run diverges)."""

    dm: jax.Array  # distribution matching, ½‖x − sg(x − g)‖²
    fake_dsm: jax.Array  # the fake score's denoising loss, mean over its updates
    gan_gen: jax.Array  # the generator's GAN loss (0 when off)
    gan_disc: jax.Array  # the discriminator's loss (0 when off)


class Setting(NamedTuple):
    """What the config fixes for every step of a run: the config ``c``, the network
    ``spec``, the student's σ ``ladder`` (L,) and DMD2's σ ``grid`` (KARRAS_GRID,)."""

    c: DMDConfig
    spec: NetSpec
    ladder: jax.Array
    grid: jax.Array

    @classmethod
    def of(cls, config: DMDConfig) -> Setting:
        spec = NetSpec(config.dim, config.width, config.depth, config.sigma_data,
                       config.matmul_dtype, config.skip)  # fmt: skip
        grid = karras_sigmas(KARRAS_GRID, config.sigma_max, 0.002)
        return cls(config, spec, student_ladder(config), grid)


def _start_measures(ctx, real, student, c: DMDConfig) -> StartMeasures:
    """:class:`StartMeasures` of one seed: ``real`` is the real score's denoiser,
    ``student`` the student's at step 0 (both (x (n, d), σ) → (n, d))."""
    mixture, z = ctx.mixture, ctx.z_eval
    x_max = c.sigma_max * z
    # The exact ODE map: where the teacher's pairing would send z with no training error.
    t_exact = teacher_map(mixture.denoise, z, sigma_max=c.sigma_max, steps=c.ode_steps)
    t_modes = mixture.assign(ctx.teacher_samples)
    g0 = student(x_max, c.sigma_max)  # the first rung's read-out: the starting tilt
    return StartMeasures(
        teacher_err_smax=sigma_max_error(real, mixture, z, c.sigma_max),
        teacher_map_agree=jnp.mean(t_modes == mixture.assign(t_exact)),
        start_alignment=start_alignment(g0, mixture.denoise(x_max, c.sigma_max)),
        start_tilt_kappa=label_agreement(tilt_modes(mixture, g0), t_modes, mixture.n_modes)[1],
        start_kappa=start_kappa(mixture, z, t_exact, c.sigma_max),
    )


def _pick_sigma(key, n, grid, lo=0, hi=KARRAS_GRID):
    return grid[jax.random.randint(key, (n,), lo, hi)]


class DMDContext(NamedTuple):
    """What stays fixed while one seed's student trains (built by ``DMDProgram.setup``)."""

    hp: Hyperparams
    mixture: GaussianMixture  # the data distribution
    data: GaussianMixture  # what the real score was built from: the mixture or N points
    teacher: NetworkTeacher  # the trained teacher network (student and fake start here)
    z_eval: jax.Array  # (n, d) held-out noise
    eps_eval: jax.Array  # (max(L−1, 1), n, d) re-noising draws of a few-step student
    teacher_samples: jax.Array  # (n, d) T(z_eval)
    reference: jax.Array  # (n, d) true samples
    teacher_error: jax.Array  # (len(ERROR_SIGMAS),)
    start: StartMeasures
    teacher_loss: jax.Array  # ()
    start_params: object  # θ₀, for the exact-start offset D_exact − D_θ₀
    z_reg: jax.Array | None  # (regression_pairs, d) DMD1 regression noise, when used
    t_reg: jax.Array | None  # (regression_pairs, d) its teacher targets
    k_err: jax.Array  # key for the denoiser-error estimates


class DMDState(NamedTuple):
    """What one generator step updates."""

    student: object
    fake: object
    gen_state: object
    fake_state: object
    diverged_step: jax.Array  # () first non-finite step, −1 while healthy


class DMDProgram(NamedTuple):
    """The pieces of one DMD run, each pure and jit-able (one seed; vmap for more).

    ``setup(key, hp) -> (ctx, state)``: mixture, teacher, evaluation set, initial state.
    ``step(ctx, state, step, key) -> (state, Losses)``: ``fake_ratio`` fake-score
    updates then one generator update (:func:`dmd_step`).
    ``record(ctx, state) -> (samples (n, d), fake_error (len(ERROR_SIGMAS),))``.
    ``schedule(key) -> (indices (steps,), keys (steps,))``: the step numbers 1…steps and
    the key ``train`` gives each step, for a loop that reproduces it.
    ``train(key, hp) -> TrainOutput``: all of it, the steps fused in ``lax.scan``.
    """

    setup: Callable
    step: Callable
    record: Callable
    schedule: Callable
    train: Callable[[jax.Array, Hyperparams], TrainOutput]


# ---------------------------------------------------------------- the denoisers
def real_denoiser(c: DMDConfig, teacher, mixture, data) -> Callable:
    """The real score's denoiser (x (n, d), σ) → (n, d): the teacher network, the exact
    mixture, or the exact denoiser of the N memorized points ``data`` (``config.teacher``)."""
    return {"network": teacher, "oracle": mixture, "memorizing": data}[c.teacher].denoise


def student_denoiser(setting: Setting, ctx: DMDContext, params) -> Callable:
    """The student's denoiser (x (n, d), σ) → (n, d) with ``params``.

    With ``start="exact"`` it carries the fixed offset D_exact − D_θ₀ (θ₀ its initial
    weights, D_exact the exact denoiser of the real score's data): at step 0 it *is*
    the exact denoiser, and its gradients are the network's."""
    spec = setting.spec
    if setting.c.start == "network":
        return lambda x, s: spec.apply(params, x, s)

    def apply(x, s):
        offset = ctx.data.denoise(x, s) - spec.apply(ctx.start_params, x, s)
        return spec.apply(params, x, s) + jax.lax.stop_gradient(offset)

    return apply


# ---------------------------------------------------------------- the few-step student
def chain_inputs(student, z, eps, ladder, sigma_max: float) -> jax.Array:
    """Inputs (L, n, d) each rung of the σ ``ladder`` (L,) sees when the student runs
    on noise z (n, d) with re-noising draws ``eps`` (≥ L−1, n, d); no gradient."""
    x = sigma_max * z
    inputs = [x]
    for i in range(len(ladder) - 1):
        x0 = student(x, ladder[i])
        x = x0 + ladder[i + 1] * eps[i]  # re-noise to the next rung with fresh noise
        inputs.append(x)
    return jax.lax.stop_gradient(jnp.stack(inputs))


def generate(student, z, eps, ladder, sigma_max: float) -> jax.Array:
    """G(z) (n, d): the student's full few-step chain on noise z (n, d)."""
    x_last = chain_inputs(student, z, eps, ladder, sigma_max)[-1]
    return student(x_last, ladder[-1])


def backward_simulation(student, key, ladder, sigma_max: float, shape) -> tuple:
    """DMD2's backward simulation: run the student's earlier rungs without gradient on
    fresh noise of ``shape`` (n, d) and pick one rung to train.

    Returns that rung's input x (n, d) and its σ (n,)."""
    k_z, k_eps, k_i = jax.random.split(key, 3)
    z = jax.random.normal(k_z, shape)
    eps = jax.random.normal(k_eps, (max(len(ladder) - 1, 1), *shape))
    i = jax.random.randint(k_i, (), 0, len(ladder))
    x_in = chain_inputs(student, z, eps, ladder, sigma_max)[i]
    return x_in, jnp.full((shape[0],), ladder[i])


# ---------------------------------------------------------------- the two losses
class GanBatch(NamedTuple):
    """The GAN term's inputs: real samples (n, d), σ (n,) and noise (2, n, d) for the
    discriminator (fake, real), or σ (n,) and noise (1, n, d) for the generator."""

    x_real: jax.Array | None
    sigma: jax.Array
    noise: jax.Array


def fake_score_loss(params, spec: NetSpec, x, sigma, noise, sigma_data: float,
                    gan: GanBatch | None = None, disc_weight=0.0):  # fmt: skip
    """The fake score's loss on student samples x (n, d): denoising score matching at σ
    (n,) with ``noise`` (n, d), L = E‖D_φ(x + σn, σ) − x‖² (EDM-weighted), plus, with
    ``gan``, ``disc_weight`` × the discriminator's loss on the fake score's trunk:
    softplus(ℓ(G noised)) + softplus(−ℓ(data noised)).

    Returns (total, (dsm, disc)), scalars."""
    dsm = denoising_loss(lambda y, s: spec.apply(params, y, s), x, sigma, noise, sigma_data)
    if gan is None:
        return dsm, (dsm, jnp.float32(0.0))
    # discriminator on the fake score's trunk: student = fake, data = real
    s_gan = gan.sigma[:, None]
    _, logit_fake = spec.apply_with_logit(params, x + s_gan * gan.noise[0], gan.sigma)
    _, logit_real = spec.apply_with_logit(params, gan.x_real + s_gan * gan.noise[1], gan.sigma)
    disc = jnp.mean(jax.nn.softplus(logit_fake)) + jnp.mean(jax.nn.softplus(-logit_real))
    return dsm + disc_weight * disc, (dsm, disc)


class GenBatch(NamedTuple):
    """A generator step's inputs: the trained rung's input x_in (n, d) and σ s_in (n,),
    the DMD noise level σ (n,) and noise (n, d); optional GAN draws and the indices
    (n,) of the regression pairs."""

    x_in: jax.Array
    s_in: jax.Array
    sigma: jax.Array
    noise: jax.Array
    gan: GanBatch | None
    reg_idx: jax.Array | None


def generator_loss(params, setting: Setting, ctx: DMDContext, batch: GenBatch, real,
                   fake_params):  # fmt: skip
    """The generator's loss (DMD2 Algorithm 1, generator update).

    x = G_θ(x_in); x_t = sg(x) + σ·noise; g = DMD direction from the real and fake
    denoisers at x_t (:func:`dmd_gradient`); L_DM = ½‖x − sg(x − g)‖² (its gradient in x
    is g). Plus ``gan_weight`` × softplus(−ℓ(x noised)) with a GAN batch, and
    ``regression_weight`` × ‖G_θ(z_reg) − T(z_reg)‖² (DMD1) with regression indices.

    Returns (total, (dm, gan)), scalars."""
    c, spec, hp = setting.c, setting.spec, ctx.hp
    # 1. the student's sample at the trained rung
    x = student_denoiser(setting, ctx, params)(batch.x_in, batch.s_in)
    # 2. noise it and read both scores there (no gradient through either)
    x_noisy = jax.lax.stop_gradient(x) + batch.sigma[:, None] * batch.noise
    p_real = jax.lax.stop_gradient(real(x_noisy, batch.sigma))
    p_fake = jax.lax.stop_gradient(spec.apply(fake_params, x_noisy, batch.sigma))
    # 3. the distribution-matching direction and its surrogate loss
    g = jax.lax.stop_gradient(dmd_gradient(x, p_real, p_fake, c.normalize))
    dm = 0.5 * jnp.mean((x - jax.lax.stop_gradient(x - g)) ** 2)
    total, gan = dm, jnp.float32(0.0)
    # 4. DMD2's GAN term: the fake score's trunk as discriminator
    if batch.gan is not None:
        x_gan = x + batch.gan.sigma[:, None] * batch.gan.noise[0]
        _, logit = spec.apply_with_logit(fake_params, x_gan, batch.gan.sigma)
        gan = jnp.mean(jax.nn.softplus(-logit))
        total = total + hp.gan_weight * gan
    # 5. DMD1's regression on teacher pairs
    if batch.reg_idx is not None:
        z_reg, t_reg = ctx.z_reg[batch.reg_idx], ctx.t_reg[batch.reg_idx]
        pred = student_denoiser(setting, ctx, params)(c.sigma_max * z_reg, c.sigma_max)
        total = total + hp.regression_weight * jnp.mean((pred - t_reg) ** 2)
    return total, (dm, gan)


# ---------------------------------------------------------------- one DMD2 step
def _optimizers(c: DMDConfig, hp: Hyperparams):
    return adamw(hp.generator_lr, warmup=c.warmup), adamw(hp.fake_lr, warmup=c.warmup)


def fake_update(setting: Setting, ctx: DMDContext, carry, key):
    """One fake-score update on the current student's samples; ``carry`` = (student,
    fake, fake optimizer state). Returns (carry, (dsm, disc))."""
    c, spec = setting.c, setting.spec
    student, fake, fake_state = carry
    k_sim, k_s, k_n, k_real, k_gs, k_gn = jax.random.split(key, 6)
    g = student_denoiser(setting, ctx, student)
    shape = (c.batch_size, c.dim)
    x_in, s_in = backward_simulation(g, k_sim, setting.ladder, c.sigma_max, shape)
    x = jax.lax.stop_gradient(g(x_in, s_in))
    sigma = _pick_sigma(k_s, c.batch_size, setting.grid)
    noise = jax.random.normal(k_n, x.shape)
    gan = None
    if c.gan_weight > 0:
        gan = GanBatch(
            ctx.data.sample(k_real, c.batch_size),
            _pick_sigma(k_gs, c.batch_size, setting.grid, *GEN_SIGMA_RANGE),
            jax.random.normal(k_gn, (2, *x.shape)),
        )
    loss = jax.value_and_grad(fake_score_loss, has_aux=True)
    (_, (dsm, disc)), grads = loss(fake, spec, x, sigma, noise, c.sigma_data, gan,
                                   ctx.hp.gan_disc_weight)  # fmt: skip
    updates, fake_state = _optimizers(c, ctx.hp)[1].update(grads, fake_state, fake)
    return (student, optax.apply_updates(fake, updates), fake_state), (dsm, disc)


def generator_update(setting: Setting, ctx: DMDContext, student, gen_state, fake, key):
    """One generator update against the fake score ``fake``. Returns (student,
    optimizer state, dm, gan)."""
    c = setting.c
    k_sim, k_s, k_n, k_gs, k_gn, k_reg = jax.random.split(key, 6)
    shape = (c.batch_size, c.dim)
    x_in, s_in = backward_simulation(
        student_denoiser(setting, ctx, student), k_sim, setting.ladder, c.sigma_max, shape
    )
    gan = reg_idx = None
    if c.gan_weight > 0:
        s_gan = _pick_sigma(k_gs, c.batch_size, setting.grid, *GEN_SIGMA_RANGE)
        gan = GanBatch(None, s_gan, jax.random.normal(k_gn, shape)[None])
    if c.regression_weight > 0:
        reg_idx = jax.random.randint(k_reg, (c.batch_size,), 0, c.regression_pairs)
    batch = GenBatch(
        x_in,
        s_in,
        _pick_sigma(k_s, c.batch_size, setting.grid, *GEN_SIGMA_RANGE),
        jax.random.normal(k_n, x_in.shape),
        gan,
        reg_idx,
    )
    real = real_denoiser(c, ctx.teacher, ctx.mixture, ctx.data)
    loss = jax.value_and_grad(generator_loss, has_aux=True)
    (_, (dm, gan_loss)), grads = loss(student, setting, ctx, batch, real, fake)
    updates, gen_state = _optimizers(c, ctx.hp)[0].update(grads, gen_state, student)
    return optax.apply_updates(student, updates), gen_state, dm, gan_loss


def dmd_step(setting: Setting, ctx: DMDContext, state: DMDState, step_index, key):
    """One step of DMD2's Algorithm 1; returns (state, :class:`Losses`)."""
    c = setting.c
    student, fake, gen_state, fake_state, diverged_step = state
    k_fake, k_gen = jax.random.split(key)
    # 1. fake_ratio updates of the fake score on the student's current samples (TTUR)
    (_, fake_new, fake_state_new), (dsm, disc) = jax.lax.scan(
        lambda carry, k: fake_update(setting, ctx, carry, k),
        (student, fake, fake_state),
        jax.random.split(k_fake, c.fake_ratio),
    )
    # 2. one generator update along the DMD direction against the updated fake score
    student_new, gen_state_new, dm, gan = generator_update(
        setting, ctx, student, gen_state, fake_new, k_gen
    )
    new = (student_new, fake_new, gen_state_new, fake_state_new)
    old = (student, fake, gen_state, fake_state)
    losses = Losses(dm, jnp.mean(dsm), gan, jnp.mean(disc))
    # 3. a non-finite step freezes the run at its last finite state; the others go on.
    # One cond, not a select per leaf: XLA would fuse a copy of the whole finiteness
    # check into every leaf's select (10× the step's code and 3× its compile time).
    ok = _all_finite((new, losses)) & (diverged_step < 0)
    kept = jax.lax.cond(ok, lambda: new, lambda: old)
    diverged_step = jnp.where(ok | (diverged_step >= 0), diverged_step, step_index)
    nan = jax.tree.map(lambda v: jnp.where(ok, v, jnp.nan), losses)
    return DMDState(*kept, diverged_step), nan


# ---------------------------------------------------------------- a run
def _world_and_teacher(setting: Setting, keys: RunKeys, hp: Hyperparams, mixture):
    """The data mixture, what the real score is built from (the mixture or N points of
    it) and the trained teacher network with its loss curve (teacher_steps,)."""
    c, spec = setting.c, setting.spec
    if mixture is None:
        mixture = GaussianMixture.random(keys.mixture, c.dim, c.n_modes, c.mode_std,
                                         c.intrinsic_dim)  # fmt: skip
    data = mixture
    if c.teacher == "memorizing":
        data = GaussianMixture.empirical(mixture.sample(keys.memorize, c.memorize_n))
    teacher, teacher_losses = train_network_teacher(
        keys.teacher,
        data,
        spec,
        steps=c.teacher_steps,
        batch_size=c.teacher_batch_size,
        learning_rate=hp.teacher_lr,
        sigma_max=c.sigma_max,
        target=c.teacher_target,
        sigma_dist=c.teacher_sigma,
    )
    return mixture, data, teacher, teacher_losses


def dmd_setup(setting: Setting, key, hp: Hyperparams, mixture: GaussianMixture | None = None):
    """The exact world, the teacher, the evaluation set and the initial state of one
    run. Returns (:class:`DMDContext`, :class:`DMDState`)."""
    c, spec = setting.c, setting.spec
    keys = run_keys(key)

    # --- the exact world and the teacher
    mixture, data, teacher, teacher_losses = _world_and_teacher(setting, keys, hp, mixture)
    real = real_denoiser(c, teacher, mixture, data)

    # --- held-out evaluation set: the same z for student and teacher
    n_ladder = c.student_steps
    k_z, k_eps, k_ref = jax.random.split(keys.evaluation, 3)
    z_eval = jax.random.normal(k_z, (c.eval_n, c.dim))
    eps_eval = jax.random.normal(k_eps, (max(n_ladder - 1, 1), c.eval_n, c.dim))
    t_eval = teacher_map(real, z_eval, sigma_max=c.sigma_max, steps=c.ode_steps)
    reference = mixture.sample(k_ref, c.eval_n)
    teacher_error = denoiser_error(real, mixture, keys.error, ERROR_SIGMAS, n=c.eval_n)

    # --- DMD1's regression bank of teacher pairs (only built when used)
    z_reg = t_reg = None
    if c.regression_weight > 0:
        z_reg = jax.random.normal(keys.regression, (c.regression_pairs, c.dim))
        t_reg = teacher_map(real, z_reg, sigma_max=c.sigma_max, steps=c.ode_steps)

    # --- student and fake score start as copies of the teacher network
    student0 = teacher.params if c.init == "teacher" else spec.init(keys.init)
    fake0 = teacher.params
    ctx = DMDContext(
        hp=hp,
        mixture=mixture,
        data=data,
        teacher=teacher,
        z_eval=z_eval,
        eps_eval=eps_eval,
        teacher_samples=t_eval,
        reference=reference,
        teacher_error=teacher_error,
        start=None,
        teacher_loss=jnp.mean(teacher_losses[-100:]),
        start_params=student0,
        z_reg=z_reg,
        t_reg=t_reg,
        k_err=keys.error,
    )
    start = _start_measures(ctx, real, student_denoiser(setting, ctx, student0), c)
    ctx = ctx._replace(start=start)
    gen_opt, fake_opt = _optimizers(c, hp)
    state = DMDState(student0, fake0, gen_opt.init(student0), fake_opt.init(fake0), jnp.int32(-1))
    return ctx, state


def dmd_record(setting: Setting, ctx: DMDContext, state: DMDState):
    """The student's samples G(z_eval) (n, d) and the fake score's denoiser error per σ
    band (len(ERROR_SIGMAS),)."""
    c, spec = setting.c, setting.spec
    student = student_denoiser(setting, ctx, state.student)
    samples = generate(student, ctx.z_eval, ctx.eps_eval, setting.ladder, c.sigma_max)
    fake_err = denoiser_error(
        lambda x, s: spec.apply(state.fake, x, s), ctx.mixture, ctx.k_err, ERROR_SIGMAS, n=256
    )
    return samples, fake_err


def dmd_schedule(c: DMDConfig, key):
    """The step numbers 1…steps (steps,) and each step's key (steps,), as ``train``
    draws them: the loop key split per block of ``eval_every`` steps, then per step."""
    n_blocks = c.steps // c.eval_every
    keys = jax.vmap(lambda k: jax.random.split(k, c.eval_every))(
        jax.random.split(run_keys(key).loop, n_blocks)
    )
    return jnp.arange(1, c.steps + 1), keys.reshape(c.steps)


def dmd_train(setting: Setting, key, hp: Hyperparams, mixture=None) -> TrainOutput:
    """One run: setup, then ``steps`` DMD2 steps in ``lax.scan``, the student recorded
    every ``eval_every`` steps (and at step 0)."""
    c = setting.c
    n_blocks = c.steps // c.eval_every
    ctx, state0 = dmd_setup(setting, key, hp, mixture)
    indices, keys = dmd_schedule(c, key)

    def one_step(state, inp):
        return dmd_step(setting, ctx, state, *inp)

    def eval_block(state, block):
        steps, block_keys = block
        state, losses = jax.lax.scan(one_step, state, (steps, block_keys))
        samples, fake_err = dmd_record(setting, ctx, state)
        # Finite weights can still map held-out noise to inf: that is divergence too.
        bad = ~jnp.all(jnp.isfinite(samples)) & (state.diverged_step < 0)
        state = state._replace(diverged_step=jnp.where(bad, steps[-1], state.diverged_step))
        means = jax.tree.map(lambda v: jnp.nanmean(v, axis=0), losses)
        return state, (samples, fake_err, means)

    samples0, fake_err0 = dmd_record(setting, ctx, state0)
    blocks = (indices.reshape(n_blocks, c.eval_every), keys.reshape(n_blocks, c.eval_every))
    state, (samples, fake_err, losses) = jax.lax.scan(eval_block, state0, blocks)
    # no losses before the first step: NaN at record 0
    losses = jax.tree.map(lambda v: jnp.concatenate([jnp.full((1,), jnp.nan), v]), losses)
    return TrainOutput(
        mixture=ctx.mixture,
        z=ctx.z_eval,
        teacher_samples=ctx.teacher_samples,
        reference=ctx.reference,
        student_samples=jnp.concatenate([samples0[None], samples]),
        gen_loss=losses.dm,
        fake_loss=losses.fake_dsm,
        gan_gen_loss=losses.gan_gen,
        gan_disc_loss=losses.gan_disc,
        fake_error=jnp.concatenate([fake_err0[None], fake_err]),
        teacher_error=ctx.teacher_error,
        start=ctx.start,
        teacher_loss=ctx.teacher_loss,
        diverged_step=state.diverged_step,
        student_params=state.student,
        fake_params=state.fake,
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


def make_program(config: DMDConfig, mixture: GaussianMixture | None = None) -> DMDProgram:
    """The :class:`DMDProgram` of ``config``: ``train`` plus the setup/step/record it is
    built from (a per-step loop over ``step`` gives the same updates as ``train``)."""
    if mixture is not None and mixture.dim != config.dim:
        raise ValueError(f"mixture.dim = {mixture.dim} must equal config.dim = {config.dim}")
    setting = Setting.of(config)
    return DMDProgram(
        setup=lambda key, hp: dmd_setup(setting, key, hp, mixture),
        step=lambda ctx, state, index, key: dmd_step(setting, ctx, state, index, key),
        record=lambda ctx, state: dmd_record(setting, ctx, state),
        schedule=lambda key: dmd_schedule(config, key),
        train=lambda key, hp: dmd_train(setting, key, hp, mixture),
    )

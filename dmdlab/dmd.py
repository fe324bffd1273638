"""DMD2 training as one pure, jit-able, vmappable function (SCIENCE.md §4).

``make_train(config)`` returns ``train(key, hparams) -> TrainOutput``: build the mixture,
train the teacher network, copy it into student and fake score, then run
``config.steps`` generator updates (each after ``config.fake_ratio`` fake-score
updates) inside ``lax.scan``, recording the student's outputs on fixed held-out noise
every ``config.eval_every`` steps. Metrics are computed afterwards from those
records (:mod:`dmdlab.evaluate`), so training never leaves the device.
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
    "Hyperparams",
    "StartMeasures",
    "TrainOutput",
    "dmd_gradient",
    "make_program",
    "make_train",
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


def _run_keys(key):
    """The 8 keys one run splits its key into; slot 6 drives the training loop."""
    return jax.random.split(key, 8)


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
    ``step(ctx, state, step, key) -> (state, losses (4,))``: ``fake_ratio`` fake-score
    updates then one generator update (losses: DM, fake DSM, GAN gen, GAN disc).
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
    c = config
    if mixture is not None and mixture.dim != c.dim:
        raise ValueError(f"mixture.dim = {mixture.dim} must equal config.dim = {c.dim}")
    custom_mixture = mixture
    spec = NetSpec(c.dim, c.width, c.depth, c.sigma_data, c.matmul_dtype, c.skip)
    ladder = student_ladder(c)
    grid = karras_sigmas(KARRAS_GRID, c.sigma_max, 0.002)
    n_ladder = c.student_steps
    gan_on = c.gan_weight > 0
    reg_on = c.regression_weight > 0

    def real_score(teacher, mixture, data):
        """The real score's denoiser: the network, the exact mixture, or the N points."""
        return {"network": teacher, "oracle": mixture, "memorizing": data}[c.teacher].denoise

    def student_fn(ctx, params):
        """The student's denoiser (x (n, d), σ) → (n, d) with ``params``.

        With ``start="exact"`` it carries the fixed offset D_exact − D_θ₀ (θ₀ its initial
        weights, D_exact the exact denoiser of the real score's data): at step 0 it *is*
        the exact denoiser, and its gradients are the network's."""
        if c.start == "network":
            return lambda x, s: spec.apply(params, x, s)

        def apply(x, s):
            offset = ctx.data.denoise(x, s) - spec.apply(ctx.start_params, x, s)
            return spec.apply(params, x, s) + jax.lax.stop_gradient(offset)

        return apply

    def chain_inputs(student, z, eps):
        """Inputs (L, n, d) each ladder step sees when the student runs on z, no gradient."""
        x = c.sigma_max * z
        inputs = [x]
        for i in range(n_ladder - 1):
            x0 = student(x, ladder[i])
            x = x0 + ladder[i + 1] * eps[i]  # re-noise to the next rung with fresh noise
            inputs.append(x)
        return jax.lax.stop_gradient(jnp.stack(inputs))

    def generate(student, z, eps):
        """G(z): the full few-step chain, (n, d)."""
        x_last = chain_inputs(student, z, eps)[-1]
        return student(x_last, ladder[-1])

    def backward_simulation(student, key):
        """DMD2: run the student's earlier steps without gradient, pick one step to train.

        Returns that step's input x (n, d) and its σ (n,)."""
        k_z, k_eps, k_i = jax.random.split(key, 3)
        z = jax.random.normal(k_z, (c.batch_size, c.dim))
        eps = jax.random.normal(k_eps, (max(n_ladder - 1, 1), c.batch_size, c.dim))
        i = jax.random.randint(k_i, (), 0, n_ladder)
        x_in = chain_inputs(student, z, eps)[i]
        return x_in, jnp.full((c.batch_size,), ladder[i])

    def optimizers(hp: Hyperparams):
        return adamw(hp.generator_lr, warmup=c.warmup), adamw(hp.fake_lr, warmup=c.warmup)

    def setup(key: jax.Array, hp: Hyperparams) -> tuple[DMDContext, DMDState]:
        k_mix, k_mem, k_teacher, k_init, k_eval, k_reg, _, k_err = _run_keys(key)

        # --- the exact world and the teacher
        mixture = custom_mixture
        if mixture is None:
            mixture = GaussianMixture.random(k_mix, c.dim, c.n_modes, c.mode_std, c.intrinsic_dim)
        data = mixture
        if c.teacher == "memorizing":
            data = GaussianMixture.empirical(mixture.sample(k_mem, c.memorize_n))
        teacher, teacher_losses = train_network_teacher(
            k_teacher,
            data,
            spec,
            steps=c.teacher_steps,
            batch_size=c.teacher_batch_size,
            learning_rate=hp.teacher_lr,
            sigma_max=c.sigma_max,
            target=c.teacher_target,
            sigma_dist=c.teacher_sigma,
        )
        real = real_score(teacher, mixture, data)

        # --- held-out evaluation set: the same z for student and teacher
        k_z, k_eps, k_ref = jax.random.split(k_eval, 3)
        z_eval = jax.random.normal(k_z, (c.eval_n, c.dim))
        eps_eval = jax.random.normal(k_eps, (max(n_ladder - 1, 1), c.eval_n, c.dim))
        t_eval = teacher_map(real, z_eval, sigma_max=c.sigma_max, steps=c.ode_steps)
        reference = mixture.sample(k_ref, c.eval_n)
        teacher_error = denoiser_error(real, mixture, k_err, ERROR_SIGMAS, n=c.eval_n)

        # --- DMD1's regression bank of teacher pairs (only built when used)
        z_reg = t_reg = None
        if reg_on:
            z_reg = jax.random.normal(k_reg, (c.regression_pairs, c.dim))
            t_reg = teacher_map(real, z_reg, sigma_max=c.sigma_max, steps=c.ode_steps)

        # --- student and fake score start as copies of the teacher network
        student0 = teacher.params if c.init == "teacher" else spec.init(k_init)
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
            k_err=k_err,
        )
        ctx = ctx._replace(start=_start_measures(ctx, real, student_fn(ctx, student0), c))
        gen_opt, fake_opt = optimizers(hp)
        state = DMDState(
            student0, fake0, gen_opt.init(student0), fake_opt.init(fake0), jnp.int32(-1)
        )
        return ctx, state

    def step(ctx: DMDContext, state: DMDState, step_index, key) -> tuple[DMDState, jax.Array]:
        hp, data, real = ctx.hp, ctx.data, real_score(ctx.teacher, ctx.mixture, ctx.data)
        gen_opt, fake_opt = optimizers(hp)

        def fake_update(carry, k):
            student, fake, fake_state = carry
            k_sim, k_s, k_n, k_real, k_gs, k_gn = jax.random.split(k, 6)
            g = student_fn(ctx, student)
            x_in, s_in = backward_simulation(g, k_sim)
            x = jax.lax.stop_gradient(g(x_in, s_in))
            sigma = _pick_sigma(k_s, c.batch_size, grid)
            noise = jax.random.normal(k_n, x.shape)
            if gan_on:
                x_real = data.sample(k_real, c.batch_size)
                s_gan = _pick_sigma(k_gs, c.batch_size, grid, *GEN_SIGMA_RANGE)
                n_gan = jax.random.normal(k_gn, (2, *x.shape))

            def loss_fn(p):
                dsm = denoising_loss(
                    lambda y, s: spec.apply(p, y, s), x, sigma, noise, c.sigma_data
                )
                if not gan_on:
                    return dsm, (dsm, jnp.float32(0.0))
                # discriminator on the fake score's trunk: student = fake, data = real
                _, logit_fake = spec.apply_with_logit(p, x + s_gan[:, None] * n_gan[0], s_gan)
                _, logit_real = spec.apply_with_logit(p, x_real + s_gan[:, None] * n_gan[1], s_gan)
                disc = jnp.mean(jax.nn.softplus(logit_fake)) + jnp.mean(
                    jax.nn.softplus(-logit_real)
                )
                return dsm + hp.gan_disc_weight * disc, (dsm, disc)

            (_, (dsm, disc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(fake)
            updates, fake_state = fake_opt.update(grads, fake_state, fake)
            fake = optax.apply_updates(fake, updates)
            return (student, fake, fake_state), (dsm, disc)

        def gen_update(student, gen_state, fake, k):
            k_sim, k_s, k_n, k_gs, k_gn, k_reg_b = jax.random.split(k, 6)
            x_in, s_in = backward_simulation(student_fn(ctx, student), k_sim)
            sigma = _pick_sigma(k_s, c.batch_size, grid, *GEN_SIGMA_RANGE)
            noise = jax.random.normal(k_n, x_in.shape)

            def loss_fn(p):
                x = student_fn(ctx, p)(x_in, s_in)
                x_noisy = jax.lax.stop_gradient(x) + sigma[:, None] * noise
                p_real = jax.lax.stop_gradient(real(x_noisy, sigma))
                p_fake = jax.lax.stop_gradient(spec.apply(fake, x_noisy, sigma))
                g = jax.lax.stop_gradient(dmd_gradient(x, p_real, p_fake, c.normalize))
                dm = 0.5 * jnp.mean((x - jax.lax.stop_gradient(x - g)) ** 2)
                total, gan = dm, jnp.float32(0.0)
                if gan_on:
                    s_gan = _pick_sigma(k_gs, c.batch_size, grid, *GEN_SIGMA_RANGE)
                    x_gan = x + s_gan[:, None] * jax.random.normal(k_gn, x.shape)
                    _, logit = spec.apply_with_logit(fake, x_gan, s_gan)
                    gan = jnp.mean(jax.nn.softplus(-logit))
                    total = total + hp.gan_weight * gan
                if reg_on:
                    idx = jax.random.randint(k_reg_b, (c.batch_size,), 0, c.regression_pairs)
                    pred = student_fn(ctx, p)(c.sigma_max * ctx.z_reg[idx], c.sigma_max)
                    total = total + hp.regression_weight * jnp.mean((pred - ctx.t_reg[idx]) ** 2)
                return total, (dm, gan)

            (_, (dm, gan)), grads = jax.value_and_grad(loss_fn, has_aux=True)(student)
            updates, gen_state = gen_opt.update(grads, gen_state, student)
            return optax.apply_updates(student, updates), gen_state, dm, gan

        student, fake, gen_state, fake_state, diverged_step = state
        k_fake, k_gen = jax.random.split(key)
        (_, fake_new, fake_state_new), (dsm, disc) = jax.lax.scan(
            fake_update, (student, fake, fake_state), jax.random.split(k_fake, c.fake_ratio)
        )
        student_new, gen_state_new, dm, gan = gen_update(student, gen_state, fake_new, k_gen)
        new = (student_new, fake_new, gen_state_new, fake_state_new)
        old = (student, fake, gen_state, fake_state)
        losses = jnp.stack([dm, jnp.mean(dsm), gan, jnp.mean(disc)])
        ok = _all_finite((new, losses)) & (diverged_step < 0)
        # A diverged run freezes at its last finite state; the others go on. One cond, not
        # a select per leaf: XLA would fuse a copy of the whole finiteness check into
        # every leaf's select (10× the step's code and 3× its compile time).
        kept = jax.lax.cond(ok, lambda: new, lambda: old)
        diverged_step = jnp.where(ok | (diverged_step >= 0), diverged_step, step_index)
        return DMDState(*kept, diverged_step), jnp.where(ok, losses, jnp.nan)

    def record(ctx: DMDContext, state: DMDState):
        samples = generate(student_fn(ctx, state.student), ctx.z_eval, ctx.eps_eval)
        fake_err = denoiser_error(
            lambda x, s: spec.apply(state.fake, x, s), ctx.mixture, ctx.k_err, ERROR_SIGMAS, n=256
        )
        return samples, fake_err

    n_blocks = c.steps // c.eval_every

    def schedule(key: jax.Array):
        k_loop = _run_keys(key)[6]
        keys = jax.vmap(lambda k: jax.random.split(k, c.eval_every))(
            jax.random.split(k_loop, n_blocks)
        )
        return jnp.arange(1, c.steps + 1), keys.reshape(c.steps)

    def train(key: jax.Array, hp: Hyperparams) -> TrainOutput:
        ctx, state0 = setup(key, hp)
        indices, keys = schedule(key)

        def one_step(state, inp):
            return step(ctx, state, *inp)

        def eval_block(state, block):
            steps, block_keys = block
            state, losses = jax.lax.scan(one_step, state, (steps, block_keys))
            samples, fake_err = record(ctx, state)
            # Finite weights can still map held-out noise to inf: that is divergence too.
            bad = ~jnp.all(jnp.isfinite(samples)) & (state.diverged_step < 0)
            state = state._replace(diverged_step=jnp.where(bad, steps[-1], state.diverged_step))
            return state, (samples, fake_err, jnp.nanmean(losses, axis=0))

        samples0, fake_err0 = record(ctx, state0)
        blocks = (indices.reshape(n_blocks, c.eval_every), keys.reshape(n_blocks, c.eval_every))
        state, (samples, fake_err, losses) = jax.lax.scan(eval_block, state0, blocks)
        losses = jnp.concatenate([jnp.full((1, 4), jnp.nan), losses])
        return TrainOutput(
            mixture=ctx.mixture,
            z=ctx.z_eval,
            teacher_samples=ctx.teacher_samples,
            reference=ctx.reference,
            student_samples=jnp.concatenate([samples0[None], samples]),
            gen_loss=losses[:, 0],
            fake_loss=losses[:, 1],
            gan_gen_loss=losses[:, 2],
            gan_disc_loss=losses[:, 3],
            fake_error=jnp.concatenate([fake_err0[None], fake_err]),
            teacher_error=ctx.teacher_error,
            start=ctx.start,
            teacher_loss=ctx.teacher_loss,
            diverged_step=state.diverged_step,
            student_params=state.student,
            fake_params=state.fake,
        )

    return DMDProgram(setup, step, record, schedule, train)

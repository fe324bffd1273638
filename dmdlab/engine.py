"""The loop every distillation method runs in (docs/science.md §4): pure, jit-able, vmappable.

One run is: its setup (``dmdlab.setup``: the exact world, the teacher, the student's
starting weights, a held-out evaluation set, the start measures), then ``config.steps`` steps of a
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

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dmdlab.config import DMDConfig
from dmdlab.method import Context, Hyperparams, Method, Setting, generate, student_denoiser
from dmdlab.methods import check, get_method
from dmdlab.metrics import loglik_gap, mode_agreement
from dmdlab.mixture import GaussianMixture
from dmdlab.progress import emit
from dmdlab.setup import StartMeasures, run_keys, setup

__all__ = [
    "Program",
    "TrainOutput",
    "extend",
    "guarded_step",
    "make_program",
    "make_train",
    "progress_values",
    "record",
    "record_blocks",
    "run_from",
    "schedule",
    "train",
]


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
    teacher: tuple | None = None  # (params, losses (teacher_steps,)): to keep in the store


class Program(NamedTuple):
    """The pieces of one run, each pure and jit-able (one seed; vmap for more).

    ``setup(key, hp, teacher=None) -> (ctx, state)``: world, teacher (trained, or a stored
    one's (params, losses)), evaluation set, initial state (a pair: the method's state and
    the first diverged step, −1 while healthy); ``train`` and ``extend`` take ``teacher``
    too.
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
    # check into every leaf's select (10× the step's code and 3× its compile time). Under
    # vmap (every seed batch) the cond is a select per leaf again and the per-leaf chain of
    # ands is copied into each (tiny preset: 17 k lines of step HLO, 9 k without the guard);
    # one reduction over all values would cut it to 10 k but moves a consistency run's
    # rounding (benchmarks/RESULTS.md, 2026-12-08), so it waits for a recomputation.
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


def train(setting: Setting, method: Method, key, hp: Hyperparams, mixture=None,
          teacher=None, progress: bool = False) -> TrainOutput:  # fmt: skip
    """One run: setup, then ``steps`` guarded method steps in ``lax.scan``, the student
    recorded every ``eval_every`` steps (and at step 0). ``teacher``: a stored teacher's
    (params, losses), or None to train it in setup; ``progress``: see :func:`run_from`."""
    ctx, carry0 = setup(setting, method, key, hp, mixture, teacher)
    return run_from(setting, method, ctx, carry0, key, progress=progress)


def extend(setting: Setting, method: Method, key, hp: Hyperparams, carry, first_step: int,
           mixture=None, teacher=None, progress: bool = False) -> TrainOutput:  # fmt: skip
    """The rest of one run from a checkpoint: the same setup as :func:`train` (world,
    teacher, evaluation set; its starting state is discarded), then the steps after
    ``first_step`` from ``carry`` = (method state, diverged step) saved there. On one
    machine and stack the records equal those of a straight run after ``first_step``."""
    ctx, _ = setup(setting, method, key, hp, mixture, teacher)
    return run_from(setting, method, ctx, carry, key, first_step, progress)


def progress_values(setting: Setting, ctx: Context, samples) -> tuple[jax.Array, jax.Array]:
    """(κ, gap) of the student's samples (n, d) on the evaluation noises, as the progress
    display shows them: Cohen's κ of its modes against the teacher's map (NaN in a
    class world, where it is 1 by construction) and the log-likelihood gap in nats/dim."""
    gap = loglik_gap(ctx.mixture, samples, ctx.reference, ctx.classes_eval)
    if setting.config.conditional:
        return jnp.float32(jnp.nan), gap
    return mode_agreement(ctx.mixture, samples, ctx.teacher_samples)[1], gap


def run_from(setting: Setting, method: Method, ctx: Context, carry0, key,
             first_step: int = 0, progress: bool = False) -> TrainOutput:  # fmt: skip
    """The steps of one run from a given start: ``carry0`` = (method state, diverged step)
    as :func:`setup` returns it, or altered (a perturbed student, for a chaos test), or
    saved at the recorded step ``first_step`` (a resumed run: its records start after
    ``first_step``, with no record there); ``key``: the run's (its loop key draws the
    steps' keys). ``progress``: each record's (step, κ, gap) to dmdlab.progress."""
    c = setting.config
    indices, keys = schedule(c, key, first_step)

    one_step = lambda carry, inp: guarded_step(setting, method, ctx, carry, *inp)  # noqa: E731

    def eval_block(carry, block):
        steps, block_keys = block
        carry, losses = jax.lax.scan(one_step, carry, (steps, block_keys))
        state, diverged_step = carry
        samples, records = record(setting, method, ctx, state)
        # Finite weights can still map held-out noise to inf: that is divergence too.
        bad = ~jnp.all(jnp.isfinite(samples)) & (diverged_step < 0)
        carry = (state, jnp.where(bad, steps[-1], diverged_step))
        if progress:
            jax.debug.callback(emit, steps[-1], *progress_values(setting, ctx, samples))
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
        teacher=(ctx.teacher.params, ctx.teacher_losses),
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


def make_program(config: DMDConfig, mixture: GaussianMixture | None = None,
                 progress: bool = False) -> Program:  # fmt: skip
    """The :class:`Program` of ``config`` with its method (``config.method``): ``train``
    plus the setup/step/record it is built from (a per-step loop over ``step`` gives
    the same updates as ``train``). ``progress``: ``train`` and ``extend`` report each
    record to the host (:func:`run_from`), with the same numbers."""
    if mixture is not None and mixture.dim != config.dim:
        raise ValueError(f"mixture.dim = {mixture.dim} must equal config.dim = {config.dim}")
    setting, method = Setting.of(check(config)), get_method(config.method)
    return Program(
        setup=lambda key, hp, teacher=None: setup(setting, method, key, hp, mixture, teacher),
        step=lambda ctx, carry, i, key: guarded_step(setting, method, ctx, carry, i, key),
        record=lambda ctx, carry: record(setting, method, ctx, carry[0]),
        schedule=lambda key: schedule(config, key),
        train=lambda key, hp, teacher=None: train(
            setting, method, key, hp, mixture, teacher, progress
        ),
        run_from=lambda ctx, carry, key: run_from(setting, method, ctx, carry, key),
        extend=lambda key, hp, carry, first_step, teacher=None: extend(
            setting, method, key, hp, carry, first_step, mixture, teacher, progress
        ),
    )

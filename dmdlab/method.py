"""What a distillation method is and the tools it may use (docs/science.md §4).

A method (``dmdlab.methods``) is a :class:`Method`: pure functions over the run's
:class:`Setting` (what the config fixes) and :class:`Context` (what stays fixed while one
seed's student trains), with its own explicit state, as an optax transformation is. This
module is everything a method may import: the contract, the optimizer, the level draws,
the real and student denoisers and the few-step student's chain. It imports no method,
no engine and no registry, so methods sit above it and the engine above them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp

from dmdlab.networks import GeneratorSpec, NetSpec
from dmdlab.noising import GRID, Noising
from dmdlab.optim import adamw

if TYPE_CHECKING:
    from dmdlab.config import DMDConfig
    from dmdlab.mixture import GaussianMixture
    from dmdlab.setup import StartMeasures
    from dmdlab.teachers import NetworkTeacher

__all__ = [
    "ERROR_SIGMAS",
    "Context",
    "Hyperparams",
    "Method",
    "Setting",
    "backward_simulation",
    "batch_classes",
    "chain_inputs",
    "generate",
    "no_dmd2_terms",
    "optimizer",
    "pick_sigma",
    "real_denoiser",
    "student_denoiser",
    "student_ladder",
    "student_samples",
]

CLASS_KEY = 7  # folded into a batch's key for its classes: unconditional draws unchanged
# σ bands where denoiser error is reported (the real score's at the start, a fake score's
# at every record): across where modes are decided (≈ 1 at d = 2 up to ≈ 16 at d = 512)
# and the within-mode shrinkage (σ ≈ s = 0.2).
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


class Setting(NamedTuple):
    """What the config fixes for every step of a run: the ``config``, the teacher's (and
    fake score's) network ``spec``, the student's network ``student_spec`` (the same
    denoiser, or the plain MLP generator), the ``noising`` (VE or flow), the student's
    level ``ladder`` (L,) and DMD2's level ``grid`` (noising.GRID,)."""

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
        if c.generator in ("mlp", "residual"):
            student_spec = GeneratorSpec(c.dim, c.gen_width or c.width, c.gen_depth or c.depth,
                                         c.gen_activation, n_classes, noising.top,
                                         c.matmul_dtype, c.generator == "residual")  # fmt: skip
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
    teacher_losses: jax.Array  # (teacher_steps,) its training curve (kept with the teacher)
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
    ``check(config) -> list[str]``: the rules the method puts on the config's other fields
    ("field=value is invalid: allowed …", one string per broken rule; empty: fine).
    """

    name: str
    init: Callable
    step: Callable
    student: Callable
    record: Callable
    passes: Callable[[DMDConfig], float]
    losses_filled: tuple[str, ...]
    records_filled: tuple[str, ...]
    check: Callable[[DMDConfig], list[str]]


def no_dmd2_terms(config: DMDConfig) -> list[str]:
    """The rule of every method but DMD2: no GAN and no DMD1 regression term (DMD2's
    options), as :attr:`Method.check` messages."""
    on = [name for name in ("gan_weight", "regression_weight") if getattr(config, name) != 0]
    return [f"{name}={getattr(config, name)!r} is invalid: allowed 0 unless method='dmd2'"
            for name in on]  # fmt: skip


def student_ladder(config: DMDConfig) -> jax.Array:
    """The few-step student's level ladder (student_steps,): σ_max, …, student_sigma_min
    (VE), or t = 1 and the same ladder's t's (flow)."""
    if config.student_steps == 1 and config.parametrization == "ve":
        return jnp.array([config.sigma_max], jnp.float32)
    noising = Noising(config.parametrization, config.sigma_max)
    return noising.ladder(config.student_steps, config.student_sigma_min)


def optimizer(setting: Setting, learning_rate, updates_per_step: int = 1):
    """The optimizer of the networks a method trains (docs/science.md §4): AdamW after
    clipping, with the config's warmup, over the raveled parameters (``flat``: half the
    step's compile time); with ``lr_schedule="cosine"`` the rate then decays to 1% at the
    run's last step (DMD2 keeps it constant, the default). ``updates_per_step``: how many
    updates the network makes per generator step (a fake score's ``fake_ratio``): its
    optimizer counts its own updates, so its decay spans steps × that many."""
    c = setting.config
    decay = c.steps * updates_per_step if c.lr_schedule == "cosine" else None
    return adamw(learning_rate, warmup=c.warmup, decay_steps=decay, flat=True)


def pick_sigma(key, n, grid, lo=0, hi=GRID):
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

"""DMDConfig: every field of one DMD run, validated up front, hashable for caching.

    >>> cfg = DMDConfig(dim=32, steps=400)
    >>> cfg.replace(gan_weight=3e-3).hash()   # a stable 12-hex-digit id

Fields whose values only enter as numbers (learning rates, loss weights) are *dynamic*:
runs that differ only in them share one compiled program. Everything else fixes shapes
or program structure and is *static*. A loss weight's on/off (0 or not) is structure.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from typing import Any

from dmdlab.worlds import WORLDS, world_of

__all__ = [
    "CHOICES",
    "DYNAMIC_FIELDS",
    "FIELD_DOCS",
    "TEACHER_FIELDS",
    "DMDConfig",
    "field_help",
    "parse_field_value",
]

# Every string field's allowed values, declared once: the modules that implement them
# (noising, networks, teachers) read their names from here.
_CHOICES = {
    "world": tuple(WORLDS),
    "parametrization": ("ve", "flow"),
    "teacher": ("network", "oracle", "memorizing"),
    "teacher_target": ("exact", "samples"),
    "teacher_sigma": ("focused", "edm"),
    "skip": ("learned", "edm"),
    "init": ("teacher", "regressed", "random"),
    "generator": ("denoiser", "mlp", "residual"),
    "regression_target": ("ode", "onestep"),
    "dmd_time_weight": ("none", "flow"),
    "gen_activation": ("silu", "relu", "gelu"),
    "start": ("network", "exact"),
    "lr_schedule": ("constant", "cosine"),
    "matmul_dtype": ("float32", "bfloat16"),
}
CHOICES = types.MappingProxyType(_CHOICES)
# What :func:`dmdlab.setup.train_teacher` reads: the world and its data (world fields,
# memorized points), the network (NetSpec: width, depth, σ_data, skip, products,
# parametrization; its classes follow the world) and the teacher's training.
TEACHER_FIELDS = (
    "world", "dim", "n_modes", "mode_std", "intrinsic_dim", "class_dim", "mean_radius",
    "teacher", "memorize_n", "parametrization", "sigma_max", "sigma_data", "width", "depth",
    "skip", "matmul_dtype", "teacher_target", "teacher_sigma", "teacher_steps",
    "teacher_batch_size", "teacher_lr",
)  # fmt: skip

DYNAMIC_FIELDS = (
    "generator_lr",
    "fake_lr",
    "teacher_lr",
    "gan_weight",
    "gan_disc_weight",
    "regression_weight",
    "sid_alpha",
    "cd_ema",
)
_SWITCHED = ("gan_weight", "regression_weight")  # 0 turns the term off: keep 0 vs > 0


@dataclasses.dataclass(frozen=True)
class DMDConfig:
    """One DMD distillation run on a Gaussian mixture (docs/science.md §4).

    Data: ``dim`` d, ``n_modes`` K, ``mode_std`` s, optional ``intrinsic_dim`` m (means
    in an m-dim subspace). Networks: ``width``, ``depth``, EDM ``sigma_data``,
    ``skip`` ("learned": EDM's skip plus a learned scalar a(σ), which lets the network be
    exact when width < d; "edm": EDM's alone), ``matmul_dtype`` ("float32": exact f32
    products; "bfloat16": bf16 products and activations with f32 parameters).
    Teacher: ``teacher`` is the real score ("network": an MLP trained for
    ``teacher_steps`` on batches of ``teacher_batch_size``; "oracle": the exact mixture
    denoiser; "memorizing": the exact denoiser of ``memorize_n`` samples). The network
    regresses on ``teacher_target`` ("exact": E[x0 | x_σ] of its data; "samples": the
    noisy x0, plain DSM) at σ drawn by ``teacher_sigma`` ("focused": EDM's log-normal,
    log-uniform, the band where modes are decided and σ_max; "edm": the first two).
    The student is the teacher network read at ``sigma_max`` (init "teacher" = a copy of
    its weights, "random" = fresh weights); ``start`` "exact" adds the fixed offset
    D_exact − D_θ₀ so that it starts as the exact denoiser of the real score's data,
    with the same network and gradients (docs/science.md §5b);
    ``student_steps`` > 1 gives a few-step student on a Karras ladder from ``sigma_max``
    down to ``student_sigma_min``, trained with backward simulation.
    Training: ``steps`` generator updates, each after ``fake_ratio`` fake-score
    updates, on batches of ``batch_size``; metrics every ``eval_every`` generator steps
    (every ``eval_early_every`` up to ``eval_early_until`` first, when set)
    on ``eval_n`` fixed held-out noises, against the ``ode_steps``-step Heun teacher map.
    Options: ``gan_weight`` (generator GAN weight; DMD2 uses 3e-3; the discriminator
    term has weight ``gan_disc_weight``), ``regression_weight`` (DMD1 regression on
    ``regression_pairs`` teacher pairs), ``normalize`` (DMD2's per-sample normalizer).
    """

    # data
    world: str = "mixture"
    dim: int = 8
    n_modes: int = 8
    mode_std: float = 0.2
    intrinsic_dim: int | None = None
    class_dim: int | None = None
    class_dims: str | None = None
    mean_radius: float | None = None
    # noise
    parametrization: str = "ve"
    sigma_max: float = 80.0
    sigma_data: float = 1.0
    # networks
    width: int = 256
    depth: int = 3
    skip: str = "learned"
    matmul_dtype: str = "float32"
    # teacher
    teacher: str = "network"
    teacher_target: str = "exact"
    teacher_sigma: str = "focused"
    teacher_steps: int = 4000
    teacher_batch_size: int = 512
    teacher_lr: float = 1e-3
    memorize_n: int = 64
    # student
    init: str = "teacher"
    init_steps: int = 1000
    init_lr: float | None = None
    generator: str = "denoiser"
    gen_width: int | None = None
    gen_depth: int | None = None
    gen_activation: str = "silu"
    start: str = "network"
    student_steps: int = 1
    student_sigma_min: float = 0.5
    # distillation
    method: str = "dmd2"
    steps: int = 600
    fake_ratio: int = 5
    batch_size: int = 256
    generator_lr: float = 1e-3
    fake_lr: float = 1e-3
    warmup: int = 50
    lr_schedule: str = "constant"
    normalize: bool = True
    dmd_time_weight: str = "none"
    gan_weight: float = 0.0
    gan_disc_weight: float = 1e-2
    regression_weight: float = 0.0
    regression_target: str = "ode"
    regression_pairs: int = 1024
    sid_alpha: float = 1.2
    cd_levels: int = 18
    cd_ema: float = 0.95
    # evaluation
    eval_every: int = 20
    eval_early_every: int = 0
    eval_early_until: int = 0
    eval_n: int = 512
    ode_steps: int = 200

    def __post_init__(self):
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), _field_types()[f.name])
            if (
                _unwrap_optional(_field_types()[f.name])[0] is float
                and getattr(self, f.name) is not None
            ):
                # 80 and 80.0 are one config: one hash, one cell id
                object.__setattr__(self, f.name, float(getattr(self, f.name)))
        errors = []

        def need(ok, field, allowed):
            if not ok:
                errors.append(f"{field}={getattr(self, field)!r} is invalid: allowed {allowed}")

        for name, choices in _CHOICES.items():
            need(getattr(self, name) in choices, name, " | ".join(map(repr, choices)))
        for name in ("width", "depth", "steps", "fake_ratio", "eval_every"):
            need(getattr(self, name) >= 1, name, "an integer >= 1")
        # one dimension has no noise plane, one mode no κ: refused, not half supported
        need(self.dim >= 2, "dim", "an integer >= 2")
        need(self.n_modes >= 2, "n_modes", "an integer >= 2 (κ is undefined for one mode)")
        for name in ("gen_width", "gen_depth"):
            need(getattr(self, name) is None or getattr(self, name) >= 1, name,
                 "None (the teacher's) or an integer >= 1")  # fmt: skip
        self._check_protocol(need)
        for name in ("student_steps",):
            need(getattr(self, name) >= 1, name, "an integer >= 1")
        need(self.batch_size >= 2, "batch_size", "an integer >= 2")
        need(self.teacher_batch_size >= 2, "teacher_batch_size", "an integer >= 2")
        need(self.eval_n >= 8, "eval_n", "an integer >= 8")
        need(self.ode_steps >= 2, "ode_steps", "an integer >= 2")
        need(self.teacher_steps >= 0, "teacher_steps", "an integer >= 0")
        need(self.warmup >= 0, "warmup", "an integer >= 0")
        need(self.memorize_n >= 1, "memorize_n", "an integer >= 1")
        need(self.regression_pairs >= 1, "regression_pairs", "an integer >= 1")
        need(
            self.intrinsic_dim is None or 1 <= self.intrinsic_dim <= self.dim,
            "intrinsic_dim",
            f"None or an integer in [1, dim={self.dim}]",
        )
        for name in ("mode_std", "sigma_data", "teacher_lr", "generator_lr", "fake_lr"):
            need(0 < getattr(self, name) < float("inf"), name, "a finite number > 0")
        need(0.002 < self.sigma_max <= 1e4, "sigma_max", "a number in (0.002, 1e4]")
        need(
            0.002 < self.student_sigma_min < self.sigma_max,
            "student_sigma_min",
            f"a number in (0.002, sigma_max={self.sigma_max})",
        )
        for name in ("gan_weight", "gan_disc_weight", "regression_weight"):
            need(0 <= getattr(self, name) < float("inf"), name, "a finite number >= 0")
        self._check_records(need)
        if errors:
            raise ValueError("invalid DMDConfig: " + "; ".join(errors))

    def _check_records(self, need) -> None:
        """The record schedule fits the run: every eval_early_every steps up to
        eval_early_until, then every eval_every steps, landing on ``steps``."""
        early, until = self.eval_early_every, self.eval_early_until
        need(early >= 0 and (early == 0) == (until == 0), "eval_early_every",
             "0 (off), or with eval_early_until > 0 an integer >= 1")  # fmt: skip
        need(until == 0 or (until <= self.steps and until % max(early, 1) == 0),
             "eval_early_until",
             f"0, or a multiple of eval_early_every <= steps={self.steps}")  # fmt: skip
        need(
            self.eval_every < 1 or (self.steps - until) % self.eval_every == 0,  # < 1: above
            "eval_every",
            f"a divisor of steps - eval_early_until = {self.steps - until}",
        )

    def _check_protocol(self, need) -> None:
        """The world, the parametrization and the student protocol fit together."""
        blobs = self.conditional  # a class world: blobs or shells
        bounds = world_of(self.world).class_dims
        lo, hi = bounds(self.dim) if bounds else (1, self.dim)
        need(self.class_dim is None or (blobs and lo <= self.class_dim <= hi), "class_dim",
             f"None, or with world='blobs' | 'shells' an integer in [{lo}, {hi}] (blobs: the "
             "subspace dimension; shells: the sphere's)")  # fmt: skip
        need(
            self.class_dims is None or (blobs and _dims_ok(self.class_dims, self.n_modes, lo, hi)),
            "class_dims",
            f"None, or with world='blobs' | 'shells' {self.n_modes} comma-separated integers "
            f"in [{lo}, {hi}] (one per class, e.g. '2,1,2'; it overrides class_dim)",
        )
        need(self.mean_radius is None or (blobs and 0 < self.mean_radius < float("inf")),
             "mean_radius",
             "None, or with world='blobs' | 'shells' a finite number > 0")  # fmt: skip
        need(not (blobs and self.intrinsic_dim is not None), "intrinsic_dim",
             "None with world='blobs' | 'shells' (each class has its own class_dim)")  # fmt: skip
        need(not (blobs and self.teacher == "memorizing"), "teacher",
             "'network' | 'oracle' with world='blobs' | 'shells'")  # fmt: skip
        mlp = self.generator != "denoiser"  # a one-step generator network
        need(
            self.init != "teacher" or not mlp,
            "init",
            f"'regressed' | 'random' with generator={self.generator!r} (no weights to copy)",
        )
        need(not mlp or self.student_steps == 1, "student_steps",
             f"1 with generator={self.generator!r} (a one-step generator)")  # fmt: skip
        need(not mlp or self.start == "network", "start",
             f"'network' with generator={self.generator!r}")  # fmt: skip
        need(
            self.regression_target == "ode" or self.student_steps == 1,
            "regression_target",
            "'ode' with student_steps > 1 ('onestep' regresses the one-step read-out)",
        )
        # DMD2's gradient only: another method would ignore it silently
        flow_weight = self.parametrization == "flow" and self.normalize and self.method == "dmd2"
        need(self.dmd_time_weight == "none" or flow_weight, "dmd_time_weight",
             "'none', or 'flow' with method='dmd2', parametrization='flow' and "
             "normalize=True")  # fmt: skip
        need(self.init != "regressed" or self.init_steps >= 1, "init_steps",
             "an integer >= 1 with init='regressed'")  # fmt: skip
        need(self.init_lr is None or 0 < self.init_lr < float("inf"), "init_lr",
             "None (generator_lr) or a finite number > 0")  # fmt: skip
        need(self.cd_levels >= 2, "cd_levels", "an integer >= 2")
        need(0 <= self.cd_ema < 1, "cd_ema", "a number in [0, 1)")
        need(0 <= self.sid_alpha < float("inf"), "sid_alpha", "a finite number >= 0")

    @property
    def conditional(self) -> bool:
        """Class-conditional generation: a world with one class per component (blobs)."""
        return world_of(self.world).conditional

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes) -> DMDConfig:
        """A copy with some fields changed (validated). Unknown names raise ValueError."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ValueError(f"unknown DMDConfig field(s) {unknown}; fields: {field_names()}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DMDConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError."""
        return cls().replace(**d)

    def hash(self) -> str:
        """Stable content hash (12 hex digits) of every field, for result caching."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def static_part(self) -> DMDConfig:
        """This config with the dynamic fields at fixed values: the compile-cache key.

        A switched term (``gan_weight``, ``regression_weight``) keeps whether it is on."""
        fixed = {f: 0.5 if f == "cd_ema" else 1.0 for f in DYNAMIC_FIELDS}  # valid placeholders
        fixed.update({f: float(getattr(self, f) > 0) for f in _SWITCHED})
        return dataclasses.replace(self, **fixed)

    @property
    def n_evals(self) -> int:
        """Number of recorded evaluations, step 0 included."""
        return len(self.record_steps())

    def record_steps(self) -> list[int]:
        """The generator steps at which the student is recorded: 0, then every
        ``eval_early_every`` steps up to ``eval_early_until`` (a finer look at the first
        steps, where κ peaks), then every ``eval_every`` steps to ``steps``."""
        early = list(range(0, self.eval_early_until + 1, self.eval_early_every or 1))
        if not self.eval_early_until:
            early = [0]
        return early + list(range(early[-1] + self.eval_every, self.steps + 1, self.eval_every))


# One line per field for `dmdlab --help`: what it is and its range (string fields list
# their CHOICES beside it). tests/test_config.py checks every field has one.
FIELD_DOCS = types.MappingProxyType({
    "world": "the data: a random mixture (DMD2's), class blobs on subspaces or class sphere "
    "shells (the authors' workbench's two lines)",
    "dim": "ambient dimension d (integer >= 2)",
    "n_modes": "mixture components K (integer >= 2)",
    "mode_std": "each component's standard deviation (> 0)",
    "intrinsic_dim": "None, or each component on a random subspace of this dimension (1 … d)",
    "class_dim": "blobs: each class's subspace dimension (None or 1 … d); shells: its sphere's "
    "(None: 1, a circle; 1 or 2)",
    "class_dims": "blobs/shells: one such dimension per class, e.g. '2,1,2' (overrides class_dim)",
    "mean_radius": "blobs/shells: the class centres' radius over √d (None: 5 blobs, 2 shells)",
    "parametrization": "the noising: VE (x + σε) or rectified flow ((1 − t)x + tε)",
    "sigma_max": "the top noise level σ_max (0.002 … 1e4)",
    "sigma_data": "EDM's data scale in the networks' preconditioning (> 0)",
    "width": "hidden width of the teacher, fake score and student networks (>= 1)",
    "depth": "hidden layers (>= 1)",
    "skip": "the networks' skip connection: learned a(σ), or EDM's fixed one",
    "matmul_dtype": "matrix-product precision",
    "teacher": "the real score: a trained network, the exact mixture, or memorized points",
    "teacher_target": "the network teacher's regression target: the exact E[x0|x_σ], or x0",
    "teacher_sigma": "the teacher's σ distribution (focused adds where modes are decided)",
    "teacher_steps": "teacher training steps (>= 0)",
    "teacher_batch_size": "teacher batch (>= 2)",
    "teacher_lr": "teacher learning rate (> 0)",
    "memorize_n": "teacher='memorizing': the number of points it memorizes (>= 1)",
    "init": "the student's start: a copy of the teacher, regressed on its read-out, or fresh",
    "init_steps": "init='regressed': regression steps (>= 1)",
    "init_lr": "init='regressed': its learning rate (None: generator_lr; > 0)",
    "generator": "the student network: the teacher's denoiser, a plain MLP generator, or "
    "the authors' residual MLP (z + MLP, last layer zero: starts as the identity)",
    "gen_width": "None (the teacher's width) or the student's own (>= 1)",
    "gen_depth": "None (the teacher's depth) or the student's own (>= 1)",
    "gen_activation": "generator='mlp': its activation",
    "start": "the student's denoiser as is, or plus the fixed offset that makes it exact",
    "student_steps": "student sampling steps (1: one-step; >= 1)",
    "student_sigma_min": "a few-step student's lowest level (0.002 … sigma_max)",
    "method": "the distillation method: DMD2, SiD or consistency distillation",
    "steps": "generator steps (>= 1)",
    "fake_ratio": "fake-score updates per generator step (>= 1)",
    "batch_size": "generator and fake-score batch (>= 2)",
    "generator_lr": "generator learning rate (> 0)",
    "fake_lr": "fake-score learning rate (> 0)",
    "warmup": "linear learning-rate warm-up steps (>= 0)",
    "lr_schedule": "constant rates (DMD2's), or cosine decay to 1% at the last step",
    "normalize": "DMD2's per-sample gradient normaliser (True / False)",
    "dmd_time_weight": "'none', or 'flow': the DMD gradient × (1 − t) at the draw's flow time t, "
    "with the normaliser the authors' workbench's reweighted gradient (docs/science.md §4)",
    "gan_weight": "DMD2's generator GAN weight (>= 0; 0 = off; DMD2 uses 3e-3)",
    "gan_disc_weight": "the discriminator loss weight (>= 0)",
    "regression_weight": "a regression term in the generator's loss (>= 0; 0 = off)",
    "regression_target": "its target: 'ode' = DMD1's teacher pairs (z, T(z)); 'onestep' = "
    "the teacher's one-step read-out from the batch's own z (the authors' workbench)",
    "regression_pairs": "the regression bank's teacher pairs (>= 1)",
    "sid_alpha": "SiD's α (>= 0)",
    "cd_levels": "consistency distillation's discretisation levels (>= 2)",
    "cd_ema": "consistency distillation's target EMA ([0, 1))",
    "eval_every": "record the student every this many steps (divides steps − eval_early_until)",
    "eval_early_every": "0, or record every this many steps up to eval_early_until first",
    "eval_early_until": "0, or the end of the early records (a multiple of eval_early_every)",
    "eval_n": "held-out noises the student is recorded on (>= 8)",
    "ode_steps": "Heun steps of the teacher's ODE map (>= 2)",
})  # fmt: skip


def field_help(name: str) -> str:
    """``name``'s one line for --help: its description and, for a string field, its values."""
    choices = f" [{' | '.join(CHOICES[name])}]" if name in CHOICES else ""
    return FIELD_DOCS[name] + choices


def _dims_ok(text: str, n: int, lo: int, hi: int) -> bool:
    """Whether ``text`` is n comma-separated integers in [lo, hi]."""
    try:
        dims = [int(v) for v in text.split(",")]
    except ValueError:
        return False
    return len(dims) == n and all(lo <= v <= hi for v in dims)


def field_names() -> list[str]:
    """Names of every DMDConfig field, in declaration order."""
    return [f.name for f in dataclasses.fields(DMDConfig)]


@functools.cache
def _field_types() -> dict[str, Any]:
    # resolved once: get_type_hints re-evaluates every annotation string per call, which
    # made each DMDConfig cost ~0.2 s (50 fields × a call per field) and a 5000-cell plan
    # take minutes
    return typing.get_type_hints(DMDConfig)


def _unwrap_optional(tp) -> tuple[type, bool]:
    """(base type, whether None is allowed) of a field annotation."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None)), True
    return tp, False


def _check_type(name: str, value, tp) -> None:
    base, optional = _unwrap_optional(tp)
    if optional and value is None:
        return
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        bool: isinstance(value, bool),
        str: isinstance(value, str),
    }[base]
    if not ok:
        raise ValueError(
            f"DMDConfig field {name!r} must be {base.__name__}"
            + (" or None" if optional else "")
            + f", got {value!r} ({type(value).__name__})"
        )


def parse_field_value(name: str, text: str):
    """Parse the string ``text`` as a value of field ``name`` by its declared type.

    Never evaluates code. Raises ValueError naming the field on unknown names or
    unparsable values (range checks happen when the config is built).
    """
    types_ = _field_types()
    if name not in types_:
        raise ValueError(f"unknown field {name!r}; fields: {', '.join(field_names())}")
    base, optional = _unwrap_optional(types_[name])
    text = text.strip()
    if optional and text.lower() in ("none", "null", ""):
        return None
    try:
        if base is bool:
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if base is int:
            return int(text)
        if base is float:
            return float(text)
        return text
    except ValueError:
        raise ValueError(
            f"field {name!r} expects {base.__name__}"
            + (" or none" if optional else "")
            + f", got {text!r}"
        ) from None

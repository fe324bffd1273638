"""Every column of the results table, declared once.

A column's declaration says what it means, where it is summarised (and under which short
label) and which direction is better. A *sample metric* also carries its function
``fn(ev)`` of one recorded sample set, an :class:`EvalSet` (mixture, student, teacher,
reference (each (n, d)), the noises' classes (n,) or None, the teacher's one-step output
(n, d)), returning a scalar or a (K,) array. ``evaluate.metrics_table`` computes every sample
metric, fills the other columns itself, and refuses a row whose columns differ from the
declared ones, so a metric cannot be dropped or added silently. Summaries and the printed
tables are derived from the declarations.

To add a metric: write its function (usually in ``dmdlab.metrics``) and one ``C(...)``
line in :func:`_declarations`. The table is immutable; code reads it through the
functions below at call time, so a test may swap the whole table (``table_of``).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dmdlab import metrics as m
from dmdlab.method import ERROR_SIGMAS

__all__ = [
    "COLUMNS",
    "Column",
    "check_columns",
    "column",
    "column_names",
    "error_column",
    "sample_metrics",
    "summary_labels",
    "table_of",
]

GROUPS = ("key", "copying", "fidelity", "start", "training", "bookkeeping")


class EvalSet(NamedTuple):
    """One recorded sample set, as every sample metric sees it."""

    mixture: object  # the data distribution
    student: object  # (n, d) G(z)
    teacher: object  # (n, d) T(z)
    reference: object  # (n, d) true samples
    classes: object  # (n,) the noises' classes (class-conditional world), or None
    onestep: object  # (n, d) the teacher's one-step output T₁(z)
    train_points: object = None  # (N, d) a memorizing real score's points, or None

    def groups(self):
        """Who counts as a "random pair": the same class when generation is
        class-conditional, anyone otherwise (all zeros)."""
        if self.classes is not None:
            return self.classes
        return jnp.zeros(self.student.shape[0], jnp.int32)

    def modes(self):
        """The unit inside which copying is measured: the class, or T(z)'s mode."""
        return self.classes if self.classes is not None else self.mixture.assign(self.teacher)


SUMMARIES = ("copying", "fidelity")
DIRECTIONS = ("higher", "lower")


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: ``name``, one-line ``doc``, ``group`` (one of :data:`GROUPS`),
    ``summary`` (which summary table shows it, one of :data:`SUMMARIES`, or None) with its
    ``label``, ``better`` ("higher", "lower" or None) and, for a sample metric, ``fn``."""

    name: str
    doc: str
    group: str
    summary: str | None = None
    label: str | None = None
    better: str | None = None
    fn: Callable | None = None


def _column(name: str, doc: str, group: str, *, summary=None, label=None, better=None,
            fn=None) -> Column:  # fmt: skip
    """One column, checked; errors name the field and the allowed values."""
    if group not in GROUPS:
        raise ValueError(f"column {name!r}: group must be one of {GROUPS}, got {group!r}")
    if summary not in (None, *SUMMARIES):
        raise ValueError(f"column {name!r}: summary must be one of {SUMMARIES} or None")
    if summary is not None and not label:
        raise ValueError(f"column {name!r}: a summarised column needs a label")
    if better not in (None, *DIRECTIONS):
        raise ValueError(f"column {name!r}: better must be one of {DIRECTIONS} or None")
    return Column(name, doc, group, summary, label, better, fn)


def table_of(columns) -> types.MappingProxyType:
    """An immutable name → :class:`Column` table (in the given order) from ``columns``;
    a repeated name is an error."""
    table: dict[str, Column] = {}
    for column in columns:
        if column.name in table:
            raise ValueError(f"column {column.name!r} is declared twice")
        table[column.name] = column
    return types.MappingProxyType(table)


def column_names() -> list[str]:
    """Every declared column, in table order."""
    return list(COLUMNS)


def column(name: str) -> Column:
    """The declaration of column ``name``."""
    return COLUMNS[name]


def sample_metrics() -> dict[str, Callable]:
    """name → fn of every declared sample metric, in table order."""
    return {c.name: c.fn for c in COLUMNS.values() if c.fn is not None}


def summary_labels(summary: str) -> dict[str, str]:
    """name → label of the columns shown in one summary table ("copying" or "fidelity")."""
    return {c.name: c.label for c in COLUMNS.values() if c.summary == summary}


def check_columns(names) -> None:
    """Raise if ``names`` (one row's columns) are not exactly the declared columns."""
    names = set(names)
    undeclared = sorted(names - set(COLUMNS))
    missing = sorted(set(COLUMNS) - names)
    if undeclared:
        raise ValueError(
            f"undeclared result columns {undeclared}: declare them in dmdlab/columns.py "
            "(name, doc, group, summary label, direction)"
        )
    if missing:
        raise ValueError(f"declared result columns {missing} were not computed")


def _kept(e: EvalSet):
    return m.kept_fractions(e.mixture, e.student, e.teacher)


def _coverage(mix, s):
    return m.coverage(mix, s) / mix.weights  # 1 = exactly the mode's share


def _memorized(e: EvalSet):
    if e.train_points is None:
        return jnp.float32(jnp.nan)
    return m.memorized_share(e.student, e.train_points)


def _copying_norm(e: EvalSet):
    base = m.copying_baseline(e.mixture, e.teacher)
    return (m.copying_score(e.student, e.teacher) - base) / (1.0 - base)


def _sliced_w2(e: EvalSet):
    w2 = m.sliced_wasserstein(jax.random.key(0), e.student, e.reference)
    return w2 / jnp.sqrt(e.mixture.variance())


def _ratio_quantile(q: float):
    return lambda e: jnp.quantile(m.distance_ratios(e.student, e.teacher, e.groups()), q)


# ---------------------------------------------------------------- the declarations
# Every loss a method can fill (``Method.losses_filled``); a method leaves the others NaN.
LOSSES = types.MappingProxyType(
    {
        "dm_loss": "DMD's distribution-matching loss ½‖x − sg(x − g)‖² (DMD2)",
        "fake_loss": "fake score's denoising loss (DMD2, SiD)",
        "gan_gen_loss": "generator's GAN loss, 0 when off (DMD2)",
        "gan_disc_loss": "discriminator's loss, 0 when off (DMD2)",
        "sid_loss": "SiD's score-identity generator loss",
        "consistency_loss": "consistency distillation's loss against its EMA target",
    }
)


def _declarations() -> list[Column]:
    C = _column  # one letter keeps the table readable
    cols = [
        C("seed", "seed of the run", "key"),
        C("step", "generator step of the record", "key"),
        C("kappa", "Cohen's κ of G(z)'s mode against T(z)'s (docs/science.md §5)", "copying",
          summary="copying", label="κ", better="higher",
          fn=lambda e: m.mode_agreement(e.mixture, e.student, e.teacher)[1]),
        C("mode_agreement", "share of z whose G(z) is in T(z)'s mode", "copying",
          fn=lambda e: m.mode_agreement(e.mixture, e.student, e.teacher)[0]),
        C("within_mode", "within-mode copying among agreeing pairs", "copying",
          summary="copying", label="within-mode", better="higher",
          fn=lambda e: m.within_mode_copying(e.mixture, e.student, e.teacher)),
        C("remap_share", "share of T's modes remapped (kept fraction < ½)", "copying",
          summary="copying", label="remapped",
          fn=lambda e: jnp.sum(_kept(e) < 0.5) / jnp.sum(jnp.isfinite(_kept(e)))),
        C("kept_min", "smallest kept fraction over T's modes", "copying",
          fn=lambda e: jnp.nanmin(_kept(e))),
        C("remapped_modes", "T's modes with kept fraction < ½ (NaN modes count as kept)",
          "copying", fn=lambda e: jnp.sum(_kept(e) < 0.5)),
        C("teacher_modes", "modes T sends any noise to", "copying",
          fn=lambda e: jnp.sum(jnp.isfinite(_kept(e)))),
        C("kept_by_mode", "per teacher mode, the share of its noise G keeps there (K,)",
          "copying", fn=_kept),
        C("within_mode_centred", "within-mode copying, centred on each side's own mode means",
          "copying", fn=lambda e: m.within_mode_centred(e.mixture, e.student, e.teacher)),
        C("copying_within", "C inside each class (conditional) or T(z)'s mode", "copying",
          summary="copying", label="C_within", better="higher",
          fn=lambda e: m.copying_within(e.student, e.teacher, e.modes())),
        C("copying_within_centred", "C_within with G and T centred on their own means per "
          "class or mode (a misplaced class that keeps T's positions scores 1)", "copying",
          fn=lambda e: m.copying_within_centred(e.student, e.teacher, e.modes(),
                                                e.mixture.n_modes)),
        C("distance_ratio", "mean per-sample ‖G − T‖ / mean ‖G − T(z′)‖ (0 = copy, 1 = random)",
          "copying", summary="copying", label="dist_ratio", better="lower",
          fn=lambda e: jnp.mean(m.distance_ratios(e.student, e.teacher, e.groups()))),
        C("distance_ratio_q50", "median of the per-sample distance ratio", "copying",
          fn=_ratio_quantile(0.5)),
        C("distance_ratio_q25", "first quartile of the per-sample distance ratio", "copying",
          fn=_ratio_quantile(0.25)),
        C("distance_ratio_q75", "third quartile of the per-sample distance ratio", "copying",
          fn=_ratio_quantile(0.75)),
        C("onestep_ratio", "median ‖G − T‖ / ‖T₁ − T‖, T₁ the teacher's one-step output",
          "copying", fn=lambda e: m.onestep_ratio(e.student, e.teacher, e.onestep)),
        C("closer_than_onestep", "share of G(z) closer to T(z) than T's one-step T₁(z) is",
          "copying", fn=lambda e: m.closer_than_onestep(e.student, e.teacher, e.onestep)),
        C("ot_redundancy", "100·(E_pair/E_OT − 1) of (z, G(z)), plain cost (the authors'); "
          "every 5th eval_every step, NaN between",
          "copying"),
        C("teacher_ot_redundancy", "OT redundancy of the teacher's pairing (z, T(z))",
          "copying"),
        C("assignment_match", "share the optimal G↔T assignment pairs with its own T(z)",
          "copying"),
        C("assignment_excess", "G's pairing to T over the optimal assignment (0 = optimal)",
          "copying"),
        C("copying", "C: paired vs unpaired distance (1 = G equals T)", "copying",
          summary="copying", label="C", better="higher",
          fn=lambda e: m.copying_score(e.student, e.teacher)),
        C("copying_baseline", "C of a student that never picks T's mode", "copying",
          summary="copying", label="C_baseline",
          fn=lambda e: m.copying_baseline(e.mixture, e.teacher)),
        C("copying_norm", "(C − baseline)/(1 − baseline)", "copying",
          fn=_copying_norm),
        C("pairing_inefficiency", "ΔE: transport cost of G's pairing over the OT one",
          "copying", summary="copying", label="ΔE"),
        C("teacher_pairing_inefficiency", "ΔE of the teacher's pairing", "copying"),
        C("coverage_min", "worst mode's sample share / its weight", "fidelity",
          summary="fidelity", label="cov_min", better="higher",
          fn=lambda e: jnp.min(_coverage(e.mixture, e.student))),
        C("coverage_max", "best mode's sample share / its weight", "fidelity",
          fn=lambda e: jnp.max(_coverage(e.mixture, e.student))),
        C("loglik_gap", "log-likelihood gap to true samples, nats/dim", "fidelity",
          summary="fidelity", label="gap/d", better="lower",
          fn=lambda e: m.loglik_gap(e.mixture, e.student, e.reference, e.classes)),
        C("sliced_w2", "sliced W2 to true samples, in data standard deviations", "fidelity",
          better="lower", fn=_sliced_w2),
        C("mode_tv", "total variation of the mode histogram from the weights (0 = balanced)",
          "fidelity", better="lower", fn=lambda e: m.mode_tv(e.mixture, e.student)),
        C("memorized_share", "share of G(z) reproducing a training point of a memorizing "
          "real score (nearest < ⅓ × second nearest; NaN for other real scores)", "fidelity",
          fn=_memorized),
        C("teacher_coverage_min", "coverage_min of T(z)", "fidelity", better="higher"),
        C("teacher_loglik_gap", "loglik_gap of T(z)", "fidelity", summary="fidelity",
          label="gap/d_teacher", better="lower"),
        C("teacher_sliced_w2", "sliced_w2 of T(z) (the same noises, the same reference)",
          "fidelity", better="lower"),
        C("teacher_mode_tv", "mode_tv of T(z)", "fidelity", better="lower"),
        *(C(name, f"mean {doc} since the last record", "training")
          for name, doc in LOSSES.items()),
        C("teacher_loss", "final teacher training loss", "training"),
        C("teacher_map_agree", "share of z whose T(z) has the exact ODE map's mode", "start",
          summary="fidelity", label="T_map_agree", better="higher"),
        C("teacher_err_smax", "real score's σ_max error / the z-dependent signal", "start",
          summary="fidelity", label="T_err_σmax", better="lower"),
        C("start_alignment", "corr. of the student's step-0 tilt with the exact one", "start",
          summary="fidelity", label="start_align"),
        C("start_tilt_kappa", "κ(mode the step-0 tilt points at, T(z)'s mode)", "start"),
        C("start_kappa", "κ of the exact tilt against the exact map", "start",
          summary="fidelity", label="start_κ"),
        C("init_error", "the start's error against the teacher's one-step output / (d Var)",
          "start"),
        *(C(error_column(who, s), f"{who} score's excess denoiser error at σ = {s:g}",
            "fidelity", better="lower")
          for who in ("teacher", "fake") for s in ERROR_SIGMAS),
        C("diverged", "the record is at or after the seed's first non-finite step",
          "bookkeeping"),
        C("diverged_step", "first non-finite generator step, −1 if none", "bookkeeping"),
    ]  # fmt: skip
    return cols


def error_column(who: str, sigma: float) -> str:
    """The column of ``who``'s ("teacher" or "fake") excess denoiser error at ``sigma``."""
    return f"{who}_err_s{sigma:g}"


COLUMNS = table_of(_declarations())

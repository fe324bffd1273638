"""Every column of the results table, declared once.

A column's declaration says what it means, where it is summarised (and under which short
label) and which direction is better. A *sample metric* also carries its function
``fn(mixture, student, teacher, reference)`` of one recorded sample set (each (n, d)),
returning a scalar or a (K,) array. ``evaluate.metrics_table`` computes every sample
metric, fills the other columns itself, and refuses a row whose columns differ from the
declared ones, so a metric cannot be dropped or added silently. Summaries and the printed
tables are derived from the declarations.

To add a metric: write its function (usually in ``dmdlab.metrics``) and one
``declare(...)`` here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from dmdlab import metrics as m
from dmdlab.dmd import ERROR_SIGMAS

__all__ = [
    "COLUMNS",
    "Column",
    "check_columns",
    "declare",
    "sample_metrics",
    "summary_labels",
]

GROUPS = ("key", "copying", "fidelity", "start", "training", "bookkeeping")
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


COLUMNS: dict[str, Column] = {}


def declare(name: str, doc: str, group: str, *, summary=None, label=None, better=None,
            fn=None) -> Column:  # fmt: skip
    """Register a column (in table order); errors name the field and the allowed values."""
    if name in COLUMNS:
        raise ValueError(f"column {name!r} is declared twice")
    if group not in GROUPS:
        raise ValueError(f"column {name!r}: group must be one of {GROUPS}, got {group!r}")
    if summary not in (None, *SUMMARIES):
        raise ValueError(f"column {name!r}: summary must be one of {SUMMARIES} or None")
    if summary is not None and not label:
        raise ValueError(f"column {name!r}: a summarised column needs a label")
    if better not in (None, *DIRECTIONS):
        raise ValueError(f"column {name!r}: better must be one of {DIRECTIONS} or None")
    COLUMNS[name] = column = Column(name, doc, group, summary, label, better, fn)
    return column


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


def _kept(mix, s, t, r):
    return m.kept_fractions(mix, s, t)


def _coverage(mix, s):
    return m.coverage(mix, s) / mix.weights  # 1 = exactly the mode's share


# ---------------------------------------------------------------- the declarations
declare("seed", "seed of the run", "key")
declare("step", "generator step of the record", "key")
declare("kappa", "Cohen's κ of G(z)'s mode against T(z)'s (SCIENCE.md §5)", "copying",
        summary="copying", label="κ", better="higher",
        fn=lambda mix, s, t, r: m.mode_agreement(mix, s, t)[1])  # fmt: skip
declare("mode_agreement", "share of z whose G(z) is in T(z)'s mode", "copying",
        fn=lambda mix, s, t, r: m.mode_agreement(mix, s, t)[0])  # fmt: skip
declare("within_mode", "within-mode copying among agreeing pairs", "copying",
        summary="copying", label="within-mode", better="higher",
        fn=lambda mix, s, t, r: m.within_mode_copying(mix, s, t))  # fmt: skip
declare("remap_share", "share of T's modes remapped (kept fraction < ½)", "copying",
        summary="copying", label="remapped",
        fn=lambda mix, s, t, r: jnp.sum(_kept(mix, s, t, r) < 0.5)
        / jnp.sum(jnp.isfinite(_kept(mix, s, t, r))))  # fmt: skip
declare("kept_min", "smallest kept fraction over T's modes", "copying",
        fn=lambda mix, s, t, r: jnp.nanmin(_kept(mix, s, t, r)))  # fmt: skip
declare("remapped_modes", "T's modes with kept fraction < ½ (NaN modes count as kept)",
        "copying", fn=lambda mix, s, t, r: jnp.sum(_kept(mix, s, t, r) < 0.5))  # fmt: skip
declare("teacher_modes", "modes T sends any noise to", "copying",
        fn=lambda mix, s, t, r: jnp.sum(jnp.isfinite(_kept(mix, s, t, r))))  # fmt: skip
declare("kept_by_mode", "per teacher mode, the share of its noise G keeps there (K,)",
        "copying", fn=_kept)  # fmt: skip
declare("copying", "C: paired vs unpaired distance (1 = G equals T)", "copying",
        summary="copying", label="C", better="higher",
        fn=lambda mix, s, t, r: m.copying_score(s, t))  # fmt: skip
declare("copying_baseline", "C of a student that never picks T's mode", "copying",
        summary="copying", label="C_baseline",
        fn=lambda mix, s, t, r: m.copying_baseline(mix, t))  # fmt: skip
declare("copying_norm", "(C − baseline)/(1 − baseline)", "copying",
        fn=lambda mix, s, t, r: (m.copying_score(s, t) - m.copying_baseline(mix, t))
        / (1.0 - m.copying_baseline(mix, t)))  # fmt: skip
declare("pairing_inefficiency", "ΔE: transport cost of G's pairing over the OT one", "copying",
        summary="copying", label="ΔE")  # fmt: skip
declare("teacher_pairing_inefficiency", "ΔE of the teacher's pairing", "copying")
declare("coverage_min", "worst mode's sample share / its weight", "fidelity",
        summary="fidelity", label="cov_min", better="higher",
        fn=lambda mix, s, t, r: jnp.min(_coverage(mix, s)))  # fmt: skip
declare("coverage_max", "best mode's sample share / its weight", "fidelity",
        fn=lambda mix, s, t, r: jnp.max(_coverage(mix, s)))  # fmt: skip
declare("loglik_gap", "log-likelihood gap to true samples, nats/dim", "fidelity",
        summary="fidelity", label="gap/d", better="lower",
        fn=lambda mix, s, t, r: m.loglik_gap(mix, s, r))  # fmt: skip
declare("sliced_w2", "sliced W2 to true samples, in data standard deviations", "fidelity",
        better="lower", fn=lambda mix, s, t, r: m.sliced_wasserstein(jax.random.key(0), s, r)
        / jnp.sqrt(mix.variance()))  # fmt: skip
declare("teacher_coverage_min", "coverage_min of T(z)", "fidelity", better="higher")
declare("teacher_loglik_gap", "loglik_gap of T(z)", "fidelity", summary="fidelity",
        label="gap/d_teacher", better="lower")  # fmt: skip
_LOSSES = {
    "gen_loss": "distribution-matching loss",
    "fake_loss": "fake-score loss",
    "gan_gen_loss": "generator GAN loss",
    "gan_disc_loss": "discriminator loss",
}
for _name, _doc in _LOSSES.items():
    declare(_name, f"mean {_doc} since the last record", "training")
declare("teacher_loss", "final teacher training loss", "training")
declare("teacher_map_agree", "share of z whose T(z) has the exact ODE map's mode", "start",
        summary="fidelity", label="T_map_agree", better="higher")  # fmt: skip
declare("teacher_err_smax", "real score's σ_max error / the z-dependent signal", "start",
        summary="fidelity", label="T_err_σmax", better="lower")  # fmt: skip
declare("start_alignment", "corr. of the student's step-0 tilt with the exact one", "start",
        summary="fidelity", label="start_align")  # fmt: skip
declare("start_tilt_kappa", "κ(mode the step-0 tilt points at, T(z)'s mode)", "start")
declare("start_kappa", "κ of the exact tilt against the exact map", "start",
        summary="fidelity", label="start_κ")  # fmt: skip


for _who in ("teacher", "fake"):
    for _s in ERROR_SIGMAS:
        declare(f"{_who}_err_s{_s:g}", f"{_who} score's excess denoiser error at σ = {_s:g}",
                "fidelity", better="lower")  # fmt: skip
declare("diverged", "the record is at or after the seed's first non-finite step", "bookkeeping")
declare("diverged_step", "first non-finite generator step, −1 if none", "bookkeeping")

"""The computed paragraph a sweep over d ends with: what copying does over training at
each d, the comparison across d at matched step and at matched fidelity with its tests,
both faces of copying, and what the run cannot say (docs/science.md §8b).

Every sentence is built from numbers of the run (``dmdlab.analysis.window``): no claim is
written that a test or an interval in the same paragraph does not carry, a trend is "not
detectable" unless its Holm-adjusted p < 0.05, and a value read while κ still moves is
called a value during training, not a settled one.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from dmdlab.analysis import course_fits, first_reach, pm, settled_table, trend_tests
from dmdlab.worlds import conditional_table

__all__ = ["answer_paragraph"]

MATCHED_STEP = 100  # where κ peaks in every committed run (studies/REPORT.md)
FIDELITY_LEVEL = 2.0  # matched fidelity: sliced W2 within 2× the teacher's


def _moving(row) -> bool:
    """The slope's 95% interval excludes 0 (a slope below 1e-6 per 1000 steps is rounding)."""
    return bool(np.isfinite(row.slope_ci) and abs(row.slope) > max(row.slope_ci, 1e-6))


def _trend(row) -> str:
    if not np.isfinite(row.p):
        return f"{row.test}: too few seed-runs (n = {row.n})"
    word = "detectable" if row.p_holm < 0.05 else "not detectable"
    return (f"{row.test}: ρ = {row.rho:+.2f} over {row.n} seed-runs, Holm p = {row.p_holm:.2g} "
            f"({word})")  # fmt: skip


NAMES = {"kappa": "κ", "copying_within": "C_within"}


def _per_d(ok: pd.DataFrame, faces, course, settled) -> list[str]:
    """One sentence per d: each face's peak, its value over the last 20% (and whether it
    still moves), and the converged seed-runs."""
    sentences = []
    for d in sorted(ok.dim.unique()):
        parts = []
        for f in faces:
            c, s = course[f].loc[d], settled[f][0].set_index("dim").loc[d]
            still = f" (still moving: {s.slope:+.2f} ± {s.slope_ci:.2f} per 1000 steps)"
            parts.append(
                f"{NAMES[f]} peaks at {pm(c.peak, c.peak_ci)} (step {c.peak_step:.0f}) and reads "
                f"{pm(s.value, s.value_ci)} over steps {int(s.window_from)}–{int(s.window_to)}"
                + (still if _moving(s) else "")
            )
        gates = settled[faces[0]][0].set_index("dim").loc[d]
        sentences.append(f"d = {d}: " + "; ".join(parts) + f"; converged {int(gates.k)}/"
                         f"{int(gates.n)} seed-runs.")  # fmt: skip
    return sentences


def _across_d(ok: pd.DataFrame, faces, settled) -> str:
    """The trends against d at the matched step and at the end, Holm over all of them."""
    early = ok[ok.step == MATCHED_STEP]
    tests = {}
    for f in faces:
        runs = settled[f][1]
        if len(early):
            tests[f"{NAMES[f]} at step {MATCHED_STEP} against d"] = (early.dim, early[f])
        tests[f"{NAMES[f]} at the run's end (last 20%) against d"] = (runs.dim, runs.value)
    table = trend_tests(tests)
    return ("Across d (Spearman over seed-runs, Holm over these tests): "
            + "; ".join(_trend(r) for r in table.itertuples()) + ".")  # fmt: skip


def _matched(ok: pd.DataFrame, face: str) -> str:
    """The face at matched fidelity per d, with the seed-runs that never reach it."""
    needed = ["sliced_w2", "teacher_sliced_w2", "coverage_min"]
    if any(c not in ok or ok[c].isna().all() for c in needed):
        # cells from before the two-sided fidelity columns: no level to match them at
        return (
            "At matched fidelity: not computable here (these cells predate the sliced-W2 "
            "columns the level is defined by; recomputing them adds the columns)."
        )
    reach, _ = first_reach(ok, face, levels=(FIDELITY_LEVEL,))
    matched = "; ".join(
        f"d = {r.dim}: "
        + (f"{pm(r.mean, r.ci)} at step {r.step:.0f} " if r.reached else "")
        + f"({r.reached}/{r.of} reach it"
        + (f"; never: seeds {', '.join(sorted(r.not_reached.split(', '), key=int))}"
           if r.not_reached else "") + ")"
        for r in reach.itertuples()
    )  # fmt: skip
    return (f"At matched fidelity (the first record where the sliced W2 is within "
            f"{FIDELITY_LEVEL:g}× the teacher's and every mode holds half its weight), "
            f"{NAMES[face]} there: {matched}.")  # fmt: skip


def _cannot(faces, settled) -> str:
    moving = sorted({int(d) for f in faces for d, s in settled[f][0].set_index("dim").iterrows()
                     if _moving(s)})  # fmt: skip
    converged = int(sum(settled[faces[0]][0].k))
    n_runs = int(sum(settled[faces[0]][0].n))
    return (
        f"What it cannot say: {converged} of {n_runs} seed-runs are converged over the last 20% "
        "of the run (docs/science.md §8b), "
        + (f"and the copying measures still move at d = {moving}, " if moving else "")
        + "so these are values during training, not settled values; the settled values across "
        "d are measured by studies/settled.py (studies/REPORT.md)."
    )  # fmt: skip


def answer_paragraph(results: pd.DataFrame, width: int = 100) -> list[str]:
    """The paragraph's lines (wrapped at ``width``) for a sweep over ``dim`` (one protocol;
    the class-conditional world reads C_within only: κ = 1 there by construction)."""
    ok = results[~results.diverged.astype(bool)]
    if ok.empty or ok.dim.nunique() < 2:
        return ["-- what this run says: fewer than two dims; nothing to compare across d."]
    conditional = conditional_table(ok)
    faces = ["copying_within"] if conditional else ["kappa", "copying_within"]
    course = {f: course_fits(ok, f, lo=0.0 if f == "kappa" else -1.0)[0].set_index("dim")
              for f in faces}  # fmt: skip
    settled = {f: settled_table(ok, f) for f in faces}
    faces_text = ("C_within only: one mode per class, κ = 1 by construction)" if conditional
                  else "κ: which mode G(z) lands in; C_within: where inside it)")  # fmt: skip
    paragraphs = [
        "-- what this run says (computed; mean ± 95% t-interval over seed-runs; " + faces_text,
        *_per_d(ok, faces, course, settled),
        _across_d(ok, faces, settled),
        _matched(ok, faces[0]),
        _cannot(faces, settled),
    ]
    lines = []
    for p in paragraphs:
        lines += textwrap.wrap(p, width, subsequent_indent="  ") or [""]
    return lines

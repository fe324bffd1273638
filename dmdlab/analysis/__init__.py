"""Reading a results table: statistics, the fidelity gates, the remap → copy transition
and the course of copying over training, one module each.

- :mod:`dmdlab.analysis.stats`: final rows, means with t-intervals, paired/Welch effects
  with Holm's correction, curve collapse.
- :mod:`dmdlab.analysis.gates`: the loose fidelity gates and the convergence gates, per
  grid point and per seed-run.
- :mod:`dmdlab.analysis.transition`: (seed, mode) units, the remap rate, the logistic d*
  and the verdict on "remap in low d, copy in high d".
- :mod:`dmdlab.analysis.course`: settled or not, fitted courses (peak, τ, settled value)
  and comparisons at matched training progress.
- :mod:`dmdlab.analysis.window`: gates per seed-run over a window of its last records
  with two-sided fidelity, model-free settled values, bounded course fits, matched
  progress that lists every seed-run it cannot place.

The names below are this package's public face (``dmdlab.analysis.<name>``).
"""

from dmdlab.analysis.course import (
    course_table,
    fit_course,
    kappa_at_first_pass,
    matched_progress,
    training_course,
)
from dmdlab.analysis.gates import (
    CONVERGED_LIMITS,
    FIDELITY_LIMITS,
    TEACHER_LIMITS,
    convergence_reasons,
    fidelity_flags,
    fidelity_reasons,
    gap_slope,
    seed_gates,
)
from dmdlab.analysis.stats import (
    collapse_quality,
    compare_levels,
    divergence_sentence,
    effect_sentence,
    final_rows,
    holm,
    mean_ci,
    pm,
    share_ci,
)
from dmdlab.analysis.transition import (
    VERDICTS,
    dimension_verdict,
    logistic_transition,
    mode_units,
    rate_text,
    remap_rate,
    transition_sentence,
    within_class_verdict,
)
from dmdlab.analysis.window import (
    WINDOW,
    WINDOW_LIMITS,
    course_fits,
    first_reach,
    gate_shortfall,
    record_gates,
    run_gates,
    runs_passing,
    settled_table,
    trend_tests,
)

__all__ = [
    "CONVERGED_LIMITS",
    "FIDELITY_LIMITS",
    "TEACHER_LIMITS",
    "VERDICTS",
    "WINDOW",
    "WINDOW_LIMITS",
    "collapse_quality",
    "compare_levels",
    "convergence_reasons",
    "course_fits",
    "course_table",
    "dimension_verdict",
    "divergence_sentence",
    "effect_sentence",
    "fidelity_flags",
    "fidelity_reasons",
    "final_rows",
    "first_reach",
    "fit_course",
    "gap_slope",
    "gate_shortfall",
    "holm",
    "kappa_at_first_pass",
    "logistic_transition",
    "matched_progress",
    "mean_ci",
    "mode_units",
    "pm",
    "rate_text",
    "record_gates",
    "remap_rate",
    "run_gates",
    "runs_passing",
    "seed_gates",
    "settled_table",
    "share_ci",
    "training_course",
    "transition_sentence",
    "trend_tests",
    "within_class_verdict",
]

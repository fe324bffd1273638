"""Turn recorded training outputs into the tidy metrics table (one row per seed per step)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dmdlab.config import DMDConfig
from dmdlab.dmd import ERROR_SIGMAS, StartMeasures, TrainOutput
from dmdlab.metrics import (
    copying_baseline,
    copying_score,
    coverage,
    kept_fractions,
    loglik_gap,
    mode_agreement,
    pairing_inefficiency,
    sliced_wasserstein,
    within_mode_copying,
)

__all__ = ["METRIC_COLUMNS", "metrics_table"]

METRIC_COLUMNS = [
    "seed",
    "step",
    "kappa",
    "mode_agreement",
    "within_mode",
    "kept_min",
    "remapped_modes",
    "teacher_modes",
    "kept_by_mode",
    "copying",
    "copying_baseline",
    "copying_norm",
    "pairing_inefficiency",
    "teacher_pairing_inefficiency",
    "coverage_min",
    "coverage_max",
    "loglik_gap",
    "sliced_w2",
    "teacher_coverage_min",
    "teacher_loglik_gap",
    "gen_loss",
    "fake_loss",
    "gan_gen_loss",
    "gan_disc_loss",
    "teacher_loss",
    *StartMeasures._fields,
    *[f"teacher_err_s{s:g}" for s in ERROR_SIGMAS],
    *[f"fake_err_s{s:g}" for s in ERROR_SIGMAS],
    "diverged",
    "diverged_step",
]


@jax.jit
def _sample_metrics(mixture, teacher, reference, student):
    """JAX metrics of one recorded student sample set (n, d) against its teacher."""
    agree, kappa = mode_agreement(mixture, student, teacher)
    cov = coverage(mixture, student) / mixture.weights
    kept = kept_fractions(mixture, student, teacher)
    c, c_base = copying_score(student, teacher), copying_baseline(mixture, teacher)
    return {
        "kappa": kappa,
        "mode_agreement": agree,
        "within_mode": within_mode_copying(mixture, student, teacher),
        "kept_min": jnp.nanmin(kept),
        "remapped_modes": jnp.sum(kept < 0.5),  # NaN (mode T never visits) compares False
        "teacher_modes": jnp.sum(jnp.isfinite(kept)),
        "kept_by_mode": kept,
        "copying": c,
        "copying_baseline": c_base,
        # C rescaled so that the never-the-same-mode student scores 0 at every d
        "copying_norm": (c - c_base) / (1.0 - c_base),
        "coverage_min": jnp.min(cov),
        "coverage_max": jnp.max(cov),
        "loglik_gap": loglik_gap(mixture, student, reference),
        "sliced_w2": sliced_wasserstein(jax.random.key(0), student, reference)
        / jnp.sqrt(mixture.variance()),
    }


def metrics_table(config: DMDConfig, out: TrainOutput, seeds) -> pd.DataFrame:
    """Metrics of every seed at every recorded step, plus the config's fields.

    ``out`` has a leading seed axis matching ``seeds``. Coverage columns are per-mode
    fractions divided by the mode's weight (1 = exactly its share); ``teacher_*``
    fidelity columns measure the teacher's own samples T(z) the same way. ``sliced_w2`` is in
    units of the data's standard deviation. κ is the primary copying metric; C
    (``copying``) is reported beside ``copying_baseline``, the C of a student that never
    picks T's mode, and ``copying_norm`` = (C − baseline)/(1 − baseline).
    ``kept_by_mode`` (a list of K) is each teacher mode's kept fraction (NaN where T
    sends no noise); ``remapped_modes`` counts those below ½ out of ``teacher_modes``.
    Rows at or after a seed's divergence have ``diverged=True`` and NaN metrics, so no
    average can include them by accident.
    """
    out = jax.device_get(out)
    seeds = [int(s) for s in seeds]
    n_evals = out.student_samples.shape[1]
    # Everything but the OT solve runs as one vmapped program over seeds × steps.
    per_eval = jax.vmap(_sample_metrics, in_axes=(None, None, None, 0))
    per_seed = jax.vmap(per_eval)(
        out.mixture, out.teacher_samples, out.reference, out.student_samples
    )
    per_seed = jax.device_get(per_seed)
    # The teacher's own samples T(z) through the same fidelity metrics: the level a
    # student that matches its real score can reach.
    teacher = jax.device_get(
        jax.vmap(_sample_metrics)(
            out.mixture, out.teacher_samples, out.reference, out.teacher_samples
        )
    )
    rows = []
    steps = np.arange(n_evals) * config.eval_every
    for i, seed in enumerate(seeds):
        z = out.z[i]
        teacher_de = pairing_inefficiency(z, out.teacher_samples[i])
        diverged_step = int(out.diverged_step[i])
        for e in range(n_evals):
            diverged = diverged_step >= 0 and steps[e] >= diverged_step
            row = {"seed": seed, "step": int(steps[e])}
            for name, values in per_seed.items():
                row[name] = float(values[i, e]) if values.ndim == 2 else values[i, e].tolist()
            row["pairing_inefficiency"] = pairing_inefficiency(z, out.student_samples[i, e])
            row["teacher_pairing_inefficiency"] = teacher_de
            row["teacher_coverage_min"] = float(teacher["coverage_min"][i])
            row["teacher_loglik_gap"] = float(teacher["loglik_gap"][i])
            row["gen_loss"] = float(out.gen_loss[i, e])
            row["fake_loss"] = float(out.fake_loss[i, e])
            row["gan_gen_loss"] = float(out.gan_gen_loss[i, e])
            row["gan_disc_loss"] = float(out.gan_disc_loss[i, e])
            row["teacher_loss"] = float(out.teacher_loss[i])
            for name, values in out.start._asdict().items():
                row[name] = float(values[i])
            for j, s in enumerate(ERROR_SIGMAS):
                row[f"teacher_err_s{s:g}"] = float(out.teacher_error[i, j])
                row[f"fake_err_s{s:g}"] = float(out.fake_error[i, e, j])
            if diverged:
                for name in (*per_seed, "pairing_inefficiency"):
                    row[name] = float("nan")
                row["kept_by_mode"] = [float("nan")] * config.n_modes
            row["diverged"] = bool(diverged)
            row["diverged_step"] = diverged_step
            rows.append(row)
    table = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    for name, value in config.to_dict().items():
        table[name] = value
    return table

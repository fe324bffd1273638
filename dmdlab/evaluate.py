"""Turn recorded training outputs into the tidy metrics table (one row per seed per step)."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pandas as pd

from dmdlab.columns import COLUMNS, check_columns, sample_metrics
from dmdlab.config import DMDConfig
from dmdlab.dmd import ERROR_SIGMAS, TrainOutput
from dmdlab.metrics import pairing_inefficiency

__all__ = ["metric_columns", "metrics_table"]


def metric_columns() -> list[str]:
    """The metrics table's columns before the config fields, in order (dmdlab.columns)."""
    return list(COLUMNS)


@functools.lru_cache(maxsize=8)
def _sample_program(names: tuple[str, ...]):
    """jit of every declared sample metric of one recorded sample set (n, d) against its
    teacher; rebuilt when the declarations change (keyed by their names)."""
    fns = sample_metrics()

    @jax.jit
    def run(mixture, teacher, reference, student):
        return {name: fns[name](mixture, student, teacher, reference) for name in names}

    return run


def _pairing_inefficiencies(out: TrainOutput) -> tuple[np.ndarray, np.ndarray]:
    """ΔE of the student at every (seed, record), (S, E), and of the teacher, (S,).

    One exact assignment per sample set, on the host; SciPy's solver releases the GIL,
    so they run in a thread pool, one per core (the same numbers as one by one: each
    solve is independent). Solved one by one they took ~7 s of the ~15 s metrics table of a
    3-seed default-preset cell at d = 8 (153 + 3 solves of 512 × 512)."""
    n_seeds, n_evals = out.student_samples.shape[:2]
    jobs = [(out.z[i], out.student_samples[i, e]) for i in range(n_seeds) for e in range(n_evals)]
    jobs += [(out.z[i], out.teacher_samples[i]) for i in range(n_seeds)]
    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, len(jobs))) as pool:
        values = np.asarray(list(pool.map(lambda job: pairing_inefficiency(*job), jobs)))
    return values[: n_seeds * n_evals].reshape(n_seeds, n_evals), values[n_seeds * n_evals :]


def _seed_rows(config, out, i: int, seed: int, steps, per_seed: dict, teacher: dict,
               delta_e: np.ndarray, teacher_de: float) -> list:  # fmt: skip
    """The rows of seed number ``i`` (one per recorded step): its sample metrics, ΔE
    (``delta_e`` (E,), ``teacher_de``), the teacher's fidelity, losses, start measures
    and denoiser errors; NaN metrics from the step the run diverged."""
    diverged_step = int(out.diverged_step[i])
    rows = []
    for e in range(len(steps)):
        diverged = diverged_step >= 0 and steps[e] >= diverged_step
        row = {"seed": seed, "step": int(steps[e])}
        for name, values in per_seed.items():
            row[name] = float(values[i, e]) if values.ndim == 2 else values[i, e].tolist()
        row["pairing_inefficiency"] = float(delta_e[e])
        row["teacher_pairing_inefficiency"] = float(teacher_de)
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
    return rows


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
    sample = _sample_program(tuple(sample_metrics()))
    per_eval = jax.vmap(sample, in_axes=(None, None, None, 0))
    per_seed = jax.vmap(per_eval)(
        out.mixture, out.teacher_samples, out.reference, out.student_samples
    )
    per_seed = jax.device_get(per_seed)
    # The teacher's own samples T(z) through the same fidelity metrics: the level a
    # student that matches its real score can reach.
    teacher = jax.device_get(
        jax.vmap(sample)(out.mixture, out.teacher_samples, out.reference, out.teacher_samples)
    )
    steps = np.arange(n_evals) * config.eval_every
    delta_e, teacher_de = _pairing_inefficiencies(out)
    rows = [
        row
        for i, seed in enumerate(seeds)
        for row in _seed_rows(
            config, out, i, seed, steps, per_seed, teacher, delta_e[i], teacher_de[i]
        )
    ]
    check_columns(rows[0])  # a metric neither dropped nor added silently
    table = pd.DataFrame(rows, columns=metric_columns())
    for name, value in config.to_dict().items():
        table[name] = value
    return table

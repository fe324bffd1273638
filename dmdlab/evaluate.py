"""Turn recorded training outputs into the tidy metrics table (one row per seed per step)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pandas as pd

from dmdlab.columns import (
    LOSSES,
    EvalSet,
    check_columns,
    column_names,
    error_column,
    sample_metrics,
)
from dmdlab.compile_cache import program_cache
from dmdlab.config import DMDConfig
from dmdlab.engine import TrainOutput
from dmdlab.method import ERROR_SIGMAS
from dmdlab.metrics import (
    assignment_copying,
    ot_redundancy,
    pairing_inefficiency,
)

# The host's exact assignments (ΔE, the G ↔ T assignment) use the first HOST_N evaluation
# noises: an n × n solve costs O(n³), ~50 ms at 512 and ~3 s at 2048, once per record.
HOST_N = 512

__all__ = ["metric_columns", "metrics_table"]


def metric_columns() -> list[str]:
    """The metrics table's columns before the config fields, in order (dmdlab.columns)."""
    return column_names()


@program_cache(maxsize=8)
def _sample_program(metrics: tuple[tuple[str, object], ...]):
    """jit of the sample metrics ``metrics`` ((name, fn) pairs) of one recorded sample set
    (n, d) against its teacher; keyed by the functions themselves, so a different column
    table gets its own program."""

    @jax.jit
    def run(mixture, teacher, reference, classes, onestep, points, student):
        ev = EvalSet(mixture, student, teacher, reference, classes, onestep, points)
        return {name: fn(ev) for name, fn in metrics}

    return run


@program_cache(maxsize=8)
def _records_program(metrics: tuple[tuple[str, object], ...]):
    """jit of :func:`_sample_program` over one seed's records (E, n, d), one record at a
    time (lax.map, not vmap): a vmapped batch of E records rounds differently for another
    E, and a record's metrics must not depend on how many records its run has (an
    extended run's first records equal a shorter run's). Cached like it, so that every
    cell of a sweep reuses one compiled program per shape."""
    sample = _sample_program(metrics)
    return jax.jit(lambda *a: jax.lax.map(lambda x: sample(*a[:6], x), a[6]))


def _pool_map(fn, jobs) -> list:
    """``fn`` over ``jobs`` in a thread pool, one per core: SciPy's assignment solver
    releases the GIL, and each solve is independent (the same numbers as one by one)."""
    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, max(len(jobs), 1))) as pool:
        return list(pool.map(fn, jobs))


# The authors' OT redundancy is a second exact assignment per record: computed at every
# REDUNDANCY_STRIDE-th record step (multiples of the stride × eval_every, step 0 and, in
# the recipe, the run's end included), NaN between, so that it costs a fifth of ΔE's
# solves; a function of the absolute step, so an extended cell equals a straight one.
REDUNDANCY_STRIDE = 5


def _pairing_inefficiencies(out: TrainOutput, steps=None, every: int = 1
                            ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(ΔE, OT redundancy) of the student at every (seed, record), (S, E, 2), and of the
    teacher, (S, 2), on the first :data:`HOST_N` evaluation noises; the redundancy only at
    record ``steps`` that are multiples of :data:`REDUNDANCY_STRIDE` × ``every`` (NaN
    elsewhere; all records when ``steps`` is None).

    One exact assignment per sample set, on the host, in a thread pool (solved one by one
    they took ~7 s of the ~15 s metrics table of a 3-seed default-preset cell at d = 8:
    153 + 3 solves of 512 × 512)."""
    n_seeds, n_evals = out.student_samples.shape[:2]
    h = slice(0, HOST_N)
    jobs = [(out.z[i, h], out.student_samples[i, e, h])
            for i in range(n_seeds) for e in range(n_evals)]  # fmt: skip
    jobs += [(out.z[i, h], out.teacher_samples[i, h]) for i in range(n_seeds)]

    stride = REDUNDANCY_STRIDE * every
    wanted = [True if steps is None else int(steps[e]) % stride == 0
              for _ in range(n_seeds) for e in range(n_evals)] + [True] * n_seeds  # fmt: skip

    def both(item):  # two assignments: ΔE's cost is rescaled, the authors' is plain
        job, want = item
        return pairing_inefficiency(*job), ot_redundancy(*job) if want else np.nan

    values = np.asarray(_pool_map(both, list(zip(jobs, wanted, strict=True))))  # (jobs, 2)
    student, teacher = values[: n_seeds * n_evals], values[n_seeds * n_evals :]
    return student.reshape(n_seeds, n_evals, 2), teacher


def _assignments(out: TrainOutput) -> np.ndarray:
    """(match share, excess) of the optimal G ↔ T assignment at every (seed, record),
    (S, E, 2), on the first :data:`HOST_N` noises (inside each class when conditional)."""
    n_seeds, n_evals = out.student_samples.shape[:2]
    h = slice(0, HOST_N)
    jobs = [(out.student_samples[i, e, h], out.teacher_samples[i, h],
             None if out.classes is None else out.classes[i, h])
            for i in range(n_seeds) for e in range(n_evals)]  # fmt: skip
    values = _pool_map(lambda job: assignment_copying(*job), jobs)
    return np.asarray(values).reshape(n_seeds, n_evals, 2)


def _seed_rows(config, out, i: int, seed: int, steps, per_seed: dict, teacher: dict,
               host: dict) -> list:  # fmt: skip
    """The rows of seed number ``i`` (one per recorded step): its sample metrics, the
    host-side ones (``host``: ΔE (S, E), the teacher's (S,), assignments (S, E, 2)), the
    teacher's fidelity, losses, start measures and denoiser errors; NaN metrics from the
    step the run diverged."""
    diverged_step = int(out.diverged_step[i])
    rows = []
    for e in range(len(steps)):
        diverged = diverged_step >= 0 and steps[e] >= diverged_step
        row = {"seed": seed, "step": int(steps[e])}
        for name, values in per_seed.items():
            row[name] = float(values[i, e]) if values.ndim == 2 else values[i, e].tolist()
        row["pairing_inefficiency"] = float(host["delta_e"][i, e, 0])
        row["teacher_pairing_inefficiency"] = float(host["teacher_de"][i, 0])
        row["ot_redundancy"] = float(host["delta_e"][i, e, 1])
        row["teacher_ot_redundancy"] = float(host["teacher_de"][i, 1])
        row["assignment_match"] = float(host["assignment"][i, e, 0])
        row["assignment_excess"] = float(host["assignment"][i, e, 1])
        row["teacher_coverage_min"] = float(teacher["coverage_min"][i])
        row["teacher_loglik_gap"] = float(teacher["loglik_gap"][i])
        row["teacher_sliced_w2"] = float(teacher["sliced_w2"][i])
        row["teacher_mode_tv"] = float(teacher["mode_tv"][i])
        for name in LOSSES:  # a loss the method does not have is NaN
            row[name] = float(out.losses[name][i, e]) if name in out.losses else float("nan")
        row["teacher_loss"] = float(out.teacher_loss[i])
        for name, values in out.start._asdict().items():
            row[name] = float(values[i])
        fake_error = out.records.get("fake_error")  # None for a method without a fake score
        for j, s in enumerate(ERROR_SIGMAS):
            row[error_column("teacher", s)] = float(out.teacher_error[i, j])
            fake = float("nan") if fake_error is None else float(fake_error[i, e, j])
            row[error_column("fake", s)] = fake
        if diverged:
            for name in (*per_seed, "pairing_inefficiency", "ot_redundancy",
                         "assignment_match", "assignment_excess"):  # fmt: skip
                row[name] = float("nan")
            row["kept_by_mode"] = [float("nan")] * config.n_modes
        row["diverged"] = bool(diverged)
        row["diverged_step"] = diverged_step
        rows.append(row)
    return rows


def metrics_table(config: DMDConfig, out: TrainOutput, seeds, first_step: int = 0) -> pd.DataFrame:
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
    average can include them by accident. ``first_step``: ``out`` is a resumed run
    (:func:`dmdlab.run_seeds` with ``resume``) whose records start after this step.
    """
    out = jax.device_get(out)
    seeds = [int(s) for s in seeds]
    n_evals = out.student_samples.shape[1]
    # Everything but the OT solve runs as one compiled program per seed, over its records.
    metrics = tuple(sample_metrics().items())
    sample, per_eval = _sample_program(metrics), _records_program(metrics)
    # One seed at a time, over its records: a seed's metrics must not depend on
    # how many seeds share the table (a batched product of another size rounds
    # differently), as its training does not (dmdlab.distill.SEED_GROUP).
    per_seed, teacher = [], []
    for i in range(len(seeds)):
        fixed = jax.tree.map(lambda a, i=i: a[i], (out.mixture, out.teacher_samples,
                             out.reference, out.classes, out.teacher_onestep,
                             out.train_points))  # fmt: skip
        per_seed.append(jax.device_get(per_eval(*fixed, out.student_samples[i])))
        # The teacher's own samples T(z) through the same fidelity metrics: the level a
        # student that matches its real score can reach.
        teacher.append(jax.device_get(sample(*fixed, out.teacher_samples[i])))
    stack = lambda rows: {k: np.stack([r[k] for r in rows]) for k in rows[0]}  # noqa: E731
    per_seed, teacher = stack(per_seed), stack(teacher)
    # a resumed run's records start after first_step; a straight run's at step 0
    steps = np.asarray([s for s in config.record_steps() if s > first_step or s == first_step == 0])
    assert len(steps) == n_evals, (len(steps), n_evals)
    delta_e, teacher_de = _pairing_inefficiencies(out, steps, config.eval_every)
    host = {"delta_e": delta_e, "teacher_de": teacher_de, "assignment": _assignments(out)}
    rows = [
        row
        for i, seed in enumerate(seeds)
        for row in _seed_rows(config, out, i, seed, steps, per_seed, teacher, host)
    ]
    check_columns(rows[0])  # a metric neither dropped nor added silently
    table = pd.DataFrame(rows, columns=metric_columns())
    for name, value in config.to_dict().items():
        table[name] = value
    return table

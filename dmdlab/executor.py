"""Cells as jobs: a sweep's unfinished cells submitted through submitit (Slurm, or local
processes), one job per cell, into the sweep's own store.

    dmdlab sweep --preset default --executor local --out results/default
    dmdlab sweep --preset full --executor slurm --slurm-partition gpu --out /shared/full

Each job runs one cell (``run_sweep`` with shard k of N, N the number of cells) and
writes it atomically; the submitting process waits, then merges. A killed or failed job
leaves its cell unfinished, so rerunning the same command submits only the cells still
missing. Job logs are under ``<out>/jobs``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dmdlab.store import cell_id, check_cell
from dmdlab.sweep import SweepSpec, run_sweep

__all__ = ["EXECUTORS", "run_sweep_jobs"]

EXECUTORS = ("local", "slurm")


def _cell_job(spec: SweepSpec, out_dir: str, k: int, n_cells: int) -> str:
    """One job: cell ``k`` of ``spec`` (shard k of n_cells), written into the store."""
    from dmdlab.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    run_sweep(spec, out_dir, shard=(k, n_cells), plot=False, progress=False, log=print)
    return cell_id(*spec.units()[k])


def run_sweep_jobs(
    spec: SweepSpec,
    out_dir,
    *,
    executor: str = "local",
    timeout_min: int = 240,
    slurm_partition: str | None = None,
    log: Callable[[str], None] = print,
    plot: bool = True,
    on_submit: Callable[[list], None] | None = None,
) -> pd.DataFrame | None:
    """Submit each unfinished cell of ``spec`` as a submitit job, wait, then merge.

    ``executor``: "local" (processes on this machine) or "slurm". Returns the merged
    table, or None when a job failed or was killed (its cell stays unfinished: rerun to
    resume). ``on_submit`` is called with the submitted jobs (tests use it to kill one).
    """
    import submitit

    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    out = Path(out_dir)
    store = out / "cells"
    store.mkdir(parents=True, exist_ok=True)
    cells = spec.units()
    todo = [k for k, c in enumerate(cells) if check_cell(store, cell_id(*c), *c) is not None]
    if len(todo) < len(cells):
        log(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already finished")
    if todo:
        pool = submitit.AutoExecutor(folder=out / "jobs", cluster=executor)
        pool.update_parameters(timeout_min=timeout_min, name="dmdlab-cell")
        if executor == "slurm" and slurm_partition:
            pool.update_parameters(slurm_partition=slurm_partition)
        jobs = [pool.submit(_cell_job, spec, str(out), k, len(cells)) for k in todo]
        log(f"submitted {len(jobs)} cell job(s) ({executor}); logs in {out / 'jobs'}")
        if on_submit is not None:
            on_submit(jobs)
        failed = []
        for k, job in zip(todo, jobs, strict=True):
            try:
                log(f"cell {job.result()} done (job {job.job_id})")
            except Exception as err:  # killed, timed out or raised: its cell is unfinished
                failed.append(f"cell {k} (job {job.job_id}: {type(err).__name__})")
        if failed:
            log(f"{len(failed)} job(s) did not finish: {'; '.join(failed)}. Finished cells "
                "are kept: rerun the same command to resume")  # fmt: skip
            return None
    return run_sweep(spec, out, plot=plot, progress=False, log=log)

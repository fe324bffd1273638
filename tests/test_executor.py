"""Cells as submitit jobs (local executor): a killed job leaves its cell unfinished, and
rerunning submits only that cell; the merged table equals an in-process sweep."""

import pandas as pd
import pytest

from dmdlab.sweep import SweepSpec, run_sweep

pytest.importorskip("submitit")

from dmdlab.executor import run_sweep_jobs


def _spec():  # two cells that share one compiled program
    return SweepSpec.build("tiny", ["dim=2"], ["generator_lr=0.001,0.0005"], 2)


def test_local_jobs_resume_after_a_killed_job(tmp_path):
    reference = run_sweep(_spec(), tmp_path / "inline", plot=False, progress=False,
                          log=lambda m: None)  # fmt: skip
    out, logs = tmp_path / "jobs", []

    def kill_second(jobs):
        # SIGKILL, not submitit's cancel (SIGINT): a SIGINT that lands while the child is
        # still starting can be lost, and the job then finishes (seen under load)
        jobs[1]._process.kill()

    assert run_sweep_jobs(_spec(), out, plot=False, log=logs.append, on_submit=kill_second) is None
    assert any("1 job(s) did not finish" in m and "rerun" in m for m in logs), logs
    assert len(list((out / "cells").glob("*.parquet"))) == 1
    logs.clear()
    merged = run_sweep_jobs(_spec(), out, plot=False, log=logs.append)
    assert any("1 of 2 cells already finished" in m for m in logs), logs
    assert any("submitted 1 cell job" in m for m in logs), logs
    pd.testing.assert_frame_equal(merged, reference)
    with pytest.raises(ValueError, match="executor must be one of"):
        run_sweep_jobs(_spec(), out, executor="kubernetes")

"""One program across two processes (jax.distributed on CPU, Gloo collectives) gives the
one-process table; only process 0 writes the store."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dmdlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["sweep", "--preset", "tiny", "--grid", "dim=2", "--seeds", "2", "--no-plot"]
COLUMNS = ["kappa", "within_mode", "copying", "pairing_inefficiency", "loglik_gap", "dm_loss"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_sweep_equals_the_one_process_sweep(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device each
    distributed = ["--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    out = ["--out", str(tmp_path / "two")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dmdlab", *ARGS, *out, *distributed, "--process-id", str(i)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert "dim=2: κ=" in logs[1] and "Summary at generator step" not in logs[1]  # 1 only runs
    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0
    two = pd.read_parquet(tmp_path / "two" / "results.parquet")
    one = pd.read_parquet(tmp_path / "one" / "results.parquet")
    assert list(two.seed) == list(one.seed) and list(two.step) == list(one.step)
    # each device runs SEED_GROUP seeds in both, but the two-process program is compiled
    # with other fusions (the 4-device test in test_dmd.py allows the same)
    np.testing.assert_allclose(two[COLUMNS], one[COLUMNS], rtol=1e-4, atol=1e-4)
    assert len(list((tmp_path / "two" / "cells").glob("*.parquet"))) == 1

"""Runs that extend instead of restart (dmdlab.resume, dmdlab.checkpoint): an extended
cell equals a cell trained straight to the new length, a shorter cell is a longer one's
first records, and a checkpoint that cannot be trusted is refused in one line and the
cell trained from step 0."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from dmdlab.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dmdlab.engine import record_blocks
from dmdlab.presets import PRESETS
from dmdlab.resume import carry_template
from dmdlab.store import cell_id, checkpoint_path
from dmdlab.sweep import SweepSpec, plan_sweep, run_sweep

TINY = PRESETS["tiny"].base  # records every 20 steps
SEEDS = (0, 1)


def _sweep(out, steps: int, **changes):
    spec = SweepSpec(TINY.replace(steps=steps, **changes), {"dim": [2]}, SEEDS)
    lines: list[str] = []
    table = run_sweep(spec, out, plot=False, progress=False, log=lines.append)
    return table, lines


def _ckpt(out, steps: int, **changes):
    return checkpoint_path(out / "cells", cell_id(TINY.replace(dim=2, steps=steps, **changes),
                                                  SEEDS))  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    straight, _ = _sweep(root / "straight", 120)
    _sweep(root / "extended", 60)
    extended, lines = _sweep(root / "extended", 120)
    return root, straight, extended, lines


def test_an_extended_cell_equals_a_straight_one(runs):
    root, straight, extended, lines = runs
    assert any("extend cell" in line and "at step 60" in line for line in lines), lines
    pd.testing.assert_frame_equal(straight, extended)  # bit-identical: same machine, stack
    a, b = (np.load(_ckpt(root / d, 120)) for d in ("straight", "extended"))
    assert a.files == b.files
    for name in a.files:
        if name != "header":
            np.testing.assert_array_equal(a[name], b[name])
    # the shorter cell's records are unchanged; its superseded checkpoint is gone
    short = pd.read_parquet(root / "extended" / "cells" / f"{_ckpt(root, 60).name[:16]}.parquet")
    assert sorted(short.step.unique()) == [0, 20, 40, 60]
    assert not _ckpt(root / "extended", 60).exists()


def test_a_shorter_cell_is_a_longer_ones_first_records(runs, tmp_path):
    root = runs[0]
    fresh, _ = _sweep(tmp_path / "fresh", 40)
    out = tmp_path / "cut"
    shutil.copytree(root / "straight", out)
    cut, lines = _sweep(out, 40)
    assert any("truncate cell" in line for line in lines), lines
    pd.testing.assert_frame_equal(fresh, cut)
    assert len(list((out / "cells").glob("*.ckpt.npz"))) == 1  # nothing retrained or saved


# two damages through a whole sweep; the others' refusals are load_checkpoint's (below)
@pytest.mark.parametrize("damage", ["truncated", "other-version"])
def test_an_untrusted_checkpoint_is_refused_and_the_cell_trained_from_zero(runs, tmp_path,
                                                                           damage):  # fmt: skip
    root, straight, _, _ = runs
    out = tmp_path / "run"
    shutil.copytree(root / "straight", out)
    path = _ckpt(out, 120)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        header = json.loads(str(arrays["header"]))
        header["jax"] = "0.0.1"
        arrays["header"] = np.array(json.dumps(header))
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    table, lines = _sweep(out, 140)
    why = {"truncated": "unreadable", "other-version": "written by jax 0.0.1"}[damage]
    refusals = [line for line in lines if "cannot be extended" in line]
    assert len(refusals) == 1 and why in refusals[0] and "training from step 0" in refusals[0]
    assert len(refusals[0].splitlines()) == 1
    # trained from 0: its first 120 steps are the straight run's
    head = table[table.step <= 120].reset_index(drop=True)
    cols = [c for c in straight.columns if c not in ("cell", "steps", "diverged_step")]
    pd.testing.assert_frame_equal(head[cols], straight[cols])


def test_runs_that_are_not_one_computation_are_not_reused():
    from dmdlab.resume import _same_run

    short, long = TINY.replace(steps=60), TINY.replace(steps=120)
    assert _same_run(short, long) is None
    cosine = _same_run(short.replace(lr_schedule="cosine"), long.replace(lr_schedule="cosine"))
    assert cosine == "lr_schedule=cosine depends on steps"
    assert "recorded steps differ" in _same_run(short.replace(eval_every=30), long)


def test_checkpoint_round_trip_and_tampering(tmp_path):
    cfg = TINY.replace(dim=2)
    template = carry_template(cfg, 2)
    rng = np.random.default_rng(0)
    carry = [rng.normal(size=t.shape).astype(t.dtype) for t in _leaves(template)]
    import jax

    carry = jax.tree.unflatten(jax.tree.structure(template), carry)
    path = tmp_path / "c.ckpt.npz"
    save_checkpoint(path, carry, cell="abc", seeds=[0, 1], step=40)
    back = load_checkpoint(path, template, cell="abc", seeds=[0, 1], step=40)
    for a, b in zip(_leaves(carry), _leaves(back), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(CheckpointError, match="is for step 40, expected 60"):
        load_checkpoint(path, template, cell="abc", seeds=[0, 1], step=60)
    with pytest.raises(CheckpointError, match="is for cell abc, expected xyz"):
        load_checkpoint(path, template, cell="xyz", seeds=[0, 1], step=40)
    with pytest.raises(CheckpointError, match="is for seeds"):
        load_checkpoint(path, template, cell="abc", seeds=[0, 2], step=40)
    with pytest.raises(CheckpointError, match="is missing"):
        load_checkpoint(tmp_path / "none.npz", template, cell="abc", seeds=[0, 1], step=40)
    with pytest.raises(CheckpointError, match="another state"):
        load_checkpoint(path, carry_template(cfg.replace(width=16), 2), cell="abc",
                        seeds=[0, 1], step=40)  # fmt: skip
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["leaf0"] = arrays["leaf0"] + 1
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(CheckpointError, match="do not match their hash"):
        load_checkpoint(path, template, cell="abc", seeds=[0, 1], step=40)


def _leaves(tree):
    import jax

    return jax.tree.leaves(tree)


def test_record_blocks_resume_as_the_tail_of_a_straight_run():
    cfg = TINY.replace(steps=400, eval_every=50, eval_early_every=10, eval_early_until=100)
    assert record_blocks(cfg) == [(10, 10), (50, 6)]
    assert record_blocks(cfg, 60) == [(10, 4), (50, 6)]
    assert record_blocks(cfg, 200) == [(50, 4)]
    with pytest.raises(ValueError, match="not a recorded step"):
        record_blocks(cfg, 120)


def test_a_dry_run_plans_without_computing(runs, tmp_path):
    root = runs[0]
    out = tmp_path / "plan"
    shutil.copytree(root / "extended", out)
    before = sorted(p.name for p in (out / "cells").iterdir())
    plan = {steps: plan_sweep(SweepSpec(TINY.replace(steps=steps), {"dim": [2]}, SEEDS), out)
            for steps in (60, 120, 200, 40)}  # fmt: skip
    assert [plan[s].action.iloc[0] for s in (60, 120, 200, 40)] == [
        "finished", "finished", "extend", "truncate"]  # fmt: skip
    assert plan[200]["from"].iloc[0].endswith("at 120") and plan[200].seconds.iloc[0] > 0
    assert plan_sweep(SweepSpec(TINY, {"dim": [2]}, SEEDS), tmp_path / "new").action.iloc[0] == (
        "fresh")  # fmt: skip
    assert sorted(p.name for p in (out / "cells").iterdir()) == before  # nothing written


def test_a_sweep_directory_without_its_parquet_reloads_from_its_csv(runs, tmp_path):
    # results.parquet is not committed; results.csv is: a copy reloads the same table
    root, straight = runs[0], runs[1]
    out = tmp_path / "copy"
    shutil.copytree(root / "straight", out)
    (out / "results.parquet").unlink()
    from dmdlab.store import load_results

    back = load_results(out)
    assert back.kept_by_mode.map(type).eq(list).all()
    np.testing.assert_array_equal(np.stack(back.kept_by_mode), np.stack(straight.kept_by_mode))
    cols = [c for c in straight.columns if c != "kept_by_mode"]
    # a CSV has no None: an unset config field (None) reads back as NaN, every number as is
    same = lambda t: t[cols].astype(object).where(t[cols].notna(), None)  # noqa: E731
    pd.testing.assert_frame_equal(same(back), same(straight))


def test_until_settled_trains_in_doubling_chunks_and_stops_at_the_maximum(tmp_path):
    """Tiny students never pass the gates: the cell runs 20 → 40 → 80 steps, each chunk a
    stored cell extended from the last, and the merged table is the 80-step one, equal to
    a straight 80-step run; a rerun computes nothing."""
    from dmdlab.sweep import SweepSpec, run_sweep

    spec = SweepSpec.build("tiny", ["dim=2", "steps=20", "eval_every=10"], [], seeds=2)
    logs = []
    chunked = run_sweep(spec, tmp_path / "a", progress=False, plot=False, until=80,
                        log=logs.append)  # fmt: skip
    assert chunked.step.max() == 80 and sorted(chunked.step.unique())[-2:] == [70, 80]
    assert any("stopped at the maximum 80 steps: 0/2 seed-runs converged" in m for m in logs)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert next(iter(manifest["until_settled"]["cells"].values())).startswith("stopped at")
    assert sum("extend cell" in m for m in logs) == 2  # 40 from 20, 80 from 40
    # a progress line per chunk: its step, κ and gap over its last 20%, the next chunk's time
    chunk_lines = [m for m in logs if "over the last 20%, 0/2 converged" in m]
    assert [m.split(", ")[0].split()[-1] for m in chunk_lines] == ["20", "40", "80"]
    window = chunked[chunked.step >= 64]  # the 80-step run's last 20%
    assert f"κ {window.kappa.mean():.3f}, gap {window.loglik_gap.mean():.3f}" in chunk_lines[-1]
    assert "next chunk to 40 steps ≈" in chunk_lines[0] and "next chunk" not in chunk_lines[-1]
    straight = run_sweep(SweepSpec.build("tiny", ["dim=2", "steps=80", "eval_every=10"], [],
                                         seeds=2), tmp_path / "b", progress=False, plot=False,
                         log=lambda _: None)  # fmt: skip
    cols = ["seed", "step", "kappa", "copying_within", "loglik_gap", "sliced_w2"]
    pd.testing.assert_frame_equal(chunked[cols], straight[cols])
    again = []
    run_sweep(spec, tmp_path / "a", progress=False, plot=False, until=80, log=again.append)
    assert not any("extend cell" in m or "compile" in m for m in again), again


def test_until_settled_stops_at_the_first_chunk_whose_seed_runs_all_converge(tmp_path, monkeypatch):
    import dmdlab.analysis as analysis
    from dmdlab.sweep import SweepSpec, run_sweep

    real = analysis.run_gates
    # the gates themselves are tested in test_window.py: here every seed-run passes
    monkeypatch.setattr(analysis, "run_gates",
                        lambda t, *a, **k: real(t, *a, **k).assign(converged=True))  # fmt: skip
    spec = SweepSpec.build("tiny", ["dim=2", "steps=20", "eval_every=10"], [], seeds=2)
    logs = []
    table = run_sweep(spec, tmp_path, progress=False, plot=False, until=80, log=logs.append)
    assert table.step.max() == 20
    assert any("settled at 20 steps: 2/2 seed-runs converged" in m for m in logs)

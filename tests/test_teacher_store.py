"""Teachers trained once (dmdlab.teacher_store): a cell that loads its teachers equals one
that trains its own, bit for bit on one machine; a sweep over inits and methods trains
one teacher per (d, seed); a damaged teacher file is named and retrained."""

import jax
import numpy as np
import pandas as pd

from dmdlab.distill import run_seeds, train_teachers
from dmdlab.presets import PRESETS
from dmdlab.sweep import SweepSpec, run_sweep
from dmdlab.teacher_store import TEACHER_FIELDS, teacher_id, teacher_path

TINY = PRESETS["tiny"].base.replace(dim=4)


def _equal(a, b) -> bool:
    same = jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y),
                                                    equal_nan=True), a, b)  # fmt: skip
    return all(jax.tree.leaves(same))


def test_a_cell_with_a_stored_teacher_equals_one_that_trains_its_own():
    own, _ = run_seeds(TINY, [0, 1, 2])
    teachers, _ = train_teachers(TINY, [0, 1, 2])
    loaded, _ = run_seeds(TINY, [0, 1, 2], teachers=teachers)
    assert _equal(own, loaded)
    # and the teacher really is used: another seed's teacher changes the run
    swapped = jax.tree.map(lambda x: np.asarray(x)[[1, 0, 2]], teachers)
    other, _ = run_seeds(TINY, [0, 1, 2], teachers=swapped)
    assert not np.array_equal(np.asarray(other.teacher_samples[0]),
                              np.asarray(own.teacher_samples[0]))  # fmt: skip


def test_a_teacher_trained_inside_one_cell_serves_another_bit_for_bit():
    """A sweep keeps the teacher its first cell trained in its own program; a cell of
    another init and method that loads it equals that cell training its own."""
    first, _ = run_seeds(TINY, [0, 1])
    other = TINY.replace(init="random", method="sid")
    own, _ = run_seeds(other, [0, 1])
    loaded, _ = run_seeds(other, [0, 1], teachers=first.teacher)
    assert _equal(own, loaded)
    standalone, _ = train_teachers(TINY, [0, 1])
    assert _equal(first.teacher, standalone)


def test_fields_outside_the_teacher_leave_its_id_and_numbers_alone():
    ref, _ = train_teachers(TINY, [0])
    for change in ({"init": "random"}, {"method": "sid"}, {"generator_lr": 3e-4},
                   {"gan_weight": 3e-3}, {"eval_n": 32}, {"fake_ratio": 3},
                   {"teacher": "oracle"}):  # fmt: skip
        other = TINY.replace(**change)
        assert teacher_id(other, 0) == teacher_id(TINY, 0), change
        assert _equal(train_teachers(other, [0])[0], ref), change
    for field, value in (("teacher_steps", 150), ("width", 16), ("dim", 2), ("n_modes", 4)):
        assert field in TEACHER_FIELDS
        assert teacher_id(TINY.replace(**{field: value}), 0) != teacher_id(TINY, 0), field
    assert teacher_id(TINY, 1) != teacher_id(TINY, 0)
    memorizing = TINY.replace(teacher="memorizing")  # learns memorized points: its own
    assert teacher_id(memorizing, 0) != teacher_id(TINY, 0)


def test_a_sweep_over_inits_and_methods_trains_one_teacher_per_seed(tmp_path):
    spec = SweepSpec.build("tiny", ["dim=2"], ["init=teacher,random", "method=dmd2,sid"])
    logs = []
    results = run_sweep(spec, tmp_path, progress=False, plot=False, log=logs.append)
    stored = sorted((tmp_path / "cells" / "teachers").glob("*.npz"))
    assert len(stored) == len(spec.seeds) == 2  # four cells, one teacher per seed
    manifest = pd.read_json(tmp_path / "manifest.json", typ="series")
    timings = list(manifest["cell_timings"].values())
    assert sorted(t["trained"] for t in timings) == [0, 0, 0, 2]  # in the first cell
    assert sum(t["loaded"] for t in timings) == 6
    assert sum("teacher(s) loaded" in m for m in logs) == 3
    # the teacher's columns are one teacher's, identical across the four cells
    cols = ["teacher_loss", "teacher_loglik_gap", "teacher_sliced_w2", "teacher_map_agree"]
    per_cell = results[results.step == 0].sort_values(["cell", "seed"])
    for _, g in per_cell.groupby("seed"):
        assert (g[cols].nunique() == 1).all(), g[cols]


def test_a_damaged_teacher_file_is_named_and_retrained(tmp_path):
    spec = SweepSpec.build("tiny", ["dim=2"], [], seeds=2)
    run_sweep(spec, tmp_path, progress=False, plot=False, log=lambda _: None)
    first = pd.read_parquet(tmp_path / "results.parquet")
    path = teacher_path(tmp_path / "cells", teacher_id(spec.cells()[0], 0))
    path.write_bytes(path.read_bytes()[:100])  # truncated
    again = SweepSpec.build("tiny", ["dim=2", "init=random"], [], seeds=2)
    logs = []
    run_sweep(again, tmp_path / "b", cell_store=tmp_path / "cells", progress=False,
              plot=False, log=logs.append)  # fmt: skip
    assert any("unreadable" in m and "training this teacher again" in m for m in logs), logs
    second = pd.read_parquet(tmp_path / "b" / "results.parquet")
    cols = ["seed", "teacher_loss", "teacher_sliced_w2"]
    pd.testing.assert_frame_equal(
        first[first.step == 0][cols].reset_index(drop=True),
        second[second.step == 0][cols].reset_index(drop=True),
    )

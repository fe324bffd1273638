"""Teachers trained once: a store of teacher networks, one verified file per (teacher
config, seed), that every cell needing that teacher loads instead of retraining it.

A teacher is a function of the fields in :data:`TEACHER_FIELDS` (its world, its network,
its training), the seed and the XLA options its program is compiled with; a cell that
differs from another only in anything else (its init, method, generator, student
training, evaluation, protocol bundle) shares its teachers. Files live in
``<cell store>/teachers/<id>.npz`` in :mod:`dmdlab.checkpoint`'s format (atomic,
SHA-256-checked, refused across dmdlab or jax versions). On one machine and stack a cell
with a loaded teacher is bit-identical to one that trains its own
(``tests/test_teacher_store.py``): a sweep's cell trains its missing teachers inside its
own program and returns them (``TrainOutput.teacher``); :func:`dmdlab.distill.train_teachers`
trains them on their own with the cell's keys, data and compiler options.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from dmdlab.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dmdlab.config import TEACHER_FIELDS, DMDConfig

__all__ = [
    "TEACHER_FIELDS",
    "load_teachers",
    "save_teachers",
    "teacher_id",
    "teacher_path",
]

# TEACHER_FIELDS (dmdlab.config): what a teacher is a function of, with its seed and XLA options


def teacher_id(config: DMDConfig, seed: int) -> str:
    """Content id of the teacher of ``config`` for ``seed``: its fields, the seed, the XLA
    options of the cell's program and the platform (a 16-hex-digit string)."""
    from dmdlab.distill import compiler_options

    fields = {k: getattr(config, k) for k in TEACHER_FIELDS}
    # the network learns the same data whether the exact score (oracle) or it serves as the
    # real score: an oracle cell shares the network cell's teacher (its start's); only a
    # memorizing teacher learns other data
    fields["teacher"] = "memorizing" if config.teacher == "memorizing" else "network"
    # the platform too: a GPU's teacher differs from a CPU's in its last bits, and a
    # store shared across machines must not mix them into one machine's cells
    blob = json.dumps({"teacher": fields, "seed": int(seed), "xla": compiler_options(config),
                       "platform": jax.default_backend()}, sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def teacher_path(store, tid: str) -> Path:
    """Where teacher ``tid`` is kept in the cell store ``store``."""
    return Path(store) / "teachers" / f"{tid}.npz"


def _template(config: DMDConfig):
    """The (params, losses) structure of one seed's teacher, leading seed axis 1."""
    from dmdlab.method import Hyperparams, Setting
    from dmdlab.setup import train_teacher

    setting = Setting.of(config)
    one = jax.eval_shape(lambda k, hp: train_teacher(setting, k, hp), jax.random.key(0),
                         Hyperparams.of(config))  # fmt: skip
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((1, *s.shape), s.dtype), one)


def load_teachers(store, config: DMDConfig, seeds, log: Callable[[str], None] = print):
    """The stored teachers of ``config`` for ``seeds`` as (params, losses) with a leading
    seed axis, or None when any is missing (the cell then trains them in its own program
    and :func:`save_teachers` keeps them). A file that fails verification is named in
    ``log`` and counts as missing."""
    store = Path(store)
    template = _template(config)
    got = []
    for seed in seeds:
        tid = teacher_id(config, seed)
        path = teacher_path(store, tid)
        if not path.exists():
            return None
        try:
            got.append(load_checkpoint(path, template, cell=tid, seeds=[seed],
                                       step=config.teacher_steps))  # fmt: skip
        except CheckpointError as err:
            log(f"{err}; training this teacher again")
            return None
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *got)


def save_teachers(store, config: DMDConfig, seeds, teachers) -> None:
    """Keep each seed's teacher of ``teachers`` ((params, losses), leading seed axis as
    ``seeds``) in ``store``, unless it is kept there already."""
    (Path(store) / "teachers").mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        tid = teacher_id(config, seed)
        if teacher_path(store, tid).exists():
            continue
        one = jax.tree.map(lambda x, i=i: np.asarray(x)[i : i + 1], teachers)
        save_checkpoint(teacher_path(store, tid), one, cell=tid, seeds=[seed],
                        step=config.teacher_steps)  # fmt: skip

"""A cell's training state at its last step, so that asking for more steps resumes the
run instead of restarting it (docs/usage.md, "Extending a sweep").

A checkpoint holds the carry of every seed of a cell — the method's state (student,
helpers such as the fake score, their optimizer states) and the divergence step — as the
leaves of one pytree with a leading seed axis, beside a header naming the cell, its
seeds, its step, the dmdlab and jax versions that wrote it and a SHA-256 of the leaves.
The random stream needs no saving: step i's key is ``fold_in(loop key, i)``
(:func:`dmdlab.engine.schedule`). Reading checks everything against what the caller
expects (the pytree's structure, shapes and dtypes included) and raises
:class:`CheckpointError` with one line saying what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import socket
from pathlib import Path

import jax
import numpy as np

from dmdlab._version import __version__

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, damaged, or for another cell or stack."""


def _digest(leaves) -> str:
    h = hashlib.sha256()
    for leaf in leaves:
        a = np.ascontiguousarray(leaf)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _versions() -> dict:
    return {"dmdlab": __version__, "jax": jax.__version__}


def save_checkpoint(path, carry, *, cell: str, seeds, step: int) -> None:
    """Write ``carry`` (a pytree, leaves (S, …) for S = len(seeds)) atomically: a kill
    during the write leaves the previous file (or none), never half of one."""
    path = Path(path)
    leaves = [np.asarray(x) for x in jax.tree.leaves(carry)]
    header = {"cell": cell, "seeds": [int(s) for s in seeds], "step": int(step),
              "n_leaves": len(leaves), "sha256": _digest(leaves), **_versions()}  # fmt: skip
    buf = io.BytesIO()
    np.savez(buf, header=np.array(json.dumps(header)), **{f"leaf{i}": a for i, a in
                                                           enumerate(leaves)})  # fmt: skip
    # host and a random part: two hosts sharing a store never write the same temp file
    tmp = path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}-"
                         f"{secrets.token_hex(3)}")  # fmt: skip
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def load_checkpoint(path, template, *, cell: str, seeds, step: int):
    """The carry saved at ``path``, in the structure of ``template`` (a pytree of arrays or
    ``jax.ShapeDtypeStruct`` with the leading seed axis). Raises :class:`CheckpointError`
    naming what is wrong: missing, unreadable, written by another dmdlab or jax version,
    for another cell, seed list or step, another structure, or altered bytes."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path.name} is missing")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            leaves = [data[f"leaf{i}"] for i in range(header["n_leaves"])]
    except Exception as err:  # truncated, garbage, a leaf missing
        raise CheckpointError(
            f"checkpoint {path.name} is unreadable ({type(err).__name__})"
        ) from None
    here = _versions()
    for name in ("dmdlab", "jax"):
        if header.get(name) != here[name]:
            raise CheckpointError(
                f"checkpoint {path.name} was written by {name} {header.get(name)}, this is "
                f"{here[name]}: refused (the resumed steps would not match a straight run)"
            )
    want = {"cell": cell, "seeds": [int(s) for s in seeds], "step": int(step)}
    for name, value in want.items():
        if header.get(name) != value:
            raise CheckpointError(
                f"checkpoint {path.name} is for {name} {header.get(name)}, expected {value}"
            )
    if _digest(leaves) != header.get("sha256"):
        raise CheckpointError(f"checkpoint {path.name}: its contents do not match their hash")
    expected, treedef = jax.tree.flatten(template)
    shapes = [(tuple(a.shape), np.dtype(a.dtype)) for a in leaves]
    if shapes != [(tuple(t.shape), np.dtype(t.dtype)) for t in expected]:
        raise CheckpointError(f"checkpoint {path.name} holds another state (structure, "
                              "shapes or dtypes differ from this config's)")  # fmt: skip
    return jax.tree.unflatten(treedef, leaves)

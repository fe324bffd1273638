"""The worlds a run can be set in, declared once (docs/science.md §2): each world's name,
how its exact mixture is built from a config, whether it is class-conditional, and the
copying measures that mean something in it.

A class-conditional world has one class per component, so the student's mode is fixed by
its class: κ is 1 by construction and copying is read inside classes (C_within). Code that
needs to know asks :func:`world_of` or :func:`conditional_table`; no ``world == "…"``
elsewhere.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

    from dmdlab.config import DMDConfig
    from dmdlab.mixture import GaussianMixture

__all__ = ["WORLDS", "World", "conditional_table", "world_of"]


class World(NamedTuple):
    """A world: ``build(config, key) -> GaussianMixture``; ``conditional``: one class per
    component (the student is told its class); ``measures``: the copying columns that
    carry the pairing there, primary first; ``class_dims(d) -> (lo, hi)``: the allowed
    per-class dimensions (``class_dim``, ``class_dims``) at ambient d, or None."""

    name: str
    build: Callable[[DMDConfig, object], GaussianMixture]
    conditional: bool
    measures: tuple[str, ...]
    class_dims: Callable[[int], tuple[int, int]] | None = None


def _mixture(c: DMDConfig, key) -> GaussianMixture:
    from dmdlab.mixture import GaussianMixture

    return GaussianMixture.random(key, c.dim, c.n_modes, c.mode_std, c.intrinsic_dim)


def _blobs(c: DMDConfig, key) -> GaussianMixture:
    from dmdlab.mixture import GaussianMixture

    radius = 5.0 if c.mean_radius is None else c.mean_radius
    # class_dims, when given, overrides class_dim: one subspace dimension per class
    dims = None if c.class_dims is None else tuple(int(v) for v in c.class_dims.split(","))
    class_dim = None if dims else c.class_dim
    return GaussianMixture.blobs(key, c.dim, c.n_modes, class_dim, radius, c.mode_std, dims)


def _shells(c: DMDConfig, key) -> GaussianMixture:
    from dmdlab.mixture import GaussianMixture

    radius = 2.0 if c.mean_radius is None else c.mean_radius
    if c.class_dims is not None:  # one sphere dimension per class
        dims = tuple(int(v) for v in c.class_dims.split(","))
    else:
        dims = (1 if c.class_dim is None else c.class_dim,) * c.n_modes
    return GaussianMixture.shells(key, c.dim, dims, radius, c.mode_std)


WORLDS: types.MappingProxyType[str, World] = types.MappingProxyType({
    # DMD2's world: a random isotropic (or subspace) mixture, unconditional
    "mixture": World("mixture", _mixture, False, ("kappa", "copying_within")),
    # the workbench's: class blobs on low-dimensional subspaces, one class per blob
    "blobs": World("blobs", _blobs, True, ("copying_within",), lambda d: (1, d)),
    # the authors' active data line: class spheres (circles by default) with thickness; a
    # sphere S^k sits in a (k + 1)-dim subspace, and its closed forms stop at k = 2
    "shells": World("shells", _shells, True, ("copying_within",), lambda d: (1, min(d - 1, 2))),
})  # fmt: skip


def world_of(name: str) -> World:
    """The world called ``name``; errors list the allowed names."""
    if name not in WORLDS:
        raise ValueError(f"world={name!r} is invalid: allowed {' | '.join(map(repr, WORLDS))}")
    return WORLDS[name]


def conditional_table(table: pd.DataFrame) -> bool:
    """Whether every row of a results table is from a class-conditional world."""
    return "world" in table and bool(table.world.map(lambda w: world_of(w).conditional).all())

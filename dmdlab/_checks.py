"""Input checks shared by the public functions: fail before any compute, name the argument."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def check_rows(x, dim: int, name: str) -> jax.Array:
    """Return x as an array after checking it is (n, dim)."""
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {tuple(x.shape)}")
    return x


def check_positive_sigma(sigma, n: int) -> None:
    """σ must be a scalar or an (n,) vector, and > 0 where its value is known."""
    shape = jnp.shape(sigma)
    if shape not in ((), (n,)):
        raise ValueError(f"sigma must be a scalar or have shape ({n},), got {shape}")
    if not isinstance(sigma, jax.core.Tracer):
        s = np.asarray(sigma)
        if not np.all(s > 0):
            raise ValueError(f"sigma must be > 0, got min {float(s.min())!r}")


def check_paired(a, b, name_a: str, name_b: str) -> tuple[jax.Array, jax.Array]:
    """Two row-paired (n, d) arrays with n >= 2."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must be row-paired (n, d) arrays of the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[0] < 2:
        raise ValueError(f"{name_a} needs at least 2 rows, got {a.shape[0]}")
    return a, b


def check_groups(groups, n: int, name: str = "groups") -> jax.Array:
    """An (n,) integer label per row (a class or a mode)."""
    g = jnp.asarray(groups)
    if g.shape != (n,) or not jnp.issubdtype(g.dtype, jnp.integer):
        raise ValueError(f"{name} must be an (n,) = ({n},) integer array of labels, "
                         f"got shape {tuple(g.shape)} and dtype {g.dtype}")  # fmt: skip
    return g

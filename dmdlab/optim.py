"""The optimizer every network in dmdlab uses (docs/science.md §4)."""

from __future__ import annotations

import jax.numpy as jnp
import optax

__all__ = ["adamw"]


def adamw(
    learning_rate,
    *,
    warmup: int = 100,
    decay_steps: int | None = None,
    clip: float = 10.0,
    weight_decay: float = 0.01,
    flat: bool = False,
):
    """AdamW (β 0.9/0.999) after global-norm clipping, with a linear learning-rate warmup.

    With ``decay_steps`` the rate then follows a cosine down to 1% at that step (used
    for the teacher, whose final accuracy it improves; DMD2's own networks keep a
    constant rate).

    ``learning_rate`` may be a traced scalar: it enters through
    ``optax.inject_hyperparams``, so runs that differ only in learning rate share one
    compiled program (and can be vmapped together). ``flat``: one update over the
    parameters raveled into a vector (``optax.flatten``) instead of one per leaf: the same
    rule up to rounding, and half the compile time of a DMD step (benchmarks/RESULTS.md).
    """

    def schedule(count):
        rate = learning_rate * jnp.minimum(1.0, (count + 1) / max(warmup, 1))
        if decay_steps is not None:
            progress = jnp.clip((count - warmup) / max(decay_steps - warmup, 1), 0.0, 1.0)
            rate = rate * (0.01 + 0.99 * 0.5 * (1.0 + jnp.cos(jnp.pi * progress)))
        return rate

    chain = optax.chain(
        optax.clip_by_global_norm(clip),
        optax.inject_hyperparams(optax.adamw)(
            learning_rate=schedule, b1=0.9, b2=0.999, weight_decay=weight_decay
        ),
    )
    return optax.flatten(chain) if flat else chain

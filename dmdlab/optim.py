"""The optimizer every network in dmdlab uses (SCIENCE.md §4)."""

from __future__ import annotations

import jax.numpy as jnp
import optax

__all__ = ["adamw"]


def adamw(learning_rate, *, warmup: int = 100, clip: float = 10.0, weight_decay: float = 0.01):
    """AdamW (β 0.9/0.999) after global-norm clipping, with a linear learning-rate warmup.

    ``learning_rate`` may be a traced scalar: it enters through
    ``optax.inject_hyperparams``, so runs that differ only in learning rate share one
    compiled program (and can be vmapped together).
    """

    def schedule(count):
        return learning_rate * jnp.minimum(1.0, (count + 1) / max(warmup, 1))

    return optax.chain(
        optax.clip_by_global_norm(clip),
        optax.inject_hyperparams(optax.adamw)(
            learning_rate=schedule, b1=0.9, b2=0.999, weight_decay=weight_decay
        ),
    )

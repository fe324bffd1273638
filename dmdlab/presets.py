"""Every named starting point: the CLI's presets and the studies' bases.

A preset is a base config, a grid (field → values), a seed count and fields tied to the
first grid field (a budget rule). The studies' bases live here too, so that one file says
which configs the committed tables were made with.
"""

from __future__ import annotations

import dataclasses

from dmdlab.config import DMDConfig

__all__ = ["PRESETS", "STUDY_BASES", "STUDY_SEEDS", "Preset"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named sweep: base config, grid (field → values), seed count, and fields tied to
    the first grid field (``zipped``: field → one value per value of it)."""

    description: str
    base: DMDConfig
    grid: dict
    seeds: int
    zipped: dict = dataclasses.field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    # Budgets per d calibrated so that every cell passes the fidelity gates (README):
    # d = 8 needs a 6000-step teacher for its σ_max error, d ≥ 8 more generator steps
    # for the student's gap; d = 32 stays above 1 nat/dim even at 1200 steps. The teacher's
    # batch is 256: on exact targets its gradient noise is small, every d still passes
    # with κ and remap rate inside the 512-batch intervals, and a cell costs 15-30% less
    # (benchmarks/cell_cost.py). The student's batch and width stay as studied.
    "default": Preset(
        "d = 2, 8, 16 × 3 seeds, 128-wide nets, 600/1000/1200 generator steps and "
        "2000/6000/6000 teacher steps by d; ~6 min on 2 CPU cores.",
        DMDConfig(
            width=128,
            depth=3,
            steps=600,
            eval_every=20,
            teacher_steps=2000,
            teacher_batch_size=256,
        ),
        {"dim": [2, 8, 16]},
        3,
        {"steps": [600, 1000, 1200], "teacher_steps": [2000, 6000, 6000]},
    ),
    "full": Preset(
        "d = 2 … 1024 × 8 seeds, 2000 generator steps, 8000 teacher steps; for a GPU.",
        DMDConfig(width=256, depth=3, steps=2000, eval_every=20, teacher_steps=8000),
        {"dim": [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]},
        8,
    ),
    "tiny": Preset(
        "d = 2, 4 × 2 seeds, a 32-wide net for 40 steps: ~1 min cold (compiles), for tests.",
        DMDConfig(
            n_modes=3,
            width=32,
            depth=2,
            teacher_steps=200,
            teacher_batch_size=128,
            steps=40,
            eval_every=20,
            batch_size=64,
            fake_ratio=2,
            eval_n=64,
            ode_steps=20,
            warmup=5,
        ),
        {"dim": [2, 4]},
        2,
    ),
}


# The studies' bases per mode. quick: 128-wide nets, 2000 teacher steps, 600 DMD steps,
# written out rather than taken from the default preset so that recalibrating `make
# sweep` does not silently make the committed quick-study outputs stale (their cells are
# keyed by this config).
STUDY_BASES = {
    "smoke": PRESETS["tiny"].base,
    "quick": DMDConfig(width=128, depth=3, steps=600, eval_every=20, teacher_steps=2000),
    "full": PRESETS["full"].base,
}
STUDY_SEEDS = {"smoke": 2, "quick": 3, "full": 8}

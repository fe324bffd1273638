"""Every named starting point: the CLI's presets and the studies' bases.

A preset is a base config, a grid (field → values), a seed count and fields tied to the
first grid field (a budget rule). The studies' bases live here too, so that one file says
which configs the committed tables were made with.
"""

from __future__ import annotations

import dataclasses
import types

from dmdlab.config import DMDConfig

__all__ = [
    "BUNDLES",
    "PRESETS",
    "PROTOCOLS",
    "RECIPE",
    "STUDY_BASES",
    "STUDY_BUDGETS",
    "STUDY_SEEDS",
    "Preset",
]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named sweep: base config, grid (field → values), seed count, and fields tied to
    the first grid field (``zipped``: field → one value per value of it)."""

    description: str
    base: DMDConfig
    grid: dict
    seeds: int
    zipped: dict = dataclasses.field(default_factory=dict)


# The convergence recipe (benchmarks/RESULTS.md, "Students that converge"): DMD2's loss,
# two time scales and constant rate 1e-3, on batches of 1024 for the student and the fake
# score: measured at d = 8, the larger batch is the one change that lets the gap keep
# falling (0.23 nats/dim after 4000 steps against 0.34 at batch 256 after 3000; GAN
# terms, other normalisers, more fake steps, a slower fake score, an EMA and higher rates
# did not, and rates above 1e-3 lost modes). 2048 evaluation noises, so that a mode's
# share is resolved to ±6%; records every 10 steps for the first 300 (where κ peaks), then
# every 50. 64-wide networks: the CPU budget (the quick studies and `make sweep`).
RECIPE = dict(
    width=64,
    depth=3,
    batch_size=1024,
    teacher_batch_size=256,
    eval_n=2048,
    eval_every=50,
    eval_early_every=10,
    eval_early_until=300,
)

# Named bundles of fields a sweep can grid over like one field (``--grid protocol=…``):
# docs/science.md §1b's two protocols, and the two halves of the difference between them.
# The authors' teacher is 256 wide, 20 000 steps on batches of 1024. On their shells
# (thickness 0.05) the study base's (64 wide, 6000 steps, batches of 256) is not trusted
# (measured at N = 2, seeds 0-1: gap 9.0 / 6.3 nats/dim, its map agrees with the exact one
# for 85-87% of noises); batches of 1024 alone: 1.8 / 0.3, 98%; 128 wide, 12 000 steps,
# batches of 1024: 0.12 / 0.04, 99.8% (2026-12-07, benchmarks/RESULTS.md). `width` also
# sets the fake score's (theirs: 64).
AUTHORS_TEACHER = {"width": 128, "teacher_steps": 12000, "teacher_batch_size": 1024}

PROTOCOLS = {
    # DMD2's (the paper's high-d experiments): mixture, VE, a copy of the teacher's weights
    "dmd2": {"world": "mixture", "parametrization": "ve", "init": "teacher",
             "generator": "denoiser"},
    # the workbench's (its low-d experiments): class blobs on 2-dim subspaces, rectified
    # flow, a plain MLP regressed onto the teacher's one-step clean prediction
    "workbench": {"world": "blobs", "class_dim": 2, "parametrization": "flow",
                  "init": "regressed", "generator": "mlp"},
    # DMD2's world and noising with the workbench's start: the effect of the init alone
    "regressed": {"world": "mixture", "parametrization": "ve", "init": "regressed",
                  "generator": "denoiser"},
    # the workbench's world and noising with DMD2's start: the effect of the init, reversed
    "blobs-teacher": {"world": "blobs", "class_dim": 2, "parametrization": "flow",
                      "init": "teacher", "generator": "denoiser"},
    # the workbench as its authors set it up (CaptainAmu/Decoupling_DMD at 7ee0737, issue
    # "The paper's own low-dimensional workbench"): a residual generator that starts as
    # the identity on z (256 wide, 4 linear layers), regressed for only 100 steps at 1e-3
    # onto the teacher's one-step prediction, and a regression term (weight 0.2) onto that
    # prediction during DMD, their DMD gradient's (1 − t) weight. Their Gaussian-subspace
    # data line (commented out in their notebook)
    "authors": {"world": "blobs", "class_dim": 2, "parametrization": "flow",
                "init": "regressed", "init_steps": 100, "init_lr": 1e-3,
                "generator": "residual", "gen_width": 256, "gen_depth": 3,
                "regression_weight": 0.2, "regression_target": "onestep",
                "dmd_time_weight": "flow", **AUTHORS_TEACHER},
    # the same on their active data line: 3 classes, each a circle of radius U[0.5, 2] in
    # its own random plane, centred at radius 2√d, thickened by N(0, 0.05² I)
    "authors-shells": {"world": "shells", "class_dim": 1, "n_modes": 3, "mode_std": 0.05,
                       "mean_radius": 2.0, "parametrization": "flow",
                       "init": "regressed", "init_steps": 100, "init_lr": 1e-3,
                       "generator": "residual", "gen_width": 256, "gen_depth": 3,
                       "regression_weight": 0.2, "regression_target": "onestep",
                       "dmd_time_weight": "flow", **AUTHORS_TEACHER},
}  # fmt: skip
BUNDLES = types.MappingProxyType({"protocol": types.MappingProxyType(PROTOCOLS)})

PRESETS: types.MappingProxyType[str, Preset] = types.MappingProxyType(
    {
        # DMD2's protocol (a copy of the teacher's weights) at d = 2 … 128, one common window
        # of 1000 generator steps for every d, records every 20 steps to 300 (κ peaks near
        # step 100; every 10 cost ~35 s of host metrics more, which the 10-minute budget
        # does not have on a slower 2-core machine) and every 50 after. What fits ~10
        # minutes of 2 CPU cores (est. 5.6 CPU-min, `dmdlab sweep --dry-run`): batches of
        # 512, 64-wide networks, 4 seeds. At this budget the students are still moving (κ
        # falls from its peak at every d), so the sweep answers with values *during*
        # training at matched step and fidelity, says so, and points to studies/settled.py
        # for the settled values. Teachers: the dimension study's budgets, which pass the
        # teacher gate (6000 steps; 8000 at d = 128).
        "default": Preset(
            "DMD2's protocol at d = 2, 8, 32, 128 × 4 seeds, 1000 generator steps each (64-wide "
            "nets, batches of 512); copying over training and across d; ~10 min on 2 CPU cores.",
            DMDConfig(
                **{**RECIPE, "batch_size": 512, "eval_early_every": 20},
                steps=1000,
                teacher_steps=6000,
            ),
            {"dim": [2, 8, 32, 128]},
            4,
            {"teacher_steps": [6000, 6000, 6000, 8000]},
        ),
        "full": Preset(
            "d = 2 … 1024 × 8 seeds, 256-wide nets, 10000 generator steps, 8000 teacher steps; "
            "for a GPU.",
            DMDConfig(**{**RECIPE, "width": 256}, steps=10000, teacher_steps=8000),
            {"dim": [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]},
            8,
        ),
        # The protocols study's CPU grid as a preset: DMD2's protocol and the workbench's own
        # (class blobs, flow matching, a regressed plain-MLP generator) side by side.
        "protocols-quick": Preset(
            "d = 2, 8 × {DMD2: mixture, VE, teacher init; workbench: blobs, flow, regressed MLP} "
            "× 4 seeds; ~40 min on 2 CPU cores.",
            DMDConfig(**RECIPE, steps=3000, teacher_steps=4000, init_steps=1000),
            {"dim": [2, 8], "protocol": ["dmd2", "workbench"]},
            4,
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
)
# The studies' bases per mode. quick: the recipe above at per-d budgets (STUDY_BUDGETS),
# written out rather than taken from the default preset so that recalibrating `make
# sweep` does not silently make the committed quick-study outputs stale (their cells are
# keyed by this config).
STUDY_BASES = {
    "smoke": PRESETS["tiny"].base,
    "quick": DMDConfig(**RECIPE, steps=3000, teacher_steps=2000, init_steps=1000),
    "full": PRESETS["full"].base,
}
STUDY_SEEDS = {"smoke": 2, "quick": 8, "full": 8}
# Generator and teacher steps per d in quick mode: where the gap settles at d ≤ 8
# (measured), the same length above (so d = 32 and 128 show what it gives them). The d = 2
# teacher trains for 6000 steps: after 2000 its σ_max error was 1.3× the pairing signal
# (8 seeds), which fails the teacher gate.
STUDY_BUDGETS = {
    "smoke": {2: (40, 200), 4: (40, 200)},
    "quick": {2: (3000, 6000), 8: (6000, 6000), 32: (6000, 6000), 128: (6000, 8000)},
    "full": {d: (10000, 8000) for d in PRESETS["full"].grid["dim"]},
}

"""Cells that reuse a finished cell of their lineage (same config and seeds, other
``steps``) instead of training from step 0 (docs/usage.md, "Extending a sweep").

- **extend**: a shorter cell with a checkpoint resumes from its last step; its records are
  kept as they are and the new steps' records appended. On one machine and software stack
  the result equals a cell trained straight to the new length (tests/test_resume.py).
- **truncate**: a longer cell's first records are the shorter cell's (nothing retrained).

Either needs the two runs to be the same computation up to the shorter one's end: the
same recorded steps up to there, a learning rate that does not depend on ``steps``
(``lr_schedule="constant"``) and the same XLA options (``dmdlab.distill.compiler_options``
depends on the program's size). Otherwise, or when a checkpoint is missing, damaged or
from another dmdlab or jax version, the plan says why in one line and the cell is trained
from step 0: never a silent mix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from dmdlab.checkpoint import CheckpointError, load_checkpoint
from dmdlab.config import DMDConfig
from dmdlab.distill import compiler_options, run_seeds
from dmdlab.engine import make_program
from dmdlab.evaluate import metrics_table
from dmdlab.method import Hyperparams
from dmdlab.store import checkpoint_path, lineage, load_pairs, pair_snapshot

__all__ = ["CellPlan", "carry_template", "plan_cell", "resumed_cell"]


@dataclasses.dataclass
class CellPlan:
    """How a cell is obtained: ``kind`` "fresh", "extend" or "truncate"; for the last two
    the ``source`` cell (its config and id) and, to extend, its loaded ``carry``."""

    kind: str
    source: tuple[DMDConfig, str] | None = None
    carry: object = None
    store: Path | None = None

    def release(self) -> None:
        """After the extended cell is written, its source's checkpoint is superseded (the
        new cell holds the same records and a later state): removed to keep stores small."""
        if self.kind == "extend":
            checkpoint_path(self.store, self.source[1]).unlink(missing_ok=True)


def _same_run(short: DMDConfig, long: DMDConfig) -> str | None:
    """Why ``short``'s records are not the first records of ``long`` (None: they are)."""
    if short.lr_schedule != "constant":
        return f"lr_schedule={short.lr_schedule} depends on steps"
    head = long.record_steps()[: short.n_evals]
    if head != short.record_steps():
        return "its recorded steps differ"
    if compiler_options(short) != compiler_options(long):
        return "its XLA options differ (the program's size crosses SMALL_PROGRAM_MACS)"
    return None


def carry_template(config: DMDConfig, n_seeds: int):
    """The shapes and dtypes of ``n_seeds`` seeds' training carry (method state, diverged
    step), leading seed axis; traced, nothing computed."""
    program = make_program(config)
    keys = jax.vmap(jax.random.key)(np.arange(n_seeds, dtype=np.uint32))
    hp = jax.tree.map(lambda v: np.full((n_seeds,), v, np.float32), Hyperparams.of(config))
    return jax.eval_shape(jax.vmap(program.setup), keys, hp)[1]


def plan_cell(store: Path, config: DMDConfig, seeds, log: Callable[[str], None] = print,
              dry: bool = False) -> CellPlan:  # fmt: skip
    """How to obtain the cell ``config`` × ``seeds`` from its lineage in ``store``: the
    shortest longer cell to truncate, else the longest shorter one with a usable
    checkpoint to extend, else fresh. Each source passed over is logged with why.
    ``dry``: only whether a checkpoint file is there (nothing loaded or traced)."""
    store = Path(store)
    found = lineage(store, config, seeds)
    for other, cid in (item for item in found if item[0].steps > config.steps):
        why = _same_run(config, other)
        if why is None:
            return CellPlan("truncate", (other, cid), store=store)
        log(f"cell {cid} ({other.steps} steps) cannot be cut to {config.steps}: {why}")
    for other, cid in reversed([item for item in found if item[0].steps < config.steps]):
        why = _same_run(other, config)
        if why is None and dry:
            if checkpoint_path(store, cid).exists():
                return CellPlan("extend", (other, cid), None, store)
            why = "its checkpoint is missing"
        elif why is None:
            try:
                carry = load_checkpoint(checkpoint_path(store, cid),
                                        carry_template(config, len(seeds)), cell=cid,
                                        seeds=seeds, step=other.steps)  # fmt: skip
                return CellPlan("extend", (other, cid), carry, store)
            except CheckpointError as err:
                why = str(err)
        log(f"cell {cid} ({other.steps} steps) cannot be extended to {config.steps}: {why}; "
            "training from step 0")  # fmt: skip
        break  # the longest shorter cell decides: an older one would redo its steps
    return CellPlan("fresh")


def _relabel(table: pd.DataFrame, config: DMDConfig) -> pd.DataFrame:
    """The source's rows under ``config`` (its config columns; its cell column dropped)."""
    table = table.drop(columns=["cell"], errors="ignore").copy()
    for name, value in config.to_dict().items():
        if name in table.columns:
            table[name] = value
    return table


def _final_divergence(table: pd.DataFrame, diverged_step: dict) -> pd.DataFrame:
    """Each seed's ``diverged_step`` column set to its run's final value (a straight run
    reports its first non-finite step on every row, earlier ones included)."""
    table = table.copy()
    table["diverged_step"] = table.seed.map(diverged_step).astype(table.diverged_step.dtype)
    return table


def resumed_cell(plan: CellPlan, config: DMDConfig, seeds, phase: Callable[[str], None],
                 teachers=None, progress=None):  # fmt: skip
    """(table, pairs, carry, timing, teacher) of the cell ``config`` × ``seeds`` from
    ``plan``'s source: its first records (truncate), or those and the resumed steps'
    (extend, with the stored ``teachers`` when given; ``progress``: see
    :func:`dmdlab.distill.run_seeds`). ``carry`` and ``teacher`` (the run's (params,
    losses)) are None for a truncated cell (nothing was run)."""
    other, src = plan.source
    old = pd.read_parquet(plan.store / f"{src}.parquet")
    timing = {"resumed_from": src, "resumed_step": other.steps, "resumed_how": plan.kind}
    if plan.kind == "truncate":
        table = _relabel(old[old.step <= config.steps], config)
        last = table[table.step == config.steps]
        kept = {s: int(v) if 0 <= v <= config.steps else -1
                for s, v in zip(last.seed, last.diverged_step, strict=True)}  # fmt: skip
        table = _final_divergence(table, kept)
        pairs = load_pairs(plan.store, src) or {}
        if pairs:
            keep = pairs["eval_index"] < config.n_evals
            pairs = {**pairs, "student": pairs["student"][:, keep],
                     "eval_index": pairs["eval_index"][keep]}  # fmt: skip
        return table, pairs, None, {**timing, "compile_s": 0.0, "run_s": 0.0,
                                    "compile_source": "none"}, None  # fmt: skip
    result, run_timing = run_seeds(config, seeds, phase=phase, resume=(plan.carry, other.steps),
                                   teachers=teachers, progress=progress)  # fmt: skip
    phase("evaluating")
    new = metrics_table(config, result, seeds, first_step=other.steps)
    final = dict(zip(seeds, np.asarray(result.diverged_step).tolist(), strict=True))
    table = pd.concat([_final_divergence(_relabel(old, config), final), new],
                      ignore_index=True)[new.columns]  # fmt: skip
    # a straight run's order: seed by seed (in ``seeds``' order), steps ascending
    order = table.seed.map({s: i for i, s in enumerate(seeds)}) * (config.steps + 1) + table.step
    table = table.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    pairs = _extended_pairs(load_pairs(plan.store, src), result, other.n_evals)
    timing.update(run_timing)
    return table, pairs, (result.final_state, result.diverged_step), timing, result.teacher


def _extended_pairs(old: dict | None, result, n_old: int) -> dict:
    """The pictures' pairs of an extended cell: the source's first snapshot (the start)
    and three of the resumed records, spread to the last (indices into all records)."""
    new = pair_snapshot(result, n_steps=3)
    new["eval_index"] = np.asarray(new["eval_index"]) + n_old
    if old:
        new["student"] = np.concatenate(
            [old["student"][:, :1].astype(np.float16), new["student"]], axis=1
        )
        new["eval_index"] = np.concatenate([old["eval_index"][:1], new["eval_index"]])
    return new

"""Sweeps: a grid of configs × seeds, run cell by cell into the store (``dmdlab.store``)
so that an interrupted run resumes, then merged into one table with figures.

A sweep is a :class:`SweepSpec` (built from a preset in ``dmdlab.presets`` with
``--set``/``--grid``/``--zip`` overrides); :func:`run_sweep` runs the cells that are not
finished yet (or this shard's share of them) and merges once all are.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import pandas as pd

from dmdlab.analysis import final_rows
from dmdlab.columns import column, summary_labels
from dmdlab.config import DMDConfig, parse_field_value
from dmdlab.distill import SEED_GROUP, normalize_seeds, run_seeds
from dmdlab.evaluate import metrics_table
from dmdlab.methods import check
from dmdlab.presets import BUNDLES, PRESETS, Preset
from dmdlab.store import (
    FIGURES,
    cell_id,
    check_cell,
    clean_temporaries,
    pair_snapshot,
    set_aside,
    write_cell,
    write_merged,
)
from dmdlab.teacher_store import load_teachers, save_teachers, teacher_id, teacher_path

__all__ = ["SweepSpec", "parse_grid", "parse_sets", "parse_shard", "plan_sweep", "run_sweep"]


# ---------------------------------------------------------------- specification
@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What to run: ``cells()`` lists one config per grid point (grid order).

    ``zipped`` ties fields to the *first* grid field: field → a list with one value per
    value of that field (a budget rule, e.g. more generator steps at higher d), so a
    grid stays a product over the swept fields while a tied field moves with one."""

    base: DMDConfig
    grid: dict
    seeds: tuple[int, ...]
    zipped: dict = dataclasses.field(default_factory=dict)

    def cells(self) -> list[DMDConfig]:
        names = list(self.grid)
        if self.zipped:
            if not names:
                raise ValueError(f"--zip {sorted(self.zipped)} needs a --grid field to follow")
            lead = self.grid[names[0]]
            for field, values in self.zipped.items():
                if field in self.grid:
                    raise ValueError(f"field {field!r} is both swept (--grid) and tied (--zip)")
                if len(values) != len(lead):
                    raise ValueError(
                        f"--zip {field}: {len(values)} value(s) for the {len(lead)} values of "
                        f"{names[0]} = {lead}; give one per value"
                    )
        # each cell checked against its method too (its rules on the other fields)
        return [check(self.base.replace(**changes)) for changes, _ in self._points()]

    def _points(self) -> list[tuple[dict, dict]]:
        """Per grid point: (field changes, bundle labels), in grid order. A bundle grid
        field (``protocol``) sets its named bundle's fields (``presets.BUNDLES``)."""
        names = list(self.grid)
        points = []
        for combo in itertools.product(*(self.grid[n] for n in names)):
            changes, labels = {}, {}
            for name, value in zip(names, combo, strict=True):
                if name in BUNDLES:
                    changes.update(BUNDLES[name][value])
                    labels[name] = value
                else:
                    changes[name] = value
            i = self.grid[names[0]].index(combo[0]) if names else 0
            changes.update({f: v[i] for f, v in self.zipped.items()})
            points.append((changes, labels))
        return points

    def labels(self) -> list[dict]:
        """The bundle labels of each grid point (``cells()`` order): e.g. {"protocol":
        "workbench"}; empty dicts when no bundle is swept."""
        return [labels for _, labels in self._points()]

    def units(self) -> list[tuple[DMDConfig, tuple[int, ...]]]:
        """The stored cells: each grid point's seeds in groups of ``SEED_GROUP`` (one
        compiled launch each), as (config, seeds) in grid order. A cell is keyed by its
        config and its seed group, so sweeps that share a store share every group they
        have in common (a 4-seed study reuses the first group of an 8-seed one)."""
        groups = [self.seeds[i : i + SEED_GROUP] for i in range(0, len(self.seeds), SEED_GROUP)]
        return [(c, g) for c in self.cells() for g in groups]

    def unit_labels(self) -> list[dict]:
        """The bundle labels of each stored cell (``units()`` order)."""
        n_groups = -(-len(self.seeds) // SEED_GROUP)
        return [labels for labels in self.labels() for _ in range(n_groups)]

    @classmethod
    def build(cls, preset: str = "default", sets=(), grids=(), seeds=None, zips=()) -> SweepSpec:
        """From CLI-style strings: ``sets`` like "field=value", ``grids`` like
        "field=v1,v2", ``zips`` like "field=v1,v2" (tied to the first grid field). Every
        value is parsed and every cell validated here, before any compute."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        p = PRESETS[preset]
        named, swept = parse_sets(sets), parse_grid(grids)
        tied = parse_grid(zips, flag="--zip")
        for a, b in ((named, swept), (named, tied), (swept, tied)):
            both = sorted(set(a) & set(b))
            if both:
                raise ValueError(f"field(s) {both} given twice (--set/--grid/--zip); pick one")
        fixed = _expand_bundles(named, swept, tied, p.grid)
        base = _sweep_base(p.base, fixed, {**p.grid, **swept})
        if tied and not swept:
            raise ValueError(f"--zip {sorted(tied)} needs a --grid field to follow")
        # an explicit --set or --zip pins a field the preset sweeps or ties
        grid = {k: v for k, v in p.grid.items() if k not in named and k not in tied}
        if tied:  # the user's ties follow the user's first --grid field: it leads
            first = next(iter(swept))
            grid = {first: swept[first], **{k: v for k, v in grid.items() if k != first}}
        grid.update(swept)
        if not grid:  # every swept field pinned: a one-point sweep, labelled by its d
            grid = {"dim": [base.dim]}
        zipped = cls._preset_ties(p, grid, fixed, swept, tied)
        zipped.update(tied)
        seeds = tuple(normalize_seeds(p.seeds if seeds is None else seeds))
        spec = cls(base, grid, seeds, zipped)
        spec.cells()  # validates every grid point now
        return spec

    @staticmethod
    def _preset_ties(p: Preset, grid: dict, fixed: dict, swept: dict, tied: dict) -> dict:
        """The preset's own ties, which follow its lead field's values: a grid over a
        subset of them (--grid dim=2,16) keeps each value's budget; other values drop
        them. When the user's --zip makes another field lead, a preset tie the user did
        not override cannot follow both: an error naming it."""
        lead = next(iter(p.grid), None)
        keep = [k for k in p.zipped if k not in fixed and k not in swept and k not in tied]
        if tied and keep and next(iter(grid)) != lead:
            raise ValueError(
                f"--zip ties {sorted(tied)} to {next(iter(grid))}, but the preset ties "
                f"{keep} to {lead}; give them with --set or --zip too"
            )
        values = grid.get(lead, []) if next(iter(grid), None) == lead else None
        known = values is not None and all(v in p.grid[lead] for v in values)
        return {k: [p.zipped[k][p.grid[lead].index(x)] for x in values] for k in keep if known}


def outside_budget(preset: str, spec: SweepSpec) -> str | None:
    """A warning when the sweep's values of the preset's lead field fall outside its
    budget rule (the fields it ties to them, e.g. teacher_steps per d): those grid points
    take the base's values instead, which the user should know (None: nothing to say)."""
    p = PRESETS[preset]
    lead = next(iter(p.grid), None)
    if not p.zipped or lead not in spec.grid:
        return None
    outside = [v for v in spec.grid[lead] if v not in p.grid[lead]]
    untied = [k for k in p.zipped if k not in spec.zipped]
    if not outside or not untied:
        return None
    base = ", ".join(f"{k}={getattr(spec.base, k)}" for k in untied)
    return (f"{lead}={', '.join(map(str, outside))} outside the {preset} preset's budget rule "
            f"({', '.join(untied)} tied to {lead}={', '.join(map(str, p.grid[lead]))}): every "
            f"point takes the base's {base}; give --zip or --set to choose")  # fmt: skip


def parse_shard(text: str) -> tuple[int, int]:
    """ "i/N" → (i, N) with 0 <= i < N: this machine's share of a sweep's cells (cells i,
    i + N, …); errors say what is expected."""
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects i/N, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--shard i/N needs 0 <= i < N, got {text!r}")
    return i, n


def _split_assignment(item: str, flag: str, form: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"{flag} expects {form}, got {item!r}")
    name, text = item.split("=", 1)
    return name.strip(), text


def parse_sets(items) -> dict:
    """["field=value", …] → {field: typed value}; a bundle (``protocol=workbench``) stays
    named (its fields are set by :func:`_expand_bundles`); errors name the field."""
    out = {}
    for item in items:
        name, text = _split_assignment(item, "--set", "field=value")
        if name in out:
            raise ValueError(f"--set {name} given twice; give it once")
        if name in BUNDLES:  # a named bundle of fields, e.g. --set protocol=workbench
            if text.strip() not in BUNDLES[name]:
                raise ValueError(f"--set {name}: {text!r} unknown; allowed "
                                 f"{' | '.join(BUNDLES[name])}")  # fmt: skip
            out[name] = text.strip()
            continue
        out[name] = parse_field_value(name, text)
    return out


def _expand_bundles(named: dict, swept: dict, tied: dict, preset_grid: dict) -> dict:
    """The user's --set fields with each named bundle replaced by its fields. A field the
    user gives and a bundle also sets (by --set, by --grid, or by the preset's own grid)
    would be silently overridden by one of them: an error naming both (the same value
    by --set is no conflict)."""
    direct = {k: v for k, v in named.items() if k not in BUNDLES}
    mine = {**direct, **swept, **tied}
    sources = [(f"--set {k}={v}", BUNDLES[k][v]) for k, v in named.items() if k in BUNDLES]
    for name, values in {**preset_grid, **swept}.items():
        if name in BUNDLES and name not in named:
            for v in values:
                sources.append((f"{name}={v}", BUNDLES[name][v]))
    for source, fields in sources:
        for field in fields:
            same = field in direct and direct[field] == fields[field]
            if field in mine and not same:
                given = "--grid" if field in swept else "--zip" if field in tied else "--set"
                raise ValueError(
                    f"{given} {field} conflicts with {source}, which sets {field}="
                    f"{fields[field]!r}; drop one of the two"
                )
    out = dict(direct)
    for k, v in named.items():
        if k in BUNDLES:
            out.update(BUNDLES[k][v])
    return out


def _sweep_base(preset_base: DMDConfig, fixed: dict, grid: dict) -> DMDConfig:
    """The sweep's base config: the preset's with the user's --set fields. Where those are
    valid only together with a swept bundle's fields (``--grid protocol=workbench --set
    mean_radius=3``: a blobs field on a mixture base), the base takes the first bundle
    value's fields too; every cell is validated on its own afterwards either way."""
    try:
        return preset_base.replace(**fixed)
    except ValueError:
        bundles = {}
        for name, values in grid.items():
            if name in BUNDLES:
                bundles.update(BUNDLES[name][values[0]])
        if not bundles:
            raise
        return preset_base.replace(**{**bundles, **fixed})


def parse_grid(items, flag: str = "--grid") -> dict:
    """["field=v1,v2,…", …] → {field: [typed values]}; errors name the field."""
    out = {}
    for item in items:
        name, text = _split_assignment(item, flag, "field=v1,v2,...")
        if name in out:
            raise ValueError(f"{flag} {name} given twice; give it once with all its values")
        parts = text.split(",")
        if not text.strip():
            raise ValueError(f"{flag} {name}: no values given")
        if any(not v.strip() for v in parts):
            raise ValueError(f"{flag} {name}: empty value in {text!r}")
        if name in BUNDLES:
            values = [v.strip() for v in parts]
            unknown = [v for v in values if v not in BUNDLES[name]]
            if unknown:
                raise ValueError(f"{flag} {name}: {unknown} unknown; allowed "
                                 f"{' | '.join(BUNDLES[name])}")  # fmt: skip
        else:
            values = [parse_field_value(name, v) for v in parts]
        # a repeated value would run the same seeds twice and count them as more seeds
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated and flag == "--grid":
            raise ValueError(f"{flag} {name}: value(s) {', '.join(repeated)} repeated")
        out[name] = values
    return out


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# ---------------------------------------------------------------- running
def run_sweep(
    spec: SweepSpec,
    out_dir,
    *,
    shard: tuple[int, int] = (0, 1),
    log: Callable[[str], None] = print,
    progress: bool | None = None,
    plot: bool = True,
    cell_store=None,
    stop_at: float | None = None,
    until: int | None = None,
) -> pd.DataFrame | None:
    """Run every unfinished cell of ``spec`` (those of shard i of N), then merge.

    Returns the merged results table, or None when other shards' cells are still
    missing (each shard then only writes its cells; a later run merges).
    ``cell_store`` (default ``out_dir/cells``) is where cells are kept; sweeps that
    share one reuse each other's finished cells (a cell is keyed by config and seeds).
    ``stop_at``: a wall-clock deadline (``time.time()``): no cell starts after it (the
    finished ones are kept; a later run resumes). ``until`` (a maximum of generator
    steps): each cell in chunks until it is settled (:func:`settle`), the merged table
    holding the chunk each stopped at. ``progress``: a bar naming the running cell's
    phase; None (default): only when stdout and stderr are terminals (logs get one plain
    line per cell).
    After ``jax.distributed.initialize()`` every process calls this with the same
    arguments: each cell is one program over every process's devices, process 0 writes
    the store and returns the table, the others return None.
    """
    out = Path(out_dir)
    store = Path(cell_store) if cell_store is not None else out / "cells"
    _prepare((out, store), log)
    units = spec.units()
    ids = [cell_id(c, g) for c, g in units]
    mine = [k for k in range(len(units)) if k % shard[1] == shard[0]]
    todo = _unfinished(units, store, ids, mine, log)
    skipped = len(mine) - len(todo)
    if skipped:
        log(f"resuming: {skipped} of {len(mine)} cells already finished, skipping them")
    t_start = time.perf_counter()
    if until is None:
        _run_cells(spec, todo, ids, store, log, progress, stop_at)
    else:  # each cell in doubling chunks until its seed-runs are settled
        _run_until(spec, mine, store, log, stop_at, until)
    if jax.process_index() != 0:  # one program across processes: process 0 keeps the store
        return None

    if until is not None:  # merge the chunk each grid point stopped at
        units, ids, stopped = _stopped_chunks(store, units, ids, until)
    # other shards' cells are checked like this shard's: a damaged one is not merged
    missing = [k for k in range(len(units)) if check_cell(store, ids[k], *units[k])]
    if missing:
        log(f"{len(missing)} of {len(units)} cells not finished yet (other shards); not merging")
        return None
    manifest = _manifest(spec, ids, store, out, time.perf_counter() - t_start, skipped)
    manifest |= {"until_settled": {"max_steps": until, "cells": stopped}} if until else {}
    results = write_merged(out, store, ids, manifest, spec.unit_labels(), bool(todo or until))
    _remove_figures(out, log if not plot else None)
    if plot:
        _plot(spec, results, store, out)
    return results


def chunk_ladder(config: DMDConfig, until: int) -> list[DMDConfig]:
    """``config`` at steps ``config.steps`` × 1, 2, 4, … up to ``until`` (each a valid
    config: a length its record schedule does not fit is skipped)."""
    ladder, steps = [], config.steps
    while steps <= until:
        try:
            ladder.append(config.replace(steps=steps))
        except ValueError:
            pass
        steps *= 2
    return ladder or [config]


def settle(store: Path, config: DMDConfig, seeds, until: int, run=None, log=None,
           stop_at: float | None = None):  # fmt: skip
    """Walk ``config``'s chunk ladder (:func:`chunk_ladder`) in ``store``: a chunk not
    stored is trained by ``run(chunk config, cell id)`` (None: stop, unfinished); stop at
    the first chunk whose seed-runs are all converged over the last 20% of the run, or at
    the last. Returns (config, cell id, why) of that chunk, or None when unfinished."""
    from dmdlab.analysis import run_gates

    ladder = chunk_ladder(config, until)
    for i, c in enumerate(ladder):
        cid = cell_id(c, seeds)
        t0, trained = time.perf_counter(), False
        if check_cell(store, cid, c, seeds) is not None:
            if run is None or (stop_at is not None and time.time() >= stop_at):
                return None
            run(c, cid)
            trained = True
        table = pd.read_parquet(store / f"{cid}.parquet")
        gates = run_gates(table)
        k, n = int(gates.converged.sum()), len(gates)
        if trained and log is not None:
            prev = ladder[i - 1].steps if i else 0
            nxt = ladder[i + 1].steps if i + 1 < len(ladder) else None
            log(_chunk_line(table, c, seeds, k, n, time.perf_counter() - t0, prev, nxt))
        if k == n or i == len(ladder) - 1:
            why = (f"settled at {c.steps} steps: {k}/{n} seed-runs converged over the last 20%"
                   if k == n else f"stopped at the maximum {c.steps} steps: {k}/{n} seed-runs "
                   "converged over the last 20%")  # fmt: skip
            if log is not None and run is not None:
                log(f"dim={c.dim} seeds {seeds[0]}-{seeds[-1]}: {why}")
            return c, cid, why
    return None


def _chunk_line(
    table: pd.DataFrame,
    c: DMDConfig,
    seeds,
    k: int,
    n: int,
    seconds: float,
    prev: int,
    nxt: int | None,
) -> str:
    """One progress line per finished chunk: its step, copying and gap over its last 20%
    (mean over seed-runs), the converged count and the next chunk's time at this one's
    rate per step."""
    from dmdlab.analysis.window import window_rows
    from dmdlab.worlds import world_of

    win = window_rows(table[~table.diverged.astype(bool)])
    face = world_of(c.world).measures[0]
    label = {"kappa": "κ", "copying_within": "C_within"}.get(face, face)
    rate = seconds / (c.steps - prev)  # seconds per generator step of this chunk
    eta = "" if nxt is None else f"; next chunk to {nxt} steps ≈ {rate * (nxt - c.steps):.0f} s"
    return (
        f"dim={c.dim} seeds {seeds[0]}-{seeds[-1]}: step {c.steps}, {label} "
        f"{win[face].mean():.3f}, gap {win.loglik_gap.mean():.3f} over the last 20%, "
        f"{k}/{n} converged ({seconds:.0f} s){eta}"
    )


def _prepare(folders, log) -> None:
    """Create the sweep's folders; remove the half-written files a killed run left."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        left = clean_temporaries(folder)
        if left:
            log(f"removed {len(left)} half-written file(s) a killed run left in {folder}")


def _run_until(spec: SweepSpec, mine, store: Path, log, stop_at, until: int) -> None:
    """Each of this shard's cells (``mine``: indices into ``spec.units()``) in chunks,
    doubling its steps, until every seed-run is converged over the last 20% of its run
    (docs/science.md §8b) or at ``until`` steps; each chunk is a stored cell extended from
    the last one's checkpoint, and the manifest's ``until_settled`` says where and why
    each stopped."""
    units, labels = spec.units(), spec.unit_labels()
    for k in mine:
        run = functools.partial(_run_chunk, spec, units[k][1], labels[k], store, log)
        settle(store, *units[k], until, run=run, log=log, stop_at=stop_at)


def _stopped_chunks(store: Path, units, ids, until: int):
    """(units, ids, {id: why}) with each unit replaced by the chunk it stopped at (a unit
    whose ladder is unfinished keeps its own, which then reads as missing)."""
    ends = [settle(store, *u, until) for u in units]
    ids = [e[1] if e else ids[k] for k, e in enumerate(ends)]
    units = [(e[0], u[1]) if e else u for e, u in zip(ends, units, strict=True)]
    return units, ids, {e[1]: e[2] for e in ends if e}


def _run_chunk(spec: SweepSpec, seeds, labels: dict, store: Path, log, config: DMDConfig,
               cid: str) -> None:  # fmt: skip
    log(_run_cell(spec, config, seeds, labels, cid, store, None, log))


def _remove_figures(out: Path, log) -> None:
    """Remove an earlier sweep's figures, which would sit beside new results as if they
    were theirs; ``log`` (when these results draw none) says so."""
    stale = [out / n for n in FIGURES if (out / n).is_file()]
    for path in stale:
        path.unlink()
    if stale and log is not None:
        log(f"removed {len(stale)} figure(s) of an earlier sweep in {out} (--no-plot); "
            f"`dmdlab plot {out}` draws these results' figures")  # fmt: skip


def _run_cells(spec: SweepSpec, todo: list[int], ids, store: Path, log, progress, stop_at
               ) -> None:  # fmt: skip
    """Run the cells ``todo`` (indices into ``spec.units()``) in order, each reported by
    one line (or on the progress bar); none starts after ``stop_at``."""
    units, labels = spec.units(), spec.unit_labels()
    bar = _progress_bar(progress, len(todo))
    for n_done, k in enumerate(todo):
        if stop_at is not None and time.time() >= stop_at:  # a deadline: stop between cells
            log(f"deadline reached: {len(todo) - n_done} cell(s) left for a later run")
            break
        msg = _run_cell(spec, *units[k], labels[k], ids[k], store, bar, log)
        if bar is not None:
            bar.write(msg)
            bar.update(1)
        else:
            log(msg)
    if bar is not None:
        bar.close()


def _plot(spec: SweepSpec, results: pd.DataFrame, store: Path, out: Path) -> None:
    from dmdlab.plotting import plot_pairings, plot_sweep

    plot_sweep(results, out, grid=list(spec.grid))
    plot_pairings(results, store, out / "pairings.png")


# What a cell costs beyond its training's multiply-adds, measured on the 2-core CPU
# (2026-12-04, benchmarks/RESULTS.md): a compile of a small program at XLA level 0 (the
# tiny preset: 8–11 s) and of a recipe-sized one (19–22 s), and the host-side metrics per
# record and seed (two 512 × 512 exact assignments and the sample metrics: ~0.1 s), and
# per cell what does not scale with its steps (its teacher's set-up, evaluation set-up,
# writing the cell and its checkpoint: 1.0–1.7 s on the tiny preset, 2026-12-05).
PLAN_COSTS = {"compile_small": 10.0, "compile": 20.0, "per_record_seed": 0.1, "per_cell": 1.5}


def plan_sweep(spec: SweepSpec, out_dir, cell_store=None) -> pd.DataFrame:
    """What :func:`run_sweep` would do, computing nothing: per stored cell its label, seeds,
    steps (teacher steps), ``action`` ("finished", "fresh", "extend", "truncate"), the cell
    it reuses and from which step, its ``teachers`` ("train", "stored": kept in the
    teacher store, "shared": trained by an earlier cell of this plan), the estimated CPU
    seconds (``dmdlab.distill.estimate`` of the steps still to train) and the estimated
    peak memory per device and on the host."""
    from dmdlab.distill import compiler_options, estimate
    from dmdlab.resume import plan_cell

    store = Path(cell_store) if cell_store is not None else Path(out_dir) / "cells"
    rows, programs, planned = [], set(), set()
    for (config, seeds), labels in zip(spec.units(), spec.unit_labels(), strict=True):
        cid = cell_id(config, seeds)
        row = {"cell": _cell_label(spec, config, seeds, labels), "id": cid,
               "seeds": f"{seeds[0]}-{seeds[-1]}", "steps": config.steps,
               "teacher_steps": config.teacher_steps, "from": "", "seconds": 0.0}  # fmt: skip
        if store.is_dir() and check_cell(store, cid, config, seeds) is None:
            row["action"] = "finished"
        else:
            plan = (plan_cell(store, config, seeds, log=lambda _: None, dry=True)
                    if store.is_dir() else None)  # fmt: skip
            row["action"] = "fresh" if plan is None else plan.kind
            first = plan.source[0].steps if plan is not None and plan.source else 0
            if plan is not None and plan.source:
                row["from"] = f"{plan.source[1]} at {first}"
            # teachers another cell (stored, or earlier in this plan) trains are loaded
            tids = {teacher_id(config, s) for s in seeds}
            stored = all(teacher_path(store, t).exists() for t in tids)
            row["teachers"] = "stored" if stored else "shared" if tids <= planned else "train"
            planned |= tids
            need = estimate(config, len(seeds), first_step=first if row["action"] == "extend"
                            else 0, teacher=row["teachers"] == "train")  # fmt: skip
            if row["action"] != "truncate":
                # the steps, one compile per program (level 0 for small ones) and the
                # host's metrics per record (measured: PLAN_COSTS)
                program = (config.static_part(), first if row["action"] == "extend" else 0)
                small = bool(compiler_options(config))
                compile_s = 0.0 if program in programs else PLAN_COSTS["compile_small" if small
                                                                       else "compile"]  # fmt: skip
                programs.add(program)
                records = sum(s > program[1] for s in config.record_steps())
                host_s = PLAN_COSTS["per_record_seed"] * records * len(seeds)
                row["seconds"] = need["seconds"] + compile_s + host_s + PLAN_COSTS["per_cell"]
            row["device_GiB"] = need["device_bytes"] / 2**30
            row["host_GiB"] = need["host_bytes"] / 2**30
        rows.append(row)
    return pd.DataFrame(rows)


def _progress_bar(progress: bool | None, n: int):
    """A tqdm bar over ``n`` cells, or None: off when asked, when nothing runs, and by
    default when stdout or stderr is not a terminal (logs get plain lines)."""
    if progress is None:
        progress = sys.stdout.isatty() and sys.stderr.isatty()
    if not (progress and n):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="cells", unit="cell")


def _unfinished(units, store: Path, ids, mine, log) -> list[int]:
    """Indices among ``mine`` whose cell must run: missing, or damaged/mismatched (set
    aside as ``*.damaged``, not deleted, and reported)."""
    todo = []
    for k in mine:
        why = check_cell(store, ids[k], *units[k])
        if why is not None and why != "not finished":
            set_aside(store, ids[k])
            log(f"cell {ids[k]} in {store}: {why}; moved aside as *.damaged, recomputing it")
        if why is not None:
            todo.append(k)
    return todo


def _run_cell(spec: SweepSpec, config: DMDConfig, seeds, labels: dict, cid: str, store: Path,
              bar, log: Callable[[str], None] = print) -> str:  # fmt: skip
    """Train, evaluate and store one cell (``config`` × its seed group, with the bundle
    ``labels`` of its grid point as columns); returns its one-line report. A cell of the
    same lineage (``steps`` apart) is reused: a longer one's first records, or a shorter
    one's checkpoint, resumed (:func:`dmdlab.resume.plan_cell`)."""
    from dmdlab.compile_cache import release_if_crowded
    from dmdlab.resume import plan_cell, resumed_cell

    label = _cell_label(spec, config, seeds, labels)

    def phase(name: str) -> None:
        if bar is not None:
            bar.set_postfix_str(f"{label}: {name}")

    # on a terminal (a bar): each record's step, κ, gap and the cell's ETA
    progress = phase if bar is not None else None

    t0 = time.perf_counter()
    plan = plan_cell(store, config, seeds, log=lambda m: log(f"{label}: {m}"))
    teachers = None
    if plan.kind != "truncate":  # a teacher is trained once per store and loaded after
        teachers = load_teachers(store, config, seeds, log=lambda m: log(f"{label}: {m}"))
    if plan.kind == "fresh":
        result, timing = run_seeds(config, seeds, phase=phase, teachers=teachers,
                                   progress=progress)  # fmt: skip
        phase("evaluating")
        table = metrics_table(config, result, seeds)
        pairs, carry = pair_snapshot(result), (result.final_state, result.diverged_step)
        teacher_out = result.teacher
    else:
        table, pairs, carry, timing, teacher_out = resumed_cell(plan, config, seeds, phase,
                                                                teachers, progress)  # fmt: skip
    ran = len(seeds) if plan.kind != "truncate" else 0
    loaded = ran if teachers is not None else 0
    timing.update(loaded=loaded, trained=ran - loaded)
    timing["wall_s"] = time.perf_counter() - t0
    table.insert(0, "cell", cid)
    for name, value in labels.items():
        table[name] = value
    if jax.process_index() == 0:  # every process computed it; one writes it
        if teachers is None and plan.kind != "truncate":  # trained in the cell: keep them
            save_teachers(store, config, seeds, teacher_out)
        write_cell(store, cid, config, seeds, table, pairs, timing, carry)
        plan.release()
    if release_if_crowded():  # a long campaign would otherwise die at the kernel's map limit
        log(f"{label}: released the compiled programs (memory maps past half the limit)")
    return _cell_line(spec, config, seeds, table, timing, labels)


def _manifest(spec: SweepSpec, ids, store: Path, out: Path, wall_s: float, skipped: int) -> dict:
    """How, where and with what the sweep was made (``write_merged`` adds the timings)."""
    from dmdlab._version import __version__
    from dmdlab.environment import machine_line

    devices = jax.local_devices()
    return {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "base_config": spec.base.to_dict(),
        "grid": spec.grid,
        "zip": spec.zipped,
        "seeds": list(spec.seeds),
        "cells": [
            {
                "id": c,
                **{k: lab.get(k, getattr(cfg, k, None)) for k in spec.grid},
                "seeds": list(seeds),
            }
            for c, (cfg, seeds), lab in zip(ids, spec.units(), spec.unit_labels(), strict=True)
        ],
        "dmdlab_version": __version__,
        "machine": machine_line(),
        "git_commit": _git_commit(),
        "jax_version": jax.__version__,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "platform": devices[0].platform,
        "compilation_cache": jax.config.jax_compilation_cache_dir,
        "this_run_wall_s": wall_s,
        "cells_skipped_this_run": skipped,
        # relative when the store is inside the sweep directory, so a copied or moved
        # directory still finds its cells
        "cell_store": _relative_store(store, out),
    }


def _relative_store(store: Path, out: Path) -> str:
    try:
        return str(store.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(store.resolve())


def _cell_label(spec, config, seeds=None, labels=None) -> str:
    labels = labels or {}
    label = " ".join(f"{k}={labels[k] if k in labels else getattr(config, k)}" for k in spec.grid)
    if seeds is not None and len(seeds) < len(spec.seeds):  # one of several seed groups
        label += f" seeds {seeds[0]}-{seeds[-1]}"
    return label


def _cell_line(spec, config, seeds, table, timing, labels=None) -> str:
    last = final_rows(table)
    label = _cell_label(spec, config, seeds, labels)
    n_div = int(table.groupby("seed").diverged.any().sum())
    div = f" ({n_div} diverged)" if n_div else ""
    # a program from a cache still takes seconds to trace and load
    source = timing.get("compile_source", "compiled")
    build = "compile" if source == "compiled" else f"{source} load"
    if "resumed_from" in timing:  # the reused part's cell and step
        build = (f"{timing['resumed_how']} cell {timing['resumed_from']} at step "
                 f"{timing['resumed_step']}, {build}")  # fmt: skip
    if timing.get("loaded"):  # teachers another cell trained
        build = f"{timing['loaded']} teacher(s) loaded, {build}"
    # every summarised copying column and the student's own fidelity, as declared
    fidelity = summary_labels("fidelity")
    shown = [*summary_labels("copying"), *(n for n in fidelity if column(n).group == "fidelity")]
    values = " ".join(f"{column(n).label}={last[n].mean():.3f}" for n in shown if n in last)
    return f"{label}: {values}{div}  [{timing['wall_s']:.0f}s, {build} {timing['compile_s']:.0f}s]"

"""Sweeps: a grid of configs × seeds, stored cell by cell so an interrupted run resumes.

Layout of a sweep directory::

    cells/<cell id>.parquet   one finished grid point (all its seeds), written atomically
    cells/<cell id>.json      its config, seeds and timings
    results.parquet, results.csv   every finished cell, in grid order (tidy: one row per
                                   seed per recorded step)
    manifest.json             base config, grid, seeds, versions, device, wall/compile times
    *.png                     figures (dmdlab.plotting)

A cell's id hashes its full config and its seed list, so a changed config is a new
cell and is never mixed with old results.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from scipy import stats

from dmdlab.analysis import (
    dimension_verdict,
    divergence_sentence,
    fidelity_flags,
    final_rows,
    mean_ci,
    passing,
    remap_rate,
)
from dmdlab.columns import COLUMNS, summary_labels
from dmdlab.config import DMDConfig, parse_field_value
from dmdlab.distill import normalize_seeds, run_seeds
from dmdlab.evaluate import metrics_table

__all__ = [
    "PRESETS",
    "Preset",
    "SweepSpec",
    "cell_id",
    "load_pairs",
    "load_results",
    "pair_snapshot",
    "parse_grid",
    "parse_sets",
    "run_sweep",
    "summarize",
    "trend_sentence",
]


# The summary tables' columns come from the declarations in dmdlab.columns, read when a
# summary is made; κ is the primary copying metric (SCIENCE.md §5), C only beside its
# baseline.
def _summarised() -> list[str]:
    return [*summary_labels("copying"), *summary_labels("fidelity")]


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
    # for the student's gap; d = 32 stays above 1 nat/dim even at 1200 steps.
    "default": Preset(
        "d = 2, 8, 16 × 3 seeds, 128-wide nets, 600/1000/1200 generator steps and "
        "2000/6000/6000 teacher steps by d; ~7 min on 2 CPU cores.",
        DMDConfig(width=128, depth=3, steps=600, eval_every=20, teacher_steps=2000),
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
        combos = itertools.product(*(self.grid[n] for n in names))
        cells = []
        for combo in combos:
            changes = dict(zip(names, combo, strict=True))
            i = self.grid[names[0]].index(combo[0]) if names else 0
            changes.update({f: v[i] for f, v in self.zipped.items()})
            cells.append(self.base.replace(**changes))
        return cells

    @classmethod
    def build(cls, preset: str = "default", sets=(), grids=(), seeds=None, zips=()) -> SweepSpec:
        """From CLI-style strings: ``sets`` like "field=value", ``grids`` like
        "field=v1,v2", ``zips`` like "field=v1,v2" (tied to the first grid field). Every
        value is parsed and every cell validated here, before any compute."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        p = PRESETS[preset]
        fixed, swept = parse_sets(sets), parse_grid(grids)
        tied = parse_grid(zips, flag="--zip")
        for a, b in ((fixed, swept), (fixed, tied), (swept, tied)):
            both = sorted(set(a) & set(b))
            if both:
                raise ValueError(f"field(s) {both} given twice (--set/--grid/--zip); pick one")
        base = p.base.replace(**fixed)
        # an explicit --set or --zip pins a field the preset sweeps or ties
        grid = {k: v for k, v in p.grid.items() if k not in fixed and k not in tied}
        grid.update(swept)
        if not grid:  # every swept field pinned: a one-point sweep, labelled by its d
            grid = {"dim": [base.dim]}
        # the preset's ties follow its lead field's values: a grid over a subset of them
        # (--grid dim=2,16) keeps each value's budget; other values drop the ties
        lead = next(iter(p.grid), None)
        values = grid.get(lead, []) if next(iter(grid), None) == lead else None
        known = values is not None and all(v in p.grid[lead] for v in values)
        zipped = {
            k: [v[p.grid[lead].index(x)] for x in values]
            for k, v in p.zipped.items()
            if known and k not in fixed and k not in swept
        }
        zipped.update(tied)
        seeds = tuple(normalize_seeds(p.seeds if seeds is None else seeds))
        spec = cls(base, grid, seeds, zipped)
        spec.cells()  # validates every grid point now
        return spec


def _split_assignment(item: str, flag: str, form: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"{flag} expects {form}, got {item!r}")
    name, text = item.split("=", 1)
    return name.strip(), text


def parse_sets(items) -> dict:
    """["field=value", …] → {field: typed value}; errors name the field."""
    out = {}
    for item in items:
        name, text = _split_assignment(item, "--set", "field=value")
        if name in out:
            raise ValueError(f"--set {name} given twice; give it once")
        out[name] = parse_field_value(name, text)
    return out


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
        values = [parse_field_value(name, v) for v in parts]
        # a repeated value would run the same seeds twice and count them as more seeds
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated and flag == "--grid":
            raise ValueError(f"{flag} {name}: value(s) {', '.join(repeated)} repeated")
        out[name] = values
    return out


def cell_id(config: DMDConfig, seeds) -> str:
    """Content id of a cell: its full config and its seed list."""
    blob = json.dumps({"config": config.to_dict(), "seeds": list(seeds)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- store
def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one


def _write_json(path: Path, obj) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str)))


def _write_npz(path: Path, arrays: dict) -> None:
    def write(p: Path) -> None:
        with open(p, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez_compressed(f, **arrays)

    _atomic_write(path, write)


def _write_table(path: Path, table: pd.DataFrame) -> None:
    _atomic_write(path, lambda p: table.to_parquet(p, index=False))


def _check_cell(store: Path, cid: str, config: DMDConfig, seeds) -> str | None:
    """Why the stored cell ``cid`` cannot be used for ``config`` and ``seeds`` (None: it
    is finished and intact). Its json must name this config and these seeds, and its
    parquet must read and hold exactly this cell's rows for these seeds."""
    table_path, meta_path = store / f"{cid}.parquet", store / f"{cid}.json"
    if not table_path.exists():
        return "not finished"
    try:
        meta = json.loads(meta_path.read_text())
        table = pd.read_parquet(table_path)
    except Exception as err:  # any damage: truncated, garbage, missing metadata
        return f"unreadable ({type(err).__name__})"
    expected = json.loads(json.dumps(config.to_dict(), default=str))  # as the json stores it
    if meta.get("config") != expected or list(meta.get("seeds", [])) != list(seeds):
        return "its metadata names another config or seed list"
    if set(table.get("cell", [])) != {cid} or sorted(set(table.seed)) != sorted(seeds):
        return "its rows belong to another cell or seed list"
    return None


def load_results(out_dir) -> pd.DataFrame:
    """The results table of a sweep directory."""
    return pd.read_parquet(Path(out_dir) / "results.parquet")


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
) -> pd.DataFrame | None:
    """Run every unfinished cell of ``spec`` (those of shard i of N), then merge.

    Returns the merged results table, or None when other shards' cells are still
    missing (each shard then only writes its cells; a later run merges).
    ``cell_store`` (default ``out_dir/cells``) is where cells are kept; sweeps that
    share one reuse each other's finished cells (a cell is keyed by config and seeds).
    ``progress``: a bar over cells showing the running cell's phase (compiling, training,
    evaluating); None (default) shows it only when stdout and stderr are terminals, so
    logs written to a file get one plain line per cell.
    """
    from dmdlab import __version__

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = Path(cell_store) if cell_store is not None else out / "cells"
    store.mkdir(parents=True, exist_ok=True)
    i, n = shard
    cells = spec.cells()
    ids = [cell_id(c, spec.seeds) for c in cells]
    mine = [k for k in range(len(cells)) if k % n == i]
    todo = []
    for k in mine:
        why = _check_cell(store, ids[k], cells[k], spec.seeds)
        if why is not None and why != "not finished":
            # a damaged or mismatched cell is set aside (not deleted) and recomputed
            for ext in ("parquet", "json"):
                path = store / f"{ids[k]}.{ext}"
                if path.exists():
                    os.replace(path, path.with_name(path.name + ".damaged"))
            log(f"cell {ids[k]} in {store}: {why}; moved aside as *.damaged, recomputing it")
        if why is not None:
            todo.append(k)
    skipped = len(mine) - len(todo)
    if skipped:
        log(f"resuming: {skipped} of {len(mine)} cells already finished, skipping them")
    t_start = time.perf_counter()
    if progress is None:
        progress = sys.stdout.isatty() and sys.stderr.isatty()
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="cells", unit="cell")
    for k in todo:
        config = cells[k]
        label = _cell_label(spec, config)

        def phase(name: str, label=label) -> None:
            if bar is not None:
                bar.set_postfix_str(f"{label}: {name}")

        t0 = time.perf_counter()
        result, timing = run_seeds(config, spec.seeds, phase=phase)
        phase("evaluating")
        table = metrics_table(config, result, spec.seeds)
        # the pairs themselves (a few recorded steps), for the pictures; written first so
        # a finished cell (its parquet) always has them
        _write_npz(store / f"{ids[k]}.pairs.npz", pair_snapshot(result))
        timing["wall_s"] = time.perf_counter() - t0
        table.insert(0, "cell", ids[k])
        # metadata first, the table last: a cell counts as finished only once its parquet
        # exists, so a kill between the writes never leaves a table without metadata
        _write_json(
            store / f"{ids[k]}.json",
            {"config": config.to_dict(), "seeds": list(spec.seeds), "timing": timing},
        )
        _write_table(store / f"{ids[k]}.parquet", table)
        msg = _cell_line(spec, config, table, timing)
        if bar is not None:
            bar.write(msg)
            bar.update(1)
        else:
            log(msg)
    if bar is not None:
        bar.close()

    # other shards' cells are checked like this shard's: a damaged one is not merged
    missing = [k for k in range(len(cells)) if _check_cell(store, ids[k], cells[k], spec.seeds)]
    if missing:
        log(f"{len(missing)} of {len(cells)} cells not finished yet (other shards); not merging")
        return None
    results = pd.concat([pd.read_parquet(store / f"{c}.parquet") for c in ids])
    results = results.reset_index(drop=True)
    _write_table(out / "results.parquet", results)
    _atomic_write(out / "results.csv", lambda p: results.to_csv(p, index=False))
    timings = {c: json.loads((store / f"{c}.json").read_text())["timing"] for c in ids}
    devices = jax.local_devices()
    manifest = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "base_config": spec.base.to_dict(),
        "grid": spec.grid,
        "zip": spec.zipped,
        "seeds": list(spec.seeds),
        "cells": [
            {"id": c, **{k: getattr(cfg, k) for k in spec.grid}}
            for c, cfg in zip(ids, cells, strict=True)
        ],
        "dmdlab_version": __version__,
        "git_commit": _git_commit(),
        "jax_version": jax.__version__,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "platform": devices[0].platform,
        "compilation_cache": jax.config.jax_compilation_cache_dir,
        "this_run_wall_s": time.perf_counter() - t_start,
        "cells_skipped_this_run": skipped,
        "cell_store": str(store),
        "cell_timings": timings,
        "total_cell_wall_s": sum(t["wall_s"] for t in timings.values()),
        "total_compile_s": sum(t["compile_s"] for t in timings.values()),
    }
    _write_json(out / "manifest.json", manifest)
    if plot:
        from dmdlab.plotting import plot_pairings, plot_sweep

        plot_sweep(results, out, grid=list(spec.grid))
        plot_pairings(results, store, out / "pairings.png")
    return results


def pair_snapshot(out, n_steps: int = 4) -> dict[str, np.ndarray]:
    """The noise→data pairs of a cell for pictures: z (S, n, d), T(z) (S, n, d), G(z) at
    ``n_steps`` recorded steps evenly spread from the first to the last (S, n_steps, n, d)
    with their indices into the recorded steps, and the mixture's means (S, K, d)."""
    n_evals = out.student_samples.shape[1]
    idx = np.unique(np.linspace(0, n_evals - 1, n_steps).round().astype(int))
    return {
        "z": np.asarray(out.z, np.float32),
        "teacher": np.asarray(out.teacher_samples, np.float32),
        "student": np.asarray(out.student_samples[:, idx], np.float32),
        "eval_index": idx,
        "means": np.asarray(out.mixture.means, np.float32),
        "weights": np.asarray(out.mixture.weights, np.float32),
        "stds": np.asarray(out.mixture.stds, np.float32),
    }


def load_pairs(store, cell: str) -> dict[str, np.ndarray] | None:
    """The :func:`pair_snapshot` of ``cell`` in a cell store, or None if it has none."""
    path = Path(store) / f"{cell}.pairs.npz"
    if not path.exists():
        return None
    with np.load(path) as data:
        return dict(data)


def _cell_label(spec, config) -> str:
    return " ".join(f"{k}={getattr(config, k)}" for k in spec.grid)


def _cell_line(spec, config, table, timing) -> str:
    last = final_rows(table)
    label = _cell_label(spec, config)
    n_div = int(table.groupby("seed").diverged.any().sum())
    div = f" ({n_div} diverged)" if n_div else ""
    # a program from a cache still takes seconds to trace and load
    source = timing.get("compile_source", "compiled")
    build = "compile" if source == "compiled" else f"{source} load"
    # every summarised copying column and the student's own fidelity, as declared
    fidelity = summary_labels("fidelity")
    shown = [*summary_labels("copying"), *(n for n in fidelity if COLUMNS[n].group == "fidelity")]
    values = " ".join(f"{COLUMNS[n].label}={last[n].mean():.3f}" for n in shown if n in last)
    return f"{label}: {values}{div}  [{timing['wall_s']:.0f}s, {build} {timing['compile_s']:.0f}s]"


# ---------------------------------------------------------------- summary
def summarize(results: pd.DataFrame, by=("dim",), step: int | None = None) -> pd.DataFrame:
    """Mean and 95% t-interval half-width over seeds, per grid point, at ``step``
    (default: each cell's last recorded step). Diverged seeds are excluded and counted.
    ``remap_share`` is the share of (seed, mode) units remapped (kept fraction < ½)."""
    by = list(by)
    at = results if step is None else results[results.step == step]
    if step is None and len(at):
        last = at.groupby("cell").step.transform("max") if "cell" in at else at.step.max()
        at = at[at.step == last]
    if "remap_share" not in at:  # tables written before the column existed
        at = at.assign(remap_share=at.remapped_modes / at.teacher_modes)
    rows = []
    for key, group in at.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ok = group[~group.diverged]
        row = dict(zip(by, key, strict=True))
        row["seeds"] = len(ok)
        row["diverged"] = int(group.diverged.sum())
        for m in _summarised():
            if m in ok:
                v = ok[m].to_numpy(dtype=float)
                row[m] = float(np.nanmean(v)) if len(v) else float("nan")
                row[f"{m}_ci"] = mean_ci(v)[1]
        rows.append(row)
    return pd.DataFrame(rows)


def trend_sentence(results: pd.DataFrame, metric: str = "copying") -> str:
    """One sentence, computed from the data, on whether ``metric`` rises with dim
    (Spearman rank correlation of per-seed final values with dim)."""
    last = final_rows(results)
    if last.dim.nunique() < 2:
        return "Only one dimension in this run: no trend to report."
    rho, p = stats.spearmanr(last.dim, last[metric])
    means = last.groupby("dim")[metric].mean()
    lo, hi = means.index.min(), means.index.max()
    span = f"{metric} {means[lo]:.2f} at d={lo} → {means[hi]:.2f} at d={hi}"
    if p < 0.05 and rho > 0:
        verdict = "rises with dimension"
    elif p < 0.05 and rho < 0:
        verdict = "falls with dimension"
    else:
        verdict = "shows no significant trend with dimension"
    return (
        f"In this run, {metric} {verdict} (Spearman ρ = {rho:.2f}, p = {p:.2g}, "
        f"n = {len(last)} seed-runs): {span}."
    )


def format_summary(results: pd.DataFrame, by=("dim",)) -> str:
    """The end-of-sweep text: copying and fidelity tables (mean ± 95% t-interval over
    seeds, each cell's final step), the fidelity verdict per grid point, trend sentences."""
    if final_rows(results).empty:
        n = int(results.groupby(["cell", "seed"]).ngroups) if "cell" in results else len(results)
        return (
            f"Every seed-run diverged ({n} of {n}): no numbers to summarise. The rows are in "
            "results.parquet with diverged_step; lower the learning rates and rerun."
        )
    table = summarize(results, by)
    steps = sorted(final_rows(results).step.unique())
    lines = [f"Summary at generator step {', '.join(map(str, steps))} "
             "(mean ± 95% t-interval over seeds):"]  # fmt: skip
    for title, summary in (("copying", "copying"), ("fidelity and start", "fidelity")):
        metrics = {m: label for m, label in summary_labels(summary).items() if m in table}
        lines.append(f"-- {title}")
        lines.append("  ".join(f"{h:>15}" for h in [*by, "seeds", *metrics.values()]))
        for row in table.to_dict("records"):
            cells = [f"{row[b]!s:>15}" for b in by] + [f"{int(row['seeds']):>15}"]
            for m in metrics:
                ci = row[m + "_ci"]
                ci = f"{ci:<5.3f}" if ci == ci else "n/a  "
                cells.append(f"{row[m]:>7.3f} ± {ci}".rjust(15))
            lines.append("  ".join(cells))
    flagged = fidelity_flags(results, by)
    for row in flagged.to_dict("records"):
        where = ", ".join(f"{b}={row[b]}" for b in by)
        lines.append(f"FAILS FIDELITY at {where}: {row['why']} (leave its copying numbers out)")
    if flagged.empty:
        lines.append("Every grid point passes the fidelity gates.")
    lines.append(divergence_sentence(results))
    if "dim" in by:
        ok = passing(results, by)
        lines += answer_lines(ok, by)
        if final_rows(ok).dim.nunique() < 2:
            lines.append("Fewer than two dims pass the fidelity gates: no trend to report.")
        else:
            lines.append("Over the grid points that pass: " + trend_sentence(ok, "kappa"))
    return "\n".join(lines)


def answer_lines(kept: pd.DataFrame, by=("dim",)) -> list[str]:
    """The question's answer over passing grid points: per grid point the remap rate
    (share of (seed, mode) units with kept fraction < ½; 95% cluster bootstrap over seeds)
    and κ (mean, 95% t-interval over seeds), then :func:`dimension_verdict` per start."""
    by = list(by)
    if final_rows(kept).empty:
        return ["-- remap → copy with d: no grid point passes the fidelity gates; no answer."]
    last = final_rows(kept)
    rates = remap_rate(kept, by)
    lines = [
        "-- remap → copy with d, over passing grid points (remap rate: (seed, mode) units with "
        "kept fraction < ½, 95% cluster bootstrap over seeds; κ: 95% t-interval)"
    ]
    lines.append("  ".join(f"{h:>15}" for h in [*by, "units", "remap rate", "κ"]))
    for r in rates.to_dict("records"):
        sel = np.logical_and.reduce([last[b] == r[b] for b in by])
        k, k_ci, _ = mean_ci(last[sel].kappa.to_numpy(float))
        cells = [f"{r[b]!s:>15}" for b in by] + [f"{r['units']:>15}"]
        cells.append(f"{r['rate']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]".rjust(15))
        cells.append(f"{k:.3f} ± {k_ci:.3f}".rjust(15))
        lines.append("  ".join(cells))
    if set(by) - {"dim", "start"}:  # the verdict is over d alone: other factors would pool
        return lines
    starts = sorted(kept.start.unique()) if "start" in kept else [None]
    for start in starts:
        rows = kept if start is None else kept[kept.start == start]
        verdict, evidence = dimension_verdict(rows)
        label = "" if start is None or len(starts) == 1 else f" (start={start})"
        lines.append(f"Remap in low d, copy in high d{label}: {verdict.upper()}: {evidence}.")
    return lines

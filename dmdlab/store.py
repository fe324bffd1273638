"""The cell store: one file set per finished grid point, written so that no half cell is
ever visible, and verified against its id whenever it is read.

Layout of a sweep directory::

    cells/<cell id>.parquet   one finished grid point (all its seeds), written atomically
    cells/<cell id>.json      its config, seeds and timings (written before the parquet)
    cells/<cell id>.pairs.npz z, T(z) and G(z) at a few recorded steps, for pictures
    cells/<cell id>.ckpt.npz  the training state at its last step (dmdlab.checkpoint), so
                              a longer run of the same config resumes from it
    results.parquet, results.csv   every finished cell, in grid order (tidy: one row per
                                   seed per recorded step)
    manifest.json             base config, grid, seeds, versions, device, wall/compile times

A cell's id hashes its full config and its seed list, so a changed config is a new
cell and is never mixed with old results. A cell counts as finished once its parquet
exists; its json and its rows must name the same config, seeds and id. Cells that differ
only in ``steps`` share a *lineage* (:func:`lineage_id`): a longer one can resume from a
shorter one's checkpoint, a shorter one is the first records of a longer one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from dmdlab.config import DMDConfig
from dmdlab.presets import BUNDLES

__all__ = [
    "cell_id",
    "check_cell",
    "checkpoint_path",
    "lineage",
    "lineage_id",
    "load_pairs",
    "load_results",
    "pair_snapshot",
    "set_aside",
    "write_cell",
    "write_merged",
    "write_text_atomic",
]


def _non_default(config: DMDConfig) -> dict:
    """The config's fields that differ from DMDConfig's defaults."""
    defaults = DMDConfig().to_dict()
    return {k: v for k, v in config.to_dict().items() if v != defaults[k]}


def cell_id(config: DMDConfig, seeds) -> str:
    """Content id of a cell: its config's non-default fields and its seed list. A field
    added later with a default that keeps the old behaviour leaves every stored cell's id
    (and, by :func:`check_cell`'s comparison with defaults filled in, its validity) as it
    was; a changed default is caught by that comparison."""
    blob = json.dumps({"config": _non_default(config), "seeds": list(seeds)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def lineage_id(config: DMDConfig, seeds) -> str:
    """The id shared by cells that differ from ``config`` × ``seeds`` in ``steps`` only."""
    fields = {k: v for k, v in _non_default(config).items() if k != "steps"}
    blob = json.dumps({"config": fields, "seeds": list(seeds), "lineage": 1}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def checkpoint_path(store: Path, cid: str) -> Path:
    """Where cell ``cid``'s training state at its last step is kept."""
    return Path(store) / f"{cid}.ckpt.npz"


def lineage(store: Path, config: DMDConfig, seeds) -> list[tuple[DMDConfig, str]]:
    """The finished, intact cells of ``store`` that differ from ``config`` × ``seeds`` in
    ``steps`` only (``config``'s own cell excluded), as (config, id) by steps."""
    want, own = lineage_id(config, seeds), cell_id(config, seeds)
    found = []
    for meta_path in Path(store).glob("*.json"):
        cid = meta_path.stem
        if cid == own or not (store / f"{cid}.parquet").exists():
            continue
        read = _read_meta(meta_path)
        if read is None:  # a cell of fields this version no longer has, or damaged
            continue
        other, other_lineage = read
        if other_lineage == want and cell_id(other, seeds) == cid:
            if check_cell(store, cid, other, seeds) is None:
                found.append((other, cid))
    return sorted(found, key=lambda item: item[0].steps)


# A sweep plans every cell against the whole store: parse each metadata file once per
# version of it (path, mtime, size), not once per cell (which made a 5000-cell sweep
# quadratic in its store).
_META_CACHE: dict[tuple[str, int, int], tuple[DMDConfig, str] | None] = {}


def _read_meta(path: Path) -> tuple[DMDConfig, str] | None:
    """(config, lineage id) of a cell's metadata file, or None if it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _META_CACHE:
        try:
            meta = json.loads(path.read_text())
            other = DMDConfig(**{**DMDConfig().to_dict(), **meta["config"]})
            _META_CACHE[key] = (other, lineage_id(other, meta.get("seeds", [])))
        except Exception:
            _META_CACHE[key] = None
    return _META_CACHE[key]


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    # host and a random part: two hosts sharing a store never write the same temp file
    tmp = path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}-"
                         f"{secrets.token_hex(3)}")  # fmt: skip
    write(tmp)
    os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one


# The figures a sweep directory holds (dmdlab.plotting writes them): a new merge removes
# the previous ones, so that no figure of another sweep is left beside these results.
FIGURES = ("answer.png", "copying_vs_dim.png", "fidelity_vs_dim.png",
           "copying_over_training.png", "kappa_by_seed.png", "pairings.png")  # fmt: skip


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def clean_temporaries(folder: Path) -> list[Path]:
    """Remove the half-written temporaries (``.NAME.tmp-HOST-PID-RANDOM``) that a killed
    writer on this host left in ``folder``; a writer still running, or on another host
    sharing the store, is left alone. Older ``.NAME.tmp-PID`` names count as this host's.
    Returns the removed paths."""
    removed = []
    here = socket.gethostname()
    for path in Path(folder).glob(".*.tmp-*"):
        tag = path.name.rsplit(".tmp-", 1)[1].split("-")
        if len(tag) >= 3:
            host, pid = "-".join(tag[:-2]), tag[-2]
        else:
            host, pid = here, tag[0]
        if host == here and pid.isdigit() and not _pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one."""
    _atomic_write(Path(path), lambda p: p.write_text(text))


def _write_json(path: Path, obj) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str)))


def _write_npz(path: Path, arrays: dict) -> None:
    def write(p: Path) -> None:
        with open(p, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez_compressed(f, **arrays)

    _atomic_write(path, write)


def _write_table(path: Path, table: pd.DataFrame) -> None:
    _atomic_write(path, lambda p: table.to_parquet(p, index=False))


def check_cell(store: Path, cid: str, config: DMDConfig, seeds) -> str | None:
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
    # fields the stored cell predates take today's defaults (cell_id leaves them out)
    stored = {**DMDConfig().to_dict(), **meta.get("config", {})}
    if stored != expected or list(meta.get("seeds", [])) != list(seeds):
        return "its metadata names another config or seed list"
    if set(table.get("cell", [])) != {cid} or sorted(set(table.seed)) != sorted(seeds):
        return "its rows belong to another cell or seed list"
    return None


def load_results(out_dir) -> pd.DataFrame:
    """The results table of a sweep directory: results.parquet, or where only the committed
    results.csv travelled (the parquet is not committed), the CSV with its list columns
    (e.g. ``kept_by_mode``) read back as lists of floats."""
    out = Path(out_dir)
    if (out / "results.parquet").exists():
        return pd.read_parquet(out / "results.parquet")
    table = pd.read_csv(out / "results.csv")
    for name in table.columns:
        cells = table[name].dropna()
        if len(cells) and cells.map(lambda v: isinstance(v, str) and v.startswith("[")).all():
            table[name] = table[name].map(_parse_list)
    return table


def _parse_list(text) -> list[float]:
    """A list column's CSV cell: JSON ("[1.0, 0.5]") or NumPy's repr ("[1.  0.5 nan]")."""
    if not isinstance(text, str):
        return text
    return [float(x) for x in text.strip("[]").replace(",", " ").split()]


def _csv_cell(value):
    """A list or array cell written as a JSON list (NumPy's repr elides long arrays)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps([float(x) for x in value]).replace("NaN", "nan")
    return value


def set_aside(store: Path, cid: str) -> None:
    """Move a damaged or mismatched cell's files to ``*.damaged`` (kept, not deleted)."""
    for ext in ("parquet", "json"):
        path = store / f"{cid}.{ext}"
        if path.exists():
            os.replace(path, path.with_name(path.name + ".damaged"))


def write_cell(store: Path, cid: str, config: DMDConfig, seeds, table: pd.DataFrame,
               pairs: dict, timing: dict, carry=None) -> None:  # fmt: skip
    """Write one finished cell: its checkpoint (``carry``, the training state at its last
    step, when given) and pairs, then its metadata, then its table last, each atomically,
    so a kill between writes never leaves a table without metadata."""
    if carry is not None:
        from dmdlab.checkpoint import save_checkpoint

        save_checkpoint(checkpoint_path(store, cid), carry, cell=cid, seeds=seeds,
                        step=config.steps)  # fmt: skip
    # the pairs first, so a finished cell (its parquet) always has them
    _write_npz(store / f"{cid}.pairs.npz", pairs)
    from dmdlab.environment import machine_line

    # where it was computed: a store is shared across machines, a report collects them
    _write_json(store / f"{cid}.json", {"config": config.to_dict(), "seeds": list(seeds),
                                         "timing": timing, "machine": machine_line()})  # fmt: skip
    _write_table(store / f"{cid}.parquet", table)


# a manifest's fields that describe the run that wrote it (when, where, with what code),
# not the sweep: a rerun that trains nothing keeps those of the run that trained
RUN_FIELDS = ("created", "git_commit", "this_run_wall_s", "cells_skipped_this_run",
              "dmdlab_version", "machine", "jax_version", "device_kind", "device_count",
              "platform", "compilation_cache")  # fmt: skip


def write_merged(
    out: Path,
    store: Path,
    ids: list[str],
    manifest: dict,
    labels: list[dict] | None = None,
    trained: bool = True,
) -> pd.DataFrame:
    """Concatenate the cells ``ids`` (grid order) into results.parquet/.csv and write
    ``manifest`` with the cells' timings added; returns the merged table. ``labels``: per
    cell, this sweep's bundle labels (e.g. {"protocol": "dmd2"}) as columns. A run that
    ``trained`` nothing keeps a manifest that differs from ``manifest`` only in
    :data:`RUN_FIELDS`: it still names the run that made the cells (and a committed
    sweep's manifests do not change each time its report is regenerated). An
    until-settled run counts as training (it may extend a finished cell)."""
    labels = labels or [{} for _ in ids]
    names = {k for lab in labels for k in lab} | set(BUNDLES)
    frames = []
    for c, lab in zip(ids, labels, strict=True):
        # a cell is keyed by its config, so another sweep may have stored it under its own
        # labels (or none): the labels are this sweep's, set here
        table = pd.read_parquet(store / f"{c}.parquet")
        table = table.drop(columns=[n for n in names if n in table.columns])
        frames.append(table.assign(**lab))
    results = pd.concat(frames)
    results = results.reset_index(drop=True)
    _write_table(out / "results.parquet", results)
    as_csv = results.copy()
    for name in as_csv.columns:
        if pd.api.types.is_object_dtype(as_csv[name]):
            as_csv[name] = as_csv[name].map(_csv_cell)
    _atomic_write(out / "results.csv", lambda p: as_csv.to_csv(p, index=False))
    timings = {c: json.loads((store / f"{c}.json").read_text())["timing"] for c in ids}
    manifest = {
        **manifest,
        "cell_timings": timings,
        "total_cell_wall_s": sum(t["wall_s"] for t in timings.values()),
        "total_compile_s": sum(t["compile_s"] for t in timings.values()),
    }
    if trained or not _same_sweep(out / "manifest.json", manifest):
        _write_json(out / "manifest.json", manifest)
    return results


def _same_sweep(path: Path, manifest: dict) -> bool:
    """Whether the manifest at ``path`` describes the sweep ``manifest`` does (every field
    but :data:`RUN_FIELDS` equal, as JSON reads them back)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    new = json.loads(json.dumps(manifest, default=str))
    return all(old.get(k) == new.get(k) for k in (old.keys() | new.keys()) - set(RUN_FIELDS))


def pair_snapshot(out, n_steps: int = 4) -> dict[str, np.ndarray]:
    """The noise→data pairs of a cell for pictures: z (S, n', d), T(z) (S, n', d), G(z) at
    ``n_steps`` recorded steps evenly spread from the first to the last (S, n_steps, n', d)
    with their indices into the recorded steps, and the mixture's weights, means and stds.
    n' ≤ 1024 noises at d = 2 (the dense noise plane), ≤ 256 above (the segments drawn;
    64 above d = 128),
    in float16: small enough to commit with a study's cells."""
    n_evals = out.student_samples.shape[1]
    idx = np.unique(np.linspace(0, n_evals - 1, n_steps).round().astype(int))
    dim = out.z.shape[-1]
    # fewer segments above d = 128: a picture needs no more, and a GPU run's pack must fit
    rows = slice(0, 1024 if dim <= 2 else 256 if dim <= 128 else 64)
    half = lambda a: np.asarray(a, np.float16)  # noqa: E731
    return {
        "z": half(out.z[:, rows]),
        "teacher": half(out.teacher_samples[:, rows]),
        "student": half(out.student_samples[:, idx][:, :, rows]),
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
        return {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in data.items()}

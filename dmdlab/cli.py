"""The ``dmdlab`` command line: ``sweep``, ``run`` and ``plot``.

dmdlab sweep --preset default --out results/default
dmdlab sweep --preset default --grid dim=2,32 --set gan_weight=3e-3 --seeds 4
dmdlab run --set dim=32 --seeds 2 --out results/one
dmdlab plot results/default
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from dmdlab.config import DMDConfig, field_help, field_names

__all__ = ["main"]


def _presets_text() -> str:
    from dmdlab.presets import PRESETS

    lines = ["presets:"]
    lines += [f"  {name:<8} {p.description}" for name, p in PRESETS.items()]
    lines.append("")
    lines.append(
        "config fields (--set/--grid): name = DMDConfig's default (a preset sets its "
        "own: `dmdlab sweep --preset NAME --dry-run` prints them), what it is:"
    )
    defaults = DMDConfig().to_dict()
    lines += [f"  {n} = {defaults[n]!r}: {field_help(n)}" for n in field_names()]
    return "\n".join(lines)


def _parse_shard(text: str) -> tuple[int, int]:
    from dmdlab.sweep import parse_shard

    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


MAX_SEEDS = 10_000  # far more than any study needs; a bigger count is a typo, not a plan


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds expects an integer >= 1, got {text!r}") from None
    if not 1 <= value <= MAX_SEEDS:
        raise argparse.ArgumentTypeError(
            f"--seeds expects an integer in [1, {MAX_SEEDS}], got {value}"
        )
    return value


def _add_config_options(p, grid: bool) -> None:
    """--preset, --set, --seeds, --out (and --grid, --zip for a sweep) on parser p."""
    p.add_argument("--preset", default="default", help="named starting point (see the list below)")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override one config field (repeatable); parsed by the field's type",
    )
    if grid:
        p.add_argument(
            "--grid",
            dest="grids",
            action="append",
            default=[],
            metavar="FIELD=V1,V2,...",
            help="sweep a field over values (repeatable; the product is run)",
        )
        p.add_argument(
            "--zip",
            dest="zips",
            action="append",
            default=[],
            metavar="FIELD=V1,V2,...",
            help="tie a field to the first --grid field, one value per its value "
            "(a budget rule: --grid dim=2,32 --zip steps=600,1500)",
        )
    p.add_argument("--seeds", type=_positive_int, help="number of seeds (default: preset's)")
    p.add_argument("--out", type=Path, help="output directory")


def _add_cluster_options(sweep) -> None:
    """The sweep's options for many processes or jobs (docs/usage.md, "Many machines")."""
    sweep.add_argument(
        "--distributed",
        action="store_true",
        help="one program across processes: call jax.distributed.initialize() (Slurm and "
        "other clusters are detected; else give the three options below); process 0 writes",
    )
    sweep.add_argument(
        "--executor",
        choices=("local", "slurm"),
        help="run each unfinished cell as a submitit job (local processes or Slurm), then "
        "merge; a killed job's cell is resubmitted by rerunning the same command",
    )
    sweep.add_argument("--timeout-min", type=int, default=240, help="per job, with --executor")
    sweep.add_argument("--slurm-partition", help="with --executor slurm")
    sweep.add_argument("--coordinator", metavar="HOST:PORT", help="with --distributed")
    sweep.add_argument("--num-processes", type=int, help="with --distributed")
    sweep.add_argument("--process-id", type=int, help="with --distributed")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmdlab",
        description="DMD distillation on Gaussian mixtures: does the student copy the teacher?",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_presets_text(),
    )
    from dmdlab._version import __version__

    parser.add_argument("--version", action="version", version=f"dmdlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sweep = sub.add_parser(
        "sweep",
        help="run a grid of configs × seeds, resumably, then table + figures",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_presets_text(),
    )
    _add_config_options(sweep, grid=True)
    sweep.add_argument(
        "--shard",
        type=_parse_shard,
        default=(0, 1),
        metavar="i/N",
        help="run only cells i, i+N, … (for N machines sharing --out); a later run merges",
    )
    sweep.add_argument("--no-plot", action="store_true", help="skip the figures")
    sweep.add_argument("--dry-run", action="store_true",
                       help="print the cells, what each would train or reuse, and the "
                       "estimated CPU time and memory; compute nothing")  # fmt: skip
    sweep.add_argument("--until-settled", type=int, default=None, metavar="MAX_STEPS",
                       help="train each cell in chunks (its steps, then doubling) until every "
                       "seed-run is converged over the last 20%% of its run, or MAX_STEPS; "
                       "each chunk extends the last from its checkpoint")  # fmt: skip
    _add_cluster_options(sweep)

    run = sub.add_parser(
        "run",
        help="run one config (the preset's base, with --set overrides) for some seeds",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_presets_text(),
    )
    _add_config_options(run, grid=False)
    run.add_argument("--no-plot", action="store_true", help="skip the figures")

    _add_redraw_commands(sub)
    return parser


def _add_redraw_commands(sub) -> None:
    """``dmdlab plot DIR`` and ``dmdlab report DIR`` (both with ``--to``)."""
    plot = sub.add_parser("plot", help="redraw the figures of a finished sweep directory")
    report = sub.add_parser(
        "report",
        help="rewrite summary.txt and redraw the figures of a finished sweep directory "
        "(committed, copied or moved) from its results table and manifest.json",
    )
    for command in (plot, report):
        command.add_argument("out", type=Path,
                             help="sweep directory holding results.parquet or results.csv "
                             "and manifest.json")  # fmt: skip
        command.add_argument(
            "--to",
            type=Path,
            default=None,
            metavar="DIR",
            help="write into DIR instead (for a read-only sweep directory)",
        )


def main(argv=None) -> int:
    """Entry point of the ``dmdlab`` command; returns the exit status: 0 done, 2 bad input
    (one line naming what and where), 130 interrupted (finished cells are kept)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\ndmdlab: interrupted; finished cells are kept: rerun the same command to "
              "resume", file=sys.stderr)  # fmt: skip
        return 130


def _main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from dmdlab.compile_cache import enable_compilation_cache

    try:
        enable_compilation_cache()
    except OSError as err:
        return _fail(args, f"DMDLAB_CACHE_DIR cannot hold the compilation cache ({err})")
    if getattr(args, "distributed", False):
        why = _distributed(args)
        if why:
            return _fail(args, why)
    until = getattr(args, "until_settled", None)
    if until is not None and (getattr(args, "executor", None) or until < 1):
        return _fail(args, f"--until-settled={until} is invalid: allowed an integer >= 1 of "
                     "generator steps, without --executor")  # fmt: skip
    if getattr(args, "executor", None) == "slurm" and not shutil.which("sbatch"):
        return _fail(args, "--executor slurm needs Slurm (no sbatch on PATH here); use "
                     "--executor local or run on a Slurm login node")  # fmt: skip
    if args.command in ("plot", "report"):
        return _redraw(args)
    return _sweep(args)


def _fail(args, message: str) -> int:
    print(f"dmdlab {args.command}: error: {message}", file=sys.stderr)
    return 2


def _distributed(args) -> str | None:
    """Start ``jax.distributed`` for --distributed; None, or why it cannot (one line)."""
    n, i = args.num_processes, args.process_id
    if n is not None and (n < 1 or i is None or not 0 <= i < n):
        return f"--process-id must be in [0, --num-processes={n}), got {i}"
    import jax

    try:
        jax.distributed.initialize(args.coordinator, n, i)
    except (ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return (f"--distributed could not start ({first}); outside a detected cluster give "
                "--coordinator HOST:PORT --num-processes N --process-id I")  # fmt: skip
    return None


def _load_sweep(args):
    """(results, manifest) of the finished sweep directory ``args.out``, or a one-line
    reason it cannot be read."""
    import json

    from dmdlab.store import load_results

    have_table = any((args.out / n).is_file() for n in ("results.parquet", "results.csv"))
    have_manifest = (args.out / "manifest.json").is_file()
    missing = [n for n, ok in (("results.parquet or results.csv", have_table),
                               ("manifest.json", have_manifest)) if not ok]  # fmt: skip
    if missing:
        return (f"{args.out} is not a finished sweep directory (no {' or '.join(missing)}); "
                f"run `dmdlab sweep --out {args.out}` first")  # fmt: skip
    try:
        results = load_results(args.out)
        manifest = json.loads((args.out / "manifest.json").read_text())
        if not isinstance(manifest.get("grid"), dict) or "cell_store" not in manifest:
            raise ValueError("no grid or cell_store")
    except Exception as err:  # damaged files: say which, never a traceback
        return (f"{args.out} holds a damaged results table or manifest.json "
                f"({type(err).__name__}: {err}); rerun `dmdlab sweep` with the same options "
                f"and --out {args.out} to rebuild them")  # fmt: skip
    return results, manifest


def _redraw(args) -> int:
    """``dmdlab plot DIR``: redraw a finished sweep's figures; ``dmdlab report DIR``: also
    rewrite its summary.txt (from the table and manifest alone) and print it. Into
    ``--to`` when given."""
    from dmdlab.plotting import plot_pairings, plot_sweep
    from dmdlab.store import write_text_atomic
    from dmdlab.summary import sweep_summary

    loaded = _load_sweep(args)
    if isinstance(loaded, str):
        return _fail(args, loaded)
    results, manifest = loaded
    target = args.to or args.out
    why = _unwritable(target)
    if why:
        return _fail(args, why.replace("--out", "--to" if args.to else "the sweep directory")
                     + ("" if args.to else "; give --to DIR to write elsewhere"))  # fmt: skip
    written = []
    if args.command == "report":
        text = sweep_summary(results, manifest)
        write_text_atomic(target / "summary.txt", text)
        print(text, end="")
        written.append(target / "summary.txt")
    written += plot_sweep(results, target, grid=list(manifest["grid"]))
    pairings = plot_pairings(results, args.out / manifest["cell_store"], target / "pairings.png")
    written += [pairings] if pairings is not None else []
    for path in written:
        print(path)
    return 0


def _does_not_fit(spec, out: Path) -> str | None:
    """Why the sweep's largest cell cannot fit this machine's memory (None: it fits);
    prints the time estimate of the cells still to compute (the dry run's plan)."""
    from dmdlab.distill import estimate, memory_available

    device, host = memory_available()
    for cfg in spec.cells():
        need = estimate(cfg, len(spec.seeds))
        for what, have in (("device_bytes", device), ("host_bytes", host)):
            if need[what] > 0.8 * have:
                where = "per device" if what == "device_bytes" else "on the host"
                return (f"a cell (dim={cfg.dim}, width={cfg.width}, eval_n={cfg.eval_n}, "
                        f"{len(spec.seeds)} seeds) needs ~{need[what] / 2**30:.1f} GiB {where}, "
                        f"this machine has {have / 2**30:.1f} GiB; lower dim, width, eval_n "
                        "or the seeds, or run it on a bigger machine")  # fmt: skip
    from dmdlab.sweep import plan_sweep

    total = float(plan_sweep(spec, out)["seconds"].sum())
    if total > 600:  # worth saying before a long wait
        print(f"estimated compute: ~{total / 60:.0f} min at the 2-core CPU's measured rate "
              "(a GPU is faster)")  # fmt: skip
    return None


def _dry_run(spec, out: Path) -> int:
    """``dmdlab sweep --dry-run``: the plan of every cell, then the totals; exit 0."""
    import pandas as pd

    from dmdlab.sweep import plan_sweep

    plan = plan_sweep(spec, out)
    base = spec.base.to_dict()
    defaults = DMDConfig().to_dict()
    changed = [f"{k}={v!r}" for k, v in base.items() if v != defaults[k]]
    print("base config (fields other than DMDConfig's defaults): " + (", ".join(changed) or "none"))
    print(
        f"grid: {spec.grid}; tied to {next(iter(spec.grid))}: {spec.zipped or 'none'}; "
        f"seeds: {list(spec.seeds)}"
    )
    cols = ["cell", "seeds", "steps", "teacher_steps", "action", "from", "teachers", "seconds"]
    shown = plan[cols].assign(seconds=plan.seconds.round(0).astype(int))
    print(shown.to_string(index=False))
    todo = plan[plan.action != "finished"]
    peak = todo.get("device_GiB", pd.Series([0.0])).max()
    print(f"\n{len(todo)} of {len(plan)} cell(s) to compute, ~{todo.seconds.sum() / 60:.1f} "
          f"CPU-min at the 2-core CPU's measured rate (a GPU is faster); peak ~{peak:.2f} GiB "
          f"per device; into {out}")  # fmt: skip
    return 0


def _another_sweep(out: Path, spec) -> str | None:
    """Why the default ``--out`` must not be used (None: it may): it holds another sweep's
    results (its manifest names another base config, grid or seeds), which this one would
    silently replace. The same sweep there resumes."""
    import json

    path = out / "manifest.json"
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
        ours = json.loads(json.dumps({"base_config": spec.base.to_dict(), "grid": spec.grid,
                                      "seeds": list(spec.seeds)}, default=str))  # fmt: skip
        same = all(old.get(k) == v for k, v in ours.items())
    except (OSError, ValueError):
        same = False
    if same:
        return None
    return (f"{out} holds another sweep's results (its manifest.json names another config, "
            "grid or seeds); give --out DIR for this one")  # fmt: skip


def _unwritable(out: Path) -> str | None:
    """Why ``--out`` cannot take a sweep (None: it can): a file, or not writable. Checked
    before any compute, so an unwritable folder fails in one line, not after a cell."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a directory"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot write to --out {out} ({err.strerror})"
    # every folder a sweep writes into: a read-only cells/ inside a writable --out would
    # otherwise fail only after its first cell had trained
    for folder in (out, out / "cells"):
        if not folder.exists():
            continue
        try:
            probe = folder / f".dmdlab-write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as err:
            where = "--out" if folder == out else "the cell store"
            return f"cannot write to {where} {folder} ({err.strerror})"
    return None


def _warn_outside_budget(args, spec) -> None:
    """A named warning for dims outside the preset's budget rule (stderr)."""
    from dmdlab.sweep import outside_budget

    note = outside_budget(args.preset, spec) if args.command == "sweep" else None
    if note:
        print(f"dmdlab sweep: warning: {note}", file=sys.stderr)


def _sweep(args) -> int:
    """``dmdlab sweep`` and ``dmdlab run``: validate, run resumably, summarise."""
    from dmdlab.summary import sweep_summary
    from dmdlab.sweep import SweepSpec, run_sweep

    try:
        grids = args.grids if args.command == "sweep" else []
        zips = args.zips if args.command == "sweep" else []
        spec = SweepSpec.build(args.preset, args.sets, grids, args.seeds, zips)
        if args.command == "run":
            spec = SweepSpec(spec.base, {"dim": [spec.base.dim]}, spec.seeds)
    except ValueError as err:
        print(f"dmdlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path("results") / (args.preset if args.command == "sweep" else "run")
    why = _unwritable(out) or (None if args.out else _another_sweep(out, spec))
    if why:
        print(f"dmdlab {args.command}: error: {why}", file=sys.stderr)
        return 2
    n_cells = len(spec.cells())
    # the warning after every refusal: a refused run says one line, its error
    if getattr(args, "dry_run", False):
        _warn_outside_budget(args, spec)
        return _dry_run(spec, out)
    why = _does_not_fit(spec, out)
    if why:
        print(f"dmdlab {args.command}: error: {why}", file=sys.stderr)
        return 2
    _warn_outside_budget(args, spec)
    print(f"{n_cells} cell(s) × {len(spec.seeds)} seed(s) → {out}")
    t0 = time.perf_counter()
    shard = args.shard if args.command == "sweep" else (0, 1)
    no_plot = getattr(args, "no_plot", False)
    if getattr(args, "executor", None):
        from dmdlab.executor import run_sweep_jobs

        results = run_sweep_jobs(spec, out, executor=args.executor, plot=not no_plot,
                                 timeout_min=args.timeout_min,
                                 slurm_partition=args.slurm_partition)  # fmt: skip
        if results is None:
            return 1
    else:
        until = getattr(args, "until_settled", None)
        results = run_sweep(spec, out, shard=shard, plot=not no_plot, until=until)
    if results is None:
        return 0
    import json

    from dmdlab.store import write_text_atomic

    # from the table and the manifest alone, so that `dmdlab report` rewrites it byte for
    # byte; atomically: a kill mid-write must not leave an empty summary beside results
    summary = sweep_summary(results, json.loads((out / "manifest.json").read_text()))
    write_text_atomic(out / "summary.txt", summary)  # the README quotes it
    wall = f"wall time {time.perf_counter() - t0:.0f} s (this invocation)"
    print()
    print(summary, end="")
    figures = "" if no_plot else " and figures"
    print(f"\n{wall}; results, summary.txt, manifest{figures} in {out}")
    return 0

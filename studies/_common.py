"""Plumbing shared by the study scripts: modes, running variants through the sweep
store, and writing a report whose header says how and where it was produced.

Training, metrics and statistics all come from dmdlab (``run_sweep``,
``dmdlab.analysis``); this file only arranges them.

Modes: ``full`` (the default; GPU-sized), ``--quick`` (a few CPU minutes per study) and
``--smoke`` (the tiny preset, seconds of compute, for the test suite).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import pandas as pd

from dmdlab.analysis import (
    VERDICTS,
    compare_levels,
    divergence_sentence,
    effect_sentence,
    run_gates,
    runs_passing,
)
from dmdlab.compile_cache import enable_compilation_cache
from dmdlab.config import DMDConfig
from dmdlab.presets import STUDY_BASES, STUDY_SEEDS
from dmdlab.setup import seed_mixture
from dmdlab.store import load_pairs
from dmdlab.sweep import SweepSpec, parse_shard, run_sweep

HERE = Path(__file__).resolve().parent

# every study's base and seed count per mode: dmdlab/presets.py, beside the CLI's presets
BASES, SEEDS = STUDY_BASES, STUDY_SEEDS


def parse_args(doc: str, argv=None) -> argparse.Namespace:
    """--quick / --smoke / --out; ``args.mode`` is "full", "quick" or "smoke"."""
    parser = argparse.ArgumentParser(
        description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="CPU-sized: a few minutes")
    mode.add_argument("--smoke", action="store_true", help="tiny configs, for tests")
    parser.add_argument("--out", type=Path, help="output directory")
    parser.add_argument(
        "--shard", metavar="i/N", default="0/1",
        help="train only cells i, i+N, … of each part (N machines sharing the committed "
        "cell store); a run without --shard then reports",
    )  # fmt: skip
    parser.add_argument(
        "--stop-after", type=float, default=None, metavar="S",
        help="seconds: no cell starts after S (finished cells are kept); a device "
        "campaign's budget (benchmarks/device_run.sh)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        args.shard = parse_shard(args.shard)
    except ValueError as err:
        parser.error(str(err))
    args.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    return args


class Study:
    """One study run: a directory holding one sweep store per part, and the report.

    ``out`` defaults to studies/out/<name>-<mode> (full mode: studies/out/<name>).
    Finished cells live in <out>/../cells-<mode>, shared by every study of that mode,
    so a configuration two studies both need (the base at each d) is trained once.
    """

    def __init__(self, name: str, args: argparse.Namespace):
        self.name, self.mode = name, args.mode
        suffix = "" if self.mode == "full" else f"-{self.mode}"
        self.out = Path(args.out) if args.out else HERE / "out" / f"{name}{suffix}"
        self.out.mkdir(parents=True, exist_ok=True)
        self.store = self.out.parent / f"cells-{self.mode}"
        flag = {"full": "", "quick": " --quick", "smoke": " --smoke"}[self.mode]
        self.command = f"python studies/{name}.py{flag}"
        self.base = BASES[self.mode]
        self.seeds = tuple(range(SEEDS[self.mode]))
        self.shard = args.shard
        # a deadline (time.time()): no cell starts after it
        self.stop_at = None if args.stop_after is None else time.time() + args.stop_after
        self.parts: list[str] = []
        # cells a report reads from the store outside a finished part (an unfinished study
        # reporting what it has): counted in the header's machines and compute
        self.loose_cells: list[str] = []
        self.machine = _machine()
        self._fidelity: list[str] = []
        self._n_points = 0
        self._t0 = time.perf_counter()
        enable_compilation_cache()

    def sweep(
        self,
        part: str,
        grid: dict,
        base: DMDConfig | None = None,
        zipped: dict | None = None,
        seeds: tuple[int, ...] | None = None,
    ) -> pd.DataFrame:
        """Run (or resume) the product ``grid`` over ``base`` into <out>/<part>; ``zipped``
        ties fields to the first grid field (:class:`dmdlab.sweep.SweepSpec`)."""
        spec = SweepSpec(base or self.base, grid, seeds or self.seeds, zipped or {})
        self._n_points += len(spec.cells())  # validates every cell before any compute
        self.parts.append(part)
        results = run_sweep(spec, self.out / part, plot=False, progress=False,
                            cell_store=self.store, shard=self.shard,
                            stop_at=self.stop_at)  # fmt: skip
        if results is None and self.stop_at is not None and time.time() >= self.stop_at:
            raise SystemExit(f"{self.name}: deadline reached in part {part!r}; its finished "
                             "cells are kept, rerun to resume")  # fmt: skip
        if results is None:  # this shard's cells are done; others are still missing
            raise SystemExit(f"{self.name}: this shard's cells of part {part!r} are finished; "
                             "rerun without --shard once every shard is, to report")  # fmt: skip
        for key, g in run_gates(results, by=list(grid)).groupby(list(grid), sort=True):
            if g.converged.all():
                continue
            key = key if isinstance(key, tuple) else (key,)
            where = ", ".join(f"{k}={v}" for k, v in zip(grid, key, strict=True))
            first = g[~g.converged.astype(bool)].iloc[0]
            self._fidelity.append(f"- `{part}` {where}: {int(g.passes.sum())}/{len(g)} seed-runs "
                                  f"pass, {int(g.converged.sum())}/{len(g)} converged (seed "
                                  f"{first.seed}: {first.why})")  # fmt: skip
        return results.assign(part=part)

    def stored(self, spec: SweepSpec) -> tuple[pd.DataFrame | None, list]:
        """What of ``spec`` the cell store already holds, nothing trained: the finished
        cells' records (each row with its ``cell`` id; None when none is finished) and the
        (config, seeds) units still to run, in the spec's order."""
        from dmdlab.store import cell_id, check_cell

        tables, pending = [], []
        for config, group in spec.units():
            cid = cell_id(config, group)
            if check_cell(self.store, cid, config, group) is None:
                tables.append(pd.read_parquet(self.store / f"{cid}.parquet").assign(cell=cid))
            else:
                pending.append((config, group))
        return (pd.concat(tables, ignore_index=True) if tables else None), pending

    def last_pairs(self, cell: str, n_true: int = 4096):
        """Per seed-run of a stored cell, at its last record (its stored pairs; nothing
        when the cell kept none): (config, seed, its world, ``n_true`` true samples of it,
        G(z), T(z)), the rows of G(z) and T(z) on the same noises."""
        pairs = load_pairs(self.store, cell)
        if pairs is None:
            return
        meta = json.loads((self.store / f"{cell}.json").read_text())
        config = DMDConfig(**meta["config"])
        for i, seed in enumerate(meta["seeds"]):
            mix = seed_mixture(config, seed)
            data = mix.sample(jax.random.key(seed), n_true)
            yield config, seed, mix, data, pairs["student"][i, -1], pairs["teacher"][i]

    def variants(self, variants: dict[str, dict], grid: dict, column: str) -> pd.DataFrame:
        """Each named variant (field overrides of the base) swept over ``grid``; one
        table with the variant's name in ``column``. Validates all before running."""
        bases = {name: self.base.replace(**changes) for name, changes in variants.items()}
        for base in bases.values():
            SweepSpec(base, grid, self.seeds).cells()
        tables = [
            self.sweep(f"{column}-{name}", grid, base).assign(**{column: name})
            for name, base in bases.items()
        ]
        return pd.concat(tables, ignore_index=True)

    def _cell_machines(self, manifests) -> str:
        """The machines the parts' cells (and :attr:`loose_cells`) were computed on (their
        metadata), counted."""
        found: dict[str, int] = {}
        ids = [c["id"] for m in manifests for c in json.loads(m.read_text())["cells"]]
        for cid in [*ids, *self.loose_cells]:
            meta = self.store / f"{cid}.json"
            name = json.loads(meta.read_text()).get("machine") if meta.exists() else None
            key = name or "not recorded (cells from before machine provenance)"
            found[key] = found.get(key, 0) + 1
        return "; ".join(f"{k} ({v} cell{'s' if v > 1 else ''})" for k, v in found.items())

    def figure(self, name: str) -> str:
        return str(self.out / name)

    def write_report(
        self,
        title: str,
        body: list[str],
        figures: list[str],
        headline: str = "",
        verdict: tuple[str, str] | None = None,
        fidelity: list[str] | None = None,
        points: tuple[int, int] | None = None,
    ) -> str:
        """report.md (header: command, machine, wall times) and study.json.

        ``headline``: the one computed sentence REPORT.md shows for this study.
        ``verdict``: (one of VERDICTS, the evidence in one sentence), computed by the study
        from the seed-runs that pass the gates; REPORT.md's verdict table shows it.
        ``fidelity``: the fidelity section's lines, for a study that gates its own way
        (default: the per-seed-run window check of every sweep part); ``points``: then
        its (grid points failing them, grid points)."""
        if verdict is not None and verdict[0] not in VERDICTS:
            raise ValueError(f"verdict {verdict[0]!r} is not one of {VERDICTS}")
        wall = time.perf_counter() - self._t0
        manifests = [self.out / part / "manifest.json" for part in self.parts]
        cell_wall = sum(json.loads(m.read_text())["total_cell_wall_s"] for m in manifests)
        cell_wall += sum(json.loads((self.store / f"{c}.json").read_text()).get(
            "timing", {}).get("wall_s", 0.0) for c in self.loose_cells)  # fmt: skip
        machine = self.machine
        lines = [
            f"# {title}",
            "",
            f"Regenerate: `{self.command}` (mode: {self.mode}, seeds per cell: "
            f"{len(self.seeds)}).  ",
            f"Machine: {machine} (this invocation).  ",
            f"Cells computed on: {self._cell_machines(manifests)}.  ",
            f"Compute: {cell_wall:.0f} s summed over cells (this invocation {wall:.0f} s; "
            "finished cells are reused on a rerun). Per-part sweep stores and manifests: "
            f"{', '.join(f'`{p}/`' for p in self.parts)}.",
            "",
            *([f"**In short:** {headline}", ""] if headline else []),
            *body,
            "",
            "## Fidelity check",
            "",
            *(
                fidelity
                or [
                    FIDELITY_PARAGRAPH,
                    "",
                    *(self._fidelity or ["None: every grid point passes both checks."]),
                ]
            ),
            "",
            *[f"![{Path(f).stem}]({Path(f).name})" for f in figures],
        ]
        text = "\n".join(lines) + "\n"
        (self.out / "report.md").write_text(text)
        meta = {
            "study": self.name,
            "mode": self.mode,
            "command": self.command,
            "machine": machine,
            "cell_wall_s": cell_wall,
            "this_run_wall_s": wall,
            "parts": self.parts,
            "headline": headline,
            "verdict": verdict[0] if verdict else "",
            "evidence": verdict[1] if verdict else "",
            "low_fidelity_points": points[0] if points else len(self._fidelity),
            # the recipe the cells were trained with: studies from before the convergence
            # recipe lack it, and the collected report marks them stale
            "recipe": "converged-v1",
            "grid_points": points[1] if points else self._n_points,
            "argv": sys.argv,
        }
        (self.out / "study.json").write_text(json.dumps(meta, indent=2))
        return text


FIDELITY_PARAGRAPH = (
    "Grid points with a seed-run that is not converged (docs/science.md §8b), each seed-run "
    "judged at every record of its window (the last 20% of its steps). It *passes* where the "
    "student covers every mode at ≥ half its weight, its log-likelihood gap is ≤ 1 nat/dim "
    "and a network teacher is trusted (its ODE map agrees with the exact map's mode for ≥ 90% "
    "of noises, its excess error in a σ band 0.5–5 is ≤ 0.25 of the optimum and, when the "
    "student starts from it, its σ_max error is below the pairing signal); it is *converged* "
    "where, besides, its gap is within max(3×, +0.05 nats/dim) of its teacher's, its sliced "
    "W2 within 2× the teacher's and its mode histogram's total variation within the "
    "teacher's plus two binomial allowances. Comparisons keep the seed-runs that pass, and "
    "list the ones they leave out; no seed mean decides."
)


def kept_runs(results: pd.DataFrame, by: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The records of the seed-runs that pass the loose gates at every record of their
    window (:func:`dmdlab.analysis.runs_passing`), and report lines listing each seed-run
    left out with its most frequent reason (none when nothing is left out)."""
    gates = run_gates(results, by)
    kept = runs_passing(results, by, converged=False, gates=gates)
    out = gates[~gates.passes.astype(bool)]
    if out.empty:
        return kept, []
    listed = fmt_table(out[[*by, "seed", "why"]].reset_index(drop=True))
    return kept, [f"{len(out)} of {len(gates)} seed-runs fail the fidelity gates at some "
                  "record of their window and are left out of what follows:", "", listed,
                  ""]  # fmt: skip


def _machine() -> str:
    """The host, its CPU, jax and its devices, and dmdlab's version, in one line."""
    from dmdlab.environment import machine_line

    return machine_line()


def fmt_table(table: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """A small DataFrame as a markdown table."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        cells = [floats.format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_headline(table: pd.DataFrame, factor: str, metric: str, label: str) -> str:
    """One sentence over every non-baseline row of a ``compare_levels`` table: how many
    differences are detectable after Holm's correction over the table's comparisons
    (adjusted p < 0.05), and which; how many 95% intervals exclude 0 before correction."""
    if table.empty:
        return f"{label}: no grid point passes the fidelity gates; nothing to compare."
    rows = table[table["diff"].notna()]
    if rows.empty:
        return f"{label}: too few seeds to compare."
    lo, hi = rows["diff"] - rows["diff_ci"], rows["diff"] + rows["diff_ci"]
    raw = rows[(lo > 0) | (hi < 0)]
    hits = rows[rows["p_holm"] < 0.05]
    n = len(rows)
    uncorrected = (
        f"{len(raw)} of {n} per-comparison 95% intervals exclude 0 before correction"
        if len(raw) != len(hits)
        else ""
    )
    if hits.empty:
        big = rows.loc[rows["diff"].abs().idxmax()]
        return (
            f"{label}: no detectable difference in {metric} in any of {n} comparisons after "
            f"Holm's correction (largest: {big['diff']:+.2f} ± {big['diff_ci']:.2f} at "
            f"d = {big.dim}, {factor} = {big[factor]}, Holm p = {big['p_holm']:.2f})"
            + (f"; {uncorrected}." if uncorrected else ".")
        )
    listed = "; ".join(
        f"{r[factor]} at d = {r.dim}: {r['diff']:+.2f} ± {r['diff_ci']:.2f} "
        f"(Holm p = {r['p_holm']:.3f})"
        for _, r in hits.iterrows()
    )
    return (
        f"{label}: {metric} differs detectably in {len(hits)} of {n} comparisons after "
        f"Holm's correction ({listed})" + (f"; {uncorrected}." if uncorrected else ".")
    )


def comparison_sections(
    results: pd.DataFrame, factor: str, baseline: str, label, base_label: str, heading: str
) -> tuple[list[str], str]:
    """Report lines comparing every level of ``factor`` with ``baseline`` on κ (the
    primary copying metric) and within-mode copying (table + one computed sentence per
    comparison), and the headline on κ. Seed-runs that fail the fidelity gates over their
    window are left out, and listed. ``label(level)`` names a level in the sentences."""
    kept, body = kept_runs(results, ["dim", factor])
    headline = ""
    for metric in ("kappa", "within_mode"):
        table = compare_levels(kept, factor, baseline, metric)
        if metric == "kappa":
            headline = comparison_headline(table, factor, "κ", heading)
        body += [f"## {metric}: {heading} (final step; mean ± 95% CI over seeds)", ""]
        body += [fmt_table(table.round(4)), ""]
        for _, row in table[table[factor] != baseline].iterrows():
            base = table[(table.dim == row.dim) & (table[factor] == baseline)]
            if base.empty:  # the baseline failed the gates at this d: nothing to compare to
                body.append(f"- {metric} at dim={row.dim}: {base_label} fails the fidelity "
                            f"gates here, so {label(row[factor])} is not compared.")  # fmt: skip
                continue
            sentence = effect_sentence(row, base.iloc[0], metric, label(row[factor]), base_label)
            body.append("- " + sentence)
        body.append("")
    body.append(divergence_sentence(results))
    return body, headline

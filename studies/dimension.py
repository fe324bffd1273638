"""Study 1 — copying against dimension, with the transition dimension d*.

    python studies/dimension.py --quick      # CPU, a few minutes
    python studies/dimension.py              # the `full` preset (GPU-sized)

Reuses the sweep machinery (same store, resume, manifest). Writes into
studies/out/dimension[-quick]/: the sweep store, figures, and `report.md`, whose sentences
are computed from the numbers. d* is where the final copying score crosses halfway
between its lowest-d and highest-d means (linear interpolation in log d), with a 95%
interval from a bootstrap over seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dmdlab.sweep import SweepSpec, format_summary, run_sweep, summarize

HERE = Path(__file__).resolve().parent


def transition_dimension(results: pd.DataFrame, metric: str = "copying") -> float:
    """d* (float, NaN if C never crosses its midpoint) from per-dim mean final values."""
    last = results[(results.step == results.step.max()) & ~results.diverged]
    means = last.groupby("dim")[metric].mean().sort_index()
    dims, values = means.index.to_numpy(float), means.to_numpy(float)
    if len(dims) < 2:
        return float("nan")
    half = 0.5 * (values[0] + values[-1])
    for i in range(len(dims) - 1):
        a, b = values[i] - half, values[i + 1] - half
        if a == 0:
            return float(dims[i])
        if a * b < 0:
            t = a / (a - b)
            return float(np.exp(np.log(dims[i]) + t * (np.log(dims[i + 1]) - np.log(dims[i]))))
    return float("nan")


def bootstrap_transition(results: pd.DataFrame, n_boot: int = 1000, seed: int = 0):
    """95% bootstrap interval of d*, resampling seeds within each dim."""
    rng = np.random.default_rng(seed)
    last = results[(results.step == results.step.max()) & ~results.diverged]
    groups = {d: g for d, g in last.groupby("dim")}
    draws = []
    for _ in range(n_boot):
        sample = pd.concat([g.iloc[rng.integers(0, len(g), len(g))] for g in groups.values()])
        draws.append(transition_dimension(sample))
    draws = np.asarray(draws)
    ok = draws[np.isfinite(draws)]
    if len(ok) < 0.5 * n_boot:
        return float("nan"), float("nan"), len(ok) / n_boot
    return float(np.percentile(ok, 2.5)), float(np.percentile(ok, 97.5)), len(ok) / n_boot


def report(results: pd.DataFrame, out: Path, command: str, wall_s: float) -> str:
    table = summarize(results)
    d_star = transition_dimension(results)
    lo, hi, frac = bootstrap_transition(results)
    first, last = table.iloc[0], table.iloc[-1]
    lines = [
        "# Copying against dimension",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()} {platform.processor()}, wall time {wall_s:.0f} s "
        f"(see manifest.json for device and versions).",
        "",
        "```",
        format_summary(results),
        "```",
        "",
        f"C is {first.copying:.2f} ± {first.copying_ci:.2f} at d = {int(first.dim)} and "
        f"{last.copying:.2f} ± {last.copying_ci:.2f} at d = {int(last.dim)} "
        f"(mean ± 95% CI over {int(last.seeds)} seeds, final step).",
    ]
    if np.isfinite(d_star):
        interval = (
            f"95% bootstrap interval [{lo:.3g}, {hi:.3g}]"
            if np.isfinite(lo)
            else f"no stable interval (only {frac:.0%} of bootstrap draws cross)"
        )
        lines.append(f"The halfway crossing d* is {d_star:.3g} ({interval}).")
    else:
        lines.append("C never crosses halfway between its end levels: no d* in this range.")
    lines += ["", "![copying](copying_vs_dim.png)", "![fidelity](fidelity_vs_dim.png)",
              "![over training](copying_over_training.png)"]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CPU-sized default preset")
    parser.add_argument("--preset", help="override the preset (e.g. tiny for a smoke run)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    preset = args.preset or ("default" if args.quick else "full")
    out = args.out or HERE / "out" / ("dimension-quick" if args.quick else "dimension")
    spec = SweepSpec.build(preset)
    t0 = time.perf_counter()
    results = run_sweep(spec, out)
    wall = time.perf_counter() - t0
    command = "python studies/dimension.py" + (" --quick" if args.quick else "")
    command += f" --preset {args.preset}" if args.preset else ""
    print(report(results, out, command, wall))
    (out / "study.json").write_text(json.dumps({"study": "dimension", "command": command}))


if __name__ == "__main__":
    main()

"""Figures of a results table (seaborn). Shared by the CLI, the studies and the notebooks."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from dmdlab.analysis import final_rows

__all__ = [
    "plot_copying_over_training",
    "plot_copying_vs_dim",
    "plot_fidelity_vs_dim",
    "plot_heatmap",
    "plot_metric_by_level",
    "plot_sweep",
    "save_figure",
]


def _student_and_teacher(last: pd.DataFrame, column: str, hue, ax):
    """``column`` and ``teacher_<column>`` against dim as two line styles."""
    long = last.melt(
        id_vars=["dim", "seed", *([hue] if hue else [])],
        value_vars=[column, f"teacher_{column}"],
        var_name="who",
    ).replace({column: "student", f"teacher_{column}": "teacher"})
    sns.lineplot(
        long, x="dim", y="value", hue=hue, style="who", marker="o", errorbar=("ci", 95), ax=ax
    )
    ax.set(xscale="log", xlabel="ambient dimension d")


def _hue(grid) -> str | None:
    others = [g for g in (grid or []) if g != "dim"]
    return others[0] if others else None


def _title(results: pd.DataFrame, what: str) -> str:
    r = results.iloc[0]
    return (
        f"{what}\nK={r.n_modes} modes, std={r.mode_std}, teacher={r.teacher}, init={r.init}, "
        f"{int(results.step.max())} generator steps, {results.seed.nunique()} seeds"
    )


def plot_copying_vs_dim(results: pd.DataFrame, ax=None, grid=None):
    """C and κ (left) and ΔE of student and teacher (right) against dim, 95% CI bands."""
    last = final_rows(results)
    hue = _hue(grid)
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    long = last.melt(
        id_vars=["dim", "seed", *([hue] if hue else [])],
        value_vars=["copying", "kappa"],
        var_name="metric",
    )
    sns.lineplot(
        long, x="dim", y="value", hue=hue, style="metric", marker="o", errorbar=("ci", 95), ax=ax[0]
    )
    ax[0].set(xscale="log", xlabel="ambient dimension d", ylabel="score (1 = copies the teacher)")
    ax[0].axhline(0, color="grey", lw=0.8)
    ax[0].set_title("copying score C and mode agreement κ")
    _student_and_teacher(last, "pairing_inefficiency", hue, ax[1])
    ax[1].set(ylabel="ΔE (0 = OT, 1 = random)")
    ax[1].set_title("pairing inefficiency ΔE")
    return ax


def plot_fidelity_vs_dim(results: pd.DataFrame, ax=None, grid=None):
    """Fidelity against dim: worst-mode coverage, log-likelihood gap (student and teacher)."""
    last = final_rows(results)
    hue = _hue(grid)
    if ax is None:
        _, ax = plt.subplots(1, 3, figsize=(14, 4.2))
    _student_and_teacher(last, "coverage_min", hue, ax[0])
    ax[0].set(ylabel="min_k share_k / π_k")
    ax[0].axhline(1, color="grey", lw=0.8)
    ax[0].set_title("worst-covered mode (1 = exact share, 0 = dropped)")
    _student_and_teacher(last, "loglik_gap", hue, ax[1])
    ax[1].set(ylabel="nats per dimension")
    ax[1].axhline(0, color="grey", lw=0.8)
    ax[1].set_title("log-likelihood gap to true samples")
    sns.lineplot(last, x="dim", y="sliced_w2", hue=hue, marker="o", ax=ax[2])
    ax[2].set(xscale="log", xlabel="ambient dimension d", ylabel="data standard deviations")
    ax[2].set_title("sliced W2 to true samples")
    return ax


def plot_copying_over_training(results: pd.DataFrame, ax=None, grid=None):
    """C against generator step, one line per dim (95% CI bands over seeds)."""
    ok = results[~results.diverged]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.lineplot(
        ok,
        x="step",
        y="copying",
        hue="dim",
        style=_hue(grid),
        palette="viridis",
        errorbar=("ci", 95),
        ax=ax,
    )
    ax.set(xlabel="generator step", ylabel="copying score C")
    ax.axhline(0, color="grey", lw=0.8)
    return ax


def plot_sweep(results: pd.DataFrame, out_dir, grid=None) -> list[Path]:
    """Write copying_vs_dim.png, fidelity_vs_dim.png, copying_over_training.png."""
    out = Path(out_dir)
    sns.set_theme(style="whitegrid", context="notebook")
    paths = []
    for name, fn, what in [
        ("copying_vs_dim.png", plot_copying_vs_dim, "Copying vs dimension"),
        ("fidelity_vs_dim.png", plot_fidelity_vs_dim, "Fidelity vs dimension"),
        ("copying_over_training.png", plot_copying_over_training, "Copying over training"),
    ]:
        ax = fn(results, grid=grid)
        fig = (ax[0] if hasattr(ax, "__len__") else ax).figure
        fig.suptitle(_title(results, what), fontsize=10)
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        paths.append(out / name)
    return paths


def plot_metric_by_level(
    results: pd.DataFrame,
    factor: str,
    metric: str = "copying",
    x: str = "dim",
    step: int | None = None,
    ax=None,
):
    """``metric`` against ``x`` (log axis), one line per level of ``factor``, with 95%
    CI bands over seeds, at ``step`` (default: each cell's final step). Plotted against
    a scaling variable, the curves collapse if the levels fall on one line."""
    if step is None:
        last = final_rows(results)
    else:
        last = final_rows(results, step)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.lineplot(
        last.assign(**{factor: last[factor].astype(str)}),
        x=x,
        y=metric,
        hue=factor,
        marker="o",
        errorbar=("ci", 95),
        ax=ax,
    )
    ax.set(xscale="log", xlabel=x, ylabel=metric)
    ax.axhline(0, color="grey", lw=0.8)
    return ax


def plot_heatmap(
    table: pd.DataFrame, x: str, y: str, value: str, boundary: pd.Series | None = None, ax=None
):
    """Heatmap of ``value`` over the (``y`` rows × ``x`` columns) grid of ``table``
    (one row per grid point), annotated. ``boundary`` maps each y level to a d* (in
    units of x), drawn as a line between the columns it falls between (log scale)."""
    import numpy as np

    grid = table.pivot(index=y, columns=x, values=value).sort_index(ascending=False)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * grid.shape[1] + 2.5, 0.8 * grid.shape[0] + 1.5))
    sns.heatmap(grid, annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": value})
    if boundary is not None:
        cols = np.log(grid.columns.to_numpy(float))
        xs, ys = [], []
        for row, level in enumerate(grid.index):
            d_star = boundary.get(level, float("nan"))
            if np.isfinite(d_star):
                # column centres sit at 0.5, 1.5, …; interpolate in log x between them
                xs.append(0.5 + np.interp(np.log(d_star), cols, np.arange(len(cols))))
                ys.append(row + 0.5)
        if xs:
            ax.plot(xs, ys, "w--o", lw=2, label="d* (halfway crossing)")
            ax.legend(loc="lower right", fontsize=8)
    return ax


def save_figure(ax, path, title: str | None = None) -> Path:
    """Save the figure holding ``ax`` (an axis or an array of axes) and close it."""
    fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)

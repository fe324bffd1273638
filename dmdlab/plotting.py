"""Figures of a results table (seaborn). Shared by the CLI, the studies and the notebooks."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from dmdlab.analysis import fidelity_flags, final_rows

__all__ = [
    "plot_copying_over_training",
    "plot_copying_vs_dim",
    "plot_fidelity_vs_dim",
    "plot_heatmap",
    "plot_kappa_by_seed",
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


def grey_failing_dims(results: pd.DataFrame, ax, grid=None) -> None:
    """Shade the dims where some grid point fails the fidelity gates
    (:func:`dmdlab.analysis.fidelity_flags`): numbers there are not to be read."""
    by = list(grid) if grid else ["dim"]
    flagged = fidelity_flags(results, by=by)
    for i, d in enumerate(sorted(set(flagged.dim)) if "dim" in flagged else []):
        ax.axvspan(d / 1.25, d * 1.25, color="grey", alpha=0.25, hatch="//", lw=0,
                   label="fails fidelity" if i == 0 else None)  # fmt: skip


def plot_copying_vs_dim(results: pd.DataFrame, ax=None, grid=None):
    """κ, within-mode copying and normalised C (left), ΔE of student and teacher (right)
    against dim, with 95% t-interval bands over seeds; dims failing fidelity greyed."""
    last = final_rows(results)
    hue = _hue(grid)
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    long = last.melt(
        id_vars=["dim", "seed", *([hue] if hue else [])],
        value_vars=["kappa", "within_mode", "copying_norm"],
        var_name="metric",
    )
    sns.lineplot(
        long, x="dim", y="value", hue=hue, style="metric", marker="o", ax=ax[0],
        errorbar=lambda v: _t_interval(v),
    )  # fmt: skip
    ax[0].set(xscale="log", xlabel="ambient dimension d", ylabel="score (1 = copies the teacher)")
    ax[0].axhline(0, color="grey", lw=0.8)
    ax[0].set_title("κ (primary), within-mode copying, C normalised by its baseline")
    grey_failing_dims(results, ax[0], grid)
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
    for a in ax[:2]:
        grey_failing_dims(results, a, grid)
    return ax


def _t_interval(values) -> tuple[float, float]:
    """The 95% t-interval of the mean: the interval every summary table states."""
    from dmdlab.analysis import mean_ci

    m, half, _ = mean_ci(values)
    half = 0.0 if half != half else half  # one seed: no band
    return m - half, m + half


def plot_copying_over_training(results: pd.DataFrame, ax=None, grid=None):
    """κ (left) and the student's log-likelihood gap (right) against generator step, one
    line per dim (95% t-interval bands over seeds): when the pairing is decided, and
    whether the student has learned the data by then."""
    ok = results[~results.diverged]
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for a, metric, label in ((ax[0], "kappa", "κ (mode agreement with T)"),
                             (ax[1], "loglik_gap", "student gap, nats per dimension")):  # fmt: skip
        sns.lineplot(
            ok, x="step", y=metric, hue="dim", style=_hue(grid), palette="viridis", ax=a,
            errorbar=lambda v: _t_interval(v),
        )  # fmt: skip
        a.set(xlabel="generator step", ylabel=label)
        a.axhline(0, color="grey", lw=0.8)
    ax[1].axhline(1, color="red", lw=0.8, ls="--")  # the fidelity gate
    return ax


def plot_kappa_by_seed(results: pd.DataFrame, ax=None, grid=None):
    """Final κ of every seed against dim (a strip plot: a bimodal outcome shows as two
    clusters), with each dim's remapped share of (seed, mode) units beside it."""
    last = final_rows(results)
    hue = _hue(grid)
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    sns.stripplot(last, x="dim", y="kappa", hue=hue, dodge=bool(hue), jitter=0.15, ax=ax[0])
    ax[0].set(xlabel="ambient dimension d", ylabel="final κ per seed")
    ax[0].axhline(0, color="grey", lw=0.8)
    units = last.groupby(["dim", *([hue] if hue else [])])[["remapped_modes", "teacher_modes"]]
    share = units.sum().reset_index()
    share["remap_rate"] = share.remapped_modes / share.teacher_modes
    sns.barplot(share, x="dim", y="remap_rate", hue=hue, ax=ax[1])
    ax[1].set(xlabel="ambient dimension d", ylabel="share of (seed, mode) units remapped")
    ax[1].set_ylim(0, 1)
    return ax


def plot_sweep(results: pd.DataFrame, out_dir, grid=None) -> list[Path]:
    """Write copying_vs_dim.png, fidelity_vs_dim.png, copying_over_training.png and
    kappa_by_seed.png."""
    out = Path(out_dir)
    sns.set_theme(style="whitegrid", context="notebook")
    paths = []
    for name, fn, what in [
        ("copying_vs_dim.png", plot_copying_vs_dim, "Copying vs dimension"),
        ("fidelity_vs_dim.png", plot_fidelity_vs_dim, "Fidelity vs dimension"),
        ("copying_over_training.png", plot_copying_over_training, "Copying over training"),
        ("kappa_by_seed.png", plot_kappa_by_seed, "κ per seed and remapped modes"),
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

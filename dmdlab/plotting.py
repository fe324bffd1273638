"""Figures of a results table (seaborn). Shared by the CLI, the studies and the notebooks."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter

from dmdlab.analysis import fidelity_flags, final_rows
from dmdlab.worlds import conditional_table

__all__ = [
    "DIM_COLORS",
    "dim_color",
    "plot_copying_over_training",
    "plot_copying_vs_dim",
    "plot_fidelity_vs_dim",
    "plot_heatmap",
    "plot_kappa_by_seed",
    "plot_metric_by_level",
    "plot_noise_plane",
    "plot_pairings",
    "plot_settling",
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
        long,
        x="dim",
        y="value",
        hue=hue,
        hue_order=_hue_order(long, hue),
        style="who",
        marker="o",
        errorbar=lambda v: _t_interval(v),
        ax=ax,
    )
    _d_axis(ax, last.dim)


def _d_axis(ax, dims) -> None:
    """A log d axis with a tick at each swept d, labelled in plain numbers (2, 8, 32, not
    2×10⁰), and no minor ticks."""
    dims = sorted({int(d) for d in dims})
    ax.set_xscale("log")
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("ambient dimension d")


def _clip_bands(ax, lo: float, hi: float) -> None:
    """Clip every band (seaborn's fill_between) of ``ax`` to the measure's range [lo, hi]."""
    for coll in ax.collections:
        for path in coll.get_paths():
            path.vertices[:, 1] = path.vertices[:, 1].clip(lo, hi)


def _hue(grid) -> str | None:
    others = [g for g in (grid or []) if g != "dim"]
    return others[0] if others else None


def _hue_order(table: pd.DataFrame, hue: str | None) -> list | None:
    """The levels of ``hue`` in grid order (their first appearance in the table), passed
    to every figure so that a level has one colour in all of them (seaborn would sort
    some and not others)."""
    return list(dict.fromkeys(table[hue])) if hue else None


def _title(results: pd.DataFrame, what: str) -> str:
    """The figure's title: the fields every row shares, and the swept ones named as
    such (a title must not name one grid point's value as the whole sweep's)."""

    def field(name: str) -> str:
        values = results[name].unique() if name in results else []
        return f"{name}={values[0]}" if len(values) == 1 else f"{name} swept"

    names = ("n_modes", "mode_std", "teacher", "init", "method", "parametrization", "world")
    steps = results.groupby("cell").step.max() if "cell" in results else results.step
    length = f"{int(steps.max())}" if steps.nunique() == 1 else "per-cell"
    return (
        f"{what}\n{', '.join(field(n) for n in names if n in results)}, {length} generator "
        f"steps, {results.seed.nunique()} seeds"
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
        long, x="dim", y="value", hue=hue, hue_order=_hue_order(long, hue), style="metric",
        marker="o", ax=ax[0],
        errorbar=lambda v: _t_interval(v),
    )  # fmt: skip
    _clip_bands(ax[0], -1.0, 1.0)  # every measure here lies in [-1, 1]
    _d_axis(ax[0], last.dim)
    ax[0].set(ylabel="score (1 = copies the teacher)")
    ax[0].axhline(0, color="grey", lw=0.8)
    ax[0].set_title("κ (primary), within-mode copying, normalised C; bands: 95% t-interval",
                    fontsize=10)  # fmt: skip
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
    _student_and_teacher(last, "sliced_w2", hue, ax[2])
    ax[2].set(ylabel="data standard deviations")
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


# One colour per d, the same in every figure: a sequential palette whose hue moves along
# it (plasma: blue, purple, pink, orange), cut before its palest end so that the largest d
# still reads on white, placed by log2 d over 2 … 1024.
DIM_COLORS = {d: plt.get_cmap("plasma")(0.85 * i / 9) for i, d in
              enumerate([2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])}  # fmt: skip


def dim_color(d: int):
    """The colour of dimension ``d`` (off the 2 … 1024 ladder: grey)."""
    return DIM_COLORS.get(int(d), (0.5, 0.5, 0.5, 1.0))


def plot_settling(results: pd.DataFrame, window_from: int | None = None, ax=None):
    """κ (left) and C_within (right) against generator step on a log axis (the peak is at
    ~100 steps, the decay runs to the end), one colour per d (:data:`DIM_COLORS`), the
    mean over seed-runs with its 95% t-interval as a band, clipped to the measure's
    range; the settling window (steps ≥ ``window_from``) shaded."""
    ok = results[~results.diverged.astype(bool) & (results.step > 0)]
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    ranges = {"kappa": (0.0, 1.0), "copying_within": (-1.0, 1.0), "distance_ratio": (0.0, 2.0)}
    labels = {
        "kappa": "κ: which mode (1 = T's, 0 = chance)",
        "copying_within": "C_within: where in the mode (1 = T(z))",
        "distance_ratio": "distance ratio (0 = T(z), 1 = unrelated)",
    }
    # a class-conditional world has κ = 1 by construction: its pairing is read inside
    # classes, by C_within and the distance ratio
    shown = (
        ("copying_within", "distance_ratio")
        if conditional_table(ok)
        else ("kappa", "copying_within")
    )
    for a, metric in zip(ax, shown, strict=True):
        lo, hi = ranges[metric]
        for d, g in ok.groupby("dim", sort=True):
            n = g.groupby(["cell", "seed"]).ngroups if "cell" in g else g.seed.nunique()
            band = g.groupby("step")[metric].apply(_t_interval)
            steps = band.index.to_numpy()
            mean = g.groupby("step")[metric].mean().to_numpy()
            a.plot(steps, mean, color=dim_color(d), lw=1.4, label=f"d = {d} (n = {n})")
            a.fill_between(steps, [max(lo, b[0]) for b in band], [min(hi, b[1]) for b in band],
                           color=dim_color(d), alpha=0.18, lw=0)  # fmt: skip
        if window_from:
            a.axvspan(window_from, ok.step.max(), color="0.9", zorder=0)
        a.set(xscale="log", xlabel="generator step", ylabel=labels[metric],
              ylim=(lo, hi) if metric != "copying_within" else (-0.2, 1.0))  # fmt: skip
        a.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 100, not 10²
        a.axhline(0, color="grey", lw=0.8)
    # the right panel's upper right is empty in every run so far (C_within < 0.7 late)
    ax[1].legend(*ax[0].get_legend_handles_labels(), fontsize=8, loc="upper right",
                 frameon=False)  # fmt: skip
    return ax


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
            ok, x="step", y=metric, hue="dim", style=_hue(grid),
            style_order=_hue_order(ok, _hue(grid)),
            palette={d: dim_color(d) for d in ok.dim.unique()}, ax=a,
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
    order = _hue_order(last, hue)  # the same colours in both panels and the other figures
    sns.stripplot(
        last, x="dim", y="kappa", hue=hue, hue_order=order, dodge=bool(hue), jitter=0.15, ax=ax[0]
    )
    ax[0].set(xlabel="ambient dimension d", ylabel="final κ per seed")
    ax[0].axhline(0, color="grey", lw=0.8)
    units = last.groupby(["dim", *([hue] if hue else [])])[["remapped_modes", "teacher_modes"]]
    share = units.sum().reset_index()
    share["remap_rate"] = share.remapped_modes / share.teacher_modes
    sns.barplot(share, x="dim", y="remap_rate", hue=hue, hue_order=order, ax=ax[1])
    ax[1].set(xlabel="ambient dimension d", ylabel="share of (seed, mode) units remapped")
    ax[1].set_ylim(0, 1)
    return ax


def plot_sweep(results: pd.DataFrame, out_dir, grid=None) -> list[Path]:
    """Write answer.png (κ and C_within over training per d, for a sweep over d alone),
    copying_vs_dim.png, fidelity_vs_dim.png, copying_over_training.png and
    kappa_by_seed.png; none when every seed-run diverged (the summary says so)."""
    out = Path(out_dir)
    if final_rows(results).empty:  # every seed-run diverged: nothing finite to draw
        return []
    sns.set_theme(style="whitegrid", context="notebook")
    paths = []
    if list(grid or ["dim"]) == ["dim"]:  # one protocol over d: the answer figure first
        last = int(final_rows(results).step.max())
        ax = plot_settling(results, window_from=int(0.8 * last))
        paths.append(
            save_figure(
                ax,
                out / "answer.png",
                "κ and C_within over training per d "
                "(bands: 95% t-interval over seeds; shaded: the last 20%)",
            )
        )
    for name, fn, what in [
        ("copying_vs_dim.png", plot_copying_vs_dim, "Copying vs dimension"),
        ("fidelity_vs_dim.png", plot_fidelity_vs_dim, "Fidelity vs dimension"),
        ("copying_over_training.png", plot_copying_over_training, "Copying over training"),
        ("kappa_by_seed.png", plot_kappa_by_seed, "κ per seed and remapped modes"),
    ]:
        paths.append(save_figure(fn(results, grid=grid), out / name, _title(results, what)))
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
    t-interval bands over seeds (the tables' intervals), at ``step`` (default: each
    cell's final step). Plotted against a scaling variable, the curves collapse if the
    levels fall on one line."""
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
        errorbar=lambda v: _t_interval(v),
        ax=ax,
    )
    ax.set(xscale="log", xlabel=x, ylabel=metric)
    ax.axhline(0, color="grey", lw=0.8)
    return ax


def plot_heatmap(
    table: pd.DataFrame,
    x: str,
    y: str,
    value: str,
    boundary: pd.Series | None = None,
    ax=None,
    failing=(),
):
    """Heatmap of ``value`` over the (``y`` rows × ``x`` columns) grid of ``table``
    (one row per grid point), annotated. ``boundary`` maps each y level to a d* (in
    units of x), drawn as a line between the columns it falls between (log scale).
    ``failing``: (y level, x level) grid points that fail the fidelity gates, hatched."""
    import numpy as np
    from matplotlib.patches import Rectangle

    grid = table.pivot(index=y, columns=x, values=value).sort_index(ascending=False)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * grid.shape[1] + 2.5, 0.8 * grid.shape[0] + 1.5))
    sns.heatmap(grid, annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": value})
    for i, level in enumerate(grid.index):
        for j, col in enumerate(grid.columns):
            if (level, col) in set(failing):
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch="xx", ec="0.85", lw=0))
    if failing:
        ax.set_xlabel(f"{x}   (hatched: fails the fidelity gates, not evidence)")
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
    """Save the figure holding ``ax`` (an axis, or an array or list of axes) and close it."""
    if hasattr(ax, "flat"):
        ax = ax.flat[0]
    elif isinstance(ax, (list, tuple)):
        ax = ax[0]
    fig = ax.figure
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_noise_plane(z, modes, ax, *, palette, differs=None, extent: float = 2.5,
                     pixels: int = 240):  # fmt: skip
    """Colour the 2-D noise plane by destination mode, densely: each pixel of
    [−extent, extent]² takes the colour of ``modes`` (n,) at the nearest of the held-out
    noises ``z`` (n, 2), a Voronoi picture of the recorded map (no extra network calls).
    Pixels farther than three typical noise spacings from every z stay blank.
    ``differs`` (n,) bool: darken the pixels whose nearest noise lands in a different
    mode than the teacher's, so remapped regions stand out. ``palette``: K RGB colours."""
    import numpy as np
    from scipy.spatial import cKDTree

    z, modes = np.asarray(z), np.asarray(modes)
    grid = np.linspace(-extent, extent, pixels)
    xx, yy = np.meshgrid(grid, grid)
    tree = cKDTree(z)
    dist, nearest = tree.query(np.stack([xx.ravel(), yy.ravel()], 1))
    spacing = np.median(tree.query(z, k=2)[0][:, 1])  # typical distance between noises
    rgba = np.ones((nearest.size, 4))
    rgba[:, :3] = np.asarray(palette)[modes[nearest]]
    if differs is not None:
        rgba[np.asarray(differs)[nearest], :3] *= 0.4
    rgba[dist > 3 * spacing, 3] = 0.0
    ax.imshow(rgba.reshape(pixels, pixels, 4), extent=(-extent, extent, -extent, extent),
              origin="lower", interpolation="nearest")  # fmt: skip
    ax.set_aspect("equal")


# Pairs drawn as segments per panel at d > 2 (the same noises in every panel)
PAIRS_SHOWN = 40


def _pair_row(pairs: dict, seed_index: int, steps, axes, title: str) -> None:
    """One row of pictures of one seed's pairing: the teacher, then the student at each
    snapshot step (``steps``: the generator step of each snapshot).

    d = 2: the noise plane coloured by the mode T(z) lands in, then by the mode G(z)
    lands in, darkened where it differs from T's (:func:`plot_noise_plane`). d > 2: T(z)
    in the plane of the two leading principal directions of the means, then every G(z)
    coloured by its mode with :data:`PAIRS_SHOWN` fixed noises' segments T(z) → G(z),
    grey where the modes agree and red where not; titles count all samples."""
    import numpy as np

    from dmdlab.mixture import GaussianMixture

    mix = GaussianMixture(
        pairs["weights"][seed_index], pairs["means"][seed_index], pairs["stds"][seed_index]
    )
    z, t = pairs["z"][seed_index], pairs["teacher"][seed_index]
    students = pairs["student"][seed_index]
    t_mode = np.asarray(mix.assign(t))
    palette = sns.color_palette("tab10", mix.n_modes)
    flat = z.shape[1] == 2
    if flat:
        xy_t, labels = z, ("z₁", "z₂")
    else:
        origin = mix.means.mean(0)
        basis = np.linalg.svd(mix.means - origin, full_matrices=False)[2][:2].T  # (d, 2)
        xy_t, labels = (t - origin) @ basis, ("1st principal direction of the means", "2nd")
        mp = (mix.means - origin) @ basis
    if flat:
        plot_noise_plane(z, t_mode, axes[0], palette=palette)
    else:
        axes[0].scatter(xy_t[:, 0], xy_t[:, 1], c=[palette[m] for m in t_mode], s=6)
    what = "noise plane coloured by T(z)'s mode" if flat else "T(z) in the means' plane"
    axes[0].set(title=f"{title}\nteacher: {what}", xlabel=labels[0], ylabel=labels[1])
    for ax, g, step in zip(axes[1:], students, steps, strict=True):
        g_mode = np.asarray(mix.assign(g))
        wrong = g_mode != t_mode
        if flat:
            plot_noise_plane(z, g_mode, ax, palette=palette, differs=wrong)
        else:
            gp = (g - origin) @ basis
            # every sample as a faint dot, and the same few noises' segments T(z) → G(z) in
            # every panel: all 512 segments at d ≥ 8 were a tangle that hid the pairing
            ax.scatter(gp[:, 0], gp[:, 1], c=[palette[m] for m in g_mode], s=3, alpha=0.35)
            show = np.arange(min(PAIRS_SHOWN, len(z)))
            for i in show:
                ax.plot(
                    [xy_t[i, 0], gp[i, 0]],
                    [xy_t[i, 1], gp[i, 1]],
                    color="red" if wrong[i] else "0.45",
                    lw=1.0 if wrong[i] else 0.7,
                )
            ax.scatter(gp[show, 0], gp[show, 1], c="k", s=10, marker="x", zorder=3)
            ax.scatter(mp[:, 0], mp[:, 1], c=palette[: mix.n_modes], s=80, marker="*",
                       edgecolors="k")  # fmt: skip
        ax.set(title=f"G at step {step}: {1 - wrong.mean():.0%} keep T's mode",
               xlabel=labels[0])  # fmt: skip


def plot_pairings(results: pd.DataFrame, store, path) -> Path | None:
    """pairings.png: for each d, the seed with the lowest and the highest final κ (where
    a student remaps most and copies most), one row each: the teacher's pairing, then the
    student's at the recorded snapshot steps (:func:`_pair_row`). Reads the cells' pair
    snapshots from the store; None when no cell has one. The first cell per d is drawn
    (network start when the grid has ``start``)."""
    from dmdlab.store import load_pairs

    last = final_rows(results)
    if "start" in last and (last.start == "network").any():
        last = last[last.start == "network"]
    picks = []
    for d, g in last.groupby("dim"):
        cell = g.cell.iloc[0]
        g = g[g.cell == cell].sort_values("kappa")
        pairs = load_pairs(store, cell)
        if pairs is None or g.empty:
            continue
        recorded = sorted(results[results.cell == cell].step.unique())
        steps = [recorded[i] for i in pairs["eval_index"]]
        seeds = list(dict.fromkeys([g.seed.iloc[0], g.seed.iloc[-1]]))
        order = sorted(results[results.cell == cell].seed.unique())
        for s in seeds:
            kappa = float(g[g.seed == s].kappa.iloc[0])
            picks.append((pairs, order.index(s), steps, f"d={d}, seed {s} (final κ={kappa:.2f})"))
    if not picks:
        return None
    cols = 1 + max(len(p[2]) for p in picks)
    fig, axes = plt.subplots(len(picks), cols, figsize=(3.4 * cols, 3.4 * len(picks)),
                             squeeze=False)  # fmt: skip
    for row, (pairs, index, steps, title) in zip(axes, picks, strict=True):
        _pair_row(pairs, index, steps, row[: 1 + len(steps)], title)
        for ax in row[1 + len(steps) :]:
            ax.axis("off")
    fig.suptitle("Where each noise goes, over training: per d, the seed with the lowest and the "
                 "highest final κ (d = 2: the noise plane; d > 2: the means' plane, 40 noises' "
                 "segments T(z) → G(z); dark or red: G's mode ≠ T's)", fontsize=11)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / len(picks)))
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)

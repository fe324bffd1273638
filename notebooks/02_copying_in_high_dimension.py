# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 — Copying in high dimension
#
# The claim under test (a hypothesis, not a result): as the dimension grows, a
# teacher-initialized DMD student increasingly sends each noise z to the teacher's mode for it
# (κ → 1, G(z) ≈ T(z)), although no loss asks for it. Read every number with the summary's
# gate lines: a seed-run that is not converged gives a value *during* training, not a settled
# one.
# This notebook reads the committed tables of the settled study (`studies/settled.py`:
# DMD2's protocol at d = 2, 8, 32, 128 × 8 seeds, one common window of generator steps) and
# their cells' pair snapshots; nothing is retrained. Only if those tables are missing (a
# partial checkout) does it run the tiny preset live, and it says so.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image

import dmdlab
from dmdlab import metrics
from dmdlab.mixture import GaussianMixture
from dmdlab.plotting import plot_copying_over_training, plot_pairings, plot_settling
from dmdlab.store import load_pairs, load_results
from dmdlab.summary import format_summary
from dmdlab.sweep import SweepSpec, run_sweep

dmdlab.enable_compilation_cache()  # a rerun of this notebook skips XLA compilation
study = Path("../studies/out/settled-quick")
# the longest window every d has finished (the campaign extends them: 2000 … 20000 steps)
windows = sorted((int(w.name.split("-")[1]), w) for w in study.glob("window-*")
                 if (w / "manifest.json").exists())  # fmt: skip
if windows:
    steps, stored = windows[-1]
    results, grid = load_results(stored), ["dim"]
    store = study.parent / "cells-quick"
    print(f"loaded the committed tables of {stored} ({steps} generator steps, "
          f"d = {sorted(int(d) for d in results.dim.unique())}); nothing recomputed")  # fmt: skip
else:
    spec = SweepSpec.build("tiny")  # d = 2, 4: a stand-in, not the answer
    live = Path(tempfile.mkdtemp())
    results = run_sweep(spec, live, progress=False, plot=False)
    grid, store = list(spec.grid), live / "cells"
    print("the settled study's tables are missing: ran the tiny preset live (d = 2, 4)")
print(format_summary(results, by=grid))

# %%
last_step = int(results.step.max())
plot_settling(results, window_from=int(0.8 * last_step))
plot_copying_over_training(results, grid=grid)
plt.show()

# %% [markdown]
# ## Where each noise goes, in 2-D
# One picture per d that still works when d is large: for the seed with the lowest and the
# highest final κ, T(z) is drawn in the plane of the two leading principal directions of the
# mixture's means (coloured by T's mode), then the segments T(z) → G(z) at four recorded steps,
# red where G(z) lands in another mode than T(z). At d = 2 the noise plane itself is drawn, as
# in notebook 01. Copying is short grey segments; remapping is long red ones.

# %%
Image(filename=plot_pairings(results, store, Path(tempfile.mkdtemp()) / "pairings.png"))

# %% [markdown]
# ## Per-sample pictures
# For the lowest and the highest d, seed 0 at its last recorded step: the confusion matrix of
# teacher mode vs student mode (copying puts the mass on the diagonal), and the distances
# ‖G(z) − T(z)‖ against ‖G(z) − T(z′)‖ for an unrelated z′ (copying separates the two
# histograms). Read from the pairs each cell stored, so nothing is retrained.

# %%
last = results.loc[results.step == results.groupby("cell").step.transform("max")]
if "init" in last:  # the teacher-weight copy, where the default sweep has both inits
    last = last[last.init == "teacher"]
cells = last.groupby("dim").cell.first()
dims = [cells.index.min(), cells.index.max()]
fig, axes = plt.subplots(2, len(dims), figsize=(5 * len(dims), 9))
for col, d in enumerate(dims):
    pairs = load_pairs(store, cells[d])
    mix = GaussianMixture(pairs["weights"][0], pairs["means"][0], pairs["stds"][0])
    g, t = pairs["student"][0, -1], pairs["teacher"][0]
    k = mix.n_modes
    conf = np.zeros((k, k))
    np.add.at(conf, (np.asarray(mix.assign(t)), np.asarray(mix.assign(g))), 1)
    axes[0, col].imshow(conf / conf.sum(), cmap="Blues")
    axes[0, col].set(title=f"d = {d}: teacher vs student mode", xlabel="student mode",
                     ylabel="teacher mode")  # fmt: skip
    paired = np.linalg.norm(g - t, axis=1)
    unpaired = np.linalg.norm(g - np.roll(t, 1, axis=0), axis=1)
    scale = np.sqrt(float(mix.variance()) * d)
    axes[1, col].hist(paired / scale, bins=40, alpha=0.6, label="‖G(z) − T(z)‖")
    axes[1, col].hist(unpaired / scale, bins=40, alpha=0.6, label="‖G(z) − T(z′)‖")
    c = float(metrics.copying_score(g, t))
    axes[1, col].set(title=f"d = {d}: C = {c:.2f}", xlabel="distance / data scale √(d·var)")
    axes[1, col].legend()
fig.tight_layout()

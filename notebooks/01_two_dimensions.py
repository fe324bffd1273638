# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 — Two dimensions: watching a DMD student remap noise
#
# In 2-D every point is visible. We train one DMD2 student (teacher-initialized, as in DMD2)
# on an 8-mode mixture and colour the **noise plane** by the mode each noise z is sent to:
# by the teacher's probability-flow ODE T(z), and by the student G(z) at several training steps.
# Where the two colourings disagree, the student has *remapped* noise.
#
# `DMDLAB_QUICK=1` shrinks everything so the notebook runs in well under two minutes on a CPU.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import dmdlab
from dmdlab import metrics

QUICK = os.environ.get("DMDLAB_QUICK") == "1"
dmdlab.enable_compilation_cache()  # a rerun of this notebook skips XLA compilation
config = dmdlab.DMDConfig(
    dim=2,
    n_modes=8,
    steps=60 if QUICK else 600,
    eval_every=20 if QUICK else 100,
    teacher_steps=300 if QUICK else 4000,
    width=64 if QUICK else 256,
    eval_n=256 if QUICK else 1024,
    ode_steps=40 if QUICK else 200,
)
out, timing = dmdlab.run_seeds(config, [0])
out = jax.tree.map(lambda a: a[0], out)  # one seed: drop the seed axis
print(f"compile {timing['compile_s']:.0f} s, run {timing['run_s']:.0f} s")

# %% [markdown]
# ## The noise plane, coloured by destination mode
# Left: the teacher's ODE. Then the student at increasing training steps (step 0 is the
# teacher's own network read at σ_max: it sends every z near the data mean).

# %%
mix, z = out.mixture, np.asarray(out.z)
teacher_mode = np.asarray(mix.assign(out.teacher_samples))
steps = np.arange(config.n_evals) * config.eval_every
show = np.unique(np.linspace(0, config.n_evals - 1, 4).astype(int))
fig, axes = plt.subplots(1, len(show) + 1, figsize=(3.2 * (len(show) + 1), 3.2), sharey=True)
axes[0].scatter(z[:, 0], z[:, 1], c=teacher_mode, cmap="tab10", s=6, vmin=0, vmax=9)
axes[0].set_title("teacher T(z)")
for ax, e in zip(axes[1:], show, strict=True):
    g = out.student_samples[e]
    c = float(metrics.copying_score(g, out.teacher_samples))
    ax.scatter(z[:, 0], z[:, 1], c=np.asarray(mix.assign(g)), cmap="tab10", s=6, vmin=0, vmax=9)
    ax.set_title(f"student, step {steps[e]}\nC = {c:.2f}")
for ax in axes:
    ax.set(xlabel="z₁", aspect="equal")
axes[0].set_ylabel("z₂")
fig.tight_layout()

# %% [markdown]
# ## Teacher ODE trajectories
# Each line follows one noise from σ_max·z (far outside the plot) to its data point under the
# mixture's exact denoiser; the plot shows the last part of the flow, where paths pick a mode.

# %%
sigmas, path = dmdlab.teacher_path(mix.denoise, out.z[:60], steps=config.ode_steps)
path = np.asarray(path)
late = np.asarray(sigmas) < 3.0
fig, ax = plt.subplots(figsize=(4.5, 4.5))
grid = np.linspace(-3, 3, 150)
xx, yy = np.meshgrid(grid, grid)
logp = np.asarray(mix.log_prob(jnp.stack([xx.ravel(), yy.ravel()], 1))).reshape(xx.shape)
ax.contour(xx, yy, logp, levels=12, colors="grey", linewidths=0.5)
for i in range(path.shape[1]):
    ax.plot(path[late, i, 0], path[late, i, 1], lw=0.8)
ax.set(title="exact-denoiser ODE paths, σ < 3", xlabel="x₁", ylabel="x₂", aspect="equal",
       xlim=(-3, 3), ylim=(-3, 3))  # fmt: skip

# %% [markdown]
# ## The student's samples over the data density

# %%
final = np.asarray(out.student_samples[-1])
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.contourf(xx, yy, np.exp(logp), levels=20, cmap="Greys")
ax.scatter(final[:, 0], final[:, 1], s=4, c="tab:red", label="student G(z)")
ax.set(title="final student samples", xlabel="x₁", ylabel="x₂", aspect="equal")
ax.legend(loc="lower right")
cov = np.asarray(metrics.coverage(mix, final)) / np.asarray(mix.weights)
print("coverage per mode / weight:", np.round(cov, 2))
print("log-lik gap per dim:", float(metrics.loglik_gap(mix, final, out.reference)))
agree, kappa = metrics.mode_agreement(mix, final, out.teacher_samples)
print(f"mode agreement {float(agree):.2f}, kappa {float(kappa):.2f}")

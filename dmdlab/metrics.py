"""Metrics of a noise→data pairing and of sample fidelity (docs/science.md §5).

Pairing metrics take row-paired (n, d) arrays: row i of ``student`` and of
``teacher`` came from the same noise z_i. All are jnp functions (jit/vmap-able)
returning scalars, except :func:`pairing_inefficiency`, which solves an exact
assignment problem on the host with SciPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from dmdlab._checks import check_groups, check_paired, check_rows
from dmdlab.mixture import GaussianMixture

__all__ = [
    "assignment_copying",
    "closer_than_onestep",
    "copying_baseline",
    "copying_score",
    "copying_within",
    "copying_within_centred",
    "coverage",
    "denoiser_error",
    "distance_ratios",
    "gap_tail",
    "kept_fractions",
    "loglik_gap",
    "memorized_share",
    "mode_agreement",
    "onestep_ratio",
    "ot_redundancy",
    "pairing_inefficiency",
    "readout_error",
    "sigma_max_error",
    "sliced_wasserstein",
    "start_alignment",
    "start_kappa",
    "tilt_modes",
    "transport_costs",
    "within_mode_centred",
    "within_mode_copying",
]


def _finite_or_nan(value, *arrays):
    """``value`` (scalar or array), or NaN where any input holds a non-finite number: a
    metric of NaN samples is NaN, never a plausible-looking number."""
    ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))
    return jnp.where(ok, value, jnp.nan)


def _mean_cross_sq_dist(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean of ‖a_i − b_j‖² over all n² pairs, in O(n d)."""
    return (
        jnp.mean(jnp.sum(a**2, -1))
        + jnp.mean(jnp.sum(b**2, -1))
        - 2.0 * jnp.dot(jnp.mean(a, 0), jnp.mean(b, 0))
    )


def copying_score(student: jax.Array, teacher: jax.Array) -> jax.Array:
    """C = 1 − E‖G(z) − T(z)‖² / E‖G(z) − T(z′)‖², z′ independent of z. Scalar.

    student, teacher: (n, d), row-paired. The denominator averages over all pairs
    i ≠ j, so it is exact for the sample, not a random shuffle. 1 = exact copy of the
    teacher's pairing; ≈ 0 (within ~1/√n) for a pairing unrelated to it; negative
    means farther than chance. Invariant to a common rescaling and translation.
    """
    student, teacher = check_paired(student, teacher, "student", "teacher")
    n = student.shape[0]
    # Centering on the joint mean avoids cancellation in the expanded cross term.
    center = 0.5 * (jnp.mean(student, 0) + jnp.mean(teacher, 0))
    g, t = student - center, teacher - center
    paired = jnp.mean(jnp.sum((g - t) ** 2, -1))
    all_pairs = _mean_cross_sq_dist(g, t)
    unpaired = (n * all_pairs - paired) / (n - 1)
    return 1.0 - paired / unpaired


def mode_agreement(
    mixture: GaussianMixture, student: jax.Array, teacher: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(agreement, κ): fraction of rows whose most probable component matches, and
    Cohen's κ = (p_o − p_e)/(1 − p_e) against the agreement p_e expected by chance
    from the two marginal mode frequencies.

    agreement ∈ [0, 1]; κ ∈ [−1, 1], 1 = same modes, ≈ 0 = chance. κ is NaN when
    both sides put every row in one and the same mode (p_e = 1: undefined).
    Invariant to a common rescaling only if the mixture is rescaled too.
    """
    student, teacher = check_paired(student, teacher, "student", "teacher")
    check_rows(student, mixture.dim, "student")
    agree = label_agreement(mixture.assign(student), mixture.assign(teacher), mixture.n_modes)
    return tuple(_finite_or_nan(v, student, teacher) for v in agree)


def label_agreement(a: jax.Array, b: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """(agreement, Cohen's κ) of two labelings a, b (n,) with values in 0…k−1."""
    p_o = jnp.mean(a == b)
    freq_a = jnp.bincount(a, length=k) / a.shape[0]
    freq_b = jnp.bincount(b, length=k) / b.shape[0]
    p_e = jnp.dot(freq_a, freq_b)
    kappa = jnp.where(p_e < 1.0, (p_o - p_e) / jnp.where(p_e < 1.0, 1.0 - p_e, 1.0), jnp.nan)
    return p_o, kappa


def copying_baseline(mixture: GaussianMixture, teacher: jax.Array) -> jax.Array:
    """C of a student that puts every noise in the wrong mode: scalar.

    That student sends z to T(z) moved from T's mode k to the mode nearest to it,
    G(z) = T(z) − μ_k + μ_j (j ≠ k the nearest other mean); where modes overlap (low d)
    a few moved points still fall in mode k. Its C is high in low d and
    ≈ 0 in high d (K = 8, s = 0.2: ≈ 0.75 at d = 2, ≈ 0.01 at d = 128), so C is only
    comparable across d next to this number (docs/science.md §5). teacher: (n, d).
    """
    teacher = check_rows(teacher, mixture.dim, "teacher")
    means = mixture.means
    sq = jnp.sum((means[:, None] - means[None]) ** 2, -1)
    nearest_other = jnp.argmin(jnp.where(jnp.eye(mixture.n_modes, dtype=bool), jnp.inf, sq), 1)
    k = mixture.assign(teacher)
    moved = teacher - means[k] + means[nearest_other[k]]
    return copying_score(moved, teacher)


def within_mode_copying(
    mixture: GaussianMixture, student: jax.Array, teacher: jax.Array
) -> jax.Array:
    """Copying of the position inside the mode: scalar in [−1, 1], NaN if no mode agrees.

    Over the rows whose modes agree (k = mode of T(z) = mode of G(z)), the correlation
    Σ⟨G − μ_k, T − μ_k⟩ / √(Σ‖G − μ_k‖² Σ‖T − μ_k‖²). 1 = G copies where in its mode
    T puts z; ≈ 0 = an unrelated position (e.g. shuffled within the mode). Its scale
    is the modes' own, so it compares across d (unlike C).
    """
    student, teacher = check_paired(student, teacher, "student", "teacher")
    a, b = mixture.assign(student), mixture.assign(teacher)
    same = (a == b)[:, None]
    g = jnp.where(same, student - mixture.means[b], 0.0)
    t = jnp.where(same, teacher - mixture.means[b], 0.0)
    denom = jnp.sqrt(jnp.sum(g**2) * jnp.sum(t**2))
    value = jnp.where(denom > 0, jnp.sum(g * t) / jnp.where(denom > 0, denom, 1.0), jnp.nan)
    return _finite_or_nan(value, student, teacher)


def kept_fractions(mixture: GaussianMixture, student: jax.Array, teacher: jax.Array) -> jax.Array:
    """Per teacher mode k, the share of T's mode-k noises that G also sends to k: (K,).

    NaN for a mode T sends no noise to. 1 for G = T; 0 for every mode when G permutes
    the modes. A mode is *remapped* when its kept fraction is < ½ (docs/science.md §5).
    """
    student, teacher = check_paired(student, teacher, "student", "teacher")
    a, b = mixture.assign(student), mixture.assign(teacher)
    k = mixture.n_modes
    total = jnp.bincount(b, length=k)
    kept = jnp.bincount(b, weights=(a == b).astype(jnp.float32), length=k)
    return _finite_or_nan(jnp.where(total > 0, kept / jnp.maximum(total, 1), jnp.nan),
                          student, teacher)  # fmt: skip


def _z_part(x: jax.Array, labels=None) -> jax.Array:
    """x (n, d) minus its mean over rows (over the rows of its class with ``labels``):
    the part that depends on the noise."""
    if labels is None:
        return x - jnp.mean(x, axis=0)
    return x - _group_means(x, labels)[labels]


def _group_means(x: jax.Array, labels: jax.Array, k: int | None = None) -> jax.Array:
    """Per-group means (k, d) of x (n, d) over labels (n,) in 0…k−1 (0 for empty groups)."""
    k = labels.shape[0] if k is None else k  # static: at most one group per row
    total = jax.ops.segment_sum(x, labels, num_segments=k)
    count = jax.ops.segment_sum(jnp.ones(labels.shape[0]), labels, num_segments=k)
    return total / jnp.maximum(count, 1.0)[:, None]


def start_alignment(start: jax.Array, exact: jax.Array, labels=None) -> jax.Array:
    """Correlation of the z-dependent parts of two σ_max read-outs (n, d): scalar.

    ``start`` = G₀(z) = D_θ(σ_max z, σ_max), ``exact`` = D*(σ_max z, σ_max), row-paired.
    Each minus its mean over z (per class with ``labels``), then ⟨a, b⟩ / (‖a‖ ‖b‖) over
    all entries (docs/science.md §5b). 1 = the student's starting tilt points where the exact
    one does; NaN when the exact read-out has no z-dependent part at all (a flow
    teacher's at t = 1: there is nothing to align with).
    """
    start, exact = check_paired(start, exact, "start", "exact")
    a, b = _z_part(start, labels), _z_part(exact, labels)
    nb = jnp.sum(b**2)
    ok = nb > 1e-12 * jnp.maximum(jnp.sum(exact**2), 1e-30)
    return jnp.where(ok, jnp.sum(a * b) / jnp.sqrt(jnp.sum(a**2) * jnp.where(ok, nb, 1.0)), jnp.nan)


def tilt_modes(mixture: GaussianMixture, start: jax.Array) -> jax.Array:
    """The mode each row's starting tilt points at: (n,) indices.

    argmax_k ⟨G₀(z) − mean_z G₀, μ_k − m⟩, m the data mean (docs/science.md §5b): at σ_max the
    read-out is the data mean plus a small tilt, and this asks which mode it leans to.
    """
    start = check_rows(start, mixture.dim, "start")
    m = mixture.weights @ mixture.means
    return jnp.argmax(_z_part(start) @ (mixture.means - m).T, axis=-1)


def start_kappa(
    mixture: GaussianMixture, z: jax.Array, teacher: jax.Array, sigma_max: float = 80.0
) -> jax.Array:
    """κ between T(z)'s mode and the mode the *exact* σ_max tilt points at: scalar.

    No training: D*(σ_max z, σ_max) is the mixture's exact denoiser. Does the starting
    map already "know" the teacher's pairing? z, teacher = T(z): (n, d), row-paired.
    """
    z, teacher = check_paired(z, teacher, "z", "teacher")
    exact = mixture.denoise(sigma_max * z, sigma_max)
    return label_agreement(tilt_modes(mixture, exact), mixture.assign(teacher), mixture.n_modes)[1]


def sigma_max_error(denoise, mixture: GaussianMixture, z: jax.Array, sigma_max: float = 80.0):
    """A denoiser's error where the student is read, against the pairing signal: scalar.

    E‖D(σ_max z) − D*(σ_max z)‖² / E‖D*(σ_max z) − mean_z D*(σ_max z)‖², z (n, d). The
    denominator is the z-dependent part of the exact read-out (the only part that can
    carry a pairing), not the optimal error, which at σ_max is almost the whole data
    variance (docs/science.md §5c). < 1: the denoiser's start tilts the right way; ≫ 1: the
    start carries its error, not the exact tilt.
    """
    x = sigma_max * check_rows(z, mixture.dim, "z")
    exact = mixture.denoise(x, sigma_max)
    err = jnp.mean(jnp.sum((denoise(x, sigma_max) - exact) ** 2, -1))
    return err / jnp.mean(jnp.sum(_z_part(exact) ** 2, -1))


def readout_error(read: jax.Array, exact: jax.Array, labels=None) -> jax.Array:
    """A denoiser's read-out error where the student is read, against the pairing
    signal: E‖read − exact‖² / E‖exact − its mean over z‖² (per class with ``labels``).
    read, exact: (n, d). NaN when the exact read-out has no z-dependent part (a flow
    teacher's at t = 1). :func:`sigma_max_error` is this at σ_max."""
    read, exact = check_paired(read, exact, "read", "exact")
    signal = jnp.mean(jnp.sum(_z_part(exact, labels) ** 2, -1))
    err = jnp.mean(jnp.sum((read - exact) ** 2, -1))
    # float32 rounding leaves a "signal" ~1e-12 of ‖exact‖² where there is none (the flow
    # read-out at t = 1: 4e-12 measured); the weakest real tilt, the blobs' under VE at
    # σ_max, is 4e-7 of it at d = 32 and falls like 1/d
    ok = signal > 1e-10 * jnp.maximum(jnp.mean(jnp.sum(exact**2, -1)), 1e-30)
    return jnp.where(ok, err / jnp.where(ok, signal, 1.0), jnp.nan)


def _pair_sq_dists(a: jax.Array, b: jax.Array) -> jax.Array:
    """‖a_i − b_j‖² (n, n) for a, b (n, d), centred first to avoid cancellation."""
    c = 0.5 * (jnp.mean(a, 0) + jnp.mean(b, 0))
    a, b = a - c, b - c
    sq = jnp.sum(a**2, -1)[:, None] + jnp.sum(b**2, -1)[None] - 2.0 * a @ b.T
    return jnp.maximum(sq, 0.0)


def _other_in_group(groups: jax.Array) -> jax.Array:
    """(n, n) mask of pairs (i, j ≠ i) in the same group."""
    same = groups[:, None] == groups[None, :]
    return same & ~jnp.eye(groups.shape[0], dtype=bool)


def distance_ratios(student: jax.Array, teacher: jax.Array, groups=None) -> jax.Array:
    """Per sample (n,): ‖G(z_i) − T(z_i)‖ over the mean of ‖G(z_i) − T(z_j)‖ for the other
    noises j of its group (``groups`` (n,): the class, for class-conditional generation;
    None: every other noise). The paper's per-sample copying measure (docs/science.md §1b):
    0 for G = T; for a pairing unrelated to T's the *mean* over samples is 1 (each
    sample's expected ratio is 1; its median is not); its distribution is the point."""
    student, teacher = check_paired(student, teacher, "student", "teacher")
    n = student.shape[0]
    groups = jnp.zeros(n, jnp.int32) if groups is None else check_groups(groups, n)
    dist = jnp.sqrt(_pair_sq_dists(student, teacher))
    mask = _other_in_group(groups)
    unpaired = jnp.sum(jnp.where(mask, dist, 0.0), 1) / jnp.maximum(jnp.sum(mask, 1), 1)
    return jnp.diag(dist) / unpaired


def onestep_ratio(student: jax.Array, teacher: jax.Array, onestep: jax.Array) -> jax.Array:
    """Median over samples of ‖G(z) − T(z)‖ / ‖T₁(z) − T(z)‖: the student's distance to
    the teacher's sample against the teacher's own one-step output T₁ from the same z
    (its network read at the top level). < 1: closer to T(z) than the teacher's one step
    gets. All (n, d), row-paired; scalar."""
    student, teacher = check_paired(student, teacher, "student", "teacher")
    num = jnp.linalg.norm(student - teacher, axis=-1)
    return jnp.median(num / jnp.maximum(jnp.linalg.norm(onestep - teacher, axis=-1), 1e-12))


def copying_within(student: jax.Array, teacher: jax.Array, groups: jax.Array) -> jax.Array:
    """C inside groups: 1 − Σ_i ‖G_i − T_i‖² / Σ_i mean_{j≠i, same group} ‖G_i − T_j‖².
    ``groups`` (n,): the class (class-conditional) or T(z)'s mode. 1 = G copies T's
    pairing inside each group; 0 = unrelated inside the group. For a linear student
    G = μ + s Q z against T = μ + s z on a d_c-dim class it is tr(Q)/d_c (docs/science.md §6.5).
    Scalar."""
    student, teacher = check_paired(student, teacher, "student", "teacher")
    groups = check_groups(groups, student.shape[0])
    sq = _pair_sq_dists(student, teacher)
    mask = _other_in_group(groups)
    unpaired = jnp.sum(jnp.where(mask, sq, 0.0), 1) / jnp.maximum(jnp.sum(mask, 1), 1)
    has = jnp.sum(mask, 1) > 0
    return 1.0 - jnp.sum(jnp.where(has, jnp.diag(sq), 0.0)) / jnp.sum(jnp.where(has, unpaired, 0.0))


def copying_within_centred(student: jax.Array, teacher: jax.Array, groups: jax.Array,
                           n_groups: int):  # fmt: skip
    """:func:`copying_within` after centring G and T on their own means inside each group:
    a student whose class sits off the teacher's (a shifted or not yet placed class) but
    which keeps T's positions inside it scores 1; the identity start G(z) = z against a
    Gaussian class's map μ + Σ^½ z scores 1 − tr((I − Σ^½)²) / (tr I + tr Σ) (the uncentred
    measure reads ≈ 0 there, its offset ‖μ‖² swamping the pairing). ``groups`` (n,) in
    [0, ``n_groups``). Scalar."""
    student, teacher = check_paired(student, teacher, "student", "teacher")
    groups = check_groups(groups, student.shape[0])
    return copying_within(_centred(student, groups, n_groups),
                          _centred(teacher, groups, n_groups), groups)  # fmt: skip


def _centred(x: jax.Array, groups: jax.Array, k: int) -> jax.Array:
    one_hot = jax.nn.one_hot(groups, k, dtype=x.dtype)  # (n, k)
    means = (one_hot.T @ x) / jnp.maximum(one_hot.sum(0), 1.0)[:, None]
    return x - means[groups]


def within_mode_centred(
    mixture: GaussianMixture, student: jax.Array, teacher: jax.Array
) -> jax.Array:
    """:func:`within_mode_copying` centred on the student's and the teacher's own means
    per mode (over the agreeing rows) instead of μ_k: a student whose modes sit off
    centre, or are scaled, but which keeps the teacher's positions inside them, scores 1
    (the uncentred measure mixes its offset in). Scalar in [−1, 1]; NaN if no mode agrees."""
    student, teacher = check_paired(student, teacher, "student", "teacher")
    a, b = mixture.assign(student), mixture.assign(teacher)
    same = a == b
    k = mixture.n_modes
    labels = jnp.where(same, b, k)  # disagreeing rows go to an extra group, then dropped
    g_mean = _group_means(student, labels, k + 1)[labels]
    t_mean = _group_means(teacher, labels, k + 1)[labels]
    g = jnp.where(same[:, None], student - g_mean, 0.0)
    t = jnp.where(same[:, None], teacher - t_mean, 0.0)
    denom = jnp.sqrt(jnp.sum(g**2) * jnp.sum(t**2))
    value = jnp.where(denom > 0, jnp.sum(g * t) / jnp.where(denom > 0, denom, 1.0), jnp.nan)
    return _finite_or_nan(value, student, teacher)


def assignment_copying(student, teacher, groups=None) -> tuple[float, float]:
    """How far G's pairing is from matching each student sample to its own teacher
    sample: the optimal assignment (squared Euclidean, SciPy's exact solver; inside each
    group with ``groups``) between the student's and the teacher's samples. Returns
    (share of i the optimal assignment pairs with T_i: 1 for G = T, ≈ 1/n for a shuffle;
    excess = (E_paired − E_OT)/(E_indep − E_OT): 0 when G's own pairing is optimal,
    ≈ 1 for a random one). Host-side; NaN for non-finite input."""
    student, teacher = check_paired(student, teacher, "student", "teacher")
    g = np.asarray(student, np.float64)
    t = np.asarray(teacher, np.float64)
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(t))):
        return float("nan"), float("nan")
    groups = np.zeros(len(g), int) if groups is None else np.asarray(groups)
    hits = paired = optimal = indep = 0.0
    for c in np.unique(groups):
        rows = np.flatnonzero(groups == c)
        if len(rows) < 2:
            continue
        a, b = g[rows], t[rows]
        cost = np.sum(a**2, -1)[:, None] + np.sum(b**2, -1)[None] - 2.0 * a @ b.T
        r, col = linear_sum_assignment(cost)
        hits += np.sum(col == r)
        paired += np.trace(cost)
        optimal += cost[r, col].sum()
        indep += cost.mean() * len(rows)
    total = np.sum([np.sum(groups == c) for c in np.unique(groups) if np.sum(groups == c) >= 2])
    denom = indep - optimal
    excess = (paired - optimal) / denom if denom > 0 else float("nan")
    return float(hits / max(total, 1)), float(excess)


def memorized_share(x: jax.Array, points: jax.Array, ratio: float = 1 / 3) -> jax.Array:
    """Share of samples x (n, d) that reproduce a training point: the nearest of
    ``points`` (N, d) is closer than ``ratio`` × the second nearest (the usual criterion,
    ⅓). 1 for x equal to training points, ≈ 0 for fresh samples of a continuous
    distribution (unless N is tiny). Scalar; NaN for NaN input."""
    points = jnp.asarray(points)
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError(f"points must have shape (N, d) with N >= 2, got {tuple(points.shape)}")
    x = check_rows(x, points.shape[1], "x")
    sq = _pair_sq_dists(x, points)
    two = -jax.lax.top_k(-sq, 2)[0]  # the two smallest squared distances per row
    close = jnp.sqrt(two[:, 0]) < ratio * jnp.sqrt(two[:, 1])
    return _finite_or_nan(jnp.mean(close), x)


def pairing_inefficiency(z, x) -> float:
    """ΔE = (E_pair − E_OT) / (E_indep − E_OT) of the coupling (z_i, x_i). Float.

    z (n, d) noise, x (n, d) data, row-paired. The cost is ‖x − z̃‖² with z̃ = m + s z
    the noise moved to the data's scale: m = mean of x, s² = tr Cov(x)/d (so the
    metric is invariant to rescaling and translating x). E_pair is the coupling's
    mean cost, E_OT the optimal transport (exact assignment over the n samples,
    SciPy's ``linear_sum_assignment``), E_indep the mean over all n² pairs.
    0 = optimal-transport pairing, ≈ 1 = random pairing, > 1 = worse than random;
    NaN for non-finite input. Cost O(n³) on the host; n ≈ 512 takes milliseconds.
    """
    costs = transport_costs(z, x, rescale=True)
    if costs is None:
        return float("nan")  # a diverged run has no pairing to measure
    e_pair, e_ot, e_ind = costs
    denom = e_ind - e_ot
    if not np.isfinite(denom) or denom <= 0:
        return float("nan")
    return float((e_pair - e_ot) / denom)


def transport_costs(z, x, rescale: bool = False) -> tuple[float, float, float] | None:
    """(E_pair, E_OT, E_indep) of the coupling (z_i, x_i), z and x (n, d) row-paired: the
    mean of ‖x_i − z̃_i‖², the optimal assignment's mean cost (exact, SciPy's
    ``linear_sum_assignment``) and the mean over all n² pairs; z̃ = z, or with ``rescale``
    the noise moved to the data's mean and scale (:func:`pairing_inefficiency`). None for
    non-finite input."""
    z, x = check_paired(z, x, "z", "x")
    z = np.asarray(z, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(x))):
        return None
    zt = z
    if rescale:
        mean = x.mean(0)
        zt = mean + np.sqrt(np.mean(np.sum((x - mean) ** 2, -1)) / x.shape[1]) * z
    cost = (
        np.sum(x**2, -1)[:, None] + np.sum(zt**2, -1)[None, :] - 2.0 * x @ zt.T
    )  # cost[i, j] = ‖x_i − z̃_j‖²
    rows, cols = linear_sum_assignment(cost)
    return float(np.trace(cost) / len(x)), float(cost[rows, cols].mean()), float(cost.mean())


def ot_redundancy(z, x) -> float:
    """The authors' OT redundancy of the coupling (z_i, x_i): 100 · (E_pair / E_OT − 1)
    with the plain cost ‖x − z‖² (no rescaling, as in their measure; docs/science.md §1b):
    0 = the optimal-transport pairing, the percentage of transport cost above it
    otherwise. z, x (n, d) row-paired; float, NaN for non-finite input."""
    costs = transport_costs(z, x)
    if costs is None or not costs[1] > 0:
        return float("nan")
    return float(100.0 * (costs[0] / costs[1] - 1.0))


def closer_than_onestep(student: jax.Array, teacher: jax.Array, onestep: jax.Array):
    """The authors' share of samples closer to the multi-step teacher's T(z) than the
    teacher's own one-step output T₁(z) is: mean of ‖G(z) − T(z)‖ < ‖T₁(z) − T(z)‖.
    All (n, d), row-paired; scalar in [0, 1] (1 for G = T where T₁ ≠ T)."""
    student, teacher = check_paired(student, teacher, "student", "teacher")
    near = jnp.linalg.norm(student - teacher, axis=-1)
    return jnp.mean(near < jnp.linalg.norm(onestep - teacher, axis=-1))


def coverage(mixture: GaussianMixture, x: jax.Array) -> jax.Array:
    """Fraction of rows of x (n, d) assigned to each component, (K,).

    Equals the weights π (within sampling error) for true samples; a 0 entry is a
    dropped mode. Compare entry-wise with ``mixture.weights``.
    """
    x = check_rows(x, mixture.dim, "x")
    labels = mixture.assign(x)
    return _finite_or_nan(jnp.bincount(labels, length=mixture.n_modes) / labels.shape[0], x)


def mode_tv(mixture: GaussianMixture, x: jax.Array) -> jax.Array:
    """Total variation between the mode histogram of x (n, d) and the weights, () in
    [0, 1]: ½ Σ_k |share_k − π_k|. 0 = balanced; 1 − π_k = all mass in mode k. Two-sided
    (too much mass and too little count alike). True samples read ≈ Σ_k √(π_k(1−π_k)/(2πn))
    at n samples (:func:`mode_tv_floor`), not 0."""
    return 0.5 * jnp.sum(jnp.abs(coverage(mixture, x) - mixture.weights))


def mode_tv_floor(weights, n: int) -> float:
    """The expected :func:`mode_tv` of n true samples (the binomial noise floor), by the
    normal approximation E|share_k − π_k| ≈ √(2 π_k (1 − π_k) / (π n))."""
    w = np.asarray(weights, np.float64)
    return float(0.5 * np.sum(np.sqrt(2.0 * w * (1.0 - w) / (np.pi * n))))


def loglik_gap(
    mixture: GaussianMixture, x: jax.Array, reference: jax.Array, labels=None
) -> jax.Array:
    """(mean log p(reference) − mean log p(x)) / d under the true mixture, nats per
    dimension. Scalar. With ``labels`` (n,) (class-conditional generation: row i of x and
    of the reference both of class labels[i]), under p(· | class).

    ≈ 0 when x is distributed like the reference samples; > 0 when x is less likely
    (off-manifold or blurry); < 0 when x is *more* likely than true samples, the sign
    of samples collapsing onto the modes' centres. Divided by d so that it compares
    across dimensions. Not scale-invariant: it is measured in the mixture's own units.
    """
    x = check_rows(x, mixture.dim, "x")
    reference = check_rows(reference, mixture.dim, "reference")
    if labels is None:
        gap = jnp.mean(mixture.log_prob(reference)) - jnp.mean(mixture.log_prob(x))
    else:
        gap = jnp.mean(mixture.log_prob(reference, labels)) - jnp.mean(mixture.log_prob(x, labels))
    return gap / mixture.dim


def gap_tail(
    mixture: GaussianMixture, x: jax.Array, reference: jax.Array, quantile: float = 0.01
) -> tuple[float, float, float]:
    """Where a log-likelihood gap comes from: (share, gap, gap of the rest). ``share``: the
    fraction of the rows of x (n, d) less likely under the mixture than the reference's
    ``quantile`` of log p (true samples read ≈ ``quantile``); ``gap``: :func:`loglik_gap`
    over all of x; ``gap of the rest``: over the other rows (NaN if none). A gap carried
    by a few off-mode samples reads a large share and a small rest; a student too tight
    around its modes, a negative rest."""
    x = np.asarray(check_rows(x, mixture.dim, "x"))
    reference = np.asarray(check_rows(reference, mixture.dim, "reference"))
    lp_x = np.asarray(mixture.log_prob(x), np.float64)
    lp_ref = np.asarray(mixture.log_prob(reference), np.float64)
    low = lp_x < np.quantile(lp_ref, quantile)
    rest = float(lp_ref.mean() - lp_x[~low].mean()) / mixture.dim if (~low).any() else np.nan
    return float(low.mean()), float(lp_ref.mean() - lp_x.mean()) / mixture.dim, rest


def sliced_wasserstein(
    key: jax.Array, x: jax.Array, y: jax.Array, n_projections: int = 128
) -> jax.Array:
    """Sliced 2-Wasserstein distance between the samples x and y (both (n, d)). Scalar.

    sqrt of the mean over random unit directions θ of W2²(θ·x, θ·y), each 1-D W2
    exact by sorting. 0 for identical samples; scales linearly with a common
    rescaling (divide by the data's scale for a scale-free number).
    """
    x, y = check_paired(x, y, "x", "y")
    theta = jax.random.normal(key, (x.shape[1], n_projections))
    theta = theta / jnp.linalg.norm(theta, axis=0, keepdims=True)
    px, py = jnp.sort(x @ theta, axis=0), jnp.sort(y @ theta, axis=0)
    return jnp.sqrt(jnp.mean((px - py) ** 2))


def denoiser_error(
    denoise,
    mixture: GaussianMixture,
    key: jax.Array,
    sigmas,
    n: int = 512,
    noising=None,
    conditional: bool = False,
) -> jax.Array:
    """Excess error of a denoiser relative to the optimum, per σ: shape (len(sigmas),).

    E‖D(x_σ, σ) − D*(x_σ, σ)‖² / E‖D*(x_σ, σ) − x_0‖², D* the mixture's exact
    denoiser, x_0 ~ mixture. By orthogonality of the conditional mean, the numerator
    is the denoiser's MSE minus the optimal MSE: 0 = optimal, 1 = twice the optimal
    error. Scale-invariant. With a flow ``noising`` the denoiser is called at the t with
    the same signal-to-noise ratio, t = σ/(1 + σ), on x_t = (1 − t) x_0 + t ε; with
    ``conditional`` it is given each sample's class (``denoise(x, level, labels)``) and
    compared with the class-conditional optimum.
    """
    sigmas = jnp.asarray(sigmas, dtype=jnp.float32)
    if not isinstance(sigmas, jax.core.Tracer) and not bool(jnp.all(sigmas > 0)):
        raise ValueError(f"sigmas must be > 0, got {np.asarray(sigmas).tolist()}")

    def one(k, sigma):
        k_x, k_n = jax.random.split(k)
        x0, labels = mixture.sample_with_labels(k_x, n)
        eps = jax.random.normal(k_n, x0.shape)
        if noising is None and not conditional:
            x = x0 + sigma * eps
            best, got = mixture.denoise(x, sigma), denoise(x, sigma)
        else:
            level = noising.level_of_sigma(sigma)
            x = noising.noised(x0, eps, level)
            lab = labels if conditional else None
            best = noising.exact(mixture, x, level, lab)
            got = denoise(x, level, lab) if conditional else denoise(x, level)
        excess = jnp.mean(jnp.sum((got - best) ** 2, -1))
        optimal = jnp.mean(jnp.sum((best - x0) ** 2, -1))
        return excess / optimal

    keys = jax.random.split(key, sigmas.shape[0])
    return jax.lax.map(lambda a: one(*a), (keys, sigmas))

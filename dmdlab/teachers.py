"""Teachers: anything with ``denoise(x (n, d), σ) -> (n, d)`` (also callable).

- :class:`OracleTeacher` — the mixture's exact denoiser.
- :class:`MemorizingTeacher` — the exact denoiser of N training points; its ODE map
  lands on those points.
- :class:`NetworkTeacher` — an MLP denoiser trained by denoising score matching
  (:func:`train_network_teacher`), on noisy targets x_0 ("samples") or on the exact
  E[x_0 | x_σ] ("exact": the same minimiser, no target noise); its training length is
  the convergence knob.

All three are JAX pytrees, so they pass through ``jit`` and ``vmap``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from dmdlab.config import CHOICES
from dmdlab.mixture import GaussianMixture
from dmdlab.networks import NetSpec
from dmdlab.optim import adamw

__all__ = [
    "MemorizingTeacher",
    "NetworkTeacher",
    "OracleTeacher",
    "denoising_loss",
    "mode_sigma",
    "sample_flow_levels",
    "sample_teacher_sigma",
    "train_network_teacher",
]

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
TEACHER_TARGETS = CHOICES["teacher_target"]
TEACHER_SIGMAS = CHOICES["teacher_sigma"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class OracleTeacher:
    """The exact denoiser E[x_0 | x_σ] of ``mixture``."""

    mixture: GaussianMixture

    def denoise(self, x: jax.Array, sigma, labels=None) -> jax.Array:
        """(n, d), σ scalar or (n,) → (n, d); ``labels``: class-conditional."""
        return self.mixture.denoise(x, sigma, labels)

    __call__ = denoise


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MemorizingTeacher:
    """The exact denoiser of the empirical distribution of ``points`` (N, d)."""

    points: jax.Array

    @property
    def mixture(self) -> GaussianMixture:
        return GaussianMixture.empirical(self.points)

    def denoise(self, x: jax.Array, sigma) -> jax.Array:
        """(n, d), σ scalar or (n,) → (n, d)."""
        return self.mixture.denoise(x, sigma)

    __call__ = denoise


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NetworkTeacher:
    """A trained denoiser network: ``spec.apply(params, x, σ)``."""

    params: object
    spec: NetSpec = dataclasses.field(metadata=dict(static=True))

    def denoise(self, x: jax.Array, sigma, labels=None) -> jax.Array:
        """(n, d), σ scalar or (n,) → (n, d); ``labels`` for a class-conditional net."""
        return self.spec.apply(self.params, x, sigma, labels)

    __call__ = denoise


def mode_sigma(mixture: GaussianMixture) -> jax.Array:
    """The noise level where a noised point's component is decided (scalar).

    For two means Δ apart, the posterior log-odds of x = μ_k + σε are
    Δ²/(2σ²) + (Δ/σ)·N(0, 1): the signal meets the noise at σ ≈ Δ/2. This returns half
    the median nearest-neighbour distance between the means, which grows like √d for
    means ~ N(0, I_d) (≈ 1 at d = 2, ≈ 7 at d = 128).
    """
    means = mixture.means
    sq = jnp.sum((means[:, None] - means[None]) ** 2, -1)
    sq = jnp.where(jnp.eye(means.shape[0], dtype=bool), jnp.inf, sq)
    nearest = jnp.sqrt(jnp.min(sq, axis=1))
    # one component: no decision to make; fall back to the data's own scale
    return jnp.where(means.shape[0] > 1, 0.5 * jnp.median(nearest), jnp.sqrt(mixture.variance()))


def sample_teacher_sigma(
    key: jax.Array, n: int, sigma_max: float = SIGMA_MAX, sigma_mode=None
) -> jax.Array:
    """σ (n,) for denoiser training.

    Without ``sigma_mode`` ("edm" in the config): half EDM log-normal (P_mean −1.2,
    P_std 1.2), half log-uniform over [0.002, σ_max]. With it ("focused"): a quarter
    each of those two, of a log-normal centred on ``sigma_mode`` (std 0.7 in log σ),
    and of σ = σ_max exactly.

    The log-uniform part is what teaches the network σ ≈ σ_max (docs/science.md §7);
    log-normal alone almost never draws it. The mode band is where a noised point's
    component is decided (:func:`mode_sigma`); it moves up like √d, out of EDM's
    log-normal (centred on σ ≈ 0.3). σ_max itself is where the student is read, and the
    pairing signal there is a tilt of O(1/σ_max) (docs/science.md §5b): measured at d = 8
    (3000 steps), the share at σ_max cuts the error there from 12.8× to 0.7× that
    signal, with the other bands unchanged.
    """
    k_ln, k_lu, k_mode, k_pick = jax.random.split(key, 4)
    lognormal = jnp.exp(-1.2 + 1.2 * jax.random.normal(k_ln, (n,)))
    u = jax.random.uniform(k_lu, (n,))
    loguniform = jnp.exp(jnp.log(SIGMA_MIN) + u * (jnp.log(sigma_max) - jnp.log(SIGMA_MIN)))
    if sigma_mode is None:
        pick = jax.random.bernoulli(k_pick, 0.5, (n,))
        sigma = jnp.where(pick, lognormal, loguniform)
    else:
        band = sigma_mode * jnp.exp(0.7 * jax.random.normal(k_mode, (n,)))
        which = jax.random.randint(k_pick, (n,), 0, 4)
        sigma = jnp.select(
            [which == 0, which == 1, which == 2], [lognormal, loguniform, band], sigma_max
        )
    return jnp.clip(sigma, SIGMA_MIN, sigma_max)


def sample_flow_levels(key: jax.Array, n: int, t_min: float, sigma_mode=None) -> jax.Array:
    """t (n,) for a flow-matching denoiser: uniform on (t_min, 1) (the workbench's);
    with ``sigma_mode`` ("focused"), half of them, a quarter in the band where modes are
    decided (σ log-normal about ``sigma_mode``, t = σ/(1 + σ)) and a quarter at t = 1,
    where the student reads its network."""
    k_u, k_mode, k_pick = jax.random.split(key, 3)
    uniform = jax.random.uniform(k_u, (n,), minval=t_min, maxval=1.0)
    if sigma_mode is None:
        return uniform
    band = sigma_mode * jnp.exp(0.7 * jax.random.normal(k_mode, (n,)))
    which = jax.random.randint(k_pick, (n,), 0, 4)
    t = jnp.select([which <= 1, which == 2], [uniform, band / (1 + band)], 1.0)
    return jnp.clip(t, t_min, 1.0)


def denoising_loss(
    denoise,
    x0: jax.Array,
    sigma: jax.Array,
    noise: jax.Array,
    sigma_data: float,
    target_fn=None,
    noising=None,
):
    """EDM's weighted x0-prediction loss, mean over samples of λ(σ)·mean_coords (D − y)².

    λ(σ) = 1/σ² + 1/σ_data², which makes the loss O(1) at every σ. x0, noise (n, d), σ (n,).
    The target y is x0 (denoising score matching) or, with ``target_fn(x_σ, σ)``, e.g. the
    exact E[x0 | x_σ]: both have the conditional mean as minimiser, the second without
    the target's variance. With a flow ``noising`` (:class:`dmdlab.noising.Noising`) the
    levels are t, x_t = (1 − t) x0 + t·noise and λ = 1/t² (the velocity loss).
    """
    if noising is None or noising.kind == "ve":
        weight = 1.0 / sigma**2 + 1.0 / sigma_data**2
        x_noisy = x0 + sigma[:, None] * noise
    else:
        weight = noising.loss_weight(sigma, sigma_data)
        x_noisy = noising.noised(x0, noise, sigma)
    target = x0 if target_fn is None else jax.lax.stop_gradient(target_fn(x_noisy, sigma))
    err = denoise(x_noisy, sigma) - target
    return jnp.mean(weight * jnp.mean(err**2, axis=-1))


def _teacher_batch(k, data, batch_size, conditional, noising, sigma_max, sigma_mode, target):
    """One teacher batch: clean points (n, d), their classes (n,) or None, levels (n,),
    noise (n, d) and the exact target function (None for sampled targets)."""
    flow = noising is not None and noising.kind == "flow"
    k_x, k_s, k_n = jax.random.split(k, 3)
    x0, labels = data.sample_with_labels(k_x, batch_size)
    labels = labels if conditional else None
    if flow:
        sigma = sample_flow_levels(k_s, batch_size, noising.bottom, sigma_mode)
    else:
        sigma = sample_teacher_sigma(k_s, batch_size, sigma_max, sigma_mode)
    noise = jax.random.normal(k_n, x0.shape)
    target_fn = None
    if target == "exact" and (flow or conditional):
        target_fn = lambda x, s: noising.exact(data, x, s, labels)  # noqa: E731
    elif target == "exact":
        target_fn = data.denoise
    return x0, labels, sigma, noise, target_fn


def train_network_teacher(
    key: jax.Array,
    data: GaussianMixture,
    spec: NetSpec,
    *,
    steps: int = 4000,
    batch_size: int = 512,
    learning_rate=1e-3,
    sigma_max: float = SIGMA_MAX,
    init_params=None,
    target: str = "exact",
    sigma_dist: str = "focused",
    noising=None,
    conditional: bool = False,
) -> tuple[NetworkTeacher, jax.Array]:
    """Fit ``spec`` to ``data`` by denoising score matching; one ``lax.scan``, jit/vmap-able.

    ``data`` is any mixture to sample from (``GaussianMixture.empirical(points)`` trains
    on a finite set). ``target``: "exact" regresses on ``data.denoise`` (E[x0 | x_σ] of
    the data, known here in closed form), "samples" on the noisy x0 (ordinary DSM).
    ``sigma_dist`` "focused" adds the band where modes are decided and σ_max itself to
    the σ distribution, "edm" keeps EDM's log-normal plus log-uniform
    (:func:`sample_teacher_sigma`). A flow ``noising`` trains on t levels instead
    (:func:`sample_flow_levels`, the velocity-loss weight). ``conditional``: the network
    takes the data's component as its class and regresses on the class-conditional
    target. Returns the teacher and its loss per step (steps,).
    """
    if target not in TEACHER_TARGETS:
        raise ValueError(f"target={target!r} is invalid: allowed {TEACHER_TARGETS}")
    if sigma_dist not in TEACHER_SIGMAS:
        raise ValueError(f"sigma_dist={sigma_dist!r} is invalid: allowed {TEACHER_SIGMAS}")
    k_init, k_train = jax.random.split(key)
    params = spec.init(k_init) if init_params is None else init_params
    opt = adamw(learning_rate, decay_steps=steps)
    sigma_mode = mode_sigma(data) if sigma_dist == "focused" else None

    def step(carry, k):
        params, opt_state = carry
        x0, labels, sigma, noise, target_fn = _teacher_batch(
            k, data, batch_size, conditional, noising, sigma_max, sigma_mode, target
        )

        def loss_fn(p):
            return denoising_loss(
                lambda x, s: spec.apply(p, x, s, labels), x0, sigma, noise, spec.sigma_data,
                target_fn, noising,
            )  # fmt: skip

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(
        step, (params, opt.init(params)), jax.random.split(k_train, steps)
    )
    return NetworkTeacher(params, spec), losses

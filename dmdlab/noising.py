"""The two noise parametrizations a teacher can be trained in (docs/science.md §2–3, §1b).

- ``"ve"``: EDM's variance exploding process, x_σ = x_0 + σ ε, σ ∈ [0.002, σ_max]; the
  one-step student reads its network at σ_max with input σ_max z.
- ``"flow"``: rectified flow (the paper's low-dimensional workbench), x_t = (1 − t) x_0 +
  t ε, t ∈ [t_min, 1]; the one-step student reads the clean prediction at t = 1 with
  input z, where the exact prediction is the data (or class) mean: no z-dependence.

The two describe the same marginals: x_t / (1 − t) is x_σ at σ = t / (1 − t), and the
probability-flow ODE of one is the other's after that change of variables. So the flow
map T(z) is the VE map from σ_max = ∞ (a VE map from finite σ_max differs from it by
O(1/σ_max), docs/science.md §3's oracle), and the flow read-out at t = 1 is the VE read-out
at σ = ∞, where the O(1/σ_max) tilt of docs/science.md §5b has vanished. Everything the
harness does with a noise level goes through a :class:`Noising`, so both run the same
code.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dmdlab.config import CHOICES
from dmdlab.ode import karras_sigmas, teacher_map

__all__ = ["NOISINGS", "Noising"]

NOISINGS = CHOICES["parametrization"]
SIGMA_MIN = 0.002
GRID = 1000  # DMD2 draws σ on a 1000-point Karras grid; the flow grid has as many t's
_T_EPS = 1e-6  # log t and log(1 − t) of the noise embedding, kept finite at t = 0, 1


def flow_precond(t: jax.Array, sigma_data: float):
    """EDM's (c_skip, c_out, c_in, c_noise) written for the flow input x_t, so that the
    same network D = c_skip x + c_out F(c_in x, c_noise) serves a flow teacher: EDM's
    coefficients at σ = t/(1 − t) on x_σ = x_t/(1 − t), finite at t = 1 (c_skip = 0,
    c_in = 1/σ_data... exactly: c_in = 1/√(t² + σ_d²(1 − t)²), c_out = σ_d t · c_in)."""
    norm = jnp.sqrt(t**2 + sigma_data**2 * (1 - t) ** 2)
    c_skip = sigma_data**2 * (1 - t) / norm**2
    c_out = sigma_data * t / norm
    c_in = 1.0 / norm
    tc = jnp.clip(t, _T_EPS, 1 - _T_EPS)
    c_noise = (jnp.log(tc) - jnp.log1p(-tc)) / 4.0  # EDM's log(σ)/4 at σ = t/(1 − t)
    return c_skip, c_out, c_in, c_noise


@dataclasses.dataclass(frozen=True)
class Noising:
    """One parametrization (``kind`` "ve" or "flow"), static and hashable.

    A *level* is σ (VE) or t (flow). ``top`` is where the one-step student reads its
    network (σ_max, or t = 1) and ``bottom`` where the ODE ends (σ_min = 0.002, or the
    t with t/(1 − t) = 0.002)."""

    kind: str = "ve"
    sigma_max: float = 80.0

    def __post_init__(self):
        if self.kind not in NOISINGS:
            raise ValueError(f"parametrization={self.kind!r} is invalid: allowed {NOISINGS}")

    @property
    def top(self) -> float:
        return self.sigma_max if self.kind == "ve" else 1.0

    @property
    def bottom(self) -> float:
        return SIGMA_MIN if self.kind == "ve" else SIGMA_MIN / (1 + SIGMA_MIN)

    def alpha_sigma(self, level):
        """(α, σ) of x = α x_0 + σ ε at ``level``."""
        if self.kind == "ve":
            return jnp.ones_like(level), level
        return 1 - level, level

    def noised(self, x0: jax.Array, eps: jax.Array, level) -> jax.Array:
        """x at ``level`` (n,) or scalar from clean x0 (n, d) and noise eps (n, d)."""
        level = jnp.broadcast_to(jnp.asarray(level, x0.dtype), x0.shape[:1])[:, None]
        if self.kind == "ve":
            return x0 + level * eps
        return (1 - level) * x0 + level * eps

    def start(self, z: jax.Array) -> jax.Array:
        """The one-step student's input from noise z (n, d): σ_max z, or z."""
        return self.sigma_max * z if self.kind == "ve" else z

    def sigma_of(self, level):
        """The VE noise level with the same signal-to-noise ratio: σ, or t/(1 − t)."""
        return level if self.kind == "ve" else level / (1 - level)

    def level_of_sigma(self, sigma):
        """The inverse of :meth:`sigma_of`."""
        return sigma if self.kind == "ve" else sigma / (1 + sigma)

    def exact(self, mixture, x: jax.Array, level, labels=None) -> jax.Array:
        """The mixture's exact E[x_0 | x at ``level``] (n, d), optionally given the class."""
        if self.kind == "ve":
            return mixture.denoise(x, level, labels)
        level = jnp.broadcast_to(jnp.asarray(level, x.dtype), x.shape[:1])
        return mixture.denoise(x, level, labels, alpha=1 - level)

    def loss_weight(self, level, sigma_data: float):
        """The denoising loss's weight on the clean-prediction error at ``level``: EDM's
        1/σ² + 1/σ_d², or the flow's 1/t² (its velocity loss ‖v − (ε − x_0)‖² equals
        ‖D − x_0‖²/t² with v = (x_t − D)/t)."""
        if self.kind == "ve":
            return 1.0 / level**2 + 1.0 / sigma_data**2
        return 1.0 / level**2

    def grid(self) -> jax.Array:
        """The levels (GRID,) DMD2 draws from, top first: σ on the Karras grid, or t
        evenly spaced from 1 down to ``bottom``."""
        if self.kind == "ve":
            return karras_sigmas(GRID, self.sigma_max, SIGMA_MIN)
        return jnp.linspace(1.0, self.bottom, GRID)

    def generator_range(self) -> tuple[int, int]:
        """The grid indices the generator's loss draws from: DMD2's 20…980 of the Karras
        grid (σ ≈ 72 … 0.003), or the workbench's t ∈ [0.01, 0.99]."""
        return (20, 980) if self.kind == "ve" else (10, 990)

    def ladder(self, steps: int, sigma_min: float) -> jax.Array:
        """A few-step student's levels (steps,) from ``top``: the Karras ladder from σ_max
        to ``sigma_min``, or for flow the same ladder's t's after t = 1."""
        if steps == 1:
            return jnp.array([self.top], jnp.float32)
        sigmas = karras_sigmas(steps, self.sigma_max, sigma_min)
        if self.kind == "ve":
            return sigmas
        return jnp.concatenate([jnp.ones((1,)), self.level_of_sigma(sigmas[1:])])

    def ode_map(self, denoise, z: jax.Array, steps: int) -> jax.Array:
        """T(z) (n, d) from noise z (n, d) by Heun's method over ``steps`` levels, then a
        last denoise. VE: :func:`dmdlab.ode.teacher_map` (Karras σ from σ_max). Flow: from
        t = 1 (x = z) down the same Karras levels mapped to t, dx/dt = (x − D(x, t))/t."""
        if self.kind == "ve":
            return teacher_map(denoise, z, sigma_max=self.sigma_max, steps=steps)
        levels = jnp.concatenate(
            [jnp.ones((1,)), self.level_of_sigma(karras_sigmas(steps - 1, self.sigma_max))]
        )

        def slope(x, t):
            return (x - denoise(x, t)) / t

        def heun(x, pair):
            t, t_next = pair
            d = slope(x, t)
            x_euler = x + (t_next - t) * d
            return x + (t_next - t) * 0.5 * (d + slope(x_euler, t_next)), None

        x, _ = jax.lax.scan(heun, z, (levels[:-1], levels[1:]))
        return denoise(x, levels[-1])

    def class_map(self, mixture, z: jax.Array, labels: jax.Array) -> jax.Array:
        """The exact ODE map T(z | c) (n, d) of each row's class (one Gaussian component
        of ``mixture``), in closed form: along the path every eigendirection of the
        class covariance (variance λ) scales independently, then the last denoise
        (docs/science.md §3, per direction). VE: x(σ) − μ = (σ_max z − μ)·√(λ + σ²)/√(λ +
        σ_max²); flow: x_t = (1 − t) μ + √((1 − t)² λ + t²) z."""
        if mixture.radii is not None:
            raise ValueError("a sphere shell's ODE map has no closed form: integrate it "
                             "(ode_map with the shell's exact denoiser)")  # fmt: skip
        mu = mixture.means[labels]
        s_off = mixture.stds[labels][:, None] ** 2
        if mixture.bases is None:
            proj = None
        else:
            b = mixture.bases[labels]
            s_in = mixture.sub_stds[labels][:, None] ** 2
            proj = lambda v: jnp.einsum("ndm,nm->nd", b, jnp.einsum("ndm,nd->nm", b, v))  # noqa: E731
        lo = self.bottom

        def along(lam, v):
            """The map's action on a component v of the start, for variance λ."""
            if self.kind == "ve":
                x = v * jnp.sqrt(lam + lo**2) / jnp.sqrt(lam + self.sigma_max**2)
                return lam / (lam + lo**2) * x  # the last denoise at σ_min
            return (1 - lo) * lam / jnp.sqrt((1 - lo) ** 2 * lam + lo**2) * v

        v = self.sigma_max * z - mu if self.kind == "ve" else z
        if proj is None:
            return mu + along(s_off, v)
        inside = proj(v)
        return mu + along(s_off, v - inside) + along(s_in, inside)

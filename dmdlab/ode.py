"""The teacher's pairing T(z): the probability-flow ODE from σ_max·z down to σ_min.

dx/dσ = (x − D(x, σ)) / σ  (EDM's ODE for the variance-exploding process),
integrated with EDM's Heun sampler on the Karras schedule, then one last denoise.
``teacher_map_adaptive`` solves the same ODE with an adaptive Runge–Kutta method
(diffrax) as an accuracy reference for the fixed-step sampler.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["karras_sigmas", "teacher_map", "teacher_map_adaptive", "teacher_path"]

Denoiser = Callable[[jax.Array, jax.Array], jax.Array]


def karras_sigmas(n: int, sigma_max: float = 80.0, sigma_min: float = 0.002, rho: float = 7.0):
    """The Karras et al. (2022) schedule: n noise levels (n,) from σ_max down to σ_min."""
    if n < 2:
        raise ValueError(f"n must be >= 2 for a schedule, got {n}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = jnp.linspace(0.0, 1.0, n)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def _check_z(z) -> jax.Array:
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"z must have shape (n, d), got {tuple(z.shape)}")
    return z


def _heun(denoise: Denoiser, z, sigma_max, sigma_min, steps, rho, keep_path: bool = False):
    """Heun on the Karras levels; returns (T(z) (n, d), path (steps, n, d) of x at each σ,
    or None without ``keep_path``: the path costs steps × n × d floats of memory)."""
    z = _check_z(z)
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    sigmas = karras_sigmas(steps, sigma_max, sigma_min, rho)

    def slope(x, s):
        return (x - denoise(x, s)) / s

    def heun_step(x, pair):
        s, s_next = pair
        d = slope(x, s)
        x_euler = x + (s_next - s) * d  # Euler step
        d_next = slope(x_euler, s_next)
        x_next = x + (s_next - s) * 0.5 * (d + d_next)  # 2nd-order correction
        return x_next, x_next if keep_path else None

    x0 = sigma_max * z
    x, path = jax.lax.scan(heun_step, x0, (sigmas[:-1], sigmas[1:]))
    if keep_path:
        path = jnp.concatenate([x0[None], path])
    return denoise(x, sigmas[-1]), path  # last denoise at σ_min (EDM's final step to σ = 0)


def teacher_map(
    denoise: Denoiser,
    z: jax.Array,
    *,
    sigma_max: float = 80.0,
    sigma_min: float = 0.002,
    steps: int = 200,
    rho: float = 7.0,
) -> jax.Array:
    """T(z) for noise z (n, d) → data (n, d), by Heun's method on ``steps`` Karras levels.

    The default of 200 levels keeps the single-Gaussian map within 5e-4 of the exact
    one (relative to T(z) − μ, s ≥ 0.2); EDM's usual 18–40 levels err by ~1% there,
    although they already agree with it on >99% of mode assignments.
    ``denoise(x (n, d), σ scalar) -> (n, d)`` is any teacher. The cost is 2·steps − 1
    denoiser calls. Jit-able and vmappable (``steps`` must be static).
    """
    return _heun(denoise, z, sigma_max, sigma_min, steps, rho)[0]


def teacher_path(
    denoise: Denoiser,
    z: jax.Array,
    *,
    sigma_max: float = 80.0,
    sigma_min: float = 0.002,
    steps: int = 200,
    rho: float = 7.0,
) -> tuple[jax.Array, jax.Array]:
    """The ODE trajectories behind :func:`teacher_map`: (sigmas (steps,), x (steps, n, d)),
    x[i] the state at sigmas[i], starting from σ_max z. For pictures of the flow."""
    return karras_sigmas(steps, sigma_max, sigma_min, rho), _heun(
        denoise, z, sigma_max, sigma_min, steps, rho, keep_path=True
    )[1]


def teacher_map_adaptive(
    denoise: Denoiser,
    z: jax.Array,
    *,
    sigma_max: float = 80.0,
    sigma_min: float = 0.002,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    max_steps: int = 16384,
) -> jax.Array:
    """T(z) (n, d) by an adaptive 5th-order solver (diffrax Dopri5) in log σ.

    The reference for measuring the fixed-step sampler's discretization error.
    Integrating in u = log σ (dx/du = x − D(x, e^u)) keeps the step sizes uniform
    over the ten decades between σ_max and σ_min. Needs the ``ode`` extra (diffrax).
    """
    try:
        import diffrax
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("teacher_map_adaptive needs diffrax: pip install 'dmdlab[ode]'") from err
    z = _check_z(z)

    def field(u, x, args):
        return x - denoise(x, jnp.exp(u))

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Dopri5(),
        t0=jnp.log(sigma_max),
        t1=jnp.log(sigma_min),
        dt0=-0.01,
        y0=sigma_max * z,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return denoise(sol.ys[-1], sigma_min)

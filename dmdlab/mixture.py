"""Gaussian mixtures in R^d with their exact noised densities and denoiser.

Everything here is closed form (docs/science.md §2): the data density, the density of
x_σ = x_0 + σ ε, the posterior over components and E[x_0 | x_σ]. This is the
"exact world" every learned quantity in dmdlab is checked against.

Two kinds of component: isotropic N(μ_k, s_k² I) (today's mixtures), and a Gaussian on
its own m-dimensional subspace (orthonormal basis B_k, std a_k inside it, a small
isotropic s_k outside it: the class blobs of the paper's low-dimensional workbench,
docs/science.md §1b). Every density and denoiser can be conditioned on the component
(``labels``: class-conditional generation), and the denoiser also takes the flow-matching
noising x_t = α x_0 + σ ε (``alpha``).

A third kind, the authors' sphere shells (``radii``): component k is uniform on the sphere
of radius R_k inside its subspace, thickened by N(0, s_k² I). Its noised density is still
closed form (a von Mises–Fisher normaliser: log I₀ for a circle, log(sinh κ/κ) for a
2-sphere) and so is its denoiser (the mean resultant length I₁/I₀, coth κ − 1/κ): exact,
not sampled.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from dmdlab._checks import check_positive_sigma, check_rows

__all__ = ["GaussianMixture"]

# The sphere dimensions a shell's subspace can hold: S^0 (two points), S^1, S^2.
SHELL_SUBSPACE_DIMS = (1, 2, 3)


def _sphere_log_mgf(p: jax.Array, kappa: jax.Array) -> jax.Array:
    """log E exp(κ⟨u, e⟩) for u uniform on the unit sphere of R^p, p ∈ {1, 2, 3}: log cosh κ,
    log I₀(κ), log(sinh κ / κ); κ ≥ 0, any shape (p broadcasts)."""
    k = jnp.maximum(kappa, 0.0)
    p1 = k + jnp.log1p(jnp.exp(-2.0 * k)) - math.log(2.0)
    p2 = k + jnp.log(jax.scipy.special.i0e(k))
    small = k < 1e-3  # the series below: the closed form loses every digit at κ → 0
    ks = jnp.where(small, 1.0, k)
    p3 = jnp.where(small, k**2 / 6.0, ks + jnp.log1p(-jnp.exp(-2.0 * ks)) - jnp.log(2.0 * ks))
    return jnp.where(p == 1, p1, jnp.where(p == 2, p2, p3))


def _sphere_mean_length(p: jax.Array, kappa: jax.Array) -> jax.Array:
    """E⟨u, e⟩ under u ∝ exp(κ⟨u, e⟩) on the unit sphere of R^p (the derivative of
    :func:`_sphere_log_mgf`): tanh κ, I₁(κ)/I₀(κ), coth κ − 1/κ."""
    k = jnp.maximum(kappa, 0.0)
    a2 = jax.scipy.special.i1e(k) / jax.scipy.special.i0e(k)
    small = k < 1e-3
    ks = jnp.where(small, 1.0, k)
    a3 = jnp.where(small, k / 3.0, 1.0 / jnp.tanh(ks) - 1.0 / ks)
    return jnp.where(p == 1, jnp.tanh(k), jnp.where(p == 2, a2, a3))


def _is_concrete(leaf) -> bool:
    """A value this process can read: not a tracer, nor a global array spanning other
    processes' devices (a multi-process program's output, before it is gathered)."""
    if isinstance(leaf, np.ndarray):
        return True
    return (
        isinstance(leaf, jax.Array)
        and not isinstance(leaf, jax.core.Tracer)
        and leaf.is_fully_addressable
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """p(x) = Σ_k π_k N(x; μ_k, s_k² I_d), a JAX pytree (vmappable over seeds).

    Attributes:
      weights: (K,) mixture weights π_k, non-negative, summing to 1.
      means: (K, d) component means μ_k.
      stds: (K,) isotropic standard deviations s_k ≥ 0 (0 = a point mass, as in
        the memorizing teacher's empirical distribution); on a subspace component, the
        std off its subspace.
      bases: None (isotropic components) or (K, d, m) orthonormal bases B_k: component k
        is then N(μ_k, s_k² (I − B_k B_kᵀ) + a_k² B_k B_kᵀ).
      sub_stds: None, or (K,) the stds a_k inside the subspaces (unused by shells).
      radii: None, or (K,) sphere radii R_k: component k is then uniform on the sphere of
        radius R_k in span(B_k) (its subspace dimension 1, 2 or 3), plus N(0, s_k² I).
    """

    weights: jax.Array
    means: jax.Array
    stds: jax.Array
    bases: jax.Array | None = None
    sub_stds: jax.Array | None = None
    radii: jax.Array | None = None

    def __post_init__(self):
        # Validate user-built mixtures; skip while JAX rebuilds the pytree with
        # tracers or placeholder leaves (vmap axes, tree utilities).
        if not all(_is_concrete(x) for x in (self.weights, self.means, self.stds)):
            return
        # Leading axes are allowed: a stack of mixtures (one per seed) is a mixture too.
        w, mu, s = np.asarray(self.weights), np.asarray(self.means), np.asarray(self.stds)
        if mu.ndim < 2 or mu.shape[-2] < 1 or mu.shape[-1] < 1:
            raise ValueError(f"means must have shape (K, d) with K, d >= 1, got {mu.shape}")
        if w.shape != mu.shape[:-1]:
            raise ValueError(f"weights must have shape (K,) = {mu.shape[:-1]}, got {w.shape}")
        if s.shape != mu.shape[:-1]:
            raise ValueError(f"stds must have shape (K,) = {mu.shape[:-1]}, got {s.shape}")
        if np.any(w < 0) or not np.allclose(w.sum(-1), 1.0, atol=1e-4):
            raise ValueError(f"weights must be >= 0 and sum to 1, got sums {w.sum(-1)}")
        if np.any(s < 0) or not np.all(np.isfinite(s)):
            raise ValueError("stds must be finite and >= 0")
        if not np.all(np.isfinite(mu)) or not np.all(np.isfinite(w)):
            raise ValueError("means and weights must be finite")
        if (self.bases is None) != (self.sub_stds is None):
            raise ValueError("bases and sub_stds go together: give both or neither")
        if self.bases is not None:
            b = np.asarray(self.bases)
            if b.ndim != mu.ndim + 1 or b.shape[:-1] != mu.shape:
                raise ValueError(
                    f"bases must have shape (K, d, m) = {mu.shape} + (m,), got {b.shape}"
                )
        if self.radii is not None and _is_concrete(self.radii):
            r = np.asarray(self.radii)
            if self.bases is None or r.shape != s.shape or not np.all((r > 0) & np.isfinite(r)):
                raise ValueError("radii must have shape (K,), be finite and > 0, and come with "
                                 "bases (a shell lives in its component's subspace)")  # fmt: skip

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(
        cls,
        key: jax.Array,
        dim: int,
        n_modes: int,
        std: float = 0.2,
        intrinsic_dim: int | None = None,
    ) -> GaussianMixture:
        """Equal-weight mixture with means μ_k ~ N(0, I_d) and common std.

        With ``intrinsic_dim=m`` the means are ``sqrt(d/m) U c_k``, c_k ~ N(0, I_m),
        U a random (d, m) orthonormal basis: they live in an m-dim subspace and
        still have E‖μ_k‖² = d, so the per-coordinate scale does not depend on m.
        Works under ``jax.vmap`` over ``key``.
        """
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if not isinstance(n_modes, (int, np.integer)) or n_modes < 1:
            raise ValueError(f"n_modes must be an integer >= 1, got {n_modes!r}")
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std!r}")
        if intrinsic_dim is not None and not 1 <= intrinsic_dim <= dim:
            raise ValueError(f"intrinsic_dim must be in [1, dim={dim}], got {intrinsic_dim!r}")
        k_mean, k_basis = jax.random.split(key)
        if intrinsic_dim is None or intrinsic_dim == dim:
            means = jax.random.normal(k_mean, (n_modes, dim))
        else:
            basis, _ = jnp.linalg.qr(jax.random.normal(k_basis, (dim, intrinsic_dim)))
            coef = jax.random.normal(k_mean, (n_modes, intrinsic_dim))
            means = math.sqrt(dim / intrinsic_dim) * coef @ basis.T
        weights = jnp.full((n_modes,), 1.0 / n_modes)
        stds = jnp.full((n_modes,), float(std))
        return cls(weights, means, stds)

    @classmethod
    def empirical(cls, points: jax.Array) -> GaussianMixture:
        """The empirical distribution of ``points`` (N, d): N equal-weight point masses."""
        points = jnp.asarray(points)
        if points.ndim != 2:
            raise ValueError(f"points must have shape (N, d), got {points.shape}")
        n = points.shape[0]
        return cls(jnp.full((n,), 1.0 / n), points, jnp.zeros((n,)))

    @classmethod
    def blobs(
        cls,
        key: jax.Array,
        dim: int,
        n_classes: int,
        class_dim: int | None = None,
        radius: float = 5.0,
        thickness: float = 0.2,
        class_dims: tuple[int, ...] | None = None,
    ) -> GaussianMixture:
        """The workbench's class blobs (docs/science.md §1b): class c is a unit-scale Gaussian
        on its own random ``class_dim``-dimensional subspace (orthonormal basis from a QR
        of a Gaussian matrix), its mean on the sphere of radius ``radius``·√d, equal
        weights. ``thickness``: the std off the subspace (the workbench's blobs are flat;
        a small thickness gives them a density, so log-likelihoods are defined).
        ``class_dim`` None = d (then each class is N(μ_c, I)). ``class_dims`` (one per class,
        e.g. (2, 1, 2), the workbench's commented-out line) gives each class its own
        subspace dimension instead (the unused basis columns are zero). Works under
        ``jax.vmap``."""
        m = dim if class_dim is None else class_dim
        if class_dims is not None:
            if len(class_dims) != n_classes or not all(1 <= c <= dim for c in class_dims):
                raise ValueError(f"class_dims must be {n_classes} integers in [1, dim={dim}], "
                                 f"got {class_dims!r}")  # fmt: skip
            m = max(class_dims)
        if not 1 <= m <= dim:
            raise ValueError(f"class_dim must be in [1, dim={dim}], got {class_dim!r}")
        if not (radius > 0 and thickness > 0):
            raise ValueError(f"radius and thickness must be > 0, got {radius!r}, {thickness!r}")
        k_mean, k_basis = jax.random.split(key)
        raw = jax.random.normal(k_mean, (n_classes, dim))
        means = radius * math.sqrt(dim) * raw / jnp.linalg.norm(raw, axis=-1, keepdims=True)
        bases = jnp.linalg.qr(jax.random.normal(k_basis, (n_classes, dim, m)))[0]
        if class_dims is not None:  # class c keeps its first class_dims[c] directions
            keep = jnp.arange(m)[None, :] < jnp.asarray(class_dims)[:, None]  # (K, m)
            bases = bases * keep[:, None, :]
        weights = jnp.full((n_classes,), 1.0 / n_classes)
        stds = jnp.full((n_classes,), float(thickness))
        return cls(weights, means, stds, bases, jnp.ones((n_classes,)))

    @classmethod
    def shells(
        cls,
        key: jax.Array,
        dim: int,
        sphere_dims: tuple[int, ...],
        radius: float = 2.0,
        thickness: float = 0.05,
        radius_range: tuple[float, float] = (0.5, 2.0),
    ) -> GaussianMixture:
        """The authors' sphere shells (docs/science.md §1b): class c is the sphere
        S^{k_c} (k_c = ``sphere_dims[c]``, 0, 1 or 2) of radius R_c ~ U(``radius_range``) in
        its own random (k_c + 1)-dimensional subspace (QR of a Gaussian matrix), centred on
        the sphere of radius ``radius``·√d, plus N(0, ``thickness``² I); equal weights.
        Works under ``jax.vmap``."""
        n = len(sphere_dims)
        if n < 1 or not all(0 <= k and k + 1 <= min(dim, 3) for k in sphere_dims):
            raise ValueError(f"sphere_dims must be integers in [0, min(dim - 1, 2)] (dim = "
                             f"{dim}), one per class, got {sphere_dims!r}")  # fmt: skip
        if not (radius > 0 and thickness > 0 and 0 < radius_range[0] <= radius_range[1]):
            raise ValueError(f"radius and thickness must be > 0 and radius_range a range of "
                             f"radii > 0, got {radius!r}, {thickness!r}, "
                             f"{radius_range!r}")  # fmt: skip
        m = max(sphere_dims) + 1
        k_mean, k_basis, k_radius = jax.random.split(key, 3)
        raw = jax.random.normal(k_mean, (n, dim))
        means = radius * math.sqrt(dim) * raw / jnp.linalg.norm(raw, axis=-1, keepdims=True)
        bases = jnp.linalg.qr(jax.random.normal(k_basis, (n, dim, m)))[0]
        keep = jnp.arange(m)[None, :] < jnp.asarray(sphere_dims)[:, None] + 1  # (K, m)
        radii = jax.random.uniform(k_radius, (n,), minval=radius_range[0],
                                   maxval=radius_range[1])  # fmt: skip
        return cls(jnp.full((n,), 1.0 / n), means, jnp.full((n,), float(thickness)),
                   bases * keep[:, None, :], jnp.zeros((n,)), radii)  # fmt: skip

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """Ambient dimension d."""
        return self.means.shape[-1]

    @property
    def n_modes(self) -> int:
        """Number of components K."""
        return self.means.shape[-2]

    @property
    def subspace_dim(self) -> int:
        """m, the widest component subspace (0 for isotropic components); a component with
        fewer dimensions has zero columns in its basis (:meth:`subspace_dims`)."""
        return 0 if self.bases is None else self.bases.shape[-1]

    def subspace_dims(self) -> jax.Array:
        """(K,) each component's own subspace dimension m_k = tr(B_k B_kᵀ): its basis's
        non-zero (orthonormal) columns, so classes of different intrinsic dimension
        ([2, 1, 2]) share one array shape."""
        return jnp.sum(self.bases**2, axis=(-2, -1))

    def variance(self) -> jax.Array:
        """Mean per-coordinate variance of the data, tr Cov(x) / d (scalar)."""
        mean = self.weights @ self.means
        spread = jnp.sum((self.means - mean) ** 2, axis=-1) / self.dim
        if self.bases is None:
            return self.weights @ (spread + self.stds**2)
        m, d = self.subspace_dims(), self.dim
        if self.radii is not None:  # E‖R u‖² = R²
            return self.weights @ (spread + self.stds**2 + self.radii**2 / d)
        within = (self.stds**2 * (d - m) + self.sub_stds**2 * m) / d
        return self.weights @ (spread + within)

    def sphere_distance(self, x: jax.Array) -> jax.Array:
        """Shells only: each point's (n, d) Euclidean distance (n,) to the nearest
        component sphere (centre μ_k, radius R_k, in the span of B_k). The thickness s is
        not part of it: a true sample lies about s·√d off its sphere at most."""
        if self.radii is None:
            raise ValueError("sphere_distance needs a shells mixture (radii)")
        r = x[:, None, :] - self.means[None]  # (n, K, d)
        inside = jnp.einsum("nkd,kdm->nkm", r, self.bases)
        # the part off the sphere's span, subtracted as vectors (not as squared norms,
        # which cancel in float32)
        across = r - jnp.einsum("kdm,nkm->nkd", self.bases, inside)
        along = jnp.linalg.norm(inside, axis=-1) - self.radii[None]
        return jnp.sqrt(jnp.sum(across**2, -1) + along**2).min(axis=1)

    # ------------------------------------------------------------------ sampling
    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """n i.i.d. samples, shape (n, d)."""
        x, _ = self.sample_with_labels(key, n)
        return x

    def sample_with_labels(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """n samples (n, d) and the index (n,) of the component each came from."""
        k_comp, k_noise = jax.random.split(key)
        labels = jax.random.categorical(k_comp, jnp.log(self.weights), shape=(n,))
        return self.sample_given(k_noise, labels), labels

    def sample_given(self, key: jax.Array, labels: jax.Array) -> jax.Array:
        """One sample (n, d) of component ``labels[i]`` (n,) per row: class-conditional."""
        eps = jax.random.normal(key, (labels.shape[0], self.dim))
        if self.bases is None:
            return self.means[labels] + self.stds[labels, None] * eps
        b = self.bases[labels]  # (n, d, m)
        if self.radii is not None:  # a uniform direction among the basis's own columns
            k_eps, k_dir = jax.random.split(key)
            eps = jax.random.normal(k_eps, eps.shape)
            g = jax.random.normal(k_dir, (b.shape[0], b.shape[2])) * (jnp.sum(b**2, axis=1) > 0.5)
            u = g / jnp.linalg.norm(g, axis=-1, keepdims=True)
            on_sphere = self.radii[labels, None] * jnp.einsum("ndm,nm->nd", b, u)
            return self.means[labels] + on_sphere + self.stds[labels, None] * eps
        inside = jnp.einsum("ndm,nm->nd", b, jnp.einsum("ndm,nd->nm", b, eps))
        s, a = self.stds[labels, None], self.sub_stds[labels, None]
        return self.means[labels] + s * (eps - inside) + a * inside

    # ------------------------------------------------------------------ densities
    def _component_logits(self, x: jax.Array, var: jax.Array) -> jax.Array:
        """log π_k + log N(x; μ_k, var_k I) for x (n, d), var (n, K) → (n, K)."""
        # ‖x − μ‖² expanded so the (n, K, d) difference tensor is never built: the
        # memorizing teacher has K = N training points.
        sq = (
            jnp.sum(x**2, axis=-1, keepdims=True)
            - 2.0 * x @ self.means.T
            + jnp.sum(self.means**2, axis=-1)
        )
        sq = jnp.maximum(sq, 0.0)
        d = self.dim
        return jnp.log(self.weights) - 0.5 * sq / var - 0.5 * d * jnp.log(2.0 * jnp.pi * var)

    def _general_logits(self, x: jax.Array, alpha, sigma):
        """log π_k + log N(x; α μ_k, α² Σ_k + σ² I) (n, K) for subspace components or an
        affine noising, with what the denoiser needs: the residuals r = x − α μ_k
        (n, K, d), their subspace coordinates u = B_kᵀ r (n, K, m) or None, and the
        variances off (n, K) and inside (n, K) the subspaces."""
        n, d = x.shape
        alpha = jnp.broadcast_to(jnp.asarray(alpha, x.dtype), (n,))[:, None]
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), (n,))[:, None]
        r = x[:, None, :] - alpha[..., None] * self.means[None]  # (n, K, d)
        var_off = alpha**2 * self.stds**2 + sigma**2  # (n, K)
        sq = jnp.sum(r**2, -1)
        if self.bases is None:
            u, var_in, quad = None, var_off, sq / var_off
            logdet = d * jnp.log(var_off)
        else:
            m = self.subspace_dims()  # (K,): per component, zero columns not counted
            u = jnp.einsum("nkd,kdm->nkm", r, self.bases)
            var_in = alpha**2 * self.sub_stds**2 + sigma**2
            u2 = jnp.sum(u**2, -1)
            quad = (sq - u2) / var_off + u2 / var_in
            logdet = (d - m) * jnp.log(var_off) + m * jnp.log(var_in)
        logits = jnp.log(self.weights) - 0.5 * quad - 0.5 * logdet - 0.5 * d * jnp.log(2 * jnp.pi)
        return logits, r, u, var_off, var_in

    def _shell_terms(self, x: jax.Array, alpha, sigma):
        """For shells: log π_k + log p(α x0 + σ ε = x | k) (n, K) and E[x0 | x, k] (n, K, d).

        With r = x − α μ_k, v = α² s_k² + σ², ρ = α R_k, y = B_kᵀ r and κ = ρ‖y‖/v:
        log p = −½ d log(2π v) − (‖r‖² + ρ²)/(2v) + log M_p(κ), M_p the sphere's moment
        generating function (:func:`_sphere_log_mgf`); E[u | x, k] = A_p(κ) y/‖y‖ (the
        von Mises–Fisher mean) and E[x0 | x, k] = μ + R B ū + (α s²/v)(r − ρ B ū)."""
        n, d = x.shape
        a = jnp.broadcast_to(jnp.asarray(alpha, x.dtype), (n,))[:, None]
        sig = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), (n,))[:, None]
        r = x[:, None, :] - a[..., None] * self.means[None]  # (n, K, d)
        v = a**2 * self.stds**2 + sig**2  # (n, K)
        rho = a * self.radii  # (n, K)
        y = jnp.einsum("nkd,kdm->nkm", r, self.bases)
        q = jnp.sqrt(jnp.sum(y**2, -1))
        kappa = rho * q / v
        p = jnp.round(self.subspace_dims())  # (K,)
        logits = (jnp.log(self.weights) - 0.5 * d * jnp.log(2 * jnp.pi * v)
                  - 0.5 * (jnp.sum(r**2, -1) + rho**2) / v + _sphere_log_mgf(p, kappa))  # fmt: skip
        # ū = A(κ) y/‖y‖; at ‖y‖ = 0 every direction is as likely: ū = 0
        u_bar = (_sphere_mean_length(p, kappa) / jnp.where(q > 0, q, 1.0))[..., None] * y
        on_sphere = jnp.einsum("nkm,kdm->nkd", u_bar, self.bases)  # B ū
        gain = (a * self.stds**2 / v)[..., None]
        cond = (self.means[None] + self.radii[None, :, None] * on_sphere
                + gain * (r - rho[..., None] * on_sphere))  # fmt: skip
        return logits, cond

    def _logits(self, x: jax.Array, alpha, sigma) -> jax.Array:
        """log π_k + log p(α x0 + σ ε = x | k) (n, K), whatever the components' kind."""
        if self.radii is not None:
            return self._shell_terms(x, alpha, sigma)[0]
        return self._general_logits(x, alpha, sigma)[0]

    def _general_denoise(self, x, alpha, sigma, labels):
        """E[x0 | α x0 + σ ε = x] (n, d), over the posterior or given the component."""
        if self.radii is not None:
            logits, cond = self._shell_terms(x, alpha, sigma)
        else:
            logits, cond = self._gaussian_terms(x, alpha, sigma)
        if labels is not None:
            return jnp.take_along_axis(cond, labels[:, None, None], axis=1)[:, 0]
        w = jax.nn.softmax(logits, axis=-1)
        return jnp.einsum("nk,nkd->nd", w, cond)

    def _gaussian_terms(self, x, alpha, sigma):
        """Gaussian components' logits (n, K) and E[x0 | x, k] (n, K, d)."""
        logits, r, u, var_off, var_in = self._general_logits(x, alpha, sigma)
        n = x.shape[0]
        a = jnp.broadcast_to(jnp.asarray(alpha, x.dtype), (n,))[:, None]
        # per component: μ_k + α Σ_k (α² Σ_k + σ² I)⁻¹ r
        cond = self.means[None] + (a * self.stds**2 / var_off)[..., None] * r
        if u is not None:
            gain = a * self.sub_stds**2 / var_in - a * self.stds**2 / var_off  # (n, K)
            cond = cond + jnp.einsum("nkm,kdm->nkd", gain[..., None] * u, self.bases)
        return logits, cond

    def _noised_var(self, x: jax.Array, sigma) -> jax.Array:
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        return self.stds**2 + sigma[:, None] ** 2

    def log_prob(self, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """log p(x) for x (n, d) → (n,); with ``labels`` (n,), the class-conditional
        log p(x | c) of component labels[i]. Needs every std > 0."""
        x = check_rows(x, self.dim, "x")
        if self.bases is None and labels is None:
            var = jnp.broadcast_to(self.stds**2, (x.shape[0], self.n_modes))
            return jax.nn.logsumexp(self._component_logits(x, var), axis=-1)
        logits = self._logits(x, 1.0, 0.0)
        if labels is None:
            return jax.nn.logsumexp(logits, axis=-1)
        # log N(x; μ_c, Σ_c) = logit_c − log π_c
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return picked - jnp.log(self.weights[labels])

    def noised_log_prob(self, x: jax.Array, sigma, labels=None) -> jax.Array:
        """log p_σ(x), the density of x_0 + σ ε; x (n, d), σ scalar or (n,) → (n,); with
        ``labels`` (n,), the class-conditional log p_σ(x | c)."""
        x = check_rows(x, self.dim, "x")
        check_positive_sigma(sigma, x.shape[0])
        if self.bases is None and labels is None:
            return jax.nn.logsumexp(self._component_logits(x, self._noised_var(x, sigma)), -1)
        logits = self._logits(x, 1.0, sigma)
        if labels is None:
            return jax.nn.logsumexp(logits, axis=-1)
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return picked - jnp.log(self.weights[labels])

    def posterior(self, x: jax.Array, sigma) -> jax.Array:
        """p(component k | x_σ = x) for x (n, d), σ scalar or (n,) → (n, K)."""
        x = check_rows(x, self.dim, "x")
        check_positive_sigma(sigma, x.shape[0])
        if self.bases is not None:
            return jax.nn.softmax(self._logits(x, 1.0, sigma), axis=-1)
        return jax.nn.softmax(self._component_logits(x, self._noised_var(x, sigma)), axis=-1)

    def denoise(self, x: jax.Array, sigma, labels=None, alpha=None) -> jax.Array:
        """Exact E[x_0 | x_σ = x] for x (n, d), σ scalar or (n,) → (n, d).

        Σ_k w_k(x, σ) [μ_k + s_k²/(s_k² + σ²)(x − μ_k)], w the posterior over components.
        With ``labels`` (n,): E[x_0 | x_σ = x, component labels[i]] (class-conditional).
        With ``alpha`` (scalar or (n,)): the noising is x = α x_0 + σ ε (flow matching:
        α = 1 − t, σ = t; α = 0 is exact too: the data mean, or the class mean).
        """
        x = check_rows(x, self.dim, "x")
        check_positive_sigma(sigma, x.shape[0])
        if self.bases is not None or labels is not None or alpha is not None:
            return self._general_denoise(x, 1.0 if alpha is None else alpha, sigma, labels)
        var = self._noised_var(x, sigma)
        w = jax.nn.softmax(self._component_logits(x, var), axis=-1)
        shrink = self.stds**2 / var  # (n, K): how much of x each component keeps
        return jnp.sum(w * shrink, axis=-1, keepdims=True) * x + (w * (1.0 - shrink)) @ self.means

    def assign(self, x: jax.Array) -> jax.Array:
        """Index (n,) of the most probable component for each row of x (n, d)."""
        x = check_rows(x, self.dim, "x")
        if self.bases is not None:
            return jnp.argmax(self._logits(x, 1.0, 0.0), axis=-1)
        var = jnp.broadcast_to(jnp.maximum(self.stds**2, 1e-12), (x.shape[0], self.n_modes))
        return jnp.argmax(self._component_logits(x, var), axis=-1)

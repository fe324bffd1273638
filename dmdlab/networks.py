"""The one denoiser architecture shared by teacher, student and fake score.

D(x, σ) = c_skip(σ) x + c_out(σ) [F(c_in(σ) x, c_noise(σ)) + a(σ) c_in(σ) x]  (EDM, Karras
et al. 2022, plus a learned scalar skip a(σ)), with F an MLP conditioned on a Fourier
embedding of c_noise. The learned skip (docs/science.md §5c) is what lets the network be exact
when its width is below d: F's output has rank ≤ width, but at σ ≈ 1 the denoiser must
cancel a full-rank multiple of x. a(σ) starts at 0, so at initialisation the network is
EDM's; ``skip="edm"`` leaves it out. Parameters are kept
as flax NNX state so training code stays purely functional: ``apply(params, x, σ)``.

A flow-matching network (``noising="flow"``) is the same network with EDM's coefficients
written for the flow input x_t (:func:`dmdlab.noising.flow_precond`); a class-conditional
one (``n_classes`` > 0) adds a learned embedding of the class to its noise embedding.
:class:`GeneratorSpec` is the other student architecture: the paper's workbench's plain
MLP z (→ class embedding) → x.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from dmdlab.config import CHOICES

__all__ = [
    "ACTIVATIONS",
    "MATMUL_DTYPES",
    "SKIPS",
    "DenoiserNet",
    "GeneratorNet",
    "GeneratorSpec",
    "NetSpec",
    "edm_precond",
]

# GPUs default to TF32 for f32 products (10-bit mantissa); "float32" asks for the real thing.
MATMUL_DTYPES = CHOICES["matmul_dtype"]
_MATMUL = {
    name: {"dtype": jnp.dtype(name)}
    | ({"precision": jax.lax.Precision.HIGHEST} if name == "float32" else {})
    for name in MATMUL_DTYPES
}
SKIPS = CHOICES["skip"]
ACTIVATIONS = {name: getattr(nnx, name) for name in CHOICES["gen_activation"]}


def edm_precond(sigma: jax.Array, sigma_data: float):
    """EDM's (c_skip, c_out, c_in, c_noise) for σ of any shape."""
    s2 = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / s2
    c_out = sigma * sigma_data / jnp.sqrt(s2)
    c_in = 1.0 / jnp.sqrt(s2)
    c_noise = jnp.log(sigma) / 4.0
    return c_skip, c_out, c_in, c_noise


class DenoiserNet(nnx.Module):
    """MLP F(c_in x, c_noise) with EDM preconditioning and a GAN head on its last hidden layer.

    ``skip="learned"`` adds a(σ) c_in x to F's output, a(σ) one zero-initialised linear
    layer on the σ embedding (so a fresh network equals the ``skip="edm"`` one).

    Every hidden layer gets its own projection of the σ embedding (a standard way
    to let each layer depend on the noise level). ``__call__`` maps x (n, d), σ (n,)
    to D(x, σ) (n, d); ``features`` returns the last hidden layer (n, width) that
    DMD2's discriminator head reads. ``matmul_dtype`` "float32" multiplies in full f32
    (no TF32 on GPUs); "bfloat16" multiplies and activates in bf16, parameters f32.
    """

    def __init__(
        self,
        dim: int,
        width: int,
        depth: int,
        sigma_data: float,
        *,
        rngs: nnx.Rngs,
        matmul_dtype: str = "float32",
        skip: str = "learned",
        noising: str = "ve",
        n_classes: int = 0,
    ):
        n_freq = 16
        self.sigma_data = sigma_data
        self.n_freq = n_freq
        self.noising = noising
        linear = functools.partial(nnx.Linear, rngs=rngs, **_MATMUL[matmul_dtype])
        self.inp = linear(dim, width)
        self.emb = linear(2 * n_freq, width)
        self.hidden = nnx.List([linear(width, width) for _ in range(max(depth - 1, 0))])
        self.hidden_emb = nnx.List([linear(2 * n_freq, width) for _ in range(max(depth - 1, 0))])
        self.out = linear(width, dim)
        self.gan_head = linear(width, 1)
        # Built last and zero-initialised: the other layers draw the same weights as
        # without it, and a(σ) = 0 at initialisation.
        zeros = nnx.initializers.zeros
        self.skip = nnx.data(
            linear(2 * n_freq, 1, kernel_init=zeros, bias_init=zeros) if skip == "learned" else None
        )
        # after every other layer too: an unconditional network draws the same weights
        self.class_emb = nnx.data(
            nnx.Embed(n_classes, 2 * n_freq, rngs=rngs) if n_classes > 0 else None
        )

    def _precond(self, level: jax.Array):
        if self.noising == "ve":
            return edm_precond(level, self.sigma_data)
        from dmdlab.noising import flow_precond

        return flow_precond(level, self.sigma_data)

    def _embed(self, level: jax.Array, labels) -> jax.Array:
        _, _, _, c_noise = self._precond(level)
        # Fixed (not learned) frequencies, so weight decay cannot erode them.
        freqs = jnp.exp(jnp.linspace(0.0, jnp.log(64.0), self.n_freq))
        phase = c_noise[:, None] * freqs
        emb = jnp.concatenate([jnp.sin(phase), jnp.cos(phase)], axis=-1)
        if self.class_emb is not None:
            emb = emb + self.class_emb(labels)
        return emb

    def _denoise(self, x: jax.Array, sigma: jax.Array, labels=None):
        """(D(x, level) (n, d), last hidden layer (n, width)); level σ or t."""
        c_skip, c_out, c_in, _ = self._precond(sigma)
        emb = self._embed(sigma, labels)
        x_in = c_in[:, None] * x
        h = nnx.silu(self.inp(x_in) + self.emb(emb))
        for layer, proj in zip(self.hidden, self.hidden_emb, strict=True):
            h = nnx.silu(layer(h) + proj(emb))
        f = self.out(h)
        if self.skip is not None:
            f = f + self.skip(emb) * x_in  # a(σ) c_in x: a full-rank path F cannot give
        return c_skip[:, None] * x + c_out[:, None] * f, h

    def __call__(self, x: jax.Array, sigma: jax.Array, labels=None) -> jax.Array:
        return self._denoise(x, sigma, labels)[0]

    def denoise_and_logit(self, x: jax.Array, sigma: jax.Array, labels=None):
        """D(x, σ) (n, d) and the discriminator logit (n,) from the same trunk pass."""
        out, h = self._denoise(x, sigma, labels)
        return out, self.gan_head(h)[:, 0]


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """Static description of the denoiser family; ``init`` and ``apply`` are pure.

    ``init(key)`` returns a parameter pytree (vmappable over keys);
    ``apply(params, x (n, d), level scalar or (n,), labels (n,) or None)`` returns
    D(x, level) (n, d), float32 whatever ``matmul_dtype`` the products use. The level is
    σ (``noising="ve"``) or t (``"flow"``); ``labels`` are classes when ``n_classes`` > 0.
    """

    dim: int
    width: int = 256
    depth: int = 3
    sigma_data: float = 1.0
    matmul_dtype: str = "float32"
    skip: str = "learned"
    noising: str = "ve"
    n_classes: int = 0

    def __post_init__(self):
        if self.matmul_dtype not in _MATMUL:
            raise ValueError(
                f"matmul_dtype={self.matmul_dtype!r} is invalid: allowed {MATMUL_DTYPES}"
            )
        if self.skip not in SKIPS:
            raise ValueError(f"skip={self.skip!r} is invalid: allowed {SKIPS}")

    def _build(self, key) -> DenoiserNet:
        return DenoiserNet(
            self.dim,
            self.width,
            self.depth,
            self.sigma_data,
            rngs=nnx.Rngs(key),
            matmul_dtype=self.matmul_dtype,
            skip=self.skip,
            noising=self.noising,
            n_classes=self.n_classes,
        )

    @property
    def graphdef(self):
        return _graphdef(self)

    def init(self, key: jax.Array):
        """Fresh parameters (a pytree of arrays)."""
        return nnx.split(self._build(key))[1]

    def module(self, params) -> DenoiserNet:
        return nnx.merge(self.graphdef, params)

    def apply(self, params, x: jax.Array, sigma, labels=None) -> jax.Array:
        """D_params(x, σ): x (n, d), σ scalar or (n,), labels (n,) or None → (n, d)."""
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        return self.module(params)(x, sigma, labels).astype(x.dtype)

    def apply_with_logit(self, params, x: jax.Array, sigma, labels=None):
        """(D(x, σ) (n, d), discriminator logit (n,))."""
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        out, logit = self.module(params).denoise_and_logit(x, sigma, labels)
        return out.astype(x.dtype), logit.astype(x.dtype)


class GeneratorNet(nnx.Module):
    """The workbench's one-step generator: an MLP z (n, d) [+ class embedding] → x (n, d),
    ``depth`` hidden layers of ``width`` with ``activation``. ``residual``: x = z + MLP(z, c)
    with the last layer zero-initialised, so G starts as the identity on z (the authors'
    generator, docs/science.md §1b); a class embedding added to the first layer equals
    their concatenation [z, emb(c)] followed by a linear layer."""

    def __init__(self, dim: int, width: int, depth: int, *, rngs: nnx.Rngs,
                 activation: str = "silu", n_classes: int = 0,
                 matmul_dtype: str = "float32", residual: bool = False):  # fmt: skip
        linear = functools.partial(nnx.Linear, rngs=rngs, **_MATMUL[matmul_dtype])
        self.activation = activation
        self.residual = residual
        self.inp = linear(dim, width)
        self.hidden = nnx.List([linear(width, width) for _ in range(max(depth - 1, 0))])
        zero = nnx.initializers.zeros_init()
        self.out = linear(width, dim, kernel_init=zero) if residual else linear(width, dim)
        self.class_emb = nnx.data(nnx.Embed(n_classes, width, rngs=rngs) if n_classes else None)

    def __call__(self, z: jax.Array, labels=None) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        h = self.inp(z)
        if self.class_emb is not None:
            h = h + self.class_emb(labels)
        h = act(h)
        for layer in self.hidden:
            h = act(layer(h))
        return z + self.out(h) if self.residual else self.out(h)


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
    """Static description of the plain MLP student; ``init`` and ``apply`` are pure.

    ``apply(params, x, level, labels)`` has the denoiser's signature so that the harness
    runs either student the same way: it maps x / ``input_scale`` (= z, the harness
    feeds x = σ_max z under VE and z under flow) to G(z, c); the level is ignored (a
    one-step student)."""

    dim: int
    width: int = 128
    depth: int = 3
    activation: str = "silu"
    n_classes: int = 0
    input_scale: float = 1.0
    matmul_dtype: str = "float32"
    residual: bool = False

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"gen_activation={self.activation!r} is invalid: allowed {tuple(ACTIVATIONS)}"
            )

    def _build(self, key) -> GeneratorNet:
        return GeneratorNet(self.dim, self.width, self.depth, rngs=nnx.Rngs(key),
                            activation=self.activation, n_classes=self.n_classes,
                            matmul_dtype=self.matmul_dtype, residual=self.residual)  # fmt: skip

    @property
    def graphdef(self):
        return _graphdef(self)

    def init(self, key: jax.Array):
        """Fresh parameters (a pytree of arrays)."""
        return nnx.split(self._build(key))[1]

    def apply(self, params, x: jax.Array, level=None, labels=None) -> jax.Array:
        """G(x / input_scale, labels): x (n, d) → (n, d)."""
        module = nnx.merge(self.graphdef, params)
        return module(x / self.input_scale, labels).astype(x.dtype)


@functools.lru_cache(maxsize=64)
def _graphdef(spec: NetSpec):
    # The graph structure depends only on the spec; build it once, abstractly (a bounded
    # cache: a long-lived process over many specs does not grow without end).
    abstract = nnx.eval_shape(lambda: spec._build(jax.random.key(0)))
    return nnx.split(abstract)[0]

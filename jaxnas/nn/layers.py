"""Building blocks shared by the candidate networks.

Conventions (chosen so the networks match the PyTorch / TensorFlow reference code they port):

* NHWC float32 activations; convolution kernels in Flax layout ``(kh, kw, in/groups, out)``.
* Padding is explicit and symmetric, ``dilation * (k - 1) // 2`` on each side, as PyTorch's
  ``padding=k//2`` (Flax's ``"SAME"`` pads asymmetrically for stride 2, which would shift
  every reduction layer by one pixel relative to the reference code).
* ``torch_kernel_init`` is PyTorch's default ``kaiming_uniform_(a=sqrt(5))``: U(+-1/sqrt(fan_in)),
  i.e. a variance scaling of 1/3, fan-in, uniform. ``Dense`` also draws its bias the PyTorch way.
* Every layer whose cost counts (convolutions, dense, pooling) is a Module, so
  :mod:`jaxnas.nn.counting` can see it through ``flax.linen.intercept_methods``.
"""

from __future__ import annotations

from typing import Callable, Literal

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxnas.errors import ConfigError, check_choice

Initializer = Callable[..., jax.Array]

# PyTorch's default conv/linear weight init (kaiming_uniform_ with a = sqrt(5)).
torch_kernel_init: Initializer = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
# TensorFlow 1.x ``tf.variance_scaling_initializer()`` (NAS-Bench-101's conv init).
tf_conv_init: Initializer = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def same_padding(kernel_size: int, dilation: int = 1) -> tuple[tuple[int, int], tuple[int, int]]:
    """PyTorch-style symmetric padding that keeps the size at stride 1."""
    p = dilation * (kernel_size - 1) // 2
    return ((p, p), (p, p))


def conv(
    features: int,
    kernel_size: int,
    strides: int = 1,
    dilation: int = 1,
    use_bias: bool = False,
    kernel_init: Initializer = torch_kernel_init,
    name: str | None = None,
) -> nn.Conv:
    """A dense (ungrouped) conv with PyTorch's symmetric padding."""
    return nn.Conv(
        features,
        (kernel_size, kernel_size),
        strides=(strides, strides),
        padding=same_padding(kernel_size, dilation),
        kernel_dilation=(dilation, dilation),
        use_bias=use_bias,
        kernel_init=kernel_init,
        name=name,
    )


def batch_norm(train: bool, momentum: float = 0.9, epsilon: float = 1e-5,
               name: str | None = None) -> nn.BatchNorm:
    """BatchNorm with PyTorch defaults mapped to Flax (torch momentum 0.1 == Flax 0.9)."""
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                        name=name)


class DepthwiseConv(nn.Module):
    """Depthwise k x k convolution (one filter per channel, no bias).

    ``impl``: ``"grouped"`` uses ``lax.conv`` with ``feature_group_count=C``; ``"shift"`` sums
    k*k shifted (strided) slices of the padded input times per-channel weights, which XLA:CPU
    runs several times faster (findings.md); ``"auto"`` picks ``"shift"`` on the CPU backend
    and ``"grouped"`` elsewhere. Both use the kernel ``(k, k, 1, C)`` (the layout of a grouped
    ``nn.Conv``), so weights are interchangeable.
    """

    features: int
    kernel_size: int
    strides: int = 1
    dilation: int = 1
    impl: Literal["auto", "grouped", "shift"] = "auto"
    kernel_init: Initializer = torch_kernel_init

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_choice("impl", self.impl, ("auto", "grouped", "shift"))
        c = x.shape[-1]
        if c != self.features:
            raise ConfigError(
                f"DepthwiseConv features={self.features} must equal the input channels {c}"
            )
        k, s, d = self.kernel_size, self.strides, self.dilation
        kernel = self.param("kernel", self.kernel_init, (k, k, 1, c), jnp.float32)
        kernel = kernel.astype(x.dtype)
        impl = self.impl
        if impl == "auto":
            impl = "shift" if jax.default_backend() == "cpu" else "grouped"
        pad = same_padding(k, d)
        if impl == "grouped":
            return jax.lax.conv_general_dilated(
                x, kernel, window_strides=(s, s), padding=pad, rhs_dilation=(d, d),
                dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c,
            )
        p = pad[0][0]
        xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        h_out = (x.shape[1] + 2 * p - d * (k - 1) - 1) // s + 1
        w_out = (x.shape[2] + 2 * p - d * (k - 1) - 1) // s + 1
        out = None
        for i in range(k):
            for j in range(k):
                patch = jax.lax.slice(
                    xp,
                    (0, i * d, j * d, 0),
                    (xp.shape[0], i * d + s * (h_out - 1) + 1, j * d + s * (w_out - 1) + 1, c),
                    (1, s, s, 1),
                )
                term = patch * kernel[i, j, 0]
                out = term if out is None else out + term
        return out


class Dense(nn.Module):
    """Linear layer; ``init="torch"`` draws weight and bias from U(+-1/sqrt(fan_in)) as
    ``torch.nn.Linear``; ``init="tf"`` uses Glorot-uniform weights and zero bias
    (``tf.layers.dense``)."""

    features: int
    init: Literal["torch", "tf"] = "torch"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        if self.init == "torch":
            bound = 1.0 / float(fan_in) ** 0.5
            k_init = torch_kernel_init
            b_init = lambda key, shape, dtype=jnp.float32: jax.random.uniform(  # noqa: E731
                key, shape, dtype, -bound, bound)
        else:
            k_init = nn.initializers.glorot_uniform()
            b_init = nn.initializers.zeros
        kernel = self.param("kernel", k_init, (fan_in, self.features), jnp.float32)
        bias = self.param("bias", b_init, (self.features,), jnp.float32)
        return x @ kernel + bias


class Pool(nn.Module):
    """Max or average pooling as a Module (so FLOP counting sees it).

    ``padding`` is symmetric per side (PyTorch) or the string ``"SAME"`` (TensorFlow);
    ``count_include_pad=False`` averages over the valid elements only (PyTorch's
    ``AvgPool2d(count_include_pad=False)``).
    """

    kind: Literal["max", "avg"]
    window: int
    strides: int = 1
    padding: int | str = 0
    count_include_pad: bool = False

    def __call__(self, x: jax.Array) -> jax.Array:
        check_choice("kind", self.kind, ("max", "avg"))
        pad = self.padding if isinstance(self.padding, str) else (
            (self.padding, self.padding), (self.padding, self.padding))
        win, st = (self.window, self.window), (self.strides, self.strides)
        if self.kind == "max":
            return nn.max_pool(x, win, st, pad)
        return nn.avg_pool(x, win, st, pad, count_include_pad=self.count_include_pad)


def global_avg_pool(x: jax.Array) -> jax.Array:
    """Mean over the spatial axes (NHWC -> NC)."""
    return jnp.mean(x, axis=(1, 2))

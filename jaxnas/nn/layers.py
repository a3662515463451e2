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

import functools
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


_NHWC = ("NHWC", "HWIO", "NHWC")


def _window_taps(xp: jax.Array, kernel_hw: tuple[int, int], strides: tuple[int, int],
                 dilation: tuple[int, int], out_hw: tuple[int, int]) -> list[jax.Array]:
    """For each kernel tap (i, j), row-major: the (strided, dilated) window of the already
    padded NHWC input ``xp`` that the tap multiplies, one pixel per output pixel."""
    (kh, kw), (sh, sw), (dh, dw), (h_out, w_out) = kernel_hw, strides, dilation, out_hw
    n, c = xp.shape[0], xp.shape[3]
    return [jax.lax.slice(xp, (0, i * dh, j * dw, 0),
                          (n, i * dh + (h_out - 1) * sh + 1, j * dw + (w_out - 1) * sw + 1, c),
                          (1, sh, sw, 1))
            for i in range(kh) for j in range(kw)]


def _plain_conv(x, w, strides, padding, rhs_dilation):
    return jax.lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=rhs_dilation,
                                        dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_matmul_grad(x, w, strides, padding, rhs_dilation):
    return _plain_conv(x, w, strides, padding, rhs_dilation)


def _conv_matmul_grad_fwd(x, w, strides, padding, rhs_dilation):
    return _plain_conv(x, w, strides, padding, rhs_dilation), (x, w)


def _conv_matmul_grad_bwd(strides, padding, rhs_dilation, residuals, dy):
    x, w = residuals
    _, vjp_x = jax.vjp(lambda v: _plain_conv(v, w, strides, padding, rhs_dilation), x)
    (dx,) = vjp_x(dy)
    kh, kw, c_in, c_out = w.shape
    xp = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    taps = _window_taps(xp, (kh, kw), strides, rhs_dilation, dy.shape[1:3])
    dy2 = dy.reshape(-1, c_out)
    rows = [tap.reshape(-1, c_in).T @ dy2 for tap in taps]
    return dx, jnp.stack(rows).reshape(w.shape)


_conv_matmul_grad.defvjp(_conv_matmul_grad_fwd, _conv_matmul_grad_bwd)


def conv_matmul_grad(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                     dimension_numbers=None, feature_group_count=1, precision=None):
    """``lax.conv_general_dilated`` whose kernel gradient is k*k plain matmuls.

    XLA:CPU lowers the kernel gradient of a convolution (a "backprop filter" conv whose window
    is the whole image) 5-20x slower than the forward conv; e.g. 64x32x32x64, 3x3: forward
    70 ms, kernel gradient 1.3 s (docs/performance.md). Here the kernel gradient is, per tap
    (i, j), ``shifted_input.T @ output_grad`` (a GEMM), the input gradient stays XLA's. Same
    values up to float round-off. Drop-in for ``flax.linen.Conv(conv_general_dilated=...)``;
    anything other than an ungrouped NHWC/HWIO conv with explicit padding goes to
    ``lax.conv_general_dilated`` unchanged.
    """
    dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers or _NHWC)
    simple = (dn == jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
              and feature_group_count == 1 and not isinstance(padding, str)
              and all(v == 1 for v in (lhs_dilation or (1, 1))) and lhs.ndim == 4)
    if not simple:
        return jax.lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count, precision=precision)
    return _conv_matmul_grad(lhs, rhs, tuple(int(s) for s in window_strides),
                             tuple((int(a), int(b)) for a, b in padding),
                             tuple(int(d) for d in (rhs_dilation or (1, 1))))


#: ``conv_impl`` of the networks' dense convolutions (:func:`conv`); only speed differs.
CONV_IMPLS = ("auto", "auto_ynnpack", "xla", "matmul_grad")


def resolve_conv_impl(impl: str, kernel_size: int) -> str:
    """``"xla"`` or ``"matmul_grad"`` for a ``kernel_size`` conv under ``impl``:

    * ``"xla"``: ``lax.conv_general_dilated`` and XLA's gradients;
    * ``"matmul_grad"``: :func:`conv_matmul_grad` (same forward, kernel gradient as matmuls);
    * ``"auto"`` (default): on the CPU backend ``"matmul_grad"`` for 1x1 convs and ``"xla"``
      for larger kernels, the fastest when XLA:CPU runs convolutions with its own (Eigen)
      kernels, as under :func:`jaxnas.cpu_tuning.tune_cpu` and the ``jaxnas`` command (52 vs
      66 ms forward + backward for 64x32x32x46, 3x3, docs/performance.md); ``"xla"`` on
      GPU/TPU, where cuDNN's kernel gradient is fast;
    * ``"auto_ynnpack"``: on the CPU backend ``"matmul_grad"`` for every conv, the fastest
      when XLA:CPU hands convolutions to YNNPACK (XLA's default, without the tuning flag),
      whose kernel gradient is 5-20x slower than its forward pass; ``"xla"`` on GPU/TPU.

    :func:`jaxnas.cpu_tuning.conv_impl_for_flags` says which ``auto`` fits given XLA flags.
    The choice depends only on ``impl``, the kernel size and the JAX backend, never on the
    environment.
    """
    check_choice("conv_impl", impl, CONV_IMPLS)
    if impl in ("xla", "matmul_grad"):
        return impl
    if jax.default_backend() != "cpu":
        return "xla"
    return "matmul_grad" if impl == "auto_ynnpack" or kernel_size == 1 else "xla"


def conv(
    features: int,
    kernel_size: int,
    strides: int = 1,
    dilation: int = 1,
    use_bias: bool = False,
    kernel_init: Initializer = torch_kernel_init,
    name: str | None = None,
    impl: str = "auto",
) -> nn.Conv:
    """A dense (ungrouped) conv with PyTorch's symmetric padding; ``impl`` is one of
    :data:`CONV_IMPLS` (:func:`resolve_conv_impl`). Only speed and float round-off differ."""
    impl = resolve_conv_impl(impl, kernel_size)
    return nn.Conv(
        features,
        (kernel_size, kernel_size),
        strides=(strides, strides),
        padding=same_padding(kernel_size, dilation),
        kernel_dilation=(dilation, dilation),
        use_bias=use_bias,
        kernel_init=kernel_init,
        conv_general_dilated=conv_matmul_grad if impl == "matmul_grad" else None,
        name=name,
    )


def batch_norm(train: bool, momentum: float = 0.9, epsilon: float = 1e-5,
               name: str | None = None) -> nn.BatchNorm:
    """BatchNorm with PyTorch defaults mapped to Flax (torch momentum 0.1 == Flax 0.9)."""
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                        name=name)


DEPTHWISE_IMPLS = ("auto", "grouped", "shift", "native")


def resolve_depthwise_impl(impl: str) -> str:
    """``"auto"`` -> ``"native"`` on the CPU backend when the native kernels build (else
    ``"shift"``), ``"grouped"`` on GPU/TPU; other values are returned checked."""
    check_choice("depthwise_impl", impl, DEPTHWISE_IMPLS)
    if impl != "auto":
        return impl
    if jax.default_backend() != "cpu":
        return "grouped"
    from jaxnas.nn.native import native_available
    return "native" if native_available() else "shift"


class DepthwiseConv(nn.Module):
    """Depthwise k x k convolution (one filter per channel, no bias).

    ``impl``: ``"grouped"`` uses ``lax.conv`` with ``feature_group_count=C``; ``"shift"`` sums
    k*k shifted (strided) slices of the padded input times per-channel weights, which XLA:CPU
    runs several times faster (923 vs 156 ms forward + backward for 64x32x32x64, 3x3,
    docs/performance.md); ``"native"`` calls the C++ kernels of
    :mod:`jaxnas.nn.native` (CPU only, forward and both gradients; 10x faster than ``shift``'s
    backward); ``"auto"`` picks ``"native"`` on the CPU backend when it is available, else
    ``"shift"``, and ``"grouped"`` elsewhere. All use the kernel ``(k, k, 1, C)`` (the layout of
    a grouped ``nn.Conv``), so weights are interchangeable; only speed and float round-off
    differ.
    """

    features: int
    kernel_size: int
    strides: int = 1
    dilation: int = 1
    impl: Literal["auto", "grouped", "shift", "native"] = "auto"
    kernel_init: Initializer = torch_kernel_init

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        impl = resolve_depthwise_impl(self.impl)
        if impl == "native" and self.impl == "auto" and (
                self.kernel_size % 2 == 0 or x.dtype != jnp.float32):
            impl = "shift"  # the native kernels take odd kernels and float32 only
        c = x.shape[-1]
        if c != self.features:
            raise ConfigError(
                f"DepthwiseConv features={self.features} must equal the input channels {c}"
            )
        k, s, d = self.kernel_size, self.strides, self.dilation
        kernel = self.param("kernel", self.kernel_init, (k, k, 1, c), jnp.float32)
        kernel = kernel.astype(x.dtype)
        pad = same_padding(k, d)
        if impl == "grouped":
            return jax.lax.conv_general_dilated(
                x, kernel, window_strides=(s, s), padding=pad, rhs_dilation=(d, d),
                dimension_numbers=_NHWC, feature_group_count=c,
            )
        if impl == "native":
            from jaxnas.nn.native import depthwise_native
            return depthwise_native(x, kernel, s, d)
        return depthwise_shift(x, kernel, s, d)


def _shift_taps(x: jax.Array, k: int, stride: int, dilation: int) -> list[jax.Array]:
    """The k*k (strided) windows of the symmetrically padded input, one per kernel tap."""
    p = same_padding(k, dilation)[0][0]
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h_out = (x.shape[1] + 2 * p - dilation * (k - 1) - 1) // stride + 1
    w_out = (x.shape[2] + 2 * p - dilation * (k - 1) - 1) // stride + 1
    return _window_taps(xp, (k, k), (stride, stride), (dilation, dilation), (h_out, w_out))


def _depthwise_shift_plain(x, kernel, stride, dilation):
    k = kernel.shape[0]
    out = None
    for t, tap in enumerate(_shift_taps(x, k, stride, dilation)):
        term = tap * kernel[t // k, t % k, 0]
        out = term if out is None else out + term
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def depthwise_shift(x: jax.Array, kernel: jax.Array, stride: int = 1,
                    dilation: int = 1) -> jax.Array:
    """Depthwise conv (kernel ``(k, k, 1, C)``, PyTorch padding) as k*k shifted multiply-adds."""
    return _depthwise_shift_plain(x, kernel, stride, dilation)


def _depthwise_shift_fwd(x, kernel, stride, dilation):
    return _depthwise_shift_plain(x, kernel, stride, dilation), (x, kernel)


def _depthwise_shift_bwd(stride, dilation, residuals, dy):
    x, kernel = residuals
    _, vjp_x = jax.vjp(lambda v: _depthwise_shift_plain(v, kernel, stride, dilation), x)
    (dx,) = vjp_x(dy)
    k, c = kernel.shape[0], kernel.shape[3]
    taps = _shift_taps(x, k, stride, dilation)
    # The kernel gradient sum_m tap[m, c] * dy[m, c] as a reduction is a slow single fusion
    # per tap on XLA:CPU; product + ones-vector GEMV runs ~1.25x faster end to end
    # (docs/performance.md, "A per-op profile of one train step").
    ones = jnp.ones((dy.shape[0] * dy.shape[1] * dy.shape[2],), dy.dtype)
    rows = [ones @ (t * dy).reshape(-1, c) for t in taps]
    return dx, jnp.stack(rows).reshape(kernel.shape)


depthwise_shift.defvjp(_depthwise_shift_fwd, _depthwise_shift_bwd)


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

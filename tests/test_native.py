"""The native (C++, XLA FFI) depthwise kernels: same values and gradients as XLA's grouped conv,
under jit and vmap, on every stride/dilation/kernel the networks use; clear errors; the
pure-XLA fallback when disabled."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.errors import ConfigError
from jaxnas.nn import DepthwiseConv
from jaxnas.nn.layers import resolve_depthwise_impl
from jaxnas.nn.native import depthwise_native, native_available, unavailable_reason

pytestmark = pytest.mark.skipif(
    not native_available(), reason=f"native kernels unavailable: {unavailable_reason()}")


def _grouped(x, kernel, stride, dilation):
    p = dilation * (kernel.shape[0] - 1) // 2
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), ((p, p), (p, p)), rhs_dilation=(dilation, dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=x.shape[-1])


CASES = [  # (batch, size, channels, k, stride, dilation): the egnas/darts layers and odd sizes
    (2, 9, 5, 3, 1, 1), (3, 8, 7, 5, 2, 1), (2, 10, 4, 3, 1, 2), (2, 7, 3, 7, 2, 1),
    (1, 6, 17, 3, 2, 2), (2, 11, 33, 5, 1, 2), (1, 5, 2, 7, 1, 1),
]


@pytest.mark.parametrize("n,size,c,k,stride,dil", CASES)
def test_native_equals_grouped_conv_values_and_gradients(n, size, c, k, stride, dil):
    kx, kw, kg = jax.random.split(jax.random.PRNGKey(size * c + k), 3)
    x = jax.random.normal(kx, (n, size, size, c))
    w = jax.random.normal(kw, (k, k, 1, c))
    want = _grouped(x, w, stride, dil)
    got = jax.jit(depthwise_native, static_argnums=(2, 3))(x, w, stride, dil)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    probe = jax.random.normal(kg, want.shape)  # a generic cotangent

    def loss(fn):
        return lambda a, b: jnp.sum(jnp.sin(fn(a, b, stride, dil)) * probe)

    g_native = jax.jit(jax.grad(loss(depthwise_native), (0, 1)))(x, w)
    g_xla = jax.grad(loss(_grouped), (0, 1))(x, w)
    for a, b in zip(g_native, g_xla):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_native_under_vmap_keeps_members_apart(stride):
    """A population axis (the vmap executor's) becomes kernel groups: each member uses its own
    kernel, forward and backward, including an unbatched kernel broadcast to all members."""
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    xs = jax.random.normal(kx, (3, 2, 8, 8, 6))
    ws = jax.random.normal(kw, (3, 3, 3, 1, 6))
    got = jax.vmap(lambda a, b: depthwise_native(a, b, stride))(xs, ws)
    grads = jax.vmap(jax.grad(lambda a, b: jnp.sum(depthwise_native(a, b, stride) ** 2),
                              (0, 1)))(xs, ws)
    shared = jax.vmap(lambda a: depthwise_native(a, ws[1], stride))(xs)
    for m in range(3):
        np.testing.assert_allclose(got[m], _grouped(xs[m], ws[m], stride, 1), rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(shared[m], _grouped(xs[m], ws[1], stride, 1), rtol=1e-5,
                                   atol=1e-5)
        want = jax.grad(lambda a, b: jnp.sum(_grouped(a, b, stride, 1) ** 2), (0, 1))(
            xs[m], ws[m])
        for a, b in zip((grads[0][m], grads[1][m]), want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_depthwise_conv_module_native_matches_grouped_and_auto_picks_native():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 6))
    grouped, native = (DepthwiseConv(6, 5, 2, impl=impl) for impl in ("grouped", "native"))
    params = grouped.init(jax.random.PRNGKey(0), x)
    np.testing.assert_allclose(native.apply(params, x), grouped.apply(params, x), rtol=1e-5,
                               atol=1e-5)
    assert resolve_depthwise_impl("auto") == "native"  # CPU backend, kernels built
    with pytest.raises(ConfigError, match="depthwise_impl"):
        resolve_depthwise_impl("fused")


def test_native_rejects_bad_inputs():
    x = jnp.ones((2, 6, 6, 4))
    with pytest.raises(ConfigError, match=r"\(k, k, 1, C\)"):
        depthwise_native(x, jnp.ones((3, 3, 1, 5)))
    with pytest.raises(ConfigError, match="odd size"):
        depthwise_native(x, jnp.ones((2, 2, 1, 4)))
    with pytest.raises(ConfigError, match="float32"):
        depthwise_native(x.astype(jnp.float16), jnp.ones((3, 3, 1, 4), jnp.float16))


def test_disabled_native_falls_back_to_shift(tmp_path):
    """``JAXNAS_NATIVE=0``: no build, ``auto`` resolves to the pure-XLA ``shift`` and an
    explicit ``native`` request fails with the reason."""
    code = ("from jaxnas.nn.layers import resolve_depthwise_impl\n"
            "from jaxnas.nn.native import depthwise_native, unavailable_reason\n"
            "import jax.numpy as jnp\n"
            "print(resolve_depthwise_impl('auto'), unavailable_reason())\n"
            "try:\n"
            "    depthwise_native(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 1, 2)))\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, e)\n")
    env = dict(os.environ, JAXNAS_NATIVE="0", JAXNAS_NATIVE_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert out.splitlines()[0] == "shift disabled by JAXNAS_NATIVE=0"
    assert "ConfigError" in out and "JAXNAS_NATIVE=0" in out
    assert not list(tmp_path.iterdir())  # nothing was built

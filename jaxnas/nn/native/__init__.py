"""Native CPU kernels (XLA FFI), compiled on first use, with a pure-XLA fallback.

XLA:CPU runs depthwise convolutions slowly: its grouped conv and, above all, the kernel
gradient of a depthwise conv written as shifted slices take 10-50x the forward pass
(docs/performance.md). ``depthwise.cc`` implements the depthwise forward and backward as
plain loops vectorised over channels and split over images between XLA's intra-op threads.

The shared library is built with the system C++ compiler (``$CXX``, else ``g++``/``c++``;
``-O3 -march=native``) the first time it is needed and cached under
``$JAXNAS_NATIVE_CACHE`` (default ``~/.cache/jaxnas/native``), keyed by the source, the jaxlib
version and this CPU's feature flags. Without a compiler (or with ``JAXNAS_NATIVE=0``)
:func:`native_available` is False and the networks use the pure-XLA ``shift`` implementation:
only speed differs.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.errors import ConfigError

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("depthwise.cc")
_FORWARD_TARGET = "jaxnas_depthwise_forward"
_BACKWARD_TARGET = "jaxnas_depthwise_backward"


def _cpu_flags() -> str:
    """This CPU's feature flags (the library is built with -march=native)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def _cache_dir() -> Path:
    env = os.environ.get("JAXNAS_NATIVE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jaxnas" / "native"


def _build(compiler: str) -> Path:
    """Compile (or find the cached) shared library; raises on failure."""
    import jaxlib

    source = _SOURCE.read_bytes()
    flags = ["-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-w"]
    key = hashlib.sha256(b"\0".join([source, jaxlib.__version__.encode(), _cpu_flags().encode(),
                                     compiler.encode(), " ".join(flags).encode()])).hexdigest()
    target = _cache_dir() / f"jaxnas_depthwise_{key[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # build to a private name, then rename: concurrent first uses never load a partial file
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [compiler, *flags, f"-I{jax.ffi.include_dir()}", str(_SOURCE), "-o", tmp]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            errors = [ln for ln in done.stderr.splitlines() if "error" in ln] or [done.stderr]
            raise RuntimeError(f"{' '.join(cmd)} failed: {' | '.join(errors)[:2000]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


# members trained in threads may trace their first depthwise layer at the same moment
_LOAD_LOCK = threading.Lock()


def _load() -> str | None:
    """Build, load and register the kernels once per process; the reason when unavailable."""
    with _LOAD_LOCK:
        return _load_once()


@functools.lru_cache(maxsize=1)
def _load_once() -> str | None:
    if os.environ.get("JAXNAS_NATIVE", "1") == "0":
        return "disabled by JAXNAS_NATIVE=0"
    compiler = _compiler()
    if compiler is None:
        return "no C++ compiler found ($CXX, g++, c++ or clang++)"
    try:
        lib = ctypes.CDLL(str(_build(compiler)))
        jax.ffi.register_ffi_target(_FORWARD_TARGET, jax.ffi.pycapsule(lib.JaxnasDepthwiseForward),
                                    platform="cpu")
        jax.ffi.register_ffi_target(_BACKWARD_TARGET,
                                    jax.ffi.pycapsule(lib.JaxnasDepthwiseBackward), platform="cpu")
    except Exception as err:  # noqa: BLE001 - any failure means: use the XLA fallback
        log.warning("jaxnas native depthwise kernels unavailable, using XLA: %s", err)
        return f"build or load failed: {err}"
    return None


def native_available() -> bool:
    """True when the native depthwise kernels are built and registered (CPU backend only)."""
    return _load() is None


def unavailable_reason() -> str | None:
    """Why :func:`native_available` is False (None when it is True)."""
    return _load()


def _out_hw(h: int, w: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    p = dilation * (k - 1) // 2
    return ((h + 2 * p - dilation * (k - 1) - 1) // stride + 1,
            (w + 2 * p - dilation * (k - 1) - 1) // stride + 1)


def _forward_call(x, kernel, stride, dilation):
    """x (N, H, W, C), kernel (K, K, C); under vmap the FFI call gets (and returns) the
    population axes in front (``broadcast_all``), which the kernel treats as groups."""
    n, h, w, c = x.shape
    ho, wo = _out_hw(h, w, kernel.shape[0], stride, dilation)
    return jax.ffi.ffi_call(_FORWARD_TARGET, jax.ShapeDtypeStruct((n, ho, wo, c), jnp.float32),
                            vmap_method="broadcast_all")(
        x, kernel, stride=np.int64(stride), dilation=np.int64(dilation))


def _backward_call(x, kernel, dy, stride, dilation):
    n, k, c = x.shape[0], kernel.shape[0], x.shape[3]
    dx, partial = jax.ffi.ffi_call(
        _BACKWARD_TARGET,
        (jax.ShapeDtypeStruct(x.shape, jnp.float32),
         jax.ShapeDtypeStruct((n, k, k, c), jnp.float32)),
        vmap_method="broadcast_all")(x, kernel, dy, stride=np.int64(stride),
                                      dilation=np.int64(dilation))
    return dx, partial.sum(axis=0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _depthwise(x, kernel, stride, dilation):
    return _forward_call(x, kernel, stride, dilation)


def _depthwise_fwd(x, kernel, stride, dilation):
    return _forward_call(x, kernel, stride, dilation), (x, kernel)


def _depthwise_bwd(stride, dilation, residuals, dy):
    x, kernel = residuals
    return _backward_call(x, kernel, dy, stride, dilation)


_depthwise.defvjp(_depthwise_fwd, _depthwise_bwd)


def depthwise_native(x: jax.Array, kernel: jax.Array, stride: int = 1,
                     dilation: int = 1) -> jax.Array:
    """Depthwise conv of NHWC float32 ``x`` with a ``(k, k, 1, C)`` kernel (PyTorch padding),
    forward and gradients by the native kernels. Raises ``ConfigError`` when they are
    unavailable (see :func:`unavailable_reason`)."""
    if jax.default_backend() != "cpu":
        raise ConfigError(f"depthwise_impl='native' runs on the CPU backend only, not "
                          f"{jax.default_backend()!r}; use 'grouped' or 'auto'")
    reason = _load()
    if reason is not None:
        raise ConfigError(f"depthwise_impl='native' is unavailable: {reason}; use 'shift' or "
                          "'auto'")
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != 1 or kernel.shape[3] != x.shape[3]:
        raise ConfigError(f"depthwise_native: x {x.shape} must be NHWC and kernel "
                          f"{kernel.shape} (k, k, 1, C) with C = {x.shape[-1]}")
    if kernel.shape[0] % 2 == 0 or kernel.shape[0] != kernel.shape[1]:
        raise ConfigError(f"depthwise_native: kernel {kernel.shape[:2]} must be square with an "
                          "odd size (PyTorch's symmetric padding)")
    if x.dtype != jnp.float32 or kernel.dtype != jnp.float32:
        raise ConfigError(f"depthwise_native: float32 only, got {x.dtype} / {kernel.dtype}")
    return _depthwise(x, kernel[:, :, 0, :], int(stride), int(dilation))

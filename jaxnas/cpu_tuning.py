"""Process settings that make XLA:CPU train candidate networks faster (speed only, never results).

Two settings, both measured on the project's 2-core CPU (docs/performance.md):

* **XLA flag** ``--xla_cpu_experimental_ynn_fusion_type=reduce``: XLA:CPU hands convolutions and
  dots to its YNNPACK library by default, which ran them 2-3x slower here than XLA's own
  (Eigen) kernels (3x3 conv, 64x32x32x46: 38 vs 15 ms), while YNNPACK's reductions are the fast
  ones (the batch-norm statistics); the flag keeps YNNPACK for reductions only. A full egnas
  train step: 1.4-1.5x faster. XLA reads ``XLA_FLAGS`` when the CPU backend starts, so
  :func:`tune_xla_flags` must run before the first JAX computation of the process.
* **glibc tunable** ``glibc.malloc.hugetlb=1``: XLA allocates each step's temporary buffer
  (880 MB for a paper-size egnas net at batch 64) afresh, so every step page-faults it in 4 KiB
  pages (215,000 faults, ~0.4 s of kernel time per step); with the tunable glibc asks for
  transparent huge pages and the faults drop to ~1,400. glibc reads it at process start, so
  it needs the environment variable before Python starts: :func:`hugepages_env` computes the
  environment, and the ``jaxnas`` command line restarts itself with it
  (:func:`jaxnas.cli.reexec_with_hugepages`, the one place that replaces the process).

The ``jaxnas`` command line applies both; library users call :func:`tune_cpu` first thing
(as the notebooks do). ``JAXNAS_CPU_TUNING=0`` turns both off. GPU/TPU runs are unaffected.

Nothing here runs on import, and every function that changes an environment takes the mapping
to change (default ``os.environ``): only entry points (the command line, experiment scripts,
notebooks) call them. ``XLA_FLAGS`` is written in one place, :func:`add_xla_flags`.

The networks do not read these settings: which convolution gradient is fastest depends on
whether XLA:CPU hands convolutions to YNNPACK, so :func:`conv_impl_for_flags` tells an entry
point which ``conv_impl`` to pass to :func:`jaxnas.nn.build_network` /
``jaxnas.train.TrainOptions(network_conv_impl=...)``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Mapping, MutableMapping

YNN_FLAG_NAME = "--xla_cpu_experimental_ynn_fusion_type"
YNN_FLAG = f"{YNN_FLAG_NAME}=reduce"
HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"
OFF_ENV = "JAXNAS_CPU_TUNING"
_THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def tuning_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """``JAXNAS_CPU_TUNING=0`` (or off/false/no) turns every setting of this module off."""
    return environ.get(OFF_ENV, "1").strip().lower() in ("0", "off", "false", "no")


def _backends_started() -> bool:
    try:
        from jax._src import xla_bridge
        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # a JAX without the helper: assume started (safe)
        return True


def add_xla_flags(*flags: str, environ: MutableMapping[str, str] = os.environ) -> str:
    """Append ``flags`` to ``environ["XLA_FLAGS"]`` (the one place jaxnas writes it) and return
    the new value. XLA reads the variable when a backend starts: call this before the first JAX
    computation of the process."""
    value = " ".join([environ.get("XLA_FLAGS", ""), *flags]).strip()
    environ["XLA_FLAGS"] = value
    return value


def force_host_device_count(n: int, environ: MutableMapping[str, str] = os.environ) -> str:
    """Split the CPU host into ``n`` XLA devices (``--xla_force_host_platform_device_count``),
    e.g. to shard a population over CPU cores; before the first JAX computation."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"device count {n!r} must be an integer >= 1")
    return add_xla_flags(f"--xla_force_host_platform_device_count={n}", environ=environ)


def tune_xla_flags(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Add :data:`YNN_FLAG` to ``XLA_FLAGS`` unless the user already chose a YNN fusion type,
    tuning is off, or the JAX backends already started (then the flag could not take effect and
    ``XLA_FLAGS`` keeps describing the running backend). True if the flag was added."""
    flags = environ.get("XLA_FLAGS", "")
    if tuning_disabled(environ) or YNN_FLAG_NAME in flags or _backends_started():
        return False
    add_xla_flags(YNN_FLAG, environ=environ)
    return True


def ynn_convolutions(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether XLA:CPU hands convolutions to YNNPACK under ``XLA_FLAGS`` (its default: yes)."""
    value = None
    for token in environ.get("XLA_FLAGS", "").split():
        if token.startswith(YNN_FLAG_NAME + "="):
            value = token.split("=", 1)[1]
    if value is None:
        return True
    items = [v.strip().lower().removeprefix("library_fusion_type_") for v in value.split(",")
             if v.strip()]
    if not items:
        return False
    if all(v[0] in "+-" for v in items):  # edits of the default list, which has convolutions
        return "-individual_convolution" not in items
    return "individual_convolution" in items


def conv_impl_for_flags(environ: Mapping[str, str]) -> str:
    """The networks' ``conv_impl`` (:data:`jaxnas.nn.layers.CONV_IMPLS`) that is fastest under
    the ``XLA_FLAGS`` of ``environ``: ``"auto"`` (1x1 kernel gradients as matmuls, XLA's own
    convs otherwise; the default) when XLA:CPU runs convolutions with its own kernels, as under
    :data:`YNN_FLAG`; ``"auto_ynnpack"`` (every CPU kernel gradient as matmuls) when it hands
    them to YNNPACK, XLA's default. Both are ``"xla"`` on GPU/TPU. Speed only."""
    return "auto_ynnpack" if ynn_convolutions(environ) else "auto"


def hugepages_usable() -> bool:
    """glibc on Linux with transparent huge pages on ``always`` or ``madvise``."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        setting = _THP_SETTING.read_text()
    except OSError:
        return False
    return "[always]" in setting or "[madvise]" in setting


def hugepages_env(environ: Mapping[str, str] = os.environ) -> dict[str, str] | None:
    """The environment with :data:`HUGETLB_TUNABLE` added to ``GLIBC_TUNABLES``, or None when
    it is already there, tuning is off or huge pages are unusable."""
    current = environ.get("GLIBC_TUNABLES", "")
    if tuning_disabled(environ) or "glibc.malloc.hugetlb" in current or not hugepages_usable():
        return None
    return dict(environ, GLIBC_TUNABLES=f"{current}:{HUGETLB_TUNABLE}".strip(":"))


def process_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The two variables this module sets, as they are now (results files record them)."""
    return {k: environ.get(k, "") for k in ("XLA_FLAGS", "GLIBC_TUNABLES")}


def tune_cpu() -> bool:
    """Apply :func:`tune_xla_flags` (call before the first JAX computation). The huge-page
    tunable cannot be set from inside a running process: export
    ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` before starting Python for the rest."""
    return tune_xla_flags()


__all__ = ["YNN_FLAG", "HUGETLB_TUNABLE", "add_xla_flags", "conv_impl_for_flags",
           "force_host_device_count", "hugepages_env", "hugepages_usable", "process_env",
           "tune_cpu", "tune_xla_flags", "tuning_disabled", "ynn_convolutions"]

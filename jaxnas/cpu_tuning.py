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
  it needs the environment variable before Python starts; :func:`reexec_with_hugepages`
  restarts the current command with it (the ``jaxnas`` command line does).

The ``jaxnas`` command line applies both; library users call :func:`tune_cpu` first thing
(as the notebooks do). ``JAXNAS_CPU_TUNING=0`` turns both off. GPU/TPU runs are unaffected.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import MutableMapping, Sequence

YNN_FLAG_NAME = "--xla_cpu_experimental_ynn_fusion_type"
YNN_FLAG = f"{YNN_FLAG_NAME}=reduce"
HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"
OFF_ENV = "JAXNAS_CPU_TUNING"
_THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def tuning_disabled(environ: MutableMapping[str, str] = os.environ) -> bool:
    """``JAXNAS_CPU_TUNING=0`` (or off/false/no) turns every setting of this module off."""
    return environ.get(OFF_ENV, "1").strip().lower() in ("0", "off", "false", "no")


def _backends_started() -> bool:
    try:
        from jax._src import xla_bridge
        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # a JAX without the helper: assume started (safe)
        return True


def tune_xla_flags(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Add :data:`YNN_FLAG` to ``XLA_FLAGS`` unless the user already chose a YNN fusion type,
    tuning is off, or the JAX backends already started (then the flag could not take effect and
    ``XLA_FLAGS`` keeps describing the running backend). True if the flag was added."""
    flags = environ.get("XLA_FLAGS", "")
    if tuning_disabled(environ) or YNN_FLAG_NAME in flags or _backends_started():
        return False
    environ["XLA_FLAGS"] = f"{flags} {YNN_FLAG}".strip()
    return True


def ynn_convolutions(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether XLA:CPU hands convolutions to YNNPACK under ``XLA_FLAGS`` (its default: yes).
    The networks pick their CPU convolution gradient by it (:func:`jaxnas.nn.layers.conv`)."""
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


def hugepages_usable() -> bool:
    """glibc on Linux with transparent huge pages on ``always`` or ``madvise``."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        setting = _THP_SETTING.read_text()
    except OSError:
        return False
    return "[always]" in setting or "[madvise]" in setting


def hugepages_env(environ: MutableMapping[str, str] = os.environ) -> dict[str, str] | None:
    """The environment with :data:`HUGETLB_TUNABLE` added to ``GLIBC_TUNABLES``, or None when
    it is already there, tuning is off or huge pages are unusable."""
    current = environ.get("GLIBC_TUNABLES", "")
    if tuning_disabled(environ) or "glibc.malloc.hugetlb" in current or not hugepages_usable():
        return None
    return dict(environ, GLIBC_TUNABLES=f"{current}:{HUGETLB_TUNABLE}".strip(":"))


def reexec_with_hugepages(argv: Sequence[str]) -> None:
    """Replace this process by ``python argv...`` with :func:`hugepages_env` (same PID, so a
    supervisor's signals still reach it); returns only when nothing needs to change."""
    env = hugepages_env()
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


def process_env(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """The two variables this module sets, as they are now (results files record them)."""
    return {k: environ.get(k, "") for k in ("XLA_FLAGS", "GLIBC_TUNABLES")}


def tune_process(argv: Sequence[str] | None = None) -> bool:
    """For a program's entry point: with ``argv`` (the arguments to give ``python`` again,
    e.g. ``[__file__, *sys.argv[1:]]``) restart once with huge pages
    (:func:`reexec_with_hugepages`), then :func:`tune_xla_flags`."""
    if argv is not None:
        reexec_with_hugepages(argv)
    return tune_xla_flags()


def tune_cpu() -> bool:
    """Apply :func:`tune_xla_flags` (call before the first JAX computation). The huge-page
    tunable cannot be set from inside a running process: export
    ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` before starting Python for the rest."""
    return tune_xla_flags()


__all__ = ["YNN_FLAG", "HUGETLB_TUNABLE", "tune_cpu", "tune_process", "tune_xla_flags",
           "ynn_convolutions", "process_env", "hugepages_env", "hugepages_usable", "reexec_with_hugepages",
           "tuning_disabled"]

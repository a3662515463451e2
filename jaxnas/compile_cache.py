"""Opt-in persistent XLA compilation cache (JAX's own, ``jax_compilation_cache_dir``).

A search compiles one program per architecture (and the NAL / AG-Net models compile their
training scans); with the cache on, a second process (a resumed search, the next seed, a rerun
of an experiment) loads those programs from disk instead of recompiling them. The ``jaxnas``
command line turns it on by default (``--compile-cache``); library users call
:func:`enable_compile_cache` themselves, since it changes process-wide JAX configuration.

The cache is optional: :func:`cache_problem` says why a directory cannot hold it (JAX needs
the ``filelock`` package to bound the cache's size; the directory must be creatable and
writable), and :func:`enable_compile_cache` then leaves it off and returns ``None``.
:func:`one_line_cache_warnings` turns JAX's per-program warnings about a cache that fails later
(disk full, directory removed) into one line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterator, TextIO

DEFAULT_DIR_ENV = "JAXNAS_COMPILE_CACHE"
OFF_VALUES = ("", "none", "off", "0")
# the start of JAX's warnings when reading or writing a cache entry fails
_JAX_CACHE_WARNINGS = ("Error reading persistent compilation cache entry",
                       "Error writing persistent compilation cache entry")


def default_compile_cache_dir() -> str:
    """``$JAXNAS_COMPILE_CACHE`` if set (``none``/``off`` disables), else
    ``$XDG_CACHE_HOME/jaxnas/xla`` (``~/.cache/jaxnas/xla``)."""
    if DEFAULT_DIR_ENV in os.environ:
        return os.environ[DEFAULT_DIR_ENV]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "jaxnas" / "xla")


def is_off(directory: str | os.PathLike | None) -> bool:
    """``None``, ``""``, ``"none"``, ``"off"`` and ``"0"`` mean: no cache."""
    return directory is None or str(directory).strip().lower() in OFF_VALUES


def cache_problem(directory: str | os.PathLike) -> str | None:
    """Why ``directory`` cannot hold the cache (one line), or ``None`` when it can.

    Creates the directory and writes and removes a probe file in it."""
    if importlib.util.find_spec("filelock") is None:
        return "JAX's cache needs the filelock package (pip install filelock)"
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as error:
        return f"cannot write to {path}: {error.strerror or error}"
    return None


def enable_compile_cache(directory: str | os.PathLike | None,
                         min_compile_seconds: float = 0.5,
                         max_size_bytes: int = 4 << 30) -> str | None:
    """Store every XLA program that took at least ``min_compile_seconds`` to compile under
    ``directory`` (least recently used entries evicted beyond ``max_size_bytes``) and reuse
    it in later processes. Returns the directory used, or ``None`` when the cache is off
    (:func:`is_off`) or cannot work there (:func:`cache_problem` says why)."""
    if is_off(directory) or cache_problem(directory) is not None:
        return None
    import jax

    path = Path(directory).expanduser()
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", max_size_bytes)
    return str(path)


@contextlib.contextmanager
def one_line_cache_warnings(stream: TextIO | None = None, prefix: str = "jaxnas"
                            ) -> Iterator[None]:
    """Inside the block, JAX's warnings about failed cache reads and writes print one line
    the first time and nothing after (other warnings are shown as usual). For entry points:
    it swaps ``warnings.showwarning`` for the duration of the block."""
    shown = False
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        nonlocal shown
        text = str(message)
        if not text.startswith(_JAX_CACHE_WARNINGS):
            return original(message, category, filename, lineno, file, line)
        if not shown:
            shown = True
            reason = text.split(": ", 1)[-1].splitlines()[0][:200]
            print(f"{prefix}: warning: the compile cache failed ({reason}); programs are "
                  f"compiled as usual, later failures are not shown",
                  file=stream or sys.stderr)
        return None

    with warnings.catch_warnings():
        # every cache failure reaches show(), which prints only the first
        warnings.filterwarnings("always", message="Error (reading|writing) persistent "
                                                  "compilation cache entry")
        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = original


__all__ = ["cache_problem", "default_compile_cache_dir", "enable_compile_cache", "is_off",
           "one_line_cache_warnings"]

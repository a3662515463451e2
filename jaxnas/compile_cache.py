"""Opt-in persistent XLA compilation cache (JAX's own, ``jax_compilation_cache_dir``).

A search compiles one program per architecture (and the NAL / AG-Net models compile their
training scans); with the cache on, a second process (a resumed search, the next seed, a rerun
of an experiment) loads those programs from disk instead of recompiling them. The ``jaxnas``
command line turns it on by default (``--compile-cache``); library users call
:func:`enable_compile_cache` themselves, since it changes process-wide JAX configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

DEFAULT_DIR_ENV = "JAXNAS_COMPILE_CACHE"
OFF_VALUES = ("", "none", "off", "0")


def default_compile_cache_dir() -> str:
    """``$JAXNAS_COMPILE_CACHE`` if set (``none``/``off`` disables), else
    ``$XDG_CACHE_HOME/jaxnas/xla`` (``~/.cache/jaxnas/xla``)."""
    if DEFAULT_DIR_ENV in os.environ:
        return os.environ[DEFAULT_DIR_ENV]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "jaxnas" / "xla")


def enable_compile_cache(directory: str | os.PathLike | None,
                         min_compile_seconds: float = 0.5,
                         max_size_bytes: int = 4 << 30) -> str | None:
    """Store every XLA program that took at least ``min_compile_seconds`` to compile under
    ``directory`` (least recently used entries evicted beyond ``max_size_bytes``) and reuse
    it in later processes. ``None`` or ``"none"``/``"off"`` leaves the
    cache off. Returns the directory used (or ``None``)."""
    if directory is None or str(directory).strip().lower() in OFF_VALUES:
        return None
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", max_size_bytes)
    return str(path)


__all__ = ["default_compile_cache_dir", "enable_compile_cache"]

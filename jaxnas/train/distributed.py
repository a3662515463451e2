"""Multi-host start-up for the population trainer (issue 9), driven by environment variables.

Launch the same command on every host of a GPU/TPU slice with::

    JAXNAS_COORDINATOR=host0:1234 JAXNAS_NUM_PROCESSES=4 JAXNAS_PROCESS_ID=<0..3> python ...

and call :func:`initialize_from_env` before any other JAX call. ``jax.devices()`` then lists
every process's devices, so ``train_population(..., executor="vmap")`` shards the population
over all of them. Only :func:`is_writer` (process 0) should write results. On TPU pods and
under SLURM ``jax.distributed.initialize()`` can discover everything itself: leave the
variables unset and pass ``auto=True``.
"""

from __future__ import annotations

import os

import jax

from jaxnas.errors import ConfigError

ENV_COORDINATOR = "JAXNAS_COORDINATOR"
ENV_NUM_PROCESSES = "JAXNAS_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXNAS_PROCESS_ID"


def initialize_from_env(auto: bool = False) -> bool:
    """``jax.distributed.initialize`` from ``JAXNAS_COORDINATOR`` (host:port),
    ``JAXNAS_NUM_PROCESSES`` and ``JAXNAS_PROCESS_ID``. Returns True when it initialised;
    False (single process, nothing done) when none is set and ``auto`` is False."""
    coord = os.environ.get(ENV_COORDINATOR)
    num = os.environ.get(ENV_NUM_PROCESSES)
    pid = os.environ.get(ENV_PROCESS_ID)
    if coord is None and num is None and pid is None:
        if auto:
            jax.distributed.initialize()
            return True
        return False
    if coord is None or num is None or pid is None:
        raise ConfigError(f"set all of {ENV_COORDINATOR} (host:port), {ENV_NUM_PROCESSES} and "
                          f"{ENV_PROCESS_ID}; got {coord!r}, {num!r}, {pid!r}")
    try:
        n, i = int(num), int(pid)
    except ValueError as exc:
        raise ConfigError(f"{ENV_NUM_PROCESSES}={num!r} and {ENV_PROCESS_ID}={pid!r} must be "
                          "integers") from exc
    if not 0 <= i < n:
        raise ConfigError(f"{ENV_PROCESS_ID}={i} must be in [0, {n})")
    jax.distributed.initialize(coordinator_address=coord, num_processes=n, process_id=i)
    return True


def is_writer() -> bool:
    """True on the process that writes results (process 0)."""
    return jax.process_index() == 0


__all__ = ["ENV_COORDINATOR", "ENV_NUM_PROCESSES", "ENV_PROCESS_ID", "initialize_from_env",
           "is_writer"]

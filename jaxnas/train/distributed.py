"""Multi-host start-up for the population trainer (issue 9), driven by environment variables.

Launch the same command on every host of a GPU/TPU slice with::

    JAXNAS_COORDINATOR=host0:1234 JAXNAS_NUM_PROCESSES=4 JAXNAS_PROCESS_ID=<0..3> python ...

and call :func:`initialize_from_env` before any other JAX call. ``jax.devices()`` then lists
every process's devices, so ``train_population(..., executor="vmap")`` shards the population
over all of them (results spanning processes are gathered with :func:`host_get`). Only
:func:`is_writer` (process 0) should write results. The ``jaxnas`` command line does both when
the variables are set (:func:`redirect_outputs` for the writing). On TPU pods and
under SLURM ``jax.distributed.initialize()`` can discover everything itself: leave the
variables unset and pass ``auto=True``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax

from jaxnas.errors import ConfigError

ENV_COORDINATOR = "JAXNAS_COORDINATOR"
ENV_NUM_PROCESSES = "JAXNAS_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXNAS_PROCESS_ID"


def initialize_from_env(auto: bool = False) -> bool:
    """``jax.distributed.initialize`` from ``JAXNAS_COORDINATOR`` (host:port),
    ``JAXNAS_NUM_PROCESSES`` and ``JAXNAS_PROCESS_ID``. Returns True when it initialised;
    False (single process, nothing done) when none is set and ``auto`` is False. Calling it
    again in an initialised process does nothing and returns True.

    CPU devices of different processes talk through Gloo (``jax_cpu_collectives_implementation``,
    set here unless already chosen), so the same command also runs as several processes of one
    machine, as tests/test_distributed.py does."""
    coord = os.environ.get(ENV_COORDINATOR)
    num = os.environ.get(ENV_NUM_PROCESSES)
    pid = os.environ.get(ENV_PROCESS_ID)
    if coord is None and num is None and pid is None:
        if auto:
            if jax.distributed.is_initialized():
                return True
            _cpu_collectives()
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
    if jax.distributed.is_initialized():
        return True
    _cpu_collectives()
    jax.distributed.initialize(coordinator_address=coord, num_processes=n, process_id=i)
    return True


def _cpu_collectives() -> None:
    """Cross-process collectives for CPU devices (the population results are gathered with
    them): Gloo over TCP, unless the user chose an implementation (e.g. ``mpi``)."""
    if not jax.config.jax_cpu_collectives_implementation:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")


def host_get(tree: Any) -> Any:
    """``jax.device_get(tree)``, except that a leaf spanning other processes' devices (the
    population axis sharded over every process) is first gathered from all of them with
    ``multihost_utils.process_allgather``: a collective, so every process must call this for
    the same arrays in the same order (the trainer does). In a single process it is exactly
    ``jax.device_get``."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if all(not isinstance(a, jax.Array) or a.is_fully_addressable for a in leaves):
        return jax.device_get(tree)
    from jax.experimental import multihost_utils
    return jax.tree_util.tree_unflatten(treedef, [
        multihost_utils.process_allgather(a, tiled=True)
        if isinstance(a, jax.Array) and not a.is_fully_addressable else jax.device_get(a)
        for a in leaves])


def is_writer() -> bool:
    """True on the process that writes results (process 0)."""
    return jax.process_index() == 0


#: command-line arguments naming a file or folder a command writes
OUTPUT_ARGS = ("json", "plot", "run_dir")


def redirect_outputs(args: Any) -> Path | None:
    """Make a command-line run write its results on process 0 only.

    Every process must run the whole command (the population is sharded over all of them, and
    the gathers are collectives), so on a process other than 0 the output arguments of
    ``args`` (an ``argparse.Namespace``: ``json``, ``plot``, ``run_dir``, and ``resume``) are
    pointed into a private scratch folder that is deleted when the process exits; ``--resume``
    continues from a copy of the run folder that writes no ``--json``. Returns the scratch
    folder, or None on process 0 (``args`` unchanged)."""
    if is_writer():
        return None
    scratch = Path(tempfile.mkdtemp(prefix=f"jaxnas-process{jax.process_index()}-"))
    atexit.register(shutil.rmtree, scratch, True)
    for name in OUTPUT_ARGS:
        if getattr(args, name, None) is not None:
            setattr(args, name, scratch / name / Path(getattr(args, name)).name)
    if getattr(args, "resume", None) is not None:
        copy = scratch / "resume" / Path(args.resume).name
        shutil.copytree(args.resume, copy)
        config = copy / "config.json"
        if config.is_file():  # the stored --json path is process 0's to write
            stored = json.loads(config.read_text())
            stored["json_path"] = None
            config.write_text(json.dumps(stored))
        args.resume = copy
    return scratch


__all__ = ["ENV_COORDINATOR", "ENV_NUM_PROCESSES", "ENV_PROCESS_ID", "OUTPUT_ARGS", "host_get",
           "initialize_from_env", "is_writer", "redirect_outputs"]

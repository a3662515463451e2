"""The ``jaxnas`` command line: ``search``, ``train``, ``describe``, ``bench``, ``plot``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and ``run(args)``:
argument parsing, a call into the library, printing. This module is the process entry point and
the only place that changes the process: the XLA flags (:mod:`jaxnas.cpu_tuning`) and the
restart with glibc huge pages (:func:`reexec_with_hugepages`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from jaxnas.compile_cache import (
    cache_problem,
    default_compile_cache_dir,
    enable_compile_cache,
    is_off,
    one_line_cache_warnings,
)
from jaxnas.errors import JaxnasError

# subcommand name -> module (imported lazily so `jaxnas --help` stays fast)
SUBCOMMANDS = {
    "search": "jaxnas.cli.search_cmd",
    "train": "jaxnas.cli.train_cmd",
    "describe": "jaxnas.cli.describe_cmd",
    "bench": "jaxnas.cli.bench_cmd",
    "plot": "jaxnas.cli.plot_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxnas",
        description="Vectorized neural architecture search in JAX (EG-NAS, NAL, AG-Net).",
    )
    parser.add_argument(
        "--compile-cache", metavar="DIR", default=None,
        help="persistent XLA compilation cache: later runs load compiled programs instead of "
             "recompiling (default $JAXNAS_COMPILE_CACHE or ~/.cache/jaxnas/xla; 'none' = off)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # subcommand not built yet
        module.add_parser(subparsers)
    return parser


#: subcommands that train or time networks: only these restart the process for CPU speed
TRAINING_COMMANDS = ("search", "train", "bench")


def reexec_with_hugepages(argv: Sequence[str]) -> None:
    """Replace this process by ``python argv...`` with glibc's huge-page tunable
    (:func:`jaxnas.cpu_tuning.hugepages_env`; same PID, so a supervisor's signals still reach
    it); returns only when nothing needs to change. For entry points only (this command line,
    experiment scripts): ``reexec_with_hugepages([__file__, *sys.argv[1:]])``."""
    from jaxnas.cpu_tuning import hugepages_env

    env = hugepages_env(os.environ)
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


def main(argv: list[str] | None = None) -> int:
    """The ``jaxnas`` command. ``argv=None`` is the real command line; a list runs in-process
    (never restarting the interpreter)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None and args.command in TRAINING_COMMANDS:
        # restart once with glibc huge pages for XLA:CPU's buffers (jaxnas.cpu_tuning); -P
        # keeps the working directory off sys.path, so a local jaxnas.py cannot run instead
        reexec_with_hugepages(["-P", "-m", "jaxnas", *sys.argv[1:]])
    from jaxnas.cpu_tuning import conv_impl_for_flags, tune_xla_flags

    tune_xla_flags()  # speed only, before the first JAX computation
    # the networks' conv gradient path that is fastest under the XLA flags now in effect
    # (speed only); the train and bench commands pass it on explicitly
    args.conv_impl = conv_impl_for_flags(os.environ)
    # the command line as typed, recorded in results files (argv given in-process included)
    args.argv = ["jaxnas", *(sys.argv[1:] if argv is None else list(argv))]
    try:
        if args.command in TRAINING_COMMANDS:
            from jaxnas.train import distributed
            # JAXNAS_COORDINATOR/_NUM_PROCESSES/_PROCESS_ID set: join the other processes
            # before any JAX computation; only process 0 writes results
            if distributed.initialize_from_env():
                distributed.redirect_outputs(args)
        with one_line_cache_warnings():
            _start_compile_cache(args.compile_cache)
            return int(args.run(args) or 0)
    except JaxnasError as error:
        print(f"jaxnas {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an unwritable output or run folder, a full disk
        where = f" ({error.filename})" if error.filename else ""
        print(f"jaxnas {args.command}: error: {error.strerror or error}{where}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxnas {args.command}: interrupted; every finished evaluation is saved "
              f"(jaxnas search --resume RUN_DIR continues)", file=sys.stderr)
        return 130


def _start_compile_cache(flag: str | None) -> None:
    """Turn on the persistent compile cache, or say in one line why it stays off."""
    directory = flag if flag is not None else default_compile_cache_dir()
    if is_off(directory):
        return
    problem = cache_problem(directory)
    if problem is not None:
        print(f"jaxnas: note: compile cache off ({problem})", file=sys.stderr)
        return
    enable_compile_cache(directory)


if __name__ == "__main__":
    sys.exit(main())

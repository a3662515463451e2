"""The ``jaxnas`` command line: ``search``, ``train``, ``describe``, ``bench``, ``plot``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and ``run(args)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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


def main(argv: list[str] | None = None) -> int:
    from jaxnas.cpu_tuning import tune_process
    # speed only (jaxnas.cpu_tuning), before any JAX computation; the real command (argv None)
    # restarts once with glibc huge pages for XLA:CPU's buffers
    tune_process(["-m", "jaxnas", *sys.argv[1:]] if argv is None else None)
    parser = build_parser()
    args = parser.parse_args(argv)
    # the command line as typed, recorded in results files (argv given in-process included)
    args.argv = ["jaxnas", *(sys.argv[1:] if argv is None else list(argv))]
    from jaxnas.compile_cache import default_compile_cache_dir, enable_compile_cache
    enable_compile_cache(args.compile_cache if args.compile_cache is not None
                         else default_compile_cache_dir())
    try:
        return int(args.run(args) or 0)
    except JaxnasError as error:
        print(f"jaxnas {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

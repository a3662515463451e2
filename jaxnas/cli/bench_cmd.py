"""``jaxnas bench``: time the population trainer's executors on synthetic data.

The measurements are :mod:`jaxnas.train.bench`'s (compile time, steady-state images/s, time
per candidate-epoch, peak RSS); this module parses the arguments and prints. Example:

    jaxnas bench egnas --population 4 --executor loop --steps 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os

from jaxnas.errors import ConfigError, check_choice

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time the population trainer's executors on synthetic data",
        description=(
            "Train a seeded population of genomes (egnas: depth 10-20, width 16-64, as the "
            "paper's networks; other spaces: random samples) for a few steps of batch 64 on "
            "synthetic 32x32 data with each executor and print compile time, steady-state "
            "images/s and peak RSS. Example: jaxnas bench egnas --population 4 "
            "--executor loop. For the PyTorch comparison use "
            "experiments/bench_population.py."
        ),
    )
    parser.add_argument("space", nargs="?", default=None,
                        help="search space: egnas, nb201 (all executors), nb101, darts")
    parser.add_argument("--space", dest="space_option", default=None,
                        help="the same as the positional SPACE")
    parser.add_argument("--population", "-p", type=int, default=4, help="members (default 4)")
    parser.add_argument("--executor", default="all",
                        help="loop, bucketed, vmap, auto or all (default all)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per member")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dataset", default="cifar10", help="sets image shape and classes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devices", type=int, default=None,
                        help="CPU only: split the host into N XLA devices (sets XLA_FLAGS; must "
                             "come before any computation in this process)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="skip the warm calls of an executor whose cold call exceeds this")
    parser.add_argument("--warm-calls", type=int, default=2, choices=(1, 2),
                        help="2: step time from a 1- and a 2-epoch warm call (default); 1: one "
                             "warm call, faster, step time includes init/eval overhead")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    space = args.space or args.space_option
    if space is None or (args.space and args.space_option and args.space != args.space_option):
        raise ConfigError(f"give one search space (positional or --space), got "
                          f"{args.space!r} / {args.space_option!r}")
    if args.devices is not None:
        if args.devices < 1:
            raise ConfigError(f"--devices {args.devices} must be >= 1")
        from jaxnas.cpu_tuning import force_host_device_count

        force_host_device_count(args.devices, os.environ)
    import jax

    from jaxnas.train import TrainOptions
    from jaxnas.train.bench import BENCH_EXECUTORS, bench_genomes, format_table, measure_executor

    if args.devices is not None and len(jax.devices()) != args.devices:
        raise ConfigError(f"--devices {args.devices}: JAX sees {len(jax.devices())} devices "
                          "(the backend was started before XLA_FLAGS was set, or not a CPU)")
    executors = BENCH_EXECUTORS if args.executor == "all" else (args.executor,)
    for e in executors:
        check_choice("executor", e, BENCH_EXECUTORS + ("auto",))
    genomes = bench_genomes(space, args.population, args.seed)
    options = TrainOptions(eval_batch_size=args.batch_size,
                           network_conv_impl=getattr(args, "conv_impl", "auto"))
    rows = [measure_executor(space, genomes, e, steps=args.steps,
                             batch_size=args.batch_size, dataset=args.dataset, seed=args.seed,
                             time_limit_s=args.time_limit, warm_calls=args.warm_calls,
                             options=options)
            for e in executors]
    print(f"backend={jax.default_backend()} devices={len(jax.devices())} "
          f"population={args.population} batch={args.batch_size} steps={args.steps}")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"argv": getattr(args, "argv", None), "rows": rows}, fh, indent=1)
    return 0

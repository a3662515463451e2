"""``jaxnas search``: run a strategy for several seeds, write curves, a summary and a plot.

Example::

    jaxnas search --space nb201 --dataset cifar10 --strategy re --queries 200 --seeds 20 \\
        --json out.json --plot curves.png
    jaxnas search --resume RUN_DIR        # continue an interrupted run exactly
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxnas.cli.outputs import check_output_path
from jaxnas.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="run a search strategy (random, re, ls, agnet, nal, egnas) for several seeds",
        description=(
            "Run a search strategy on a space for several seeds with a query budget, write "
            "per-seed best-so-far curves (search metric and report metric of the incumbent) to "
            "a run directory and --json, print mean/std/median of the report metric at several "
            "query counts and draw the curves. Every evaluation is logged as it finishes and the "
            "strategy is checkpointed after every tell: --resume RUN_DIR continues exactly. "
            "Oracle runs: nb201 reports 200-epoch test accuracy while searching on 12-epoch "
            "validation accuracy; nb101 means the nb101-20k subset."
        ),
        epilog="example: jaxnas search --space nb201 --dataset cifar10 --strategy re "
               "--queries 200 --seeds 20 --json out.json --plot curves.png",
    )
    parser.add_argument("--space", default="nb201",
                        help="search space (oracle: nb201, nb101 = nb101-20k; default nb201)")
    parser.add_argument("--dataset", default="cifar10",
                        help="cifar10, cifar100, ImageNet16-120 (imagenet16-120, imagenet16)")
    parser.add_argument("--strategy", default="re",
                        help="random, re (regularized evolution), ls (local search), agnet, "
                             "nal, egnas (default re)")
    parser.add_argument("--queries", type=int, default=200,
                        help="budget: queries (distinct cells evaluated) per seed")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (default 1)")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="first seed (seeds are OFFSET .. OFFSET+SEEDS-1)")
    parser.add_argument("--json", type=Path, default=None, help="write the results JSON here")
    parser.add_argument("--plot", type=Path, default=None, help="draw the curves to this PNG")
    parser.add_argument("--band", choices=("std", "iqr", "none"), default="std",
                        help="band around the mean curve in --plot (default std)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="run directory (default jaxnas-runs/<space>-<dataset>-<strategy>-"
                             "<time>)")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue the run in RUN_DIR with its stored config")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes running seeds in parallel (default 1: sequential)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar (queries done, best search metric so far "
                             "and its report metric, ETA) even when stderr is not a terminal; "
                             "by default it shows only on a terminal")
    parser.add_argument("--evaluator", default=None,
                        help="evaluator (default: the strategy's; oracle for tabular spaces)")
    parser.add_argument("--objective", choices=("accuracy", "latency"), default="accuracy",
                        help="search objective (latency needs --device)")
    parser.add_argument("--device", default=None,
                        help="latency device (nb201: one of the 27 HELP/HW-NAS-Bench settings, "
                             "e.g. pixel3, fpga, 1080ti_1)")
    parser.add_argument("--max-latency", type=float, default=None,
                        help="latency limit in ms (needs --device); only cells within it count")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="strategy config override (repeatable), e.g. --option "
                             "population_size=20. re: population_size (10), sample_size (3) "
                             "- the NATS-Bench defaults - batch_size (1), skip_seen (none: on "
                             "for nb101-20k); random: batch_size (1); ls: num_neighbors (24)")
    parser.add_argument("--preset", default=None, help="strategy config preset, if it has any")
    parser.add_argument("--batched", action="store_true",
                        help="let strategies that support it evaluate in batches")
    parser.add_argument("--data-dir", default=None,
                        help="dataset directory for training evaluators ($JAXNAS_DATA_DIR); "
                             "where the data lives is not part of a run's identity, so a "
                             "resumed run may name another copy of the same data")
    parser.add_argument("--train-preset", default=None,
                        help="train evaluator: smoke, cpu or paper (images, epochs, network "
                             "size; jaxnas.train.presets)")
    parser.add_argument("--evaluator-option", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="evaluator setting (repeatable), e.g. train: policy=aware, "
                             "epochs=5, executor=loop, seed=0")
    parser.add_argument("--replay-log", default=None, metavar="PATH",
                        help="egnas: answer every candidate from an EG-NAS authors' search log "
                             "(a path, or a shipped log's name such as "
                             "FashionMNIST-20240213-114828) instead of training; sets "
                             "--evaluator replay, the log's dataset, search configuration and "
                             "budget (evaluator option log=PATH)")
    parser.set_defaults(run=run)
    parser.set_defaults(parser_defaults=_defaults(parser))


#: flags that define a run (RunConfig); on --resume they may only repeat the stored values,
#: except a larger --queries, which extends the run (the extra queries really run)
RUN_FLAGS = ("space", "dataset", "strategy", "queries", "seeds", "seed_offset", "option",
             "preset", "evaluator", "objective", "device", "max_latency", "batched",
             "train_preset", "evaluator_option")


def _defaults(parser: argparse.ArgumentParser) -> dict:
    """The value of every flag when it is not given."""
    return vars(parser.parse_args([]))


def config_from_args(args: argparse.Namespace):
    from jaxnas.search.registry import canonical_strategy_name, parse_option_strings
    from jaxnas.search.runner import RunConfig

    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be >= 1")
    options = parse_option_strings(args.option)
    evaluator_options = parse_option_strings(args.evaluator_option, "--evaluator-option")
    if args.train_preset is not None:
        if "preset" in evaluator_options:
            raise ConfigError("give the train preset once: --train-preset or "
                              "--evaluator-option preset=...")
        evaluator_options["preset"] = args.train_preset
    evaluator = args.evaluator
    fields = dict(space=args.space, dataset=args.dataset, queries=args.queries,
                  evaluator=evaluator, options=tuple(sorted(options.items())),
                  evaluator_options=tuple(sorted(evaluator_options.items())))
    if getattr(args, "replay_log", None) is not None:  # EG-NAS: replay an authors' log
        from jaxnas.search.egnas.replay import replay_cli_fields

        default = getattr(args, "parser_defaults", {})
        fields.update(replay_cli_fields(
            args.replay_log, strategy=canonical_strategy_name(args.strategy),
            evaluator=evaluator, options=options, evaluator_options=evaluator_options,
            **{f: None if getattr(args, f) == default.get(f) else getattr(args, f)
               for f in ("space", "dataset", "queries")}))
    elif evaluator_options and evaluator is None:
        raise ConfigError("--train-preset and --evaluator-option need --evaluator (e.g. train)")
    return RunConfig(
        strategy=canonical_strategy_name(args.strategy),
        seeds=tuple(range(args.seed_offset, args.seed_offset + args.seeds)),
        preset=args.preset, objective=args.objective, device=args.device,
        max_latency=args.max_latency, batched=args.batched, data_dir=args.data_dir, **fields,
    )


def resumed_config(args: argparse.Namespace, parser_defaults: dict, stored: dict):
    """The stored run's config; a run flag given with another value is an error, except a
    larger --queries (the documented extension) and --data-dir (another copy of the data)."""
    import dataclasses

    from jaxnas.search.runner import RunConfig

    config = RunConfig.from_json(stored)
    given = [f for f in RUN_FLAGS if getattr(args, f) != parser_defaults[f]]
    if not given:
        return dataclasses.replace(config, data_dir=args.data_dir or config.data_dir)
    asked = config_from_args(argparse.Namespace(**{
        **vars(args), **{f: getattr(args, f) if f in given else parser_defaults[f]
                         for f in RUN_FLAGS}}))
    for flag in given:
        field = {"seed_offset": "seeds", "option": "options", "train_preset":
                 "evaluator_options", "evaluator_option": "evaluator_options"}.get(flag, flag)
        new, old = getattr(asked, field), getattr(config, field)
        if flag == "queries" and new > old:
            continue
        if new != old:
            raise ConfigError(f"--{flag.replace('_', '-')} conflicts with the resumed run "
                              f"({field}={old!r}); drop it to resume, or pick a new --run-dir")
    queries = max(config.queries, asked.queries) if "queries" in given else config.queries
    return dataclasses.replace(config, queries=queries,
                               data_dir=args.data_dir or config.data_dir)


def run(args: argparse.Namespace) -> int:
    from jaxnas.search.plots import plot_curves
    from jaxnas.search.runner import format_summary, new_run_dir, run_search
    from jaxnas.search.store import load_run_config

    command = list(args.argv)
    json_path = args.json
    check_output_path(json_path, "--json")
    check_output_path(args.plot, "--plot")
    if args.resume is not None:
        stored = load_run_config(args.resume)
        config = resumed_config(args, args.parser_defaults, stored["config"])
        run_dir = args.resume
        if json_path is None and stored.get("json_path"):
            json_path = Path(stored["json_path"])
    else:
        config = config_from_args(args)
        run_dir = args.run_dir or new_run_dir(config)
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers} must be >= 1")
    show_progress = args.progress or (not args.quiet and sys.stderr.isatty())
    results = run_search(config, run_dir, workers=args.workers, show_progress=show_progress,
                         command=command, json_path=json_path,
                         extend=args.resume is not None)
    if not args.quiet:
        title = (f"{config.strategy} on {results['space_label']} / {config.dataset}: report "
                 f"metric of the incumbent over {len(config.seeds)} seeds (std ddof=0)")
        print(format_summary(results["summary"], title))
        print(f"run directory: {run_dir}")
        if json_path is not None:
            print(f"results: {json_path}")
    if args.plot is not None:
        optimum = None
        if results["space_label"] == "nb201" and config.objective == "accuracy":
            from jaxnas.benchmarks import get_oracle

            optimum = get_oracle("nb201", config.dataset).optimum("test_acc_200")
        plot_curves([results], args.plot, band=args.band, optimum=optimum)
        if not args.quiet:
            print(f"plot: {args.plot}")
    return 0

"""``jaxnas plot``: figures from results files (curves, comparisons, Pareto fronts, EG-NAS
traces).

Examples::

    jaxnas plot re.json --out curves.png                            # one run, seed band
    jaxnas plot re.json random.json ls.json --kind compare --out compare.svg
    jaxnas plot hw.json --kind pareto --device pixel3 --out pareto.png
    jaxnas plot RUN_DIR --kind egnas-trace --out trace.png         # or the EG-NAS .jsonl log
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxnas.errors import ConfigError, DataNotFoundError

_KIND_HELP = (
    "curves: mean best-so-far report metric per results file with a band over seeds; "
    "compare: the same for several results on one axis plus a box plot of the final values; "
    "pareto: accuracy against latency of every evaluated NB201 cell with each run's Pareto "
    "front over the whole table's (needs the run's --device or --device here); "
    "egnas-trace: depth, width and accuracy of every EG-NAS candidate in training order, "
    "coloured by phase (input: a run directory, its evals.jsonl or the EG-NAS evaluator log)"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw search curves, strategy comparisons, Pareto fronts or EG-NAS traces",
        description=(
            "Draw a figure from one or more results files written by `jaxnas search --json "
            "FILE` (or a run directory, which holds results.json). The file type follows the "
            "--out suffix: .png, .svg or .pdf."
        ),
        epilog=("examples:\n"
                "  jaxnas plot re.json --out curves.png\n"
                "  jaxnas plot re.json random.json --kind compare --out compare.svg\n"
                "  jaxnas plot hw.json --kind pareto --device pixel3 --out pareto.png\n"
                "  jaxnas plot RUN_DIR --kind egnas-trace --out trace.png"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS",
                        help="results JSON files or run directories (egnas-trace: also an "
                             "EG-NAS .jsonl log)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output figure (.png, .svg or .pdf)")
    parser.add_argument("--kind", choices=("curves", "compare", "pareto", "egnas-trace"),
                        default="curves", help=_KIND_HELP + " (default curves)")
    parser.add_argument("--metric", choices=("report", "search"), default="report",
                        help="curves/compare: plot the incumbent's report metric (NB201: "
                             "200-epoch test accuracy, default) or its search metric (12-epoch "
                             "validation accuracy)")
    parser.add_argument("--band", choices=("std", "iqr", "none"), default="std",
                        help="curves/compare: band over seeds (default std)")
    parser.add_argument("--log-x", action="store_true", help="curves/compare: log-scale queries")
    parser.add_argument("--optimum", action="store_true",
                        help="curves/compare: draw the NB201 table optimum of the report metric")
    parser.add_argument("--labels", default=None,
                        help="comma-separated legend labels, one per results file")
    parser.add_argument("--device", default=None,
                        help="pareto: latency device (default: the runs' --device), e.g. "
                             "pixel3, fpga, 1080ti_1")
    parser.add_argument("--title", default=None, help="figure title")
    parser.set_defaults(run=run)


def _load(path: Path) -> dict:
    from jaxnas.search.store import read_json

    target = path / "results.json" if path.is_dir() else path
    if not target.is_file():
        raise DataNotFoundError(f"results file {str(target)!r} not found (run `jaxnas search "
                                f"... --json FILE` first, or pass its run directory)")
    data = read_json(target)
    if not isinstance(data, dict) or "runs" not in data or "config" not in data:
        raise ConfigError(f"{str(target)!r} is not a jaxnas search results file (no 'config' "
                          f"and 'runs')")
    return data


def run(args: argparse.Namespace) -> int:
    from jaxnas.search import plots

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    if labels is not None and args.kind != "egnas-trace" and len(labels) != len(args.results):
        raise ConfigError(f"--labels has {len(labels)} names for {len(args.results)} results")
    if args.kind == "egnas-trace":
        if len(args.results) != 1:
            raise ConfigError("--kind egnas-trace draws one search: pass one log or run dir")
        path = plots.plot_egnas_trace(args.results[0], args.out, title=args.title)
        print(f"plot: {path}")
        return 0
    results = [_load(p) for p in args.results]
    if args.kind == "pareto":
        path = plots.plot_pareto(results, args.out, device=args.device, title=args.title,
                                 labels=labels)
        print(f"plot: {path}")
        return 0
    optimum = None
    if args.optimum:
        cfg = results[0]["config"]
        if results[0].get("space_label") != "nb201" or args.metric != "report":
            raise ConfigError("--optimum exists for nb201 report-metric plots only")
        from jaxnas.benchmarks import get_oracle

        optimum = get_oracle("nb201", cfg["dataset"]).optimum("test_acc_200")
    draw = plots.plot_compare if args.kind == "compare" else plots.plot_curves
    path = draw(results, args.out, key=f"{args.metric}_metric", band=args.band,
                title=args.title, labels=labels, optimum=optimum, log_x=args.log_x)
    print(f"plot: {path}")
    return 0

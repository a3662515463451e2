"""Markdown table of baseline results files (mean / std / median of the report metric).

    python experiments/summarize_baselines.py experiments/results/baselines/*.json \
        [--at 50,100,150,200]

Reads `jaxnas search --json` files (runs of the same space, dataset, strategy and budget
are merged); std is the population std over seeds (ddof=0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxnas.search.runner import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--at", default="50,100,150,200")
    args = parser.parse_args()
    points = [int(x) for x in args.at.split(",")]
    print("| space | dataset | strategy | seeds | queries | mean | std | median |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    # files of the same space/dataset/strategy/budget (e.g. seeds 0-9 and 10-19 run
    # separately) are merged into one row set; a seed present twice is an error
    groups: dict[tuple, dict] = {}
    for path in args.results:
        data = json.loads(path.read_text())
        cfg = data["config"]
        key = (data["space_label"], cfg["dataset"], cfg["strategy"], int(cfg["queries"]))
        group = groups.setdefault(key, {"runs": [], "seeds": set()})
        for run in data["runs"]:
            if run["seed"] in group["seeds"]:
                raise SystemExit(f"{path}: seed {run['seed']} of {key} appears twice")
            group["seeds"].add(run["seed"])
            group["runs"].append(run)
    for (label, dataset, strategy, queries), group in groups.items():
        for row in summarize(group["runs"], queries, points):
            print(f"| {label} | {dataset} | {strategy} | "
                  f"{row['n']} | {row['queries']} | {row['mean']:.2f} | {row['std']:.2f} | "
                  f"{row['median']:.2f} |")


if __name__ == "__main__":
    main()

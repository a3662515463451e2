"""Markdown table of baseline results files (mean / std / median of the report metric).

    python experiments/summarize_baselines.py experiments/results/baselines/*.json \
        [--at 50,100,150,200]

Reads `jaxnas search --json` files; std is the population std over seeds (ddof=0).
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
    for path in args.results:
        data = json.loads(path.read_text())
        cfg = data["config"]
        for row in summarize(data["runs"], int(cfg["queries"]), points):
            print(f"| {data['space_label']} | {cfg['dataset']} | {cfg['strategy']} | "
                  f"{row['n']} | {row['queries']} | {row['mean']:.2f} | {row['std']:.2f} | "
                  f"{row['median']:.2f} |")


if __name__ == "__main__":
    main()

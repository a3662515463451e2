"""Retrain the best cell of each `--evaluator train` search for longer, and tabulate the runs.

    for S in agnet re random; do
        jaxnas search --space nb201 --dataset fashion_mnist --strategy $S --evaluator train \\
            --train-preset smoke --queries 48 --seeds 1 --data-dir DATA_DIR --json S.json
    done
    python experiments/retrain_best.py --data-dir DATA_DIR agnet.json re.json random.json

For every run (strategy x seed) of the given results files: the cell it found (best
validation accuracy, `runs[i]["best"]`), the mean validation accuracy of the cells it trained,
its wall time and the compile and training seconds summed over its trained cells (from the
run directory's `evals.jsonl`). Then all the best cells are retrained as one population by
the same `train` evaluator (`jaxnas.search.train_evaluator.TrainEvaluator`, the searches'
preset and data) for `--epochs` epochs (default 4x the preset's) with another training seed,
and their final validation and test accuracies are reported. Prints a table; writes JSON
(`--out`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any, Mapping

from jaxnas.search.base import ACCURACY, SearchContext
from jaxnas.search.store import read_evals
from jaxnas.search.summary import environment
from jaxnas.search.train_evaluator import TrainEvaluator
from jaxnas.spaces import get_space
from jaxnas.train.presets import get_preset

HERE = Path(__file__).resolve().parent


def run_dir_of(results: Mapping[str, Any], results_path: Path) -> Path:
    """The run directory (a relative one is taken from the results file's folder, where
    ``jaxnas search --json`` wrote both, else from the current one)."""
    run_dir = Path(results["run_dir"])
    beside = results_path.parent / run_dir
    return beside if not run_dir.is_absolute() and beside.is_dir() else run_dir


def run_rows(results: Mapping[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    """One row per seed of a results file: its best cell and its costs."""
    rows = []
    for run in results["runs"]:
        log = run_dir / f"seed_{run['seed']}" / "evals.jsonl"
        records = [e["record"] for e in read_evals(log) if e["record"]["cost"] > 0]
        costs = [r["info"]["cost"] for r in records]
        rows.append({
            "strategy": results["config"]["strategy"], "seed": run["seed"],
            "best": run["best"]["arch"], "best_val": run["best"]["metrics"][ACCURACY],
            "best_test_proxy": run["best"]["report"].get("test_accuracy"),
            "cells": len(records),
            "mean_val": statistics.mean(r["metrics"][ACCURACY] for r in records),
            "wall_s": results["timing"]["seed_wall_time_s"][str(run["seed"])],
            "compile_s": sum(c["compile_s"] for c in costs),
            "train_s": sum(c["train_s"] for c in costs)})
    return rows


def _or_nan(seconds: float | None) -> float:
    """Seconds for a table; unknown (a run resumed from a store without them) prints nan."""
    return float("nan") if seconds is None else seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--epochs", type=int, default=None,
                    help="retraining epochs (default: 4x the searches' preset epochs)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "retrain_best.json")
    args = ap.parse_args()
    files = [json.loads(p.read_text()) for p in args.results]
    configs = {(f["config"]["space"], f["config"]["dataset"],
                json.dumps(f["config"].get("evaluator_options"), sort_keys=True)) for f in files}
    if len(configs) != 1:
        sys.exit(f"the results files were searched on different spaces/data/presets: {configs}")
    config = files[0]["config"]
    options = dict(config.get("evaluator_options") or {})
    rows = [row for f, p in zip(files, args.results) for row in run_rows(f, run_dir_of(f, p))]
    space = get_space(config["space"])
    context = SearchContext(space_name=config["space"], dataset=config["dataset"],
                            data_dir=args.data_dir)
    preset = get_preset(options.get("preset", "smoke"))  # TrainEvaluator's default
    epochs = args.epochs or 4 * int(options.get("epochs", preset.epochs))
    evaluator = TrainEvaluator(space, context, **{**options, "epochs": epochs, "seed": 1})
    cells = list(dict.fromkeys(row["best"] for row in rows))
    records = dict(zip(cells, evaluator.evaluate([space.parse(c) for c in cells])))
    for row in rows:
        record = records[row["best"]]
        row["retrained_val"] = record.info["curves"]["val"][-1] if record.info["curves"]["val"] \
            else None
        row["retrained_test"] = record.report.get("test_accuracy")
        row["params"] = record.info["params"]
    print(f"\nretrained for {epochs} epochs (preset {preset.name}, training seed 1)\n")
    head = (f"{'strategy':<9}{'seed':>5}{'cells':>6}{'mean val':>9}{'best val':>9}"
            f"{'retr. val':>10}{'retr. test':>11}{'params':>8}{'wall s':>8}{'compile s':>10}"
            f"{'train s':>8}")
    print(head)
    for r in rows:
        print(f"{r['strategy']:<9}{r['seed']:>5}{r['cells']:>6}{r['mean_val']:>9.2f}"
              f"{r['best_val']:>9.2f}{r['retrained_val'] or 0:>10.2f}"
              f"{r['retrained_test'] or 0:>11.2f}{r['params']:>8}{_or_nan(r['wall_s']):>8.0f}"
              f"{r['compile_s']:>10.0f}{r['train_s']:>8.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "retrain_epochs": epochs,
                                    "evaluator": evaluator.identity(),
                                    "environment": environment(sys.argv)}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

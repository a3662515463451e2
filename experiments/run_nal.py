"""NAL evaluation: cost, NB201 transfer (learned on nb101-20k, 0 queries), in-space NB201 and
nb101-20k (learned from N queried random cells), each over seeds, as percentiles of the table.

Every generated cell comes from the same code path as ``jaxnas search --strategy nal`` (the
strategy's ``recommend``; in-space runs go through the runner's ``run_seed``), so a row can be
reproduced with the CLI, e.g. ``jaxnas search --space nb201 --strategy nal --queries 0
--seeds 10 --json out.json``.

    python experiments/run_nal.py                       # everything, 10 seeds
    python experiments/run_nal.py --parts cost,transfer --seeds 3

Prints tables and writes experiments/results/nal.json. Percentile = % of the table's cells whose
report metric is <= the cell's (100 = best cell); a uniformly random cell's expected percentile
is computed exactly from the table (about 50 %).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import numpy as np

from jaxnas.benchmarks import get_oracle, oracle_space
from jaxnas.compile_cache import enable_compile_cache
from jaxnas.search import nal
from jaxnas.search.base import SearchContext
from jaxnas.search.runner import RunConfig, run_seed

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def random_expected_percentile(oracle) -> float:
    """Mean percentile of a uniformly drawn table cell (exact, from the report column)."""
    column = np.sort(np.asarray(oracle.column(oracle.report_metric), np.float64))
    le = np.searchsorted(column, column, side="right")  # cells <= each value
    return float(100.0 * le.mean() / len(column))


def stats(values: list[float]) -> dict[str, float]:
    a = np.asarray([v for v in values if v is not None], np.float64)
    if len(a) == 0:
        return {"n": 0}
    return {"n": int(len(a)), "mean": float(a.mean()), "std": float(a.std()),
            "min": float(a.min()), "max": float(a.max()), "median": float(np.median(a))}


def part_cost(repeats: int) -> dict:
    """Transfer end to end: train on nb101-20k experts + score/generate one NB201 cell."""
    out = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        model = nal.train_nb101_experts(jax.random.PRNGKey(seed))
        jax.block_until_ready(model.params)
        t1 = time.perf_counter()
        idx = nal.generate_nb201_transfer(model, 1, seed)
        t2 = time.perf_counter()
        out.append({"seed": seed, "train_s": t1 - t0, "generate_s": t2 - t1, "total_s": t2 - t0,
                    "cell": int(idx[0])})
        print(f"cost seed {seed}: train {t1 - t0:.2f} s, generate {t2 - t1:.2f} s, "
              f"total {t2 - t0:.2f} s ({'cold: includes jit compile' if seed == 0 else 'warm'})")
    return {"runs": out, "note": "run 0 includes XLA compilation (cold), later runs reuse it"}


def part_transfer(seeds: int) -> dict:
    """nb101-20k -> nb201, 0 queries: the strategy's recommendation per seed, all 3 datasets."""
    space = oracle_space("nb201", get_oracle("nb201", "cifar10"))
    strategy = nal.NAL(space, nal.NALStrategyConfig(), SearchContext("nb201", budget=0))
    rows = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        genome = strategy.recommend(strategy.init(jax.random.PRNGKey(seed)))[0]
        seconds = time.perf_counter() - t0
        row = {"seed": seed, "arch": space.to_string(genome), "seconds": seconds}
        for ds in DATASETS:
            oracle = get_oracle("nb201", ds)
            row[ds] = {"test_acc": oracle.value(genome, "test_acc_200"),
                       "percentile": oracle.percentile(genome)}
        rows.append(row)
        print(f"transfer seed {seed}: {row['arch']}  " + "  ".join(
            f"{ds} {row[ds]['test_acc']:.2f} ({row[ds]['percentile']:.2f} %)" for ds in DATASETS))
    summary = {}
    for ds in DATASETS:
        oracle = get_oracle("nb201", ds)
        summary[ds] = {"test_acc": stats([r[ds]["test_acc"] for r in rows]),
                       "percentile": stats([r[ds]["percentile"] for r in rows]),
                       "random_expected_percentile": random_expected_percentile(oracle),
                       "optimum": oracle.optimum()}
    return {"rows": rows, "summary": summary, "distinct_cells": len({r["arch"] for r in rows})}


def in_space(space: str, dataset: str, n: int, seeds: int, options: dict) -> dict:
    """Runner path: N random queried cells, then the generated (recommended) cell."""
    oracle = get_oracle(space, dataset)
    config = RunConfig(space=space, dataset=dataset, strategy="nal", queries=n,
                       seeds=tuple(range(seeds)), options=tuple(sorted(options.items())))
    rows = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        result = run_seed(config, seed)
        seconds = time.perf_counter() - t0
        rec = result["recommended"][0]
        random_best = result["curve"][-2]  # the random incumbent after the N queries
        row = {"seed": seed, "arch": rec["arch"], "in_table": rec["in_table"],
               "queries": result["queries"], "seconds": seconds,
               "random_incumbent_report": random_best["report_metric"],
               "random_incumbent_percentile": oracle.percentile(
                   float(random_best["report_metric"])),
               "report": None, "percentile": None}
        if rec["in_table"]:
            row["report"] = rec["report"][oracle.report_name]
            row["percentile"] = oracle.percentile(space_genome(space, oracle, rec["arch"]))
        rows.append(row)
    return {"space": space, "dataset": dataset, "n": n, "options": options, "rows": rows,
            "generated_report": stats([r["report"] for r in rows]),
            "generated_percentile": stats([r["percentile"] for r in rows]),
            "in_table": sum(r["in_table"] for r in rows),
            "random_incumbent_report": stats([r["random_incumbent_report"] for r in rows]),
            "random_incumbent_percentile": stats([r["random_incumbent_percentile"] for r in rows]),
            "random_expected_percentile": random_expected_percentile(oracle),
            "seconds": stats([r["seconds"] for r in rows])}


def space_genome(space: str, oracle, text: str):
    return oracle_space(space, oracle).parse(text)


def fmt(s: dict, digits: int = 2) -> str:
    if not s.get("n"):
        return "n/a"
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--parts", default="cost,transfer,nb201,nb101")
    parser.add_argument("--ns", default="16,50,100")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/nal.json"))
    parser.add_argument("--compile-cache", default="none",
                        help="persistent XLA compilation cache directory ('none': off)")
    args = parser.parse_args()
    enable_compile_cache(args.compile_cache)
    parts = args.parts.split(",")
    ns = [int(x) for x in args.ns.split(",")]
    results: dict = {"command": "python experiments/run_nal.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": platform.platform(), "config": nal.NALStrategyConfig().__dict__}
    if "cost" in parts:
        results["cost"] = part_cost(3)
    if "transfer" in parts:
        results["transfer"] = part_transfer(args.seeds)
        print("\nNB201 transfer (learned on nb101-20k, 0 queries), "
              f"{args.seeds} seeds, {results['transfer']['distinct_cells']} distinct cells")
        print(f"{'dataset':<16} {'test acc':>16} {'percentile':>16} {'random exp.':>12} {'optimum':>8}")
        for ds, s in results["transfer"]["summary"].items():
            print(f"{ds:<16} {fmt(s['test_acc']):>16} {fmt(s['percentile']):>16} "
                  f"{s['random_expected_percentile']:>12.2f} {s['optimum']:>8.2f}")
    rows = []
    if "nb201" in parts:
        for ds in DATASETS:
            for n in ns:
                rows.append(in_space("nb201", ds, n, args.seeds, {}))
                print(f"nb201 {ds} N={n}: done", flush=True)
    if "nb101" in parts:
        for gen in ("decode", "pool"):
            for n in ns:
                rows.append(in_space("nb101", "cifar10", n, args.seeds, {"generation": gen}))
                print(f"nb101 {gen} N={n}: done", flush=True)
    if rows:
        results["in_space"] = rows
        print(f"\nIn-space (learn from N queried random cells), {args.seeds} seeds")
        print(f"{'space':<10} {'dataset':<15} {'gen':<7} {'N':>4} {'in table':>9} "
              f"{'generated report':>17} {'gen. pct':>15} {'rand-inc. pct':>15} {'random':>7}")
        for r in rows:
            gen = r["options"].get("generation", "decode")
            print(f"{r['space']:<10} {r['dataset']:<15} {gen:<7} {r['n']:>4} "
                  f"{r['in_table']:>4}/{len(r['rows']):<4} {fmt(r['generated_report']):>17} "
                  f"{fmt(r['generated_percentile']):>15} "
                  f"{fmt(r['random_incumbent_percentile']):>15} "
                  f"{r['random_expected_percentile']:>7.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""NAL evaluation: cost, NB201 transfer (learned on nb101-20k, 0 queries; the current method
against the former one), in-space nb101-20k (learned from N random table cells, against those
experts and random cells) and in-space NB201, each over seeds, as percentiles of the table.

The settings are the defaults of ``NALStrategyConfig``, chosen on nb101-20k alone by
experiments/nal_select.py before this script was run on NB201 (docs/algorithms.md, "NAL").

Every generated cell comes from the same code path as ``jaxnas search --strategy nal`` (the
strategy's ``recommend``; in-space runs go through the runner's ``run_seed``), so a row can be
reproduced with the CLI, e.g. ``jaxnas search --space nb201 --strategy nal --queries 0
--seeds 10 --json out.json``.

    python experiments/run_nal.py                       # cost, transfer, nb101: 10 seeds
    python experiments/run_nal.py --parts cost,transfer --seeds 3

Prints tables and writes experiments/results/nal.json. Percentile = % of the table's cells whose
report metric is <= the cell's (100 = best cell); a uniformly random cell's expected percentile
is computed exactly from the table (about 50 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import jax
import numpy as np

from jaxnas.benchmarks import get_oracle, oracle_space
from jaxnas.compile_cache import enable_compile_cache
from jaxnas.graph import decode_nb201_transfer, expert_indices
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
    """Transfer end to end: train on nb101-20k experts + decode one NB201 cell (defaults)."""
    out = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        model = nal.train_nb101_experts(jax.random.PRNGKey(seed))
        jax.block_until_ready(model.params)
        t1 = time.perf_counter()
        ((ops, _),) = decode_nb201_transfer(model, 1, seed)
        t2 = time.perf_counter()
        out.append({"seed": seed, "train_s": t1 - t0, "generate_s": t2 - t1, "total_s": t2 - t0,
                    "cell": list(ops)})
        print(f"cost seed {seed}: train {t1 - t0:.2f} s, generate {t2 - t1:.2f} s, "
              f"total {t2 - t0:.2f} s ({'cold: includes jit compile' if seed == 0 else 'warm'})")
    return {"runs": out, "note": "run 0 includes XLA compilation (cold), later runs reuse it"}


# the former transfer method (main before this change): experts' vertex-count prior in the
# score, every NB201 cell scored, one drawn at T = 0.5; top 10 % experts, GAT 2 x 4 x 8
LEGACY = dict(score="legacy", generation="pool", decode="sample", temperature=0.5,
              top_fraction=0.1, num_layers=2, num_heads=4, head_dim=8, steps=200)
# the setting chosen before the contrast score existed (its NB201 result is in results.md)
TARGET_PRIOR = dict(score="target-prior", top_fraction=0.01, num_layers=2, num_heads=4,
                    head_dim=8)


def transfer_rows(config: nal.NALStrategyConfig, seeds: int, label: str) -> dict:
    """nb101-20k -> nb201, 0 queries: the strategy's recommendation per seed, all 3 datasets."""
    space = oracle_space("nb201", get_oracle("nb201", "cifar10"))
    strategy = nal.NAL(space, config, SearchContext("nb201", budget=0))
    rows = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        genome = strategy.recommend(strategy.init(jax.random.PRNGKey(seed)))[0]
        row = {"seed": seed, "arch": space.to_string(genome),
               "seconds": time.perf_counter() - t0}
        for ds in DATASETS:
            oracle = get_oracle("nb201", ds)
            row[ds] = {"test_acc": oracle.value(genome, "test_acc_200"),
                       "percentile": oracle.percentile(genome)}
        rows.append(row)
        print(f"{label} seed {seed}: {row['arch']}  " + "  ".join(
            f"{ds} {row[ds]['test_acc']:.2f} ({row[ds]['percentile']:.2f} %)" for ds in DATASETS),
            flush=True)
    summary = {}
    for ds in DATASETS:
        oracle = get_oracle("nb201", ds)
        column = np.asarray(oracle.column("test_acc_200"), np.float64)
        top1 = float(np.quantile(column, 0.99))  # the top-1 % threshold of the table
        summary[ds] = {"test_acc": stats([r[ds]["test_acc"] for r in rows]),
                       "percentile": stats([r[ds]["percentile"] for r in rows]),
                       "top1pct_threshold": top1,
                       "seeds_in_top1pct": int(sum(r[ds]["test_acc"] >= top1 for r in rows)),
                       "random_cell": {"mean_acc": float(column.mean()),
                                       "median_acc": float(np.median(column)),
                                       "expected_percentile": random_expected_percentile(oracle),
                                       "p_top1pct": float(np.mean(column >= top1))},
                       "optimum": oracle.optimum()}
    return {"label": label, "config": {k: v for k, v in config.__dict__.items()},
            "rows": rows, "summary": summary, "distinct_cells": len({r["arch"] for r in rows})}


def part_transfer(seeds: int) -> dict:
    """The current defaults against the earlier settings, same seeds."""
    return {"new": transfer_rows(nal.NALStrategyConfig(), seeds, "new"),
            "tprior": transfer_rows(nal.NALStrategyConfig(**TARGET_PRIOR), seeds, "tprior"),
            "legacy": transfer_rows(nal.NALStrategyConfig(**LEGACY), seeds, "legacy")}


def part_nb101(ns: list[int], seeds: int) -> list[dict]:
    """In-space nb101-20k through the strategy: N random table cells (numpy Generator seeded
    by the seed) are the told data; the generated cell against those N cells' experts (the
    top fraction the model learned from) and against a random table cell."""
    oracle = get_oracle("nb101", "cifar10")
    space = oracle_space("nb101", oracle)
    config = nal.NALStrategyConfig()
    strategy = nal.NAL(space, config, SearchContext(space.name, budget=max(ns)))
    acc = np.asarray(oracle.column(oracle.report_metric), np.float64)
    out = []
    for n in ns:
        rows = []
        for seed in range(seeds):
            idx = np.random.default_rng(seed).choice(len(acc), n, replace=False)
            told = tuple((space.to_string(oracle.genome(int(i))), float(acc[i])) for i in idx)
            state = strategy.init(jax.random.PRNGKey(seed))
            state = dataclasses.replace(state, told=told, asked=n)
            t0 = time.perf_counter()
            genome = strategy.recommend(state)[0]
            seconds = time.perf_counter() - t0
            experts = idx[expert_indices(acc[idx], config.top_fraction, config.min_experts)]
            pct = [oracle.percentile(float(acc[i])) for i in experts]
            text = space.to_string(genome)
            rows.append({"seed": seed, "arch": text, "seconds": seconds,
                         "percentile": oracle.percentile(genome),
                         "is_told_cell": text in {t for t, _ in told},
                         "is_expert": text in {told[int(np.flatnonzero(idx == e)[0])][0]
                                               for e in experts},
                         "best_expert_percentile": max(pct),
                         "experts_mean_percentile": float(np.mean(pct)),
                         "num_experts": len(experts)})
        out.append({"n": n, "rows": rows,
                    "generated_percentile": stats([r["percentile"] for r in rows]),
                    "best_expert_percentile": stats([r["best_expert_percentile"] for r in rows]),
                    "experts_mean_percentile": stats([r["experts_mean_percentile"]
                                                      for r in rows]),
                    "generated_above_best_expert": int(sum(
                        r["percentile"] > r["best_expert_percentile"] for r in rows)),
                    "generated_is_told_cell": int(sum(r["is_told_cell"] for r in rows)),
                    "random_expected_percentile": random_expected_percentile(oracle)})
        print(f"nb101-20k N={n}: generated pct {fmt(out[-1]['generated_percentile'])}, best "
              f"expert {fmt(out[-1]['best_expert_percentile'])}, experts mean "
              f"{fmt(out[-1]['experts_mean_percentile'])}", flush=True)
    return out


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


def print_transfer(part: dict, seeds: int) -> None:
    print(f"\nNB201 transfer (learned on nb101-20k, 0 queries), {seeds} seeds")
    print(f"{'method':<8} {'dataset':<16} {'test acc':>14} {'median':>7} {'pct':>14} "
          f"{'med pct':>8} {'top1%':>6} {'random':>7}")
    for label, res in part.items():
        for ds, s in res["summary"].items():
            print(f"{label:<8} {ds:<16} {fmt(s['test_acc']):>14} {s['test_acc']['median']:>7.2f} "
                  f"{fmt(s['percentile']):>14} {s['percentile']['median']:>8.2f} "
                  f"{s['seeds_in_top1pct']:>3}/{seeds:<2} {s['random_cell']['mean_acc']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--parts", default="cost,transfer,nb101")
    parser.add_argument("--ns", default="100,1000", help="nb101-20k in-space: cells learned from")
    parser.add_argument("--nb201-ns", default="16,50,100", help="nb201 in-space (part nb201)")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/nal.json"))
    parser.add_argument("--compile-cache", default="none",
                        help="persistent XLA compilation cache directory ('none': off)")
    args = parser.parse_args()
    enable_compile_cache(args.compile_cache)
    parts = args.parts.split(",")
    results: dict = {"command": "python experiments/run_nal.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": platform.platform(), "config": nal.NALStrategyConfig().__dict__}
    if "cost" in parts:
        results["cost"] = part_cost(3)
    if "transfer" in parts:
        results["transfer"] = part_transfer(args.seeds)
        print_transfer(results["transfer"], args.seeds)
    if "nb101" in parts:
        results["nb101"] = part_nb101([int(x) for x in args.ns.split(",")], args.seeds)
    if "nb201" in parts:
        rows = [in_space("nb201", ds, n, args.seeds, {}) for ds in DATASETS
                for n in (int(x) for x in args.nb201_ns.split(","))]
        results["in_space_nb201"] = rows
        for r in rows:
            print(f"nb201 {r['dataset']:<15} N={r['n']:>4}: generated pct "
                  f"{fmt(r['generated_percentile'])}, random incumbent "
                  f"{fmt(r['random_incumbent_percentile'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""AG-Net results: incumbent tables next to RE / random, and hardware-aware hypervolume.

    python experiments/run_agnet.py table --space nb201 --dataset cifar10 --seeds 20 \
        --queries 200 --strategies agnet re random --out experiments/results/agnet_nb201_c10.json
    python experiments/run_agnet.py hw --device pixel3 --max-latency 20 --mode joint \
        --seeds 3 --queries 200 --out experiments/results/agnet_hw_pixel3.json

``table`` runs every strategy through the same runner (jaxnas.search.runner.run_search) and
prints mean / std / median of the incumbent's report metric (NB201: 200-epoch test accuracy)
at 50/100/150/200 queries and the median number of queries until the incumbent is the
space's optimum (over seeds that reach it). ``hw`` runs the hardware-aware AG-Net and writes
the Pareto front of everything queried (JSON + plot) and its hypervolume ratio against the
true front of all 15,625 cells: reference point = (lowest test accuracy, highest latency) of
the whole table, accuracy = 200-epoch test accuracy, latency on the device.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxnas.search.pareto import hypervolume, pareto_front
from jaxnas.search.runner import RunConfig, run_search, value_at

CHECKPOINTS = (50, 100, 150, 200)


def _queries_to_optimum(run: dict, optimum: float) -> int | None:
    for entry in run["curve"]:
        if entry["report_metric"] >= optimum - 1e-9:
            return int(entry["queries"])
    return None


def table(args: argparse.Namespace) -> dict:
    from jaxnas.benchmarks import get_oracle

    optimum = None
    if args.space == "nb201":
        optimum = get_oracle("nb201", args.dataset).optimum("test_acc_200")
    out = {"space": args.space, "dataset": args.dataset, "queries": args.queries,
           "seeds": args.seeds, "optimum": optimum, "strategies": {}}
    for strategy in args.strategies:
        cfg = RunConfig(space=args.space, dataset=args.dataset, strategy=strategy,
                        queries=args.queries, seeds=tuple(range(args.seeds)),
                        options=tuple(sorted(o.split("=", 1) for o in args.option
                                             if strategy == "agnet")))
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as run_dir:
            res = run_search(cfg, run_dir, show_progress=False)
        rows = {}
        for q in [c for c in CHECKPOINTS if c <= args.queries]:
            v = np.array([value_at(r["curve"], q) for r in res["runs"]], np.float64)
            rows[q] = {"mean": float(v.mean()), "std": float(v.std()),
                       "median": float(np.median(v))}
        entry = {"rows": rows, "wall_s": round(time.perf_counter() - start, 1),
                 "seed_wall_s": res["timing"]["seed_wall_time_s"]}
        if optimum is not None:
            hits = [_queries_to_optimum(r, optimum) for r in res["runs"]]
            reached = [h for h in hits if h is not None]
            entry["reached_optimum"] = len(reached)
            entry["median_queries_to_optimum"] = (float(np.median(reached)) if reached
                                                  else None)
        out["strategies"][strategy] = entry
        print(strategy, json.dumps(entry), flush=True)
    return out


def hw(args: argparse.Namespace) -> dict:
    from jaxnas.benchmarks import get_oracle
    from jaxnas.search.plots import evaluated_records, plot_pareto

    oracle = get_oracle("nb201", args.dataset, args.device)
    lat_all = np.asarray(oracle.column("latency"), np.float64)
    acc_all = np.asarray(oracle.column("test_acc_200"), np.float64)
    ref_acc, ref_lat = float(acc_all.min()), float(lat_all.max())
    true_hv = hypervolume(acc_all, lat_all, ref_acc, ref_lat)
    options = [("mode", args.mode)] + [tuple(o.split("=", 1)) for o in args.option]
    out = {"device": args.device, "dataset": args.dataset, "mode": args.mode,
           "max_latency": args.max_latency, "queries": args.queries, "seeds": args.seeds,
           "reference_point": {"test_acc": ref_acc, "latency_ms": ref_lat},
           "true_front_size": int(len(pareto_front(acc_all, lat_all)))}
    results = {}
    # --seeds 0: baselines only
    for strategy in (["agnet"] if args.seeds > 0 else []) + list(args.baselines):
        # random search's queried set does not depend on the objective: same seeds, same
        # budget, hypervolume of the cells it queried
        agnet = strategy == "agnet"
        cfg = RunConfig(space="nb201", dataset=args.dataset, strategy=strategy,
                        queries=args.queries,
                        seeds=tuple(range(args.seeds if agnet or args.baseline_seeds is None
                                          else args.baseline_seeds)),
                        options=tuple(sorted(options)) if agnet else (),
                        objective="latency" if agnet and args.mode == "joint" else "accuracy",
                        device=args.device if agnet else None,
                        max_latency=args.max_latency if agnet else None)
        run_dir = Path(tempfile.mkdtemp(prefix=f"{strategy}-hw-")) if not agnet or \
            not args.run_dir else Path(args.run_dir)
        res = run_search(cfg, run_dir, show_progress=False)
        results[strategy] = res
        records = evaluated_records(res)
        per_seed = {}
        for seed in cfg.seeds:
            idx = sorted({oracle.index(r["genome"]) for r in records if r["seed"] == seed})
            lat, acc = lat_all[idx], acc_all[idx]
            front = pareto_front(acc, lat)
            per_seed[seed] = {
                "hv_ratio": hypervolume(acc, lat, ref_acc, ref_lat) / true_hv,
                "front": [{"arch": str(oracle.genome(idx[i])), "test_acc": float(acc[i]),
                           "latency_ms": float(lat[i])} for i in front]}
        ratios = np.array([v["hv_ratio"] for v in per_seed.values()])
        prefix = "" if agnet else f"{strategy}_"
        out[f"{prefix}hv_ratio_mean"] = float(ratios.mean())
        out[f"{prefix}hv_ratio_std"] = float(ratios.std())
        out[f"{prefix}seed_wall_s"] = res["timing"]["seed_wall_time_s"]
        out[f"{prefix}per_seed"] = per_seed
        out[f"{prefix}seeds"] = len(cfg.seeds)
    if args.plot:
        plot_pareto(list(results.values()), args.plot)
        out["plot"] = str(args.plot)
    print(json.dumps({k: v for k, v in out.items() if not k.endswith("per_seed")}), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("--space", default="nb201")
    t.add_argument("--dataset", default="cifar10")
    t.add_argument("--strategies", nargs="+", default=["agnet", "re", "random"])
    h = sub.add_parser("hw")
    h.add_argument("--dataset", default="cifar10")
    h.add_argument("--device", default="pixel3")
    h.add_argument("--max-latency", type=float, default=None)
    h.add_argument("--mode", choices=("joint", "constrained"), default="joint")
    h.add_argument("--plot", type=Path, default=None)
    h.add_argument("--run-dir", default=None)
    h.add_argument("--baselines", nargs="*", default=["random"],
                   help="strategies whose 200-query fronts are scored the same way")
    h.add_argument("--baseline-seeds", type=int, default=None,
                   help="seeds of the baselines (default: --seeds; random search is cheap)")
    for s in (t, h):
        s.add_argument("--seeds", type=int, default=20)
        s.add_argument("--queries", type=int, default=200)
        s.add_argument("--option", action="append", default=[], help="agnet KEY=VALUE")
        s.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    out = table(args) if args.cmd == "table" else hw(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Efficient Global NAS: faithful vs batched search side by side, then final training.

    python experiments/run_egnas.py --preset smoke --data-dir DATA_DIR \
        --out experiments/results/egnas_smoke.json [--final-epochs 20] [--modes faithful,batched]

Each mode runs through the search runner (:func:`jaxnas.search.runner.run_search`) in its own
run directory ``<run-root>/<dataset>_<preset>_<mode>``: every candidate is appended to the
run's fsynced evaluation log as it finishes, and running the same command again resumes from
there without retraining. For each mode: found genome, params, proxy accuracy of the final
incumbent, candidates trained, candidate-epochs, wall time. ``--final-epochs E`` then trains the
``--final-mode`` result E epochs with the authors' recipe on the full training split and
reports best and final test accuracy. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxnas.search import runner  # noqa: E402
from jaxnas.search.egnas import EGNAS, PRESETS, plain_genome  # noqa: E402
from jaxnas.search.egnas.config import DATA_FIELDS, RECIPE_FIELDS  # noqa: E402
from jaxnas.search.registry import make_config, parse_option_strings  # noqa: E402
from jaxnas.search.store import SeedStore  # noqa: E402

AUTHORS_FASHION_MNIST = {"test_acc": 95.91, "params_m": 0.508, "epochs": 600,
                         "genome": "L18 C54, 3 std-conv, 1 k5 (authors' log, docs/algorithms.md)"}
#: the search ends by itself; the runner's budget (candidate-epochs) only has to exceed it
QUERIES = 10 ** 9


def run_config(args: argparse.Namespace, options: dict[str, str], mode: str
               ) -> runner.RunConfig:
    """One mode's run; the evaluator gets the same preset as the strategy and the options
    that name its data sizes and selection split."""
    data = tuple(sorted((k, v) for k, v in options.items() if k in DATA_FIELDS))
    return runner.RunConfig(space="egnas", dataset=args.dataset, strategy="egnas",
                            queries=QUERIES, seeds=(args.seed,), preset=args.preset,
                            options=tuple(sorted({**options, "mode": mode}.items())),
                            evaluator_options=(("preset", args.preset),) + data,
                            data_dir=args.data_dir)


def summarize_mode(config: runner.RunConfig, run_dir: Path, results: dict[str, Any]
                   ) -> dict[str, Any]:
    """What one search did: its output genome, cost and decisions (from the run directory)."""
    strategy, _, _ = runner.build(config)
    seed = config.seeds[0]
    state = SeedStore(run_dir, seed).load_checkpoint(strategy.init(0)).state
    run = results["runs"][0]
    genome = strategy.space.parse(run["result"]["genome"])
    macro = plain_genome(state.macro_depth, state.macro_width)
    return {"mode": strategy.config.mode, "genome": run["result"]["genome"],
            "params": strategy.count_params(genome), "proxy_accuracy": float(state.acc),
            "macro_genome": strategy.space.to_string(macro),
            "candidates": state.num_trained, "candidate_epochs": state.candidate_epochs,
            "charged_epochs": run["queries"], "steps": run["steps"],
            "wall_time_s": results["timing"]["seed_wall_time_s"][str(seed)],
            "run_dir": str(run_dir), "events": list(state.events)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--preset", default="smoke", choices=sorted(PRESETS))
    p.add_argument("--modes", default="faithful,batched")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--run-root", default="experiments/results/egnas_runs")
    p.add_argument("--out", default="experiments/results/egnas.json")
    p.add_argument("--final-epochs", type=int, default=0,
                   help="train the --final-mode result this many epochs (0: skip)")
    p.add_argument("--final-mode", default="batched")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    options = parse_option_strings(args.option)
    base = make_config(EGNAS.Config, options, args.preset, EGNAS)
    out: dict[str, Any] = {"preset": args.preset, "dataset": args.dataset,
                           "config": dataclasses.asdict(base), "modes": {}}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        config = run_config(args, options, mode)
        run_dir = Path(args.run_root) / f"{args.dataset}_{args.preset}_{mode}"
        script = str(Path(__file__).resolve().relative_to(ROOT))  # no machine paths recorded
        results = runner.run_search(config, run_dir, command=[script, *sys.argv[1:]])
        s = out["modes"][mode] = summarize_mode(config, run_dir, results)
        print(f"[{mode}] {s['genome']}  params={s['params']}  proxy acc="
              f"{s['proxy_accuracy']:.2f}  candidates={s['candidates']}  candidate-epochs="
              f"{s['candidate_epochs']}  wall={_or_nan(s['wall_time_s']):.0f}s", flush=True)
    print_table(out["modes"].values())

    if args.final_epochs > 0 and args.final_mode in out["modes"]:
        out["final"] = final_training(out["modes"][args.final_mode]["genome"], args, base)
        f = out["final"]
        print(f"\nfinal training of {f['genome']} for {f['epochs']} epochs: best test "
              f"{f['best_test_acc']:.2f} %, final test {f['final_test_acc']:.2f} % "
              f"({f['params']} params, {f['wall_time_s']:.0f} s); authors: "
              f"{AUTHORS_FASHION_MNIST['test_acc']} % at {AUTHORS_FASHION_MNIST['params_m']} M "
              f"after {AUTHORS_FASHION_MNIST['epochs']} epochs on a GPU")
    out["authors_fashion_mnist"] = AUTHORS_FASHION_MNIST
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


def _or_nan(seconds: float | None) -> float:
    """Seconds for a table; unknown (a run resumed from a store without them) prints nan."""
    return float("nan") if seconds is None else seconds


def print_table(rows: Any) -> None:
    print(f"\n{'mode':10s} {'genome':48s} {'params':>9s} {'proxy %':>8s} {'cands':>6s} "
          f"{'cand-ep':>8s} {'steps':>6s} {'wall s':>8s}")
    for r in rows:
        print(f"{r['mode']:10s} {r['genome'][:48]:48s} {r['params']:9d} "
              f"{r['proxy_accuracy']:8.2f} {r['candidates']:6d} {r['candidate_epochs']:8d} "
              f"{r['steps']:6d} {_or_nan(r['wall_time_s']):8.0f}")


def final_training(genome: str, args: argparse.Namespace, cfg: Any) -> dict:
    """The authors' recipe on the whole training split, test accuracy every epoch (the same
    code path as ``jaxnas train``)."""
    from jaxnas.train.single import train_genome

    return train_genome("egnas", genome, args.dataset, args.final_epochs,
                        seed=args.seed, data_dir=args.data_dir,
                        **{name: getattr(cfg, name) for name in RECIPE_FIELDS})


if __name__ == "__main__":
    from jaxnas.cpu_tuning import tune_cpu

    tune_cpu()  # the jaxnas command's CPU settings
    raise SystemExit(main())

"""Efficient Global NAS: faithful vs batched search side by side, then final training.

    python experiments/run_egnas.py --preset smoke --data-dir ../shared/data \
        --out experiments/results/egnas_smoke.json [--final-epochs 20] [--modes faithful,batched]

For each mode: found genome, params, validation accuracy of the final proxy, number of
candidates trained, candidate-epochs, wall time. Every candidate is appended to
``<log-dir>/<mode>.jsonl`` as it finishes; running the same command again resumes from those
logs without retraining. ``--final-epochs E`` then trains the batched result E epochs with the
authors' recipe on the full training split and reports best and final test accuracy.
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxnas.search.base import SearchContext  # noqa: E402
from jaxnas.search.egnas import EGNAS, PRESETS, TrainerEvaluator, run_search  # noqa: E402
from jaxnas.search.registry import make_config, parse_option_strings  # noqa: E402

AUTHORS_FASHION_MNIST = {"test_acc": 95.91, "params_m": 0.508, "epochs": 600,
                         "genome": "L18 C54, 3 std-conv, 1 k5 (papers.md 1.6)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--preset", default="smoke", choices=sorted(PRESETS))
    p.add_argument("--modes", default="faithful,batched")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--log-dir", default="experiments/results/egnas_logs")
    p.add_argument("--out", default="experiments/results/egnas.json")
    p.add_argument("--final-epochs", type=int, default=0,
                   help="train the batched result this many epochs (0: skip)")
    p.add_argument("--final-mode", default="batched")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    options = parse_option_strings(args.option)
    base = make_config(EGNAS.Config, options, args.preset, EGNAS)
    context = SearchContext(space_name="egnas", dataset=args.dataset, data_dir=args.data_dir)
    data = None
    rows, out = [], {"preset": args.preset, "dataset": args.dataset,
                     "config": dataclasses.asdict(base), "modes": {}}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        cfg = dataclasses.replace(base, mode=mode)
        log = Path(args.log_dir) / f"{args.dataset}_{args.preset}_{mode}.jsonl"
        evaluator = TrainerEvaluator(None, context, config=cfg, data=data, log_path=log)
        data = evaluator.data()  # load once, share between modes
        strategy = EGNAS(None, cfg, context)
        state, summary = run_search(strategy, evaluator, seed=args.seed)
        out["modes"][mode] = summary.to_json()
        rows.append(summary)
        print(f"[{mode}] {summary.genome}  params={summary.params}  "
              f"proxy val acc={summary.proxy_accuracy:.2f}  candidates={summary.candidates}  "
              f"candidate-epochs={summary.candidate_epochs}  wall={summary.wall_time_s:.0f}s "
              f"(trained now: {summary.trained_now})", flush=True)

    print()
    print(f"{'mode':10s} {'genome':48s} {'params':>9s} {'proxy val%':>10s} {'cands':>6s} "
          f"{'cand-ep':>8s} {'pops':>5s} {'wall s':>8s}")
    for r in rows:
        print(f"{r.mode:10s} {r.genome[:48]:48s} {r.params:9d} {r.proxy_accuracy:10.2f} "
              f"{r.candidates:6d} {r.candidate_epochs:8d} {r.populations:5d} "
              f"{r.wall_time_s:8.0f}")

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


def final_training(genome: str, args: argparse.Namespace, cfg) -> dict:
    """The authors' recipe on the whole training split, test accuracy every epoch (the same
    code path as ``jaxnas train``)."""
    from jaxnas.cli.train_cmd import train_genome

    return train_genome("egnas", genome, args.dataset, args.final_epochs,
                        batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                        momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                        grad_clip=cfg.grad_clip_norm, schedule=cfg.schedule,
                        cutout=cfg.cutout_size, seed=args.seed, data_dir=args.data_dir)


if __name__ == "__main__":
    from jaxnas.cpu_tuning import tune_process

    tune_process([__file__, *sys.argv[1:]])  # the jaxnas command's CPU settings
    raise SystemExit(main())

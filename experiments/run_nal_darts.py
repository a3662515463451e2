"""NAL DARTS transfer: a genotype generated from nb101-20k knowledge against random DARTS
genotypes, all trained by the proxy trainer on a Fashion-MNIST subset at one equal budget.

    python experiments/run_nal_darts.py --data-dir ../shared/data
    python experiments/run_nal_darts.py --data-dir ../shared/data --randoms 8 --epochs 2 \
        --train-size 2000 --val-size 1000 --test-size 1000 --channels 8 --layers 3 --cutout 0

Every genotype gets the identical budget (same TrainBudget, same data subset, same member key,
hence the same data order and augmentation draws); the selection metric is the final validation
accuracy and the test subset is reported alongside. Prints a table and writes
experiments/results/nal_darts.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxnas.data import load_dataset, subset, train_val_split
from jaxnas.nn import count_params
from jaxnas.search import nal
from jaxnas.spaces import get_space
from jaxnas.train import TrainBudget, TrainOptions, train_population


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--nal-seed", type=int, default=0)
    parser.add_argument("--randoms", type=int, default=8)
    parser.add_argument("--random-seed", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.025)
    parser.add_argument("--cutout", type=int, default=0, help="cutout size (0: none)")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--val-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/nal_darts.json"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    model = nal.train_nb101_experts(jax.random.PRNGKey(args.nal_seed))
    nal_genome = nal.generate_darts(model, seed=args.nal_seed)
    nal_seconds = time.perf_counter() - t0
    space = get_space("darts")
    rng = np.random.default_rng(args.random_seed)
    randoms = [space.sample(rng) for _ in range(args.randoms)]
    genomes = [nal_genome] + randoms
    names = ["nal"] + [f"random-{i}" for i in range(args.randoms)]
    print(f"NAL genotype ({nal_seconds:.1f} s to learn + generate): {space.to_string(nal_genome)}")

    full = load_dataset("fashion_mnist", "train", data_dir=args.data_dir)
    train_all, val_all = train_val_split(full, val_fraction=0.1, seed=0)
    train = subset(train_all, args.train_size, seed=0)
    val = subset(val_all, args.val_size, seed=1)
    test = subset(load_dataset("fashion_mnist", "test", data_dir=args.data_dir),
                  args.test_size, seed=2)
    budget = TrainBudget(epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, cutout_size=args.cutout)
    options = TrainOptions(network_options=(("channels", args.channels),
                                            ("layers", args.layers)))
    key = jax.random.PRNGKey(0)
    command = "python experiments/run_nal_darts.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
    budget_json = {k: getattr(budget, k) for k in budget.__dataclass_fields__}
    done = {}
    if args.out.exists():  # resume: keep rows of an interrupted run of the same command
        previous = json.loads(args.out.read_text())
        if previous.get("command") == command:
            done = {(r["name"], r["genotype"]): r for r in previous["rows"]}
    rows = []
    for name, genome in zip(names, genomes):
        if (name, space.to_string(genome)) in done:
            rows.append(done[(name, space.to_string(genome))])
            print(f"{name:<10} (kept from {args.out})", flush=True)
            continue
        start = time.perf_counter()
        (result,) = train_population("darts", [genome], budget, train, val, key=key,
                                     member_keys=[key], executor="loop", test_data=test,
                                     options=options)
        seconds = time.perf_counter() - start
        row = {"name": name, "genotype": space.to_string(genome), "status": result.status,
               "val_acc": result.final_val_acc,
               "test_acc": result.test_acc_per_epoch[-1] if result.test_acc_per_epoch else None,
               "params": count_params("darts", genome, 10, (28, 28, 1), channels=args.channels,
                                      layers=args.layers),
               "wall_s": seconds}
        rows.append(row)
        print(f"{name:<10} val {row['val_acc']:6.2f}  test {row['test_acc']:6.2f}  "
              f"params {row['params']:>7}  {seconds:6.1f} s  {row['status']}", flush=True)
        partial = {"command": command, "budget": budget_json, "rows": rows, "partial": True}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(partial, indent=1))  # survive an interrupted run
    rand_val = np.array([r["val_acc"] for r in rows[1:]])
    rand_test = np.array([r["test_acc"] for r in rows[1:]])
    summary = {
        "nal_val": rows[0]["val_acc"], "nal_test": rows[0]["test_acc"],
        "random_val_mean": float(rand_val.mean()), "random_val_std": float(rand_val.std()),
        "random_test_mean": float(rand_test.mean()), "random_test_std": float(rand_test.std()),
        "nal_rank_by_val": int(1 + np.sum(rand_val > rows[0]["val_acc"])),
        "nal_rank_by_test": int(1 + np.sum(rand_test > rows[0]["test_acc"])),
    }
    print(f"\nNAL: val {summary['nal_val']:.2f} test {summary['nal_test']:.2f} | "
          f"{args.randoms} random: val {summary['random_val_mean']:.2f} ± "
          f"{summary['random_val_std']:.2f}, test {summary['random_test_mean']:.2f} ± "
          f"{summary['random_test_std']:.2f} (std ddof=0) | NAL rank by test "
          f"{summary['nal_rank_by_test']}/{len(rows)}")
    out = {"command": command, "machine": platform.platform(), "budget": budget_json,
        "network": {"channels": args.channels, "layers": args.layers},
        "data": {"train": args.train_size, "val": args.val_size, "test": args.test_size},
        "nal_seconds": nal_seconds, "rows": rows, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from jaxnas.cpu_tuning import tune_process

    tune_process([__file__, *sys.argv[1:]])  # the jaxnas command's CPU settings
    main()

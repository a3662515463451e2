"""How well does an EG-NAS candidate learn under a candidate proxy recipe? (sizing a preset)

    python experiments/egnas_proxy_probe.py --data-dir DATA_DIR \\
        L6-C24-o000000-k333333:20000:2 L6-C48-o000000-k333333:20000:3 \\
        L6-C48-o000000-k333333:20000:2:0.05

Each argument is ``GENOME:N_TRAIN:EPOCHS[:LR]``: the genome is trained alone (one population
of one member, so its wall time is its own, XLA compile included) by the EG-NAS evaluator
(``jaxnas.search.egnas.TrainerEvaluator``) on Fashion-MNIST, with ``N_TRAIN`` training images
of the seeded split, ``--n-val`` validation images, and the recipe below; it prints the
per-epoch validation accuracy, the parameter count and the wall time, and writes them to
``--out`` (JSON). Recipe (what a CPU proxy of a few epochs needs; the authors' own recipe is
``TrainRecipe``'s defaults): learning rate ``LR`` (default ``--lr``) annealed to 0 every step,
no cutout, 28-px training crops (the stored size). Everything else is the authors' (SGD
momentum 0.9, weight decay 3e-4, clip 5, batch 64, flips).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from jaxnas.search.base import SearchContext
from jaxnas.search.egnas import EGNASConfig, TrainerEvaluator
from jaxnas.search.summary import environment

HERE = Path(__file__).resolve().parent


def probe(spec: str, data_dir: str, n_val: int, lr: float) -> dict[str, Any]:
    """Train one ``GENOME:N_TRAIN:EPOCHS[:LR]`` spec; its curve, params and wall time."""
    genome, n_train, epochs, *rate = spec.split(":")
    config = EGNASConfig(n_train=int(n_train), n_val=n_val, n_test=1000,
                         schedule="cosine_per_step", cutout_size=0, crop_size=28,
                         learning_rate=float(rate[0]) if rate else lr)
    context = SearchContext(space_name="egnas", dataset="fashion_mnist", data_dir=data_dir)
    evaluator = TrainerEvaluator(context=context, config=config)
    evaluator.data()  # loaded before the clock starts
    start = time.perf_counter()
    record, = evaluator.evaluate([evaluator.space.parse(genome)], [config.recipe(int(epochs))])
    wall = time.perf_counter() - start
    return {"spec": spec, "genome": genome, "n_train": int(n_train), "epochs": int(epochs),
            "learning_rate": config.learning_rate, "params": record.info["params"],
            "val_acc_per_epoch": record.info["val_acc_per_epoch"],
            "train_acc_per_epoch": record.info["train_acc_per_epoch"], "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+", help="GENOME:N_TRAIN:EPOCHS[:LR]")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--n-val", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "egnas_proxy_probe.json")
    args = ap.parse_args()
    rows = []
    print(f"{'spec':40s} {'params':>7s} {'wall s':>7s}  validation % per epoch")
    for spec in args.specs:
        row = probe(spec, args.data_dir, args.n_val, args.lr)
        rows.append(row)
        curve = " ".join(f"{v:.2f}" for v in row["val_acc_per_epoch"])
        print(f"{spec:40s} {row['params']:7d} {row['wall_s']:7.1f}  {curve}", flush=True)
        args.out.write_text(json.dumps({"rows": rows, "environment": environment(sys.argv)},
                                       indent=1))


if __name__ == "__main__":
    main()

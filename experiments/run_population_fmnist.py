"""Train one egnas population on the Fashion-MNIST train/validation split and report it.

    python experiments/run_population_fmnist.py --data-dir DATA_DIR \\
        --schedule cosine_per_step                                               # issue 8 check
    python experiments/run_population_fmnist.py --data-dir DATA_DIR \\
        --members 4 --depth 10 20 --width 16 64 --cutout 16 --crop-size 32  # the authors' nets

The population is ``--members`` genomes drawn uniformly (``EgnasSpace.sample``, seeded) from
the depth / width ranges with kernels 3 and 5, trained together by
``jaxnas.train.train_population`` (``auto`` executor) for ``--epochs`` epochs with the EG-NAS
authors' recipe (SGD 0.025 cosine to 0 per epoch, momentum 0.9, weight decay 3e-4, clip 5, batch 64,
random crop with padding 4, flip) except cutout (``--cutout``, default 0: a regulariser for
600-epoch training that only slows a 1-epoch one) and the crop size (``--crop-size``, default
28 = the validation images' size; the authors' 32-px crops of 28-px images, tested at 28 px,
make 1-epoch accuracies erratic: docs/performance.md). ``--schedule cosine_per_step``
anneals the learning rate every step instead of every epoch (per epoch, a 1-epoch run trains
at a constant 0.025); ``--only`` re-trains chosen members. Validation = a seeded 10 % of the
training set. Prints one row per member and the mean, writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--members", type=int, default=16)
    ap.add_argument("--depth", type=int, nargs=2, default=(4, 8), metavar=("MIN", "MAX"))
    ap.add_argument("--width", type=int, nargs=2, default=(8, 16), metavar=("MIN", "MAX"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--cutout", type=int, default=0)
    ap.add_argument("--crop-size", type=int, default=None,
                    help="training crop (default: the image size, 28, as evaluated; the "
                         "authors train on 32-px crops and test at 28 px)")
    ap.add_argument("--learning-rate", type=float, default=0.025)
    ap.add_argument("--schedule", default="cosine",
                    help="cosine (per epoch, the authors'), cosine_per_step, "
                         "cosine_torch_legacy or constant")
    ap.add_argument("--only", type=int, nargs="+", default=None, metavar="INDEX",
                    help="train only these members of the drawn population (0-based)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=None, help="subsample (default: all)")
    ap.add_argument("--n-val", type=int, default=None, help="subsample (default: all)")
    ap.add_argument("--executor", default="auto")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "population_fmnist.json")
    args = ap.parse_args()
    logging.basicConfig(format="%(asctime)s %(message)s")
    logging.getLogger("jaxnas").setLevel(logging.INFO)  # one line per finished group epoch

    import jax
    import numpy as np

    from jaxnas.data import load_dataset, subset, train_val_split
    from jaxnas.spaces.egnas import EgnasSpace
    from jaxnas.train import TrainRecipe, train_population

    space = EgnasSpace(min_depth=args.depth[0], max_depth=args.depth[1], min_width=args.width[0],
                       max_width=args.width[1], kernel_choices=(3, 5))
    rng = np.random.default_rng(args.seed)
    genomes = [space.sample(rng) for _ in range(args.members)]
    if args.only is not None:
        bad = [i for i in args.only if not 0 <= i < args.members]
        if bad:
            ap.error(f"--only {bad}: indices must be in [0, {args.members})")
        genomes = [genomes[i] for i in args.only]
    full = load_dataset("fashion_mnist", "train", data_dir=args.data_dir)
    train, val = train_val_split(full, 0.1, args.seed)
    if args.n_train is not None:
        train = subset(train, args.n_train, args.seed)
    if args.n_val is not None:
        val = subset(val, args.n_val, args.seed + 1)
    crop = args.crop_size or full.info.image_size  # TrainRecipe's None would mean 32 px
    budget = TrainRecipe(epochs=args.epochs, cutout_size=args.cutout, crop_size=crop,
                         learning_rate=args.learning_rate, schedule=args.schedule)
    start = time.time()
    results = train_population("egnas", genomes, budget, train, val,
                               key=jax.random.PRNGKey(args.seed), executor=args.executor,
                               progress=True)
    wall = time.time() - start

    rows = [{"genome": space.to_string(g), "status": r.status, "val_acc": r.final_val_acc,
             "params": r.params, "steps": r.steps, "wall_s": round(r.wall_time, 1),
             "executor": r.executor} for g, r in zip(genomes, results)]
    print(f"{'genome':<44} {'status':>8} {'val %':>7} {'params':>8} {'wall s':>7}")
    for row in rows:
        print(f"{row['genome']:<44} {row['status']:>8} {row['val_acc']:7.2f} "
              f"{row['params']:8d} {row['wall_s']:7.1f}")
    accs = [row["val_acc"] for row in rows]
    print(f"mean validation accuracy {np.mean(accs):.2f} % (min {min(accs):.2f}, "
          f"max {max(accs):.2f}); {len(train)} train / {len(val)} val images; "
          f"wall {wall:.0f} s")
    out = {"command": shlex.join(["python", *sys.argv]),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                      f"{jax.default_backend()} backend, {jax.device_count()} device(s)",
           "budget": {"epochs": budget.epochs, "batch_size": budget.batch_size,
                      "learning_rate": budget.learning_rate, "schedule": budget.schedule,
                      "cutout_size": budget.cutout_size,
                      "crop_size": budget.crop_size},
           "n_train": len(train), "n_val": len(val), "wall_s": round(wall, 1),
           "mean_val_acc": float(np.mean(accs)), "members": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from jaxnas.cli import reexec_with_hugepages
    from jaxnas.cpu_tuning import tune_xla_flags

    reexec_with_hugepages([__file__, *sys.argv[1:]])  # the jaxnas command's CPU settings
    tune_xla_flags()
    main()

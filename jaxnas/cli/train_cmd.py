"""``jaxnas train``: train one genome of any space from scratch and report its test accuracy.

Example::

    jaxnas train --space egnas --genome L18-C54-o010001000100000000-k333333335333333333 \\
        --dataset fashion_mnist --epochs 600 --json final.json

The recipe defaults are the EG-NAS authors' final training (papers.md 1.4-1.5): SGD lr 0.025,
momentum 0.9, weight decay 3e-4, cosine annealing over the epochs to 0, grad-norm clip 5,
batch 64, cutout 16, random crop (32 px for egnas, as the authors crop 28 px MNIST-family
images to 32; the image size for the other spaces), horizontal flip where the dataset allows
it. The whole training split is trained on and the test split is evaluated after every epoch;
the command reports the best and the final test accuracy (the authors report the best).
``--val-fraction F`` holds out a seeded validation split instead and also reports the test
accuracy at the epoch of the best validation accuracy (the honest estimate).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from jaxnas.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one genome (any space) with the EG-NAS recipe; report test accuracy",
        description=(
            "Train one genome of a search space from scratch on a dataset's training split "
            "and evaluate the test split after every epoch; print the best and the final test "
            "accuracy and write them, with the per-epoch curves, to --json. Defaults are the "
            "EG-NAS authors' recipe (SGD 0.025, momentum 0.9, wd 3e-4, cosine to 0, clip 5, "
            "batch 64, cutout 16, crop 32 px for egnas)."
        ),
        epilog="example: jaxnas train --space egnas --genome "
               "L10-C16-o0000000000-k3333333333 --dataset fashion_mnist --epochs 2",
    )
    parser.add_argument("--space", required=True, help="egnas, nb201, nb101 or darts")
    parser.add_argument("--genome", required=True,
                        help="the genome in the space's canonical string form")
    parser.add_argument("--dataset", required=True, help="e.g. fashion_mnist, mnist, cifar10")
    parser.add_argument("--epochs", type=int, required=True, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=64, help="default 64 (authors')")
    parser.add_argument("--learning-rate", type=float, default=0.025)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=3e-4)
    parser.add_argument("--grad-clip", type=float, default=5.0, help="0: no clipping")
    parser.add_argument("--schedule", default="cosine",
                        help="cosine (default, per epoch), cosine_torch_legacy (the authors' "
                             "PyTorch stepping), cosine_per_step or constant")
    parser.add_argument("--cutout", type=int, default=16, help="cutout size (0: off)")
    parser.add_argument("--crop-size", type=int, default=None,
                        help="random-crop size after 4 px padding (default: 32 for egnas, the "
                             "image size otherwise)")
    parser.add_argument("--val-fraction", type=float, default=0.0,
                        help="hold out this fraction of the training split for validation "
                             "(default 0: train on all of it, as the authors)")
    parser.add_argument("--n-train", type=int, default=None,
                        help="train on a seeded subset of this many images (default: all)")
    parser.add_argument("--n-test", type=int, default=None,
                        help="evaluate on a seeded subset of this many test images")
    parser.add_argument("--seed", type=int, default=0, help="weights, data order, augmentation")
    parser.add_argument("--executor", default="auto", help="trainer executor (default auto)")
    parser.add_argument("--net-option", action="append", default=[], metavar="KEY=VALUE",
                        help="build_network option (repeatable), e.g. channels=16 for darts")
    parser.add_argument("--data-dir", default=None, help="dataset directory ($JAXNAS_DATA_DIR)")
    parser.add_argument("--json", type=Path, default=None, help="write the result JSON here")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    parser.set_defaults(run=run)


def parse_genome(space_name: str, text: str) -> tuple[Any, str]:
    """(genome, canonical string). egnas genomes found by the search may have any width the
    micro phase shrank to, so egnas is parsed without the space's width/depth limits."""
    if space_name == "egnas":
        from jaxnas.search.egnas import genome_string
        from jaxnas.search.egnas import parse_genome as parse_egnas

        g = parse_egnas(text)
        return g, genome_string(g)
    from jaxnas.spaces import get_space

    space = get_space(space_name)
    g = space.parse(text)
    return g, space.to_string(g)


def _net_options(items: list[str]) -> tuple[tuple[str, Any], ...]:
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--net-option {item!r} must look like KEY=VALUE")
        k, v = item.split("=", 1)
        try:
            value: Any = json.loads(v)
        except json.JSONDecodeError:
            value = v
        out.append((k.strip(), value))
    return tuple(out)


def train_genome(space_name: str, genome_text: str, dataset: str, epochs: int, *,
                 batch_size: int = 64, learning_rate: float = 0.025, momentum: float = 0.9,
                 weight_decay: float = 3e-4, grad_clip: float | None = 5.0,
                 schedule: str = "cosine", cutout: int = 16, crop_size: int | None = None,
                 val_fraction: float = 0.0, n_train: int | None = None,
                 n_test: int | None = None, seed: int = 0, executor: str = "auto",
                 net_options: tuple[tuple[str, Any], ...] = (), data_dir: str | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """Train one genome and return what ``jaxnas train`` prints and writes (a JSON-able dict:
    best/final test accuracy, the epoch of the best, params, curves, wall time, recipe)."""
    import jax

    from jaxnas.data import load_dataset, subset, train_val_split
    from jaxnas.train import TrainBudget, TrainOptions, train_population

    if epochs < 1:
        raise ConfigError(f"--epochs {epochs} must be >= 1")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"--val-fraction {val_fraction} must be in [0, 1)")
    genome, canonical = parse_genome(space_name, genome_text)
    if crop_size is None and space_name == "egnas":
        crop_size = 32  # the authors train MNIST-family nets on 32 px crops, test on 28 px
    budget = TrainBudget(epochs=int(epochs), batch_size=int(batch_size),
                         learning_rate=float(learning_rate), momentum=float(momentum),
                         weight_decay=float(weight_decay),
                         grad_clip_norm=float(grad_clip) if grad_clip else None,
                         schedule=schedule, cutout_size=int(cutout), crop_size=crop_size)
    train = load_dataset(dataset, "train", data_dir)
    test = load_dataset(dataset, "test", data_dir)
    val = None
    if val_fraction > 0:
        train, val = train_val_split(train, val_fraction, seed)
    if n_train is not None and n_train < len(train):
        train = subset(train, n_train, seed)
    if n_test is not None and n_test < len(test):
        test = subset(test, n_test, seed + 2)
    key = jax.random.PRNGKey(seed)
    opts = TrainOptions(network_options=net_options) if net_options else None
    start = time.perf_counter()
    # without a validation split the test set is the trainer's (only) evaluation set, so it
    # is evaluated once per epoch, not twice
    (res,) = train_population(space_name, [genome], [budget], train,
                              val if val is not None else test, key=key, executor=executor,
                              test_data=test if val is not None else None, progress=progress,
                              options=opts)
    wall = time.perf_counter() - start
    test_curve = [float(v) for v in (res.test_acc_per_epoch if val is not None
                                     else res.val_acc_per_epoch)]
    out: dict[str, Any] = {
        "space": space_name, "genome": canonical, "dataset": dataset, "epochs": int(epochs),
        "status": res.status, "reason": res.reason, "params": int(res.params),
        "flops": int(res.flops), "train_images": len(train), "test_images": len(test),
        "best_test_acc": max(test_curve) if test_curve else None,
        "best_test_epoch": (test_curve.index(max(test_curve)) + 1) if test_curve else None,
        "final_test_acc": test_curve[-1] if test_curve else None,
        "test_acc_per_epoch": test_curve,
        "train_acc_per_epoch": [float(v) for v in res.train_acc_per_epoch],
        "train_loss_per_epoch": [float(v) for v in res.train_loss_per_epoch],
        "wall_time_s": wall, "seed": int(seed), "executor": res.executor,
        "recipe": {"batch_size": budget.batch_size, "learning_rate": budget.learning_rate,
                   "momentum": budget.momentum, "weight_decay": budget.weight_decay,
                   "grad_clip_norm": budget.grad_clip_norm, "schedule": budget.schedule,
                   "cutout_size": budget.cutout_size, "crop_size": budget.crop_size,
                   "crop_padding": budget.crop_padding, "val_fraction": val_fraction},
    }
    if val is not None:
        val_curve = [float(v) for v in res.val_acc_per_epoch]
        out["val_acc_per_epoch"] = val_curve
        out["val_images"] = len(val)
        if val_curve and test_curve:
            best = val_curve.index(max(val_curve))
            out["best_val_acc"] = val_curve[best]
            out["test_acc_at_best_val"] = test_curve[best] if best < len(test_curve) else None
    return out


def run(args: argparse.Namespace) -> int:
    show = not args.quiet and sys.stderr.isatty()
    result = train_genome(
        args.space, args.genome, args.dataset, args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, momentum=args.momentum,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, schedule=args.schedule,
        cutout=args.cutout, crop_size=args.crop_size, val_fraction=args.val_fraction,
        n_train=args.n_train, n_test=args.n_test, seed=args.seed, executor=args.executor,
        net_options=_net_options(args.net_option), data_dir=args.data_dir, progress=show)
    result["command"] = ["jaxnas", *sys.argv[1:]] if sys.argv and \
        sys.argv[0].endswith("jaxnas") else list(sys.argv)
    if not args.quiet:
        for e, acc in enumerate(result["test_acc_per_epoch"], start=1):
            print(f"epoch {e:4d}  test acc {acc:6.2f} %")
    best, final = result["best_test_acc"], result["final_test_acc"]
    line = (f"{result['space']} {result['genome']} on {result['dataset']}: "
            f"{result['epochs']} epochs, {result['params']} params, status {result['status']}: "
            f"best test acc {best:.2f} % (epoch {result['best_test_epoch']}), "
            f"final test acc {final:.2f} %, {result['wall_time_s']:.0f} s"
            if best is not None else
            f"{result['space']} {result['genome']}: status {result['status']} "
            f"({result['reason']}), no finished epoch")
    if "test_acc_at_best_val" in result:
        line += (f"; best val acc {result['best_val_acc']:.2f} %, test acc at that epoch "
                 f"{result['test_acc_at_best_val']:.2f} %")
    print(line)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        if not args.quiet:
            print(f"results: {args.json}")
    return 0 if result["status"] == "ok" else 1

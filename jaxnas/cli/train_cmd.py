"""``jaxnas train``: train one genome of any space from scratch and report its test accuracy.

Example::

    jaxnas train --space egnas --genome L18-C54-o010001000100000000-k333333335333333333 \\
        --dataset fashion_mnist --epochs 600 --json final.json

The recipe defaults are :class:`jaxnas.train.TrainRecipe`'s (the EG-NAS authors' final
training); the work is :func:`jaxnas.train.single.train_genome`, this module parses the
arguments and prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from jaxnas.cli.outputs import check_output_path
from jaxnas.errors import ConfigError

# command-line flag -> TrainRecipe field (flags left out keep the recipe's default)
RECIPE_FLAGS = {"batch_size": "batch_size", "learning_rate": "learning_rate",
                "momentum": "momentum", "weight_decay": "weight_decay",
                "grad_clip": "grad_clip_norm", "schedule": "schedule", "cutout": "cutout_size",
                "crop_size": "crop_size"}


def _recipe_defaults() -> dict[str, Any]:
    from jaxnas.train.recipe import TrainRecipe

    return {f.name: f.default for f in dataclasses.fields(TrainRecipe)
            if f.default is not dataclasses.MISSING}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    d = _recipe_defaults()
    parser = subparsers.add_parser(
        "train",
        help="train one genome (any space) with the EG-NAS recipe; report test accuracy",
        description=(
            "Train one genome of a search space from scratch on a dataset's training split "
            "and evaluate the test split after every epoch; print the best and the final test "
            "accuracy and write them, with the per-epoch curves, to --json. Defaults are the "
            f"EG-NAS authors' recipe (SGD {d['learning_rate']}, momentum {d['momentum']}, wd "
            f"{d['weight_decay']}, cosine to 0, clip {d['grad_clip_norm']:g}, batch "
            f"{d['batch_size']}, cutout {d['cutout_size']}, crop {d['crop_size']} px for egnas)."
        ),
        epilog="example: jaxnas train --space egnas --genome "
               "L10-C16-o0000000000-k3333333333 --dataset fashion_mnist --epochs 2",
    )
    parser.add_argument("--space", required=True, help="egnas, nb201, nb101 or darts")
    parser.add_argument("--genome", required=True,
                        help="the genome in the space's canonical string form (egnas: any "
                             "depth and width a search returns, up to the space's maxima)")
    parser.add_argument("--dataset", required=True, help="e.g. fashion_mnist, mnist, cifar10")
    parser.add_argument("--epochs", type=int, required=True, help="training epochs")
    parser.add_argument("--batch-size", type=int, help=f"default {d['batch_size']} (authors')")
    parser.add_argument("--learning-rate", type=float, help=f"default {d['learning_rate']}")
    parser.add_argument("--momentum", type=float, help=f"default {d['momentum']}")
    parser.add_argument("--weight-decay", type=float, help=f"default {d['weight_decay']}")
    parser.add_argument("--grad-clip", type=float,
                        help=f"grad-norm clip (default {d['grad_clip_norm']:g}; 0: no clipping)")
    parser.add_argument("--schedule",
                        help=f"{d['schedule']} (default, per epoch), cosine_torch_legacy (the "
                             "authors' PyTorch stepping), cosine_per_step or constant")
    parser.add_argument("--cutout", type=int, help=f"cutout size (default {d['cutout_size']}; "
                                                   "0: off)")
    parser.add_argument("--crop-size", type=int, default=None,
                        help=f"random-crop size after {d['crop_padding']} px padding (default: "
                             f"{d['crop_size']} for egnas, the image size otherwise)")
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
    parser.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                        help="save the training state here after every epoch; the same "
                             "command run again continues from the last saved epoch, with "
                             "the same results as an uninterrupted training")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    parser.set_defaults(run=run)


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


def _recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainRecipe fields given on the command line (``--grad-clip 0``: no clipping)."""
    out = {field: getattr(args, flag) for flag, field in RECIPE_FLAGS.items()
           if getattr(args, flag) is not None}
    if out.get("grad_clip_norm") == 0:
        out["grad_clip_norm"] = None
    return out


def _summary_line(result: dict[str, Any]) -> str:
    best, final = result["best_test_acc"], result["final_test_acc"]
    if best is None:
        return (f"{result['space']} {result['genome']}: status {result['status']} "
                f"({result['reason']}), no finished epoch")
    line = (f"{result['space']} {result['genome']} on {result['dataset']}: "
            f"{result['epochs']} epochs, {result['params']} params, status {result['status']}: "
            f"best test acc {best:.2f} % (epoch {result['best_test_epoch']}), "
            f"final test acc {final:.2f} %, {result['wall_time_s']:.0f} s")
    if "test_acc_at_best_val" in result:
        line += (f"; best val acc {result['best_val_acc']:.2f} %, test acc at that epoch "
                 f"{result['test_acc_at_best_val']:.2f} %")
    return line


def run(args: argparse.Namespace) -> int:
    from jaxnas.train.single import train_genome

    if args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs} must be >= 1")
    if not 0.0 <= args.val_fraction < 1.0:
        raise ConfigError(f"--val-fraction {args.val_fraction} must be in [0, 1)")
    check_output_path(args.json, "--json")  # before training, not after it
    show = not args.quiet and sys.stderr.isatty()
    result = train_genome(
        args.space, args.genome, args.dataset, args.epochs, val_fraction=args.val_fraction,
        n_train=args.n_train, n_test=args.n_test, seed=args.seed, executor=args.executor,
        net_options=_net_options(args.net_option), data_dir=args.data_dir, progress=show,
        conv_impl=getattr(args, "conv_impl", "auto"), checkpoint_dir=args.checkpoint_dir,
        **_recipe_overrides(args))
    result["command"] = list(getattr(args, "argv", None) or ["jaxnas", *sys.argv[1:]])
    if not args.quiet:
        for e, acc in enumerate(result["test_acc_per_epoch"], start=1):
            print(f"epoch {e:4d}  test acc {acc:6.2f} %")
    print(_summary_line(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
        if not args.quiet:
            print(f"results: {args.json}")
    return 0 if result["status"] == "ok" else 1

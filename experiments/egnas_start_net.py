"""Train the EG-NAS authors' Fashion-MNIST start network with their recipe and compare the
per-epoch test accuracy with their own search log (training-recipe fidelity).

    nice -n 10 python experiments/egnas_start_net.py --data-dir DATA_DIR
    nice -n 10 python experiments/egnas_start_net.py --data-dir DATA_DIR --crop-size 28 \\
        --stop-after 2 --out experiments/results/egnas_start_net_crop28_2ep.json

The network is the first candidate of the authors' search log
``FashionMNIST-20240213-114828`` (shipped in ``jaxnas/benchmarks/data/egnas_logs/``):
``L10-C64-o0000000000-k3333333333``, 307,146 parameters on 28x28x1, trained for 10 epochs.
Their search ran with ``valid_size=0.0``, so its "valid_acc" column is the accuracy on the
10,000 test images: this script trains on all 60,000 training images and evaluates the test
set after every epoch, as they did (selection on the test set; not an honest estimate, a
fidelity check).

Recipe: :class:`jaxnas.train.TrainRecipe`'s defaults (the authors': SGD lr 0.025, momentum
0.9, weight decay 3e-4, grad-norm clip 5, batch 64, cutout 16, 32-px random crops after 4-px
padding, the dataset's flips) with ``schedule="cosine_torch_legacy"``: epoch e trains at
``0.025 * (1 + cos(pi * (e + 1) / 10)) / 2``; the log prints PyTorch's chained ``get_lr()``
instead (2.379e-02 at epoch 0; :func:`jaxnas.benchmarks.egnas_log.torch_printed_lr`).
``--crop-size 28`` trains at the test resolution instead (a deviation, for the comparison).

``--stop-after K`` stops after K epochs of the same ``--epochs``-epoch schedule (the learning
rates of the first K epochs are those of the full run), for short comparisons. The JSON
(``--out``) is rewritten after every epoch (``"complete": false`` until the run ends), so a
run stopped early (``--stop-after``, Ctrl-C, or killed) keeps its finished epochs. With
``--checkpoint-dir DIR`` the training state is saved after every epoch too, and the same
command run again continues from the last finished epoch (exactly: the trainer's epoch
checkpoints, :mod:`jaxnas.train.checkpoint`), keeping the earlier epochs' rows; so the 10
epochs can be trained over several sittings. Prints one row per epoch (``train_population``'s
``on_member_epoch``): the lr used, jaxnas's test accuracy and the log's valid (= test)
accuracy of that epoch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOG_NAME = "FashionMNIST-20240213-114828"
GENOME = "L10-C64-o0000000000-k3333333333"


class _StopTraining(BaseException):
    """Raised by the per-epoch hook after ``--stop-after`` epochs (a BaseException, so the
    trainer's per-group ``except Exception`` does not turn it into a failed member)."""


def _command(data_dir: Path) -> str:
    """This run's command line, with the data directory written as DATA_DIR (results files
    must not record a machine's paths)."""
    argv = ["python", "experiments/egnas_start_net.py"]
    for arg in sys.argv[1:]:
        argv.append("DATA_DIR" if arg == str(data_dir) else
                    arg.replace(str(data_dir), "DATA_DIR"))
    return shlex.join(argv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=10, help="schedule length (the log's 10)")
    ap.add_argument("--stop-after", type=int, default=None, metavar="K",
                    help="stop after K epochs of the --epochs-epoch schedule")
    ap.add_argument("--crop-size", type=int, default=32,
                    help="training crop (default 32: the authors' 32-px crops of the 28-px "
                         "images padded by 4; the test images stay 28 px)")
    ap.add_argument("--schedule", default="cosine_torch_legacy")
    ap.add_argument("--n-train", type=int, default=None, help="subsample (default: all 60,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "egnas_start_net.json")
    ap.add_argument("--checkpoint-dir", type=Path, default=None,
                    help="save the training state after every epoch and continue from it")
    args = ap.parse_args()
    logging.basicConfig(format="%(asctime)s %(message)s")
    logging.getLogger("jaxnas").setLevel(logging.INFO)  # one line per finished epoch

    import jax

    from jaxnas.benchmarks.egnas_log import parse_log, shipped_log, torch_printed_lr
    from jaxnas.cpu_tuning import conv_impl_for_flags, process_env
    from jaxnas.data import load_dataset, subset
    from jaxnas.spaces import get_space, parse_genome
    from jaxnas.train import EpochMetrics, TrainRecipe, train_population
    from jaxnas.train.options import TrainOptions
    from jaxnas.train.step import lr_at

    log = parse_log(shipped_log(LOG_NAME))
    ref = log.candidates[0]
    if ref.role != "start" or ref.genome != GENOME:
        raise SystemExit(f"the log's first candidate is {ref.role} {ref.genome}, not {GENOME}")
    genome = parse_genome("egnas", GENOME)
    space = get_space("egnas")

    train = load_dataset("fashion_mnist", "train", data_dir=args.data_dir)
    test = load_dataset("fashion_mnist", "test", data_dir=args.data_dir)
    if args.n_train is not None and args.n_train < len(train):
        train = subset(train, args.n_train, args.seed)
    recipe = TrainRecipe(epochs=args.epochs, schedule=args.schedule, crop_size=args.crop_size)
    stop = args.epochs if args.stop_after is None else min(args.stop_after, args.epochs)

    rows: list[dict] = []
    elapsed_before = 0.0
    start = time.perf_counter()
    last = [start]
    out = {
        "command": _command(args.data_dir),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{jax.default_backend()} backend, {jax.device_count()} device(s)",
        "load_average_start": list(os.getloadavg()),
        "cpu_env": process_env(),
        "log": LOG_NAME, "genome": space.to_string(genome), "seed": args.seed,
        "train_images": len(train), "test_images": len(test),
        "recipe": {"epochs": recipe.epochs, "batch_size": recipe.batch_size,
                   "learning_rate": recipe.learning_rate, "momentum": recipe.momentum,
                   "weight_decay": recipe.weight_decay,
                   "grad_clip_norm": recipe.grad_clip_norm, "schedule": recipe.schedule,
                   "cutout_size": recipe.cutout_size, "crop_padding": recipe.crop_padding,
                   "crop_size": recipe.crop_size, "flip": train.info.allow_flip
                   if recipe.flip is None else recipe.flip},
        "stop_after": stop, "log_params": ref.params, "log_best_valid": ref.best_valid,
        "log_valid_acc": list(ref.valid_acc), "log_train_acc": list(ref.train_acc),
        "log_printed_lr": list(ref.lr), "epochs": rows, "complete": False,
    }

    resumable = args.checkpoint_dir is not None and any(args.checkpoint_dir.glob("*.ckpt"))
    if resumable and args.out.exists():  # a continued run keeps the earlier epochs' rows
        earlier = json.loads(args.out.read_text())
        if all(earlier.get(k) == out[k] for k in ("genome", "seed", "recipe", "train_images",
                                                  "test_images")):
            rows.extend(earlier["epochs"])
            elapsed_before = earlier.get("wall_s", 0.0)
            out["continued_from_epoch"] = len(rows)

    def write() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")

    print(f"{GENOME}: {len(train)} train / {len(test)} test images, crop {recipe.crop_size} "
          f"px, schedule {recipe.schedule}, {stop} of {recipe.epochs} epochs", flush=True)
    print(f"{'epoch':>5} {'lr used':>10} {'lr printed':>10} {'train %':>8} {'test %':>8} "
          f"{'log train':>9} {'log valid':>9} {'diff':>6} {'epoch s':>8}", flush=True)

    def record(epoch_metrics: EpochMetrics) -> None:  # train_population's on_member_epoch
        epoch = epoch_metrics.epoch
        now = time.perf_counter()
        acc = epoch_metrics.val_acc  # the evaluation set is the test set (the authors' "valid")
        log_acc = ref.valid_acc[epoch] if epoch < len(ref.valid_acc) else None
        row = {"epoch": epoch, "lr_used": lr_at(recipe, epoch),
               "lr_printed_by_log_formula": torch_printed_lr(epoch, recipe.epochs,
                                                             recipe.learning_rate),
               "lr_printed_in_log": ref.lr[epoch] if epoch < len(ref.lr) else None,
               "train_acc": epoch_metrics.train_acc, "train_loss": epoch_metrics.train_loss,
               "test_acc": acc, "log_train_acc": ref.train_acc[epoch]
               if epoch < len(ref.train_acc) else None,
               "log_valid_acc": log_acc, "epoch_wall_s": round(now - last[0], 1),
               "elapsed_s": round(elapsed_before + now - start, 1),
               "load_average": list(os.getloadavg())}
        last[0] = now
        rows[:] = [r for r in rows if r["epoch"] < epoch]  # an epoch trained again replaces
        rows.append(row)
        out["best_test_acc"] = max(r["test_acc"] for r in rows)
        out["wall_s"] = round(elapsed_before + now - start, 1)
        write()
        diff = f"{acc - log_acc:+6.2f}" if log_acc is not None else ""
        printed = row["lr_printed_in_log"]
        print(f"{epoch:5d} {row['lr_used']:10.4e} "
              f"{printed if printed is not None else float('nan'):10.4e} "
              f"{row['train_acc'] or math.nan:8.2f} {acc:8.2f} "
              f"{row['log_train_acc'] or math.nan:9.2f} {log_acc or math.nan:9.2f} {diff:>6} "
              f"{row['epoch_wall_s']:8.1f}", flush=True)

    def stop_early(done: int, of: int) -> None:  # after the epoch's checkpoint is saved
        if done >= stop and stop < recipe.epochs:
            raise _StopTraining

    opts = TrainOptions(network_conv_impl=conv_impl_for_flags(os.environ))
    result = None
    try:
        (result,) = train_population("egnas", [genome], [recipe], train, test,
                                     key=jax.random.PRNGKey(args.seed), executor="loop",
                                     progress=True, options=opts, on_epoch=stop_early,
                                     on_member_epoch=record,
                                     checkpoint_dir=args.checkpoint_dir)
    except _StopTraining:
        out["stopped"] = f"--stop-after {stop}"
    except KeyboardInterrupt:  # Ctrl-C / SIGINT: keep the finished epochs
        out["stopped"] = "interrupted"
    wall = time.perf_counter() - start
    if result is not None:
        out.update(status=result.status, reason=result.reason, params=int(result.params),
                   compile_s=round(result.compile_time, 1))
    else:
        from jaxnas.nn import count_params
        out.update(status="stopped", params=int(count_params(
            "egnas", genome, train.info.num_classes, tuple(test.images.shape[1:]))))
    out.update(wall_s=round(elapsed_before + wall, 1), complete=len(rows) >= stop,
               load_average_end=list(os.getloadavg()))
    best = max(rows, key=lambda r: r["test_acc"]) if rows else None
    if best is not None:
        out.update(best_test_acc=best["test_acc"], best_epoch=best["epoch"],
                   gap_to_log_best=best["test_acc"] - ref.best_valid)
    write()
    print(f"params {out['params']:,} (log {ref.params:,}); best test {out.get('best_test_acc')} "
          f"(log best {ref.best_valid}); wall {wall:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    from jaxnas.cli import reexec_with_hugepages
    from jaxnas.cpu_tuning import tune_xla_flags

    tune_xla_flags()  # speed only; before the first JAX computation
    reexec_with_hugepages([__file__, *sys.argv[1:]])  # glibc huge pages (speed only)
    main()

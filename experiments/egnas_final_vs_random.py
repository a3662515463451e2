"""Final training of an EG-NAS result next to random egnas genomes of similar size.

    python experiments/egnas_final_vs_random.py --data-dir DATA_DIR --preset cpu \
        --genome L7-C48-o0000000-k3333333 --epochs 6 \
        --checkpoint-root experiments/results/egnas_final_cpu_min4_ckpt \
        --out experiments/results/egnas_final_cpu_min4.json

Draws ``--n-random`` genomes uniformly from the egnas space the preset searches (its minimum
depth and its width range; depth up to the preset's ``max_depth``; ops and kernels uniform
over the micro phase's choices), keeping only those within ``--param-tolerance`` of the
found genome's parameter count (rejection sampling from a seeded numpy Generator). Each
genome, the found one first, is then trained by :func:`jaxnas.train.single.train_genome`
(the code path of ``jaxnas train``) with the same recipe, epochs and seed: the preset's SGD
recipe on the whole training split, the test split evaluated after every epoch. With
``--checkpoint-root`` every training saves its state after each epoch and the same command
continues where it stopped (genomes already in ``--out`` are kept, not trained again).
Prints a table; writes JSON after every genome.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxnas.errors import ConfigError  # noqa: E402
from jaxnas.nn import count_params  # noqa: E402
from jaxnas.search.egnas import PRESETS  # noqa: E402
from jaxnas.search.egnas.config import RECIPE_FIELDS, EGNASConfig  # noqa: E402
from jaxnas.spaces.egnas import EgnasSpace  # noqa: E402
from jaxnas.train.single import (  # noqa: E402
    load_split_data,
    parse_searched_genome,
    train_genome,
)

#: Fashion-MNIST: 10 classes of 1-channel 28-px images (the egnas counts need both)
NUM_CLASSES, INPUT_SHAPE = 10, (28, 28, 1)


def params_of(genome: Any) -> int:
    """Trainable parameters of an egnas genome on Fashion-MNIST."""
    return count_params("egnas", genome, NUM_CLASSES, INPUT_SHAPE)


def sampling_space(config: EGNASConfig) -> EgnasSpace:
    """The egnas space a preset searches: its depth and width ranges, the micro kernels."""
    kernels = tuple(sorted({3, *config.micro_kernels}))
    return replace(EgnasSpace(), min_depth=config.min_depth, max_depth=config.max_depth,
                   min_width=config.min_width, max_width=config.max_width,
                   kernel_choices=kernels)


def random_matched(space: EgnasSpace, target: int, n: int, tolerance: float,
                   rng: np.random.Generator, max_draws: int = 100_000) -> list[Any]:
    """``n`` distinct uniform draws of ``space`` whose parameter counts are within
    ``tolerance`` (a fraction) of ``target``."""
    found: dict[str, Any] = {}
    for _ in range(max_draws):
        genome = space.sample(rng)
        if abs(params_of(genome) - target) <= tolerance * target:
            found.setdefault(space.to_string(genome), genome)
            if len(found) == n:
                return list(found.values())
    raise ConfigError(f"only {len(found)} of {n} random genomes within {tolerance:.0%} of "
                      f"{target} params in {max_draws} draws; raise --param-tolerance")


def train_one(genome: str, args: argparse.Namespace, config: EGNASConfig,
              data: tuple[Any, Any, Any]) -> dict[str, Any]:
    """One genome's final training with the preset's recipe (a checkpoint per genome) on the
    loaded (train, None, test) splits."""
    checkpoint = (Path(args.checkpoint_root) / genome) if args.checkpoint_root else None
    return train_genome("egnas", genome, args.dataset, args.epochs, seed=args.seed,
                        data=data, checkpoint_dir=checkpoint,
                        progress=not args.quiet,
                        **{name: getattr(config, name) for name in RECIPE_FIELDS})


def finished_rows(path: Path, out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows of an earlier run of the same command (same preset, epochs and seeds) already
    in ``path``, by genome: a continued run keeps them, with their measured wall times."""
    if not path.exists():
        return {}
    earlier = json.loads(path.read_text())
    keys = ("preset", "dataset", "epochs", "seed", "sample_seed", "param_tolerance")
    if any(earlier.get(k) != out[k] for k in keys):
        return {}
    return {row["genome"]: row for row in earlier["rows"]}


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'role':8s} {'genome':44s} {'params':>8s} {'final test %':>12s} "
          f"{'best test %':>11s} {'wall s':>7s}")
    for r in rows:
        print(f"{r['role']:8s} {r['genome'][:44]:44s} {r['params']:8d} "
              f"{r['final_test_acc']:12.2f} {r['best_test_acc']:11.2f} {r['wall_time_s']:7.0f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--genome", required=True, help="the search's output genome")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS),
                   help="the preset whose recipe and space limits are used (default cpu)")
    p.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--n-random", type=int, default=3)
    p.add_argument("--param-tolerance", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0, help="training seed of every genome")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the random draws")
    p.add_argument("--checkpoint-root", default=None)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", default="experiments/results/egnas_final_vs_random.json")
    args = p.parse_args(argv)

    config = PRESETS[args.preset]
    space = sampling_space(config)
    found, canonical = parse_searched_genome("egnas", args.genome)
    target = params_of(found)
    randoms = random_matched(space, target, args.n_random, args.param_tolerance,
                             np.random.default_rng(args.sample_seed))
    jobs = [("found", canonical, target)] + [
        ("random", space.to_string(g), params_of(g)) for g in randoms]
    out: dict[str, Any] = {"preset": args.preset, "dataset": args.dataset,
                           "epochs": args.epochs, "seed": args.seed,
                           "sample_seed": args.sample_seed,
                           "param_tolerance": args.param_tolerance, "rows": []}
    done = finished_rows(Path(args.out), out)
    data = None  # loaded once, when the first genome needs training
    for role, genome, params in jobs:
        print(f"[{role}] {genome} ({params} params)", flush=True)
        if genome not in done and data is None:
            data = load_split_data(args.dataset, args.data_dir, 0.0, None, None, args.seed)
        row = done.get(genome) or {"role": role, **train_one(genome, args, config, data)}
        out["rows"].append(row)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
    print_table(out["rows"])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from jaxnas.cpu_tuning import tune_cpu

    tune_cpu()  # the jaxnas command's CPU settings
    raise SystemExit(main())

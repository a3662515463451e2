"""One process of tests/test_distributed.py: trains a tiny sharded egnas population.

Run with JAXNAS_COORDINATOR / JAXNAS_NUM_PROCESSES / JAXNAS_PROCESS_ID set for one process of
a multi-process run (jax.distributed, CPU collectives), or without them for the single-process
reference. Prints the member results as JSON on its last stdout line and writes them to
``argv[1]`` through :func:`jaxnas.train.distributed.redirect_outputs` (process 0 only, as the
command line does). Exits 77 when this jaxlib has no Gloo CPU collectives.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax

from jaxnas.train import distributed

GENOMES = ("L3-C4-o000-k333", "L3-C2-o010-k333", "L3-C4-o000-k333")  # 3 members, 2 devices


def main() -> int:
    try:
        multi = distributed.initialize_from_env()
    except Exception as exc:  # noqa: BLE001 - reported to the test, which skips on 77
        if "gloo" in str(exc).lower() or "collectives" in str(exc).lower():
            print(f"no CPU collectives: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 77
        raise
    from jaxnas.spaces import parse_genome
    from jaxnas.train import TrainRecipe, train_population
    from jaxnas.train.bench import synthetic_dataset

    train, val = synthetic_dataset(64, "mnist", seed=0), synthetic_dataset(32, "mnist", seed=1)
    genomes = [parse_genome("egnas", g, min_depth=1, min_width=1) for g in GENOMES]
    recipe = TrainRecipe(epochs=1, batch_size=32, learning_rate=0.05, cutout_size=0,
                         crop_size=8, crop_padding=0, flip=False)
    keys = [jax.random.PRNGKey(10 + i) for i in range(len(genomes))]
    res = train_population("egnas", genomes, recipe, train, val, key=keys[0], member_keys=keys,
                           executor="vmap")
    out = {"process": jax.process_index(), "processes": jax.process_count(),
           "devices": len(jax.devices()), "multi": multi,
           "members": [[r.genome, r.status, r.reason, r.steps, list(r.val_acc_per_epoch),
                        list(r.train_loss_per_epoch), list(r.train_acc_per_epoch)]
                       for r in res]}
    args = argparse.Namespace(json=Path(sys.argv[1]))
    distributed.redirect_outputs(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out))
    out["wrote"] = str(args.json)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

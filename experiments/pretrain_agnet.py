"""Pretrain the AG-Net generator on a space's real cells (no accuracies; docs/algorithms.md).

    python experiments/pretrain_agnet.py --space nb201 --instances 400000 \
        --out jaxnas/generators/weights/nb201

Data: nb201 = all 15,625 cells; nb101 = the 20,001 nb101-20k cells plus ``--extra`` random
valid NB101 cells; darts = ``--extra`` random DARTS cells (one normal cell per graph). Logs
validity and an FID-like distance every ``--eval-every`` instances and writes
``<out>.msgpack`` + ``<out>.json`` (config, command, instances, validity, FID, history).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import numpy as np

from jaxnas.generators.pretrain import (
    generation_metrics,
    generator_config_for,
    pretrain,
    save_weights,
)
from jaxnas.generators.sampling import adjacency_to_edges, encode_dense
from jaxnas.spaces import get_space


def real_cells(space_name: str, extra: int, seed: int) -> tuple[object, list]:
    space = get_space(space_name)
    rng = np.random.default_rng(seed)
    if space_name == "nb201":
        return space, [space.from_index(i) for i in range(15_625)]
    if space_name == "nb101":
        from jaxnas.benchmarks import get_oracle

        oracle = get_oracle("nb101")
        cells = [oracle.genome(i) for i in range(len(oracle))]
        return space, cells + [space.sample(rng) for _ in range(extra)]
    if space_name == "darts":
        return space, [space.sample(rng) for _ in range(extra)]
    raise SystemExit(f"unknown space {space_name!r}; choose nb201, nb101 or darts")


def dense_arrays(space, genomes) -> tuple[np.ndarray, np.ndarray]:
    types, adjs = zip(*(space.to_dense(g) for g in genomes))
    return np.stack(types).astype(np.int32), np.stack(adjs).astype(np.int32)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="nb201", choices=["nb201", "nb101", "darts"])
    p.add_argument("--instances", type=int, default=400_000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam lr (paper 2e-4)")
    p.add_argument("--extra", type=int, default=20_000, help="random cells (nb101, darts)")
    p.add_argument("--eval-every", type=int, default=100_000)
    p.add_argument("--eval-samples", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="weights path stem (no file written if absent)")
    args = p.parse_args(argv)

    start = time.perf_counter()
    space, cells = real_cells(args.space, args.extra, args.seed)
    types, adj = dense_arrays(space, cells)
    edges = adjacency_to_edges(adj).astype(np.float32)
    config = generator_config_for(space)
    real_y = encode_dense(types, adj, config.num_node_types)
    print(f"{args.space}: {len(cells)} real cells, y length {real_y.shape[1]}", flush=True)
    key = jax.random.PRNGKey(args.seed)

    def evaluate(params, done):
        return generation_metrics(config, params, jax.random.PRNGKey(10_000 + done), space,
                                  real_y, args.eval_samples)

    params, history = pretrain(config, types, edges, key=key, instances=args.instances,
                               batch_size=args.batch_size, learning_rate=args.learning_rate,
                               eval_every=args.eval_every,
                               evaluate=evaluate, log=lambda s: print(s, flush=True))
    final = history[-1] if history else {}
    print(f"done in {time.perf_counter() - start:.0f} s: {final}", flush=True)
    if args.out:
        command = "python experiments/pretrain_agnet.py " + " ".join(
            sys.argv[1:] if argv is None else argv)
        save_weights(args.out, config, params, {
            "space": args.space, "command": command, "instances": final.get("instances"),
            "real_cells": len(cells), "validity": final.get("validity"),
            "unique_valid": final.get("unique_valid"), "fid": final.get("fid"),
            "history": history, "seconds": round(time.perf_counter() - start, 1),
            "jax": jax.__version__})
        print(json.dumps({"written": args.out}))


if __name__ == "__main__":
    main()

"""Check jaxnas's NAS-Bench-101 parameter counts against all 20,001 cells of
shared/data/nb101/nb101_20k_specs.json (field ``trainable_parameters``; 10 classes, 32x32x3).

    python experiments/check_nb101_params.py [--data PATH] [--traced N] [--out results.json]

Every cell is checked with the closed-form count (``jaxnas.nn.nb101.nb101_param_count``);
``--traced N`` also checks N random cells with ``jaxnas.nn.count_params`` (the traced Flax
module, ~0.5 s per cell on a 2-core CPU). Prints the mismatch counts and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from jaxnas.nn import count_params
from jaxnas.nn.nb101 import nb101_param_count
from jaxnas.spaces.nb101 import NB101Genome

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb101" / "nb101_20k_specs.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--traced", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("experiments/results/check_nb101_params.json"))
    args = ap.parse_args()

    specs = json.loads(args.data.read_text())
    genomes = [NB101Genome(tuple(tuple(r) for r in s["matrix"]), tuple(s["ops"])) for s in specs]
    t0 = time.perf_counter()
    closed = [nb101_param_count(g, 10) for g in genomes]
    t_closed = time.perf_counter() - t0
    bad_closed = [s["hash"] for s, n in zip(specs, closed) if n != s["trainable_parameters"]]

    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(specs), size=min(args.traced, len(specs)), replace=False)
    t0 = time.perf_counter()
    bad_traced = [specs[i]["hash"] for i in idx
                  if count_params("nb101", genomes[i], 10) != specs[i]["trainable_parameters"]]
    t_traced = time.perf_counter() - t0

    rows = [("closed form", len(specs), len(bad_closed), t_closed),
            ("traced (eval_shape)", len(idx), len(bad_traced), t_traced)]
    print(f"{'method':<22}{'cells':>8}{'mismatches':>12}{'seconds':>10}")
    for name, n, bad, t in rows:
        print(f"{name:<22}{n:>8}{bad:>12}{t:>10.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "cells": len(specs), "closed_form_mismatches": bad_closed,
        "traced_checked": int(len(idx)), "traced_mismatches": bad_traced,
        "seconds": {"closed_form": t_closed, "traced": t_traced}}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

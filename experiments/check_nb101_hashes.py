"""Check NB101Space.fingerprint against every cell of nb101_20k_specs.json.

Prints the number of cells checked and of mismatches, and writes a JSON summary.
Run: ``python experiments/check_nb101_hashes.py [--data-dir DIR] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from jaxnas.spaces import get_space

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "experiments" / "results" / "nb101_hashes.json")
    args = ap.parse_args()
    rows = json.loads((args.data_dir / "nb101" / "nb101_20k_specs.json").read_text())
    space = get_space("nb101")
    t0 = time.perf_counter()
    mismatches = []
    key_mismatches = 0
    for i, row in enumerate(rows):
        genome = space.genome_from(row["matrix"], row["ops"])
        fp = space.fingerprint(genome)
        if fp != row["hash"]:
            mismatches.append(i)
        # the AG-Net encoding must round-trip every benchmark cell exactly
        if space.key(space.decode(space.encode(genome))) != row["hash"]:
            key_mismatches += 1
    seconds = time.perf_counter() - t0
    summary = {
        "cells": len(rows),
        "fingerprint_mismatches": len(mismatches),
        "first_mismatch_rows": mismatches[:10],
        "encode_decode_key_mismatches": key_mismatches,
        "seconds": round(seconds, 2),
    }
    print(f"{'cells':>8} {'fp mismatches':>14} {'enc/dec mismatches':>19} {'seconds':>8}")
    print(f"{len(rows):>8} {len(mismatches):>14} {key_mismatches:>19} {seconds:>8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

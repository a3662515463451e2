"""Build jaxnas/spaces/nb201_index.npz: the NAS-Bench-201 row order as op codes.

Reads DATA_DIR/nb201/nb201_12epoch.csv (column ``cellstr``; row i is NB201 index i, the
same order as nb201_200epoch_test.csv ``ArchitectureString``, which is cross-checked) and writes
``ops``: uint8 (15625, 6), op codes into NB201_OPS on the edges in NB201_EDGES order, plus a
``provenance`` string. Run: ``python experiments/make_nb201_index.py --data-dir DATA_DIR``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import numpy as np

from jaxnas.spaces.nb201 import NB201_OPS, parse_nb201_string

REPO = Path(__file__).resolve().parents[1]


def read_column(path: Path, column: str) -> list[str]:
    with path.open(newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True,
                    help="folder holding nb201/nb201_12epoch.csv")
    ap.add_argument("--out", type=Path, default=REPO / "jaxnas" / "spaces" / "nb201_index.npz")
    args = ap.parse_args()
    src = args.data_dir / "nb201" / "nb201_12epoch.csv"
    strings = read_column(src, "cellstr")
    other = read_column(args.data_dir / "nb201" / "nb201_200epoch_test.csv", "ArchitectureString")
    if strings != other:
        raise SystemExit("row orders of nb201_12epoch.csv and nb201_200epoch_test.csv differ")
    ops = np.asarray(
        [[NB201_OPS.index(op) for op in parse_nb201_string(s)] for s in strings], dtype=np.uint8
    )
    if ops.shape != (15625, 6) or len({tuple(r) for r in ops.tolist()}) != 15625:
        raise SystemExit(f"expected 15625 distinct cells, got shape {ops.shape}")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    provenance = (
        "NAS-Bench-201 index order: row i = op codes (into NB201_OPS, edges in NB201_EDGES "
        f"order) of cellstr row i of nb201_12epoch.csv (sha256 {digest}), identical to "
        "ArchitectureString of nb201_200epoch_test.csv; made by experiments/make_nb201_index.py"
    )
    np.savez_compressed(args.out, ops=ops, provenance=np.asarray(provenance))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), {ops.shape[0]} cells")


if __name__ == "__main__":
    main()

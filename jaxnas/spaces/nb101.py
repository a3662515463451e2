"""NAS-Bench-101 cell space. STUB: fields fixed, rest to be built."""

from __future__ import annotations

from dataclasses import dataclass

NB101_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")


@dataclass(frozen=True)
class NB101Genome:
    matrix: tuple[tuple[int, ...], ...]  # upper-triangular 0/1 adjacency, n x n, n <= 7
    ops: tuple[str, ...]  # "input", n-2 of NB101_OPS, "output"

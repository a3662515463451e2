"""NAS-Bench-201 cell space. STUB: fields fixed, rest to be built."""

from __future__ import annotations

from dataclasses import dataclass

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (source node, target node) of the 6 edges, in the order of the NB201 string
NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


@dataclass(frozen=True)
class NB201Genome:
    ops: tuple[str, ...]  # 6 ops from NB201_OPS, in NB201_EDGES order

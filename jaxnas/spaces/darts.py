"""DARTS cell space. STUB: fields fixed, rest to be built."""

from __future__ import annotations

from dataclasses import dataclass

DARTS_OPS = (
    "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "none",
)


@dataclass(frozen=True)
class DartsGenome:
    normal: tuple[tuple[str, int], ...]  # 8 (op, input node) pairs, 2 per intermediate node
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

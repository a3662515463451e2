"""Efficient Global NAS chain space (papers.md 1.2). STUB: fields fixed, rest to be built."""

from __future__ import annotations

from dataclasses import dataclass

SEPARABLE, STANDARD = 0, 1


@dataclass(frozen=True)
class EgnasGenome:
    depth: int
    width: int
    ops: tuple[int, ...]  # per layer: 0 = depthwise-separable conv, 1 = standard conv
    kernels: tuple[int, ...]  # per layer: 3, 5 or 7

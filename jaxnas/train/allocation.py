"""Budget policies of the ``train`` evaluator: epochs per candidate at a fixed total.

Both policies take the same total, ``E x n`` candidate-epochs for a batch of ``n`` candidates
(``E``: the preset's epochs), so they can be compared at equal cost.

* ``uniform``: ``E`` epochs for every candidate.
* ``aware``: the architecture-aware rule of Efficient Global NAS, generalised. Each candidate
  gets a weight, and the total is shared out in proportion to it (largest remainders, at least
  one epoch each):

  - ``egnas``: the EG-NAS epoch counter as a function of the genome, i.e. the value the
    greedy walk reaches at that depth and width: ``start + add * (depth - min_depth) + add_w *
    (max_width - width) / width_step`` (10, 1 and 2 in the paper; the ``train`` evaluator
    takes min_depth, max_width and width_step from the space being searched). Deeper and
    (through the width phase's longer training) narrower-but-later networks get more epochs.
  - cell spaces (``nb201``, ``nb101``, ``darts``): ``1 + log2(F / F_min)``, with F the
    network's FLOPs as built and F_min the smallest F in the batch: one more unit of weight
    per doubling of compute over the batch's smallest network. Rationale: EG-NAS's argument
    is that a fixed short proxy under-trains big networks, which converge more slowly per
    epoch, and so ranks small networks too high; compute per image is the cell spaces'
    measure of size that covers both depth (more active layers) and width (convolutions
    instead of pooling or skips). The scale follows the EG-NAS counter, under which a
    network twice as deep (twice the compute) gets twice the epochs (10 at depth 10, 20 at
    depth 20); the logarithm keeps a network with 8x the compute at 4x, not 8x, the weight.
    (The first version weighted by ``log(FLOPs)`` itself: NB201 cells span about 5x in
    FLOPs, which is only 13.8-15.5 in log units, so at 3 epochs per cell every cell got
    exactly 3 and ``aware`` was ``uniform``: docs/results.md, proxy fidelity.)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from jaxnas.errors import ConfigError, check_choice

POLICIES = ("uniform", "aware")


def share_epochs(weights: Sequence[float], total: int) -> list[int]:
    """``total`` epochs shared in proportion to ``weights`` (largest remainders), each >= 1."""
    n = len(weights)
    if n == 0:
        return []
    if total < n:
        raise ConfigError(f"a total of {total} epochs cannot give {n} candidates one each")
    w = np.asarray(weights, np.float64)
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ConfigError(f"weights must be finite and > 0, got {list(weights)}")
    spare = total - n  # one epoch each first, the rest in proportion
    exact = spare * w / w.sum()
    epochs = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - epochs), kind="stable")
    epochs[order[: spare - int(epochs.sum())]] += 1
    return [int(e) + 1 for e in epochs]


def egnas_weight(genome: Any, start: int = 10, add: int = 1, add_w: int = 2,
                 min_depth: int = 10, max_width: int = 64, width_step: int = 2) -> float:
    """The EG-NAS epoch counter at ``genome``'s depth and width (see the module docstring)."""
    narrower = max(0, max_width - genome.width) / width_step
    return float(start + add * max(0, genome.depth - min_depth) + add_w * narrower)


def cell_weights(flops: Sequence[int]) -> list[float]:
    """``1 + log2(F / F_min)`` of each network of a batch (F: multiply-accumulates per image,
    F_min: the batch's smallest)."""
    values = [max(int(f), 1) for f in flops]
    if not values:
        return []
    smallest = min(values)
    return [1.0 + math.log2(f / smallest) for f in values]


def epochs_per_member(policy: str, epochs: int, weights: Sequence[float]) -> list[int]:
    """Epochs of each of ``len(weights)`` candidates under ``policy`` at a total of
    ``epochs x len(weights)``."""
    check_choice("budget policy", policy, POLICIES)
    if policy == "uniform":
        return [int(epochs)] * len(weights)
    return share_epochs(weights, int(epochs) * len(weights))


__all__ = ["POLICIES", "cell_weights", "egnas_weight", "epochs_per_member", "share_epochs"]

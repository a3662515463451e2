"""Budget policies of the ``train`` evaluator: epochs per candidate at a fixed total.

Both policies take the same total, ``E x n`` candidate-epochs for a batch of ``n`` candidates
(``E``: the preset's epochs), so they can be compared at equal cost.

* ``uniform``: ``E`` epochs for every candidate.
* ``aware``: the architecture-aware rule of Efficient Global NAS, generalised. Each candidate
  gets a weight, and the total is shared out in proportion to it (largest remainders, at least
  one epoch each):

  - ``egnas``: the EG-NAS epoch counter as a function of the genome, i.e. the value the
    greedy walk reaches at that depth and width: ``start + add * (depth - min_depth) + add_w *
    (max_width - width) / width_step`` (10, 1 and 2 in the paper). Deeper and (through the
    width phase's longer training) narrower-but-later networks get more epochs.
  - cell spaces (``nb201``, ``nb101``, ``darts``): ``log(FLOPs)`` of the network as built.
    Rationale: EG-NAS's argument is that a fixed short proxy under-trains big networks, which
    converge more slowly per epoch, and so ranks small networks too high; compute per image is
    the cell spaces' measure of size that covers both depth (more active layers) and width
    (convolutions instead of pooling or skips), and its log keeps a 10x bigger network from
    taking 10x the epochs.
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


def cell_weight(flops: int) -> float:
    """``log(FLOPs)`` of a cell-space network (multiply-accumulates per image)."""
    return math.log(max(int(flops), 2))


def epochs_per_member(policy: str, epochs: int, weights: Sequence[float]) -> list[int]:
    """Epochs of each of ``len(weights)`` candidates under ``policy`` at a total of
    ``epochs x len(weights)``."""
    check_choice("budget policy", policy, POLICIES)
    if policy == "uniform":
        return [int(epochs)] * len(weights)
    return share_epochs(weights, int(epochs) * len(weights))


__all__ = ["POLICIES", "cell_weight", "egnas_weight", "epochs_per_member", "share_epochs"]

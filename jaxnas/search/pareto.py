"""The accuracy-latency Pareto front (maximise accuracy, minimise latency)."""

from __future__ import annotations

import numpy as np

from jaxnas.errors import ConfigError


def pareto_front(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Indices (int64) of the non-dominated points, sorted by latency (ascending, so accuracy
    increases along the front). A point is dominated when another has lower-or-equal latency
    and higher-or-equal accuracy, one of them strictly. Ties: of several points with the same
    latency only the most accurate can be on the front, and of exact duplicates (same accuracy
    and latency) only the one with the lowest index is returned.

    Index the inputs with the result (``latency[front]``, ``accuracy[front]``) for a step plot
    of the front; ``np.isin(np.arange(n), front)`` gives a boolean mask."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    latency = np.asarray(latency, dtype=np.float64)
    if accuracy.shape != latency.shape or accuracy.ndim != 1:
        raise ConfigError(f"accuracy {accuracy.shape} and latency {latency.shape} must be "
                          "1-d arrays of one length")
    order = np.lexsort((-accuracy, latency))  # by latency, then best accuracy first
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(int(i))
            best = accuracy[i]
    return np.array(front, dtype=np.int64)


def hypervolume(accuracy: np.ndarray, latency: np.ndarray, ref_accuracy: float,
                ref_latency: float) -> float:
    """2-d hypervolume the points dominate with respect to the reference point
    ``(ref_accuracy, ref_latency)`` (maximise accuracy, minimise latency)."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    latency = np.asarray(latency, dtype=np.float64)
    volume, previous = 0.0, ref_accuracy
    for i in pareto_front(accuracy, latency):  # by latency: accuracy rises along the front
        if latency[i] >= ref_latency or accuracy[i] <= ref_accuracy:
            continue
        volume += (ref_latency - latency[i]) * (accuracy[i] - previous)
        previous = accuracy[i]
    return float(volume)


__all__ = ["hypervolume", "pareto_front"]

"""Deterministic splits of an :class:`ArrayDataset` and per-epoch batch index arrays.

Search must select architectures on a validation set carved from the TRAINING split, never
on the test split (the EG-NAS code selected on test; docs/algorithms.md). Splits use a numpy
``Generator`` (PCG64) seeded explicitly, so the same seed gives the same split on every
machine and numpy version that keeps PCG64's stream (numpy guarantees this for ``permutation``
of a given Generator within its stability policy).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.errors import ConfigError
from jaxnas.data.datasets import ArrayDataset


def train_val_indices(
    labels: np.ndarray,
    val_fraction: float = 0.1,
    seed: int = 0,
    stratified: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (train_idx, val_idx) that partition ``range(len(labels))``, fixed by ``seed``.

    With ``stratified=True`` each class contributes ``round(val_fraction * class_count)``
    examples to val (class balance kept); otherwise a random permutation is cut at
    ``round(val_fraction * len)``. Both parts come in a seeded random order.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction={val_fraction!r} must be in (0, 1)")
    labels = np.asarray(labels)
    n = labels.shape[0]
    rng = np.random.default_rng(seed)
    if stratified:
        val_parts, train_parts = [], []
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            idx = idx[rng.permutation(idx.size)]
            k = int(round(val_fraction * idx.size))
            val_parts.append(idx[:k])
            train_parts.append(idx[k:])
        val_idx = np.concatenate(val_parts) if val_parts else np.zeros(0, np.int64)
        train_idx = np.concatenate(train_parts) if train_parts else np.zeros(0, np.int64)
        # shuffle so the parts are not ordered by class
        val_idx = val_idx[rng.permutation(val_idx.size)]
        train_idx = train_idx[rng.permutation(train_idx.size)]
    else:
        perm = rng.permutation(n)
        k = int(round(val_fraction * n))
        val_idx, train_idx = perm[:k], perm[k:]
    if val_idx.size == 0 or train_idx.size == 0:
        raise ConfigError(
            f"val_fraction={val_fraction!r} of {n} examples leaves an empty part "
            f"(train {train_idx.size}, val {val_idx.size})"
        )
    return train_idx, val_idx


def train_val_split(
    dataset: ArrayDataset,
    val_fraction: float = 0.1,
    seed: int = 0,
    stratified: bool = True,
) -> tuple[ArrayDataset, ArrayDataset]:
    """Split ``dataset`` (a TRAINING split) into (train, val) with :func:`train_val_indices`."""
    train_idx, val_idx = train_val_indices(dataset.labels, val_fraction, seed, stratified)
    return dataset.take(train_idx), dataset.take(val_idx)


def subset(dataset: ArrayDataset, n: int, seed: int = 0) -> ArrayDataset:
    """``n`` examples drawn without replacement (seeded), for quick runs."""
    if not 0 < n <= len(dataset):
        raise ConfigError(f"subset size n={n!r} must be in [1, {len(dataset)}]")
    idx = np.random.default_rng(seed).permutation(len(dataset))[:n]
    return dataset.take(idx)


def batches(key: jax.Array, n: int, batch_size: int, drop_last: bool = True) -> jax.Array:
    """Index arrays for one shuffled epoch over ``n`` examples: shape (num_batches, batch_size).

    ``n`` and ``batch_size`` must be static (Python ints) under jit. With ``drop_last=False``
    the last batch is filled up with indices from the start of the permutation (so every
    batch keeps the static shape; a few examples are seen twice that epoch).
    """
    if batch_size <= 0 or n <= 0:
        raise ConfigError(f"batches needs n > 0 and batch_size > 0; got n={n}, batch_size={batch_size}")
    perm = jax.random.permutation(key, n)
    if drop_last:
        num = n // batch_size
        if num == 0:
            raise ConfigError(
                f"batch_size={batch_size} exceeds n={n} with drop_last=True (no full batch)"
            )
        return perm[: num * batch_size].reshape(num, batch_size)
    num = -(-n // batch_size)
    pad = num * batch_size - n
    perm = jnp.concatenate([perm, jnp.tile(perm, -(-pad // n))[:pad]]) if pad else perm
    return perm.reshape(num, batch_size)

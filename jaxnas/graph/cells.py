"""Cells as dense arrays for the NAL link predictor: vocabularies and :class:`Cells`.

A cell is a DAG with one op per vertex (``input`` first, ``output`` last). A set of cells is
stored densely (:class:`Cells`): op tokens per vertex slot, an upper-triangular 0/1
adjacency and the vertex count (slots >= n are padding). The vocabularies come from the
spaces (``jaxnas.spaces.nb101.NB101_OPS``, ``jaxnas.spaces.nb201.NB201_OPS``); an NB201 cell
uses the AG-Net encoding (input, the 6 edge ops as vertices, output) with the fixed adjacency
``jaxnas.spaces.nb201.NB201_ADJACENCY``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from jaxnas.errors import ConfigError, InvalidGenomeError
from jaxnas.spaces.nb101 import NB101_OPS, prune_arrays
from jaxnas.spaces.nb201 import NB201_ADJACENCY, NB201_OPS


@dataclass(frozen=True)
class Vocab:
    """Vertex tokens of a domain: 0 = input, 1 = output, 2.. = ``ops``, last = MASK."""

    name: str
    ops: tuple[str, ...]

    @property
    def num_tokens(self) -> int:
        return len(self.ops) + 3

    @property
    def mask_token(self) -> int:
        return len(self.ops) + 2

    def token(self, op: str) -> int:
        if op == "input":
            return 0
        if op == "output":
            return 1
        if op not in self.ops:
            raise InvalidGenomeError(f"op {op!r} is not in the {self.name} vocabulary {self.ops}")
        return 2 + self.ops.index(op)

    def op(self, token: int) -> str:
        return ("input", "output", *self.ops)[int(token)]


NB101_VOCAB = Vocab("nb101", NB101_OPS)
NB201_VOCAB = Vocab("nb201", NB201_OPS)


@dataclass(frozen=True, eq=False)
class Cells:
    """A set of cells as dense arrays: ``tokens`` (C, S), ``adj`` (C, S, S) upper-triangular
    0/1, ``n`` (C,) vertex counts (slots >= n are padding)."""

    tokens: np.ndarray
    adj: np.ndarray
    n: np.ndarray

    def __len__(self) -> int:
        return len(self.n)

    @property
    def slots(self) -> int:
        return self.tokens.shape[1]

    def subset(self, index: Sequence[int] | np.ndarray) -> "Cells":
        index = np.asarray(index, dtype=np.int64)
        return Cells(self.tokens[index], self.adj[index], self.n[index])


def make_cells(graphs: Sequence[tuple[Sequence[str], np.ndarray]], vocab: Vocab,
               slots: int | None = None) -> Cells:
    """Dense :class:`Cells` from ``(ops, adjacency)`` pairs (ops include input/output)."""
    if not graphs:
        raise ConfigError("make_cells needs at least one cell")
    slots = slots or max(len(ops) for ops, _ in graphs)
    tokens = np.zeros((len(graphs), slots), np.int32)
    adj = np.zeros((len(graphs), slots, slots), np.int32)
    n = np.zeros(len(graphs), np.int32)
    for c, (ops, matrix) in enumerate(graphs):
        k = len(ops)
        if k > slots:
            raise ConfigError(f"cell with {k} vertices does not fit {slots} slots")
        tokens[c, :k] = [vocab.token(o) for o in ops]
        tokens[c, k:] = 1  # padding slots look like extra outputs; masked everywhere anyway
        adj[c, :k, :k] = np.triu(np.asarray(matrix, np.int32), 1)
        n[c] = k
    return Cells(tokens, adj, n)


def nb201_cells(ops_list: Sequence[Sequence[str]]) -> Cells:
    """NB201 cells (6 edge ops each, ``NB201_EDGES`` order) in the AG-Net encoding."""
    return make_cells([(("input", *ops, "output"), NB201_ADJACENCY) for ops in ops_list],
                      NB201_VOCAB)


def prune_cell(matrix: np.ndarray, ops: Sequence[str]
               ) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The NB101 pruning rule (``jaxnas.spaces.nb101.prune_arrays``) on an int32 upper
    triangle: vertices not on an input->output path removed; None if there is no such path."""
    pruned = prune_arrays(np.triu(np.asarray(matrix, np.int32), 1), list(ops))
    return None if pruned is None else (pruned[0], tuple(pruned[1]))


def is_pruned(matrix: np.ndarray, n: int) -> bool:
    """Every one of the first ``n`` vertices lies on an input->output path."""
    pruned = prune_cell(np.asarray(matrix)[:n, :n], range(n))
    return pruned is not None and len(pruned[1]) == n


def expert_indices(scores: np.ndarray, top_fraction: float, min_experts: int = 1) -> np.ndarray:
    """Indices of the top ``top_fraction`` of ``scores`` (at least ``min_experts``), best first."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 1 or len(scores) == 0:
        raise ConfigError(f"scores must be a non-empty 1-d array, got shape {scores.shape}")
    k = min(len(scores), max(min_experts, int(math.ceil(top_fraction * len(scores)))))
    return np.argsort(-scores, kind="stable")[:k]

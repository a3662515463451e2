"""``nb101-20k``: the NB101 space restricted to the 20,001 cells that have oracle metrics.

Only these cells of NAS-Bench-101 are available here (``nb101_20k_specs.json``), so an
oracle-driven search must never propose anything else. :class:`TableSubsetSpace` wraps the
full space: ``sample`` draws a table row uniformly; ``mutate`` picks uniformly among the table
cells one change away (one edge flip or one op change, the NB101 mutation; the list is
enumerated once per cell and cached), falling back to two changes tried in random order when
no single change stays inside the table, and to a uniform sample after ``pair_tries``. Every
draw comes from the given Generator, so it stays deterministic. Everything else (parse, key,
encode, ...) is the full space's. Every report names the space ``nb101-20k``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxnas.benchmarks.oracle import Oracle


def _moves(genome: Any) -> list[tuple[str, int, Any]]:
    from jaxnas.spaces.nb101 import NB101_OPS

    n = len(genome.ops)
    moves: list[tuple[str, int, Any]] = [("edge", i, j) for i in range(n) for j in range(i + 1, n)]
    moves += [("op", v, o) for v in range(1, n - 1) for o in NB101_OPS if o != genome.ops[v]]
    return moves


def _apply(genome: Any, moves: tuple) -> Any:
    from jaxnas.spaces.nb101 import NB101Genome

    matrix = np.array(genome.matrix, dtype=np.int64)
    ops = list(genome.ops)
    for kind, a, b in moves:
        if kind == "edge":
            matrix[a, b] = 1 - matrix[a, b]
        else:
            ops[a] = b
    return NB101Genome(matrix=tuple(tuple(int(x) for x in row) for row in matrix),
                       ops=tuple(ops))


@dataclass(frozen=True, eq=False)
class TableSubsetSpace:
    """A search space restricted to the cells of ``oracle``'s table."""

    base: Any
    oracle: Oracle
    name: str = "nb101-20k"
    pair_tries: int = 400

    def __getattr__(self, attr: str) -> Any:  # delegate the rest of the space protocol
        if attr in ("base", "oracle", "name", "pair_tries"):
            raise AttributeError(attr)
        return getattr(self.base, attr)

    def contains(self, genome: Any) -> bool:
        return self.oracle.contains(genome)

    def _table_key(self, genome: Any) -> str | None:
        """The cell's key if it is a valid cell of the table, else None."""
        if not self.base.is_valid(genome):
            return None
        key = self.base.key(genome)
        return key if key in self.oracle.table.key_to_index else None

    def sample(self, rng: np.random.Generator) -> Any:
        """A uniformly random cell of the table."""
        return self.oracle.genome(int(rng.integers(len(self.oracle))))

    def neighbours(self, genome: Any) -> list[Any]:
        """Table cells one edge flip or op change away (table order)."""
        return list(_single_change_neighbours(self, genome))

    def mutate(self, genome: Any, rng: np.random.Generator) -> Any:
        """A mutation of ``genome`` that stays inside the table (see module docstring)."""
        found = _single_change_neighbours(self, genome)
        if found:
            return found[int(rng.integers(len(found)))]
        parent_key = self.base.key(genome)
        moves = _moves(genome)
        for _ in range(self.pair_tries if len(moves) >= 2 else 0):
            a, b = rng.choice(len(moves), size=2, replace=False)
            key = self._table_key(child := _apply(genome, (moves[int(a)], moves[int(b)])))
            if key is not None and key != parent_key:
                return self.oracle.genome(self.oracle.table.key_to_index[key])
        while True:  # 20,001 distinct cells: ends at once in practice
            child = self.sample(rng)
            if self.base.key(child) != parent_key:
                return child


@functools.lru_cache(maxsize=100_000)  # pure function of (space, genome): safe to memoise
def _single_change_neighbours(space: TableSubsetSpace, genome: Any) -> tuple[Any, ...]:
    parent_key = space.base.key(genome)
    indices = set()
    for move in _moves(genome):
        key = space._table_key(_apply(genome, (move,)))
        if key is not None and key != parent_key:
            indices.add(space.oracle.table.key_to_index[key])
    return tuple(space.oracle.genome(i) for i in sorted(indices))


def oracle_space(space_name: str, oracle: Oracle) -> Any:
    """The space a search over ``oracle`` should use (nb101 -> the nb101-20k subset)."""
    from jaxnas.spaces import get_space

    if oracle.space_name == "nb101-20k":
        return TableSubsetSpace(get_space("nb101"), oracle)
    return get_space(space_name)

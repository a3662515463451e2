"""What every search space provides.

A space is an immutable value describing a set of genomes. Genomes are frozen, hashable
dataclasses (pure data, no JAX state). Randomness always comes from an explicit
``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

G = TypeVar("G")


@dataclass(frozen=True)
class GraphSpec:
    """The AG-Net dense graph encoding of a space (docs/algorithms.md, AG-Net).

    ``node_types[0]`` is always ``"output"`` (the padding class) and ``node_types[1]`` is
    ``"input"``. An encoding ``y`` is ``[one-hot node types of max_nodes nodes, flattened;
    edge indicators]`` with edges ordered for target j = 1..N-1, source i = 0..j-1.

    ``cells_per_genome`` is 1 except for ``darts`` (2: normal and reduction cell are separate
    graphs, so that space's ``encode``/``to_dense`` carry a leading axis of that size).
    """

    node_types: tuple[str, ...]
    max_nodes: int
    cells_per_genome: int = 1

    @property
    def num_node_types(self) -> int:
        return len(self.node_types)

    @property
    def num_edges(self) -> int:
        return self.max_nodes * (self.max_nodes - 1) // 2

    @property
    def encoding_size(self) -> int:
        return self.max_nodes * self.num_node_types + self.num_edges


@runtime_checkable
class SearchSpace(Protocol, Generic[G]):
    """The interface shared by ``egnas``, ``nb101``, ``nb201`` and ``darts``."""

    name: str
    graph_spec: GraphSpec

    def validate(self, genome: G) -> G:
        """Return the canonical form of ``genome`` or raise InvalidGenomeError."""

    def parse(self, text: str) -> G:
        """Parse the canonical string form; raise InvalidGenomeError on bad input."""

    def to_string(self, genome: G) -> str:
        """The canonical string form (``parse(to_string(g)) == g``)."""

    def key(self, genome: G) -> str:
        """Identity for de-duplication and oracle lookups (isomorphic cells share a key)."""

    def sample(self, rng: np.random.Generator) -> G:
        """A uniformly random valid genome."""

    def mutate(self, genome: G, rng: np.random.Generator) -> G:
        """A valid genome one change away from ``genome`` (never equal to it)."""

    def to_dense(self, genome: G) -> tuple[np.ndarray, np.ndarray]:
        """(node type indices (max_nodes,), adjacency (max_nodes, max_nodes)), padded."""

    def from_dense(self, node_types: np.ndarray, adjacency: np.ndarray) -> G:
        """Inverse of ``to_dense``; raise InvalidGenomeError if not a valid genome."""

    def encode(self, genome: G) -> np.ndarray:
        """The AG-Net vector ``y`` (float32, ``graph_spec.encoding_size``)."""

    def decode(self, y: np.ndarray) -> G:
        """Inverse of ``encode`` (argmax node types, edges > 0.5); raises if invalid."""

    def to_graph(self, genome: G) -> Any:
        """A ``jraph.GraphsTuple`` view: one-hot node features, one edge per DAG edge."""

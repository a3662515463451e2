"""NAS-Bench-201 cell space (AG-Net encoding: docs/algorithms.md).

A cell has 4 nodes and 6 edges ``(0,1), (0,2), (1,2), (0,3), (1,3), (2,3)``; each edge carries
one of 5 ops. The canonical string is the NB201 one,
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (edges in ``NB201_EDGES`` order), and the integer
index is the row order of the NAS-Bench-201 tables (shipped as ``nb201_index.npz``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

import jraph
import numpy as np

from jaxnas.errors import InvalidGenomeError
from jaxnas.spaces._common import (
    DenseGraphEncoding,
    as_str,
    as_tuple,
    check_dense,
    check_genome_type,
    check_rng,
    check_text,
    dense_to_graph,
)
from jaxnas.spaces.base import GraphSpec

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (source node, target node) of the 6 edges, in the order of the NB201 string
NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_CELLS = len(NB201_OPS) ** len(NB201_EDGES)  # 15625

# AG-Net node types (docs/algorithms.md, AG-Net datasets/NASBench201.py OP_PRIMITIVES_NB201)
NB201_NODE_TYPES = (
    "output", "input", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "none",
)
# AG-Net graph: node 0 = input, node k (1..6) = op of edge k-1, node 7 = output. An op node
# reads the op nodes of the edges ending at its edge's source (or the input for source 0);
# the output reads the op nodes of the edges ending at cell node 3. This equals AG-Net's
# ADJACENCY_NB201.
NB201_ADJACENCY = np.zeros((8, 8), dtype=np.int64)
for _k, (_src, _dst) in enumerate(NB201_EDGES):
    if _src == 0:
        NB201_ADJACENCY[0, _k + 1] = 1
    for _j, (_s2, _d2) in enumerate(NB201_EDGES):
        if _d2 == _src:
            NB201_ADJACENCY[_j + 1, _k + 1] = 1
    if _dst == 3:
        NB201_ADJACENCY[_k + 1, 7] = 1
NB201_ADJACENCY.setflags(write=False)
del _k, _src, _dst, _j, _s2, _d2

_GROUP = re.compile(r"\|([^|~]*)~([^|~]*)")


@dataclass(frozen=True)
class NB201Genome:
    ops: tuple[str, ...]  # 6 ops from NB201_OPS, in NB201_EDGES order


def parse_nb201_string(text: Any) -> tuple[str, ...]:
    """The 6 op names of an NB201 cell string, in ``NB201_EDGES`` order; checks the layout
    (3 ``+``-separated nodes with 1, 2, 3 ``|op~src|`` entries, sources 0..k-1) and op names."""
    text = check_text(text, "NB201 cell").strip()
    expected = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
    groups = text.split("+")
    if len(groups) != 3:
        raise InvalidGenomeError(
            f"NB201 string {text!r:.120} has {len(groups)} '+'-separated nodes; expected 3 "
            f"(format {expected})"
        )
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise InvalidGenomeError(
                f"NB201 node {node} {group!r:.80} must look like '|op~0|...|' (format {expected})"
            )
        entries = group[1:-1].split("|")
        if len(entries) != node:
            raise InvalidGenomeError(
                f"NB201 node {node} has {len(entries)} edges {group!r:.80}; expected {node} "
                f"(format {expected})"
            )
        for src, entry in enumerate(entries):
            parts = entry.split("~")
            if len(parts) != 2:
                raise InvalidGenomeError(
                    f"NB201 edge {entry!r:.60} of node {node} must be 'op~source'"
                )
            op, idx = parts
            if idx != str(src):
                raise InvalidGenomeError(
                    f"NB201 edge {entry!r:.60} of node {node} has source {idx!r:.20}; "
                    f"expected {src} (edges are listed by source 0..{node - 1})"
                )
            if op not in NB201_OPS:
                raise InvalidGenomeError(
                    f"NB201 op {op!r:.40} on edge {src}->{node} is not allowed; "
                    f"choose one of {list(NB201_OPS)}"
                )
            ops.append(op)
    return tuple(ops)


@functools.lru_cache(maxsize=1)
def _index_tables() -> tuple[np.ndarray, np.ndarray]:
    """(ops (15625, 6) uint8 in table order, inverse: base-5 code -> table index)."""
    with resources.files("jaxnas.spaces").joinpath("nb201_index.npz").open("rb") as fh:
        with np.load(fh) as data:
            ops = np.array(data["ops"], dtype=np.uint8)
    ops.setflags(write=False)
    codes = _base5(ops)
    inverse = np.full(NUM_CELLS, -1, dtype=np.int64)
    inverse[codes] = np.arange(len(ops))
    inverse.setflags(write=False)
    return ops, inverse


def _base5(ops: np.ndarray) -> np.ndarray:
    weights = len(NB201_OPS) ** np.arange(len(NB201_EDGES) - 1, -1, -1)
    return (ops.astype(np.int64) * weights).sum(axis=-1)


@dataclass(frozen=True)
class NB201Space(DenseGraphEncoding):
    """The NAS-Bench-201 space: 5 ops on each of 6 edges, 15,625 cells, no configurable limits.

    ``key`` is the canonical string (every one of the 15,625 cells is its own benchmark
    entry, so isomorphic cells are *not* merged; see ``index_of``). AG-Net encoding: 8 nodes,
    fixed adjacency ``NB201_ADJACENCY``, only node types vary (y length 84).
    """

    name: ClassVar[str] = "nb201"

    @property
    def graph_spec(self) -> GraphSpec:
        return GraphSpec(node_types=NB201_NODE_TYPES, max_nodes=8)

    # -- identity -------------------------------------------------------------------------
    def validate(self, genome: NB201Genome) -> NB201Genome:
        check_genome_type(genome, NB201Genome)
        ops = as_tuple("ops", genome.ops)
        if len(ops) != len(NB201_EDGES):
            raise InvalidGenomeError(
                f"ops has {len(ops)} entries; an NB201 cell needs exactly {len(NB201_EDGES)} "
                f"(one per edge {list(NB201_EDGES)})"
            )
        out = []
        for k, op in enumerate(ops):
            op = as_str(f"ops[{k}]", op)
            if op not in NB201_OPS:
                raise InvalidGenomeError(
                    f"ops[{k}]={op!r:.40} (edge {NB201_EDGES[k]}) is not allowed; "
                    f"choose one of {list(NB201_OPS)}"
                )
            out.append(op)
        return NB201Genome(ops=tuple(out))

    def parse(self, text: str) -> NB201Genome:
        return NB201Genome(ops=parse_nb201_string(text))

    def to_string(self, genome: NB201Genome) -> str:
        ops = self.validate(genome).ops
        return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)

    def key(self, genome: NB201Genome) -> str:
        return self.to_string(genome)

    # -- table index ----------------------------------------------------------------------
    def op_codes(self, genome: NB201Genome) -> np.ndarray:
        """Op indices into ``NB201_OPS`` (uint8, length 6, ``NB201_EDGES`` order)."""
        ops = self.validate(genome).ops
        return np.asarray([NB201_OPS.index(o) for o in ops], dtype=np.uint8)

    def from_op_codes(self, codes: Any) -> NB201Genome:
        try:
            arr = np.asarray(codes)
        except Exception as exc:  # noqa: BLE001
            raise InvalidGenomeError(f"op codes are not array-like: {exc}") from None
        if arr.shape != (len(NB201_EDGES),) or not np.issubdtype(arr.dtype, np.integer):
            raise InvalidGenomeError(
                f"op codes must be 6 integers, got shape {arr.shape} dtype {arr.dtype}"
            )
        if arr.min() < 0 or arr.max() >= len(NB201_OPS):
            raise InvalidGenomeError(
                f"op codes {arr.tolist()} out of range; must be in [0, {len(NB201_OPS)})"
            )
        return NB201Genome(ops=tuple(NB201_OPS[int(c)] for c in arr))

    def index_of(self, genome: NB201Genome) -> int:
        """Row of this cell in the NAS-Bench-201 tables (0..15624)."""
        _, inverse = _index_tables()
        return int(inverse[int(_base5(self.op_codes(genome)))])

    def from_index(self, index: int) -> NB201Genome:
        """The cell at row ``index`` of the NAS-Bench-201 tables."""
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise InvalidGenomeError(f"NB201 index must be an int, got {index!r:.40}")
        if not 0 <= int(index) < NUM_CELLS:
            raise InvalidGenomeError(f"NB201 index {index} out of range [0, {NUM_CELLS})")
        ops, _ = _index_tables()
        return self.from_op_codes(ops[int(index)])

    def all_op_codes(self) -> np.ndarray:
        """(15625, 6) uint8 op codes of every cell in table order (read-only)."""
        return _index_tables()[0]

    # -- random ---------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> NB201Genome:
        rng = check_rng(rng)
        codes = rng.integers(0, len(NB201_OPS), size=len(NB201_EDGES))
        return NB201Genome(ops=tuple(NB201_OPS[int(c)] for c in codes))

    def mutate(self, genome: NB201Genome, rng: np.random.Generator) -> NB201Genome:
        """Change the op of one uniformly chosen edge to a different, uniformly chosen op."""
        rng = check_rng(rng)
        ops = list(self.validate(genome).ops)
        edge = int(rng.integers(len(ops)))
        choices = [o for o in NB201_OPS if o != ops[edge]]
        ops[edge] = choices[int(rng.integers(len(choices)))]
        return NB201Genome(ops=tuple(ops))

    def neighbours(self, genome: NB201Genome) -> list[NB201Genome]:
        """All 24 cells one op change away."""
        ops = self.validate(genome).ops
        return [
            NB201Genome(ops=ops[:k] + (o,) + ops[k + 1 :])
            for k in range(len(ops))
            for o in NB201_OPS
            if o != ops[k]
        ]

    # -- AG-Net encoding ------------------------------------------------------------------
    def to_dense(self, genome: NB201Genome) -> tuple[np.ndarray, np.ndarray]:
        ops = self.validate(genome).ops
        names = ("input",) + ops + ("output",)
        types = np.asarray([NB201_NODE_TYPES.index(n) for n in names], dtype=np.int64)
        return types, np.array(NB201_ADJACENCY)

    def from_dense(self, node_types: np.ndarray, adjacency: np.ndarray) -> NB201Genome:
        types, adj = check_dense(node_types, adjacency, self.graph_spec)
        if not np.array_equal(adj, NB201_ADJACENCY):
            raise InvalidGenomeError(
                "adjacency differs from the fixed NB201 graph (edges "
                f"{np.argwhere(NB201_ADJACENCY).tolist()}); got {np.argwhere(adj).tolist()}"
            )
        names = [NB201_NODE_TYPES[t] for t in types]
        if names[0] != "input" or names[-1] != "output":
            raise InvalidGenomeError(
                f"node 0 must be 'input' and node 7 'output', got {names[0]!r} and {names[-1]!r}"
            )
        bad = [(i, n) for i, n in enumerate(names[1:7], start=1) if n not in NB201_OPS]
        if bad:
            raise InvalidGenomeError(
                f"op nodes 1-6 must be NB201 ops {list(NB201_OPS)}; got {bad}"
            )
        return NB201Genome(ops=tuple(names[1:7]))

    def to_graph(self, genome: NB201Genome) -> jraph.GraphsTuple:
        types, adj = self.to_dense(genome)
        return dense_to_graph(types, adj, 8, self.graph_spec)

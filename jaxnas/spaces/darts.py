"""DARTS cell space (the NAS-Bench-301 space; AG-Net encoding: docs/algorithms.md).

A genotype has a normal and a reduction cell. Each cell has 4 intermediate nodes (DARTS node
ids 2..5; 0 = c_{k-2}, 1 = c_{k-1}); intermediate node i reads exactly 2 different earlier nodes
from {0, ..., i+1} through one op each, and the cell output concatenates nodes 2..5. The
canonical string is the DARTS ``Genotype(...)`` repr with lists for the concats.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, ClassVar

import jraph
import numpy as np

from jaxnas.errors import ConfigError, InvalidGenomeError
from jaxnas.spaces._common import (
    as_int,
    as_str,
    as_tuple,
    check_dense,
    check_genome_type,
    check_rng,
    check_text,
    dense_to_graph,
    dense_to_y,
    graphs_to_batch,
    y_to_dense,
)
from jaxnas.spaces.base import GraphSpec

DARTS_OPS = (
    "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "none",
)
# ops a genotype may use ('none' only exists in the DARTS supernet)
GENOTYPE_OPS = tuple(o for o in DARTS_OPS if o != "none")
# AG-Net NB301 node types (AG-Net datasets/NASBench301.py NODE_OP_PRIMITIVES)
DARTS_NODE_TYPES = (
    "output", "input", "input_1", "identity", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
CELLS = ("normal", "reduce")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")

Cell = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DartsGenome:
    normal: tuple[tuple[str, int], ...]  # 8 (op, input node) pairs, 2 per intermediate node
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]


def _literal(node: ast.AST, field: str) -> Any:
    # concat may be written range(2, 6) as in DARTS' genotypes.py
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        args = [_literal(a, field) for a in node.args]
        if not all(isinstance(a, int) and not isinstance(a, bool) and abs(a) < 1000 for a in args):
            raise InvalidGenomeError(f"{field}: range() arguments must be small ints, got {args}")
        try:
            return list(range(*args))
        except ValueError as exc:
            raise InvalidGenomeError(f"{field}: {exc}") from None
    try:
        return ast.literal_eval(node)
    except Exception as exc:  # noqa: BLE001 - literal_eval raises several types on bad input
        raise InvalidGenomeError(
            f"{field} must be a literal list, got {ast.unparse(node)[:80]!r} ({exc})"
        ) from None


@dataclass(frozen=True)
class DartsSpace:
    """DARTS / NB301 genotypes with ``steps`` intermediate nodes per cell (default 4).

    ``key`` is the canonical string after sorting each node's 2 inputs (the order of a node's
    two inputs does not change the network, which sums them).

    AG-Net encoding, one graph per cell (docs/algorithms.md): node 0 = c_{k-2}
    ('input'), node 1 = c_{k-1} ('input_1'), nodes 2..2*steps+1 = the op of each chosen edge
    (node i's two edges, sorted by input, at 2+2i and 3+2i), last node = 'output' reading
    every op node. An op node reading DARTS node j >= 2 has edges from both op nodes of j.
    Because normal and reduction cells are separate graphs, this space's ``encode`` returns a
    ``(2, 176)`` array (normal, reduce), ``to_dense`` returns types ``(2, 11)`` and adjacency
    ``(2, 11, 11)``, ``decode``/``from_dense`` take the same shapes, and ``to_graph`` returns a
    GraphsTuple holding the 2 graphs. ``encode_cell``/``decode_cell`` (and ``cell_to_dense``/
    ``cell_from_dense``) handle one cell (``graph_spec.cells_per_genome == 2``).
    Deviation: AG-Net's ``make_adj`` maps some inputs from node 4 to the wrong op nodes; we use
    the rule above for every input.
    """

    steps: int = 4
    name: ClassVar[str] = "darts"

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= 16:
            raise ConfigError(f"steps={self.steps!r} is not allowed: must be an int in [1, 16]")

    @property
    def graph_spec(self) -> GraphSpec:
        return GraphSpec(
            node_types=DARTS_NODE_TYPES, max_nodes=2 * self.steps + 3, cells_per_genome=2
        )

    @property
    def concat(self) -> tuple[int, ...]:
        return tuple(range(2, 2 + self.steps))

    # -- identity -------------------------------------------------------------------------
    def validate_cell(self, cell: Any, field: str = "cell") -> Cell:
        edges = as_tuple(field, cell)
        if len(edges) != 2 * self.steps:
            raise InvalidGenomeError(
                f"{field} has {len(edges)} (op, input) pairs; expected {2 * self.steps} "
                f"(2 per intermediate node)"
            )
        out = []
        for k, edge in enumerate(edges):
            pair = as_tuple(f"{field}[{k}]", edge)
            if len(pair) != 2:
                raise InvalidGenomeError(
                    f"{field}[{k}]={edge!r:.60} must be an (op, input node) pair"
                )
            op = as_str(f"{field}[{k}] op", pair[0])
            if op not in GENOTYPE_OPS:
                extra = " ('none' is only a supernet op, not allowed in a genotype)" if op == "none" else ""
                raise InvalidGenomeError(
                    f"{field}[{k}] op={op!r:.40} is not allowed{extra}; choose one of {list(GENOTYPE_OPS)}"
                )
            node = k // 2 + 2
            src = as_int(f"{field}[{k}] input", pair[1])
            if not 0 <= src < node:
                raise InvalidGenomeError(
                    f"{field}[{k}] input={src} is not allowed: node {node} may read nodes "
                    f"0..{node - 1}"
                )
            out.append((op, src))
        for i in range(self.steps):
            if out[2 * i][1] == out[2 * i + 1][1]:
                raise InvalidGenomeError(
                    f"{field}: node {i + 2} reads node {out[2 * i][1]} twice; its 2 inputs must differ"
                )
        return tuple(out)

    def _validate_concat(self, value: Any, field: str) -> tuple[int, ...]:
        c = tuple(as_int(f"{field}[{i}]", v) for i, v in enumerate(as_tuple(field, value)))
        if c != self.concat:
            raise InvalidGenomeError(
                f"{field}={list(c)} is not allowed: must be {list(self.concat)} "
                "(every intermediate node)"
            )
        return c

    def validate(self, genome: DartsGenome) -> DartsGenome:
        check_genome_type(genome, DartsGenome)
        return DartsGenome(
            normal=self.validate_cell(genome.normal, "normal"),
            normal_concat=self._validate_concat(genome.normal_concat, "normal_concat"),
            reduce=self.validate_cell(genome.reduce, "reduce"),
            reduce_concat=self._validate_concat(genome.reduce_concat, "reduce_concat"),
        )

    def parse(self, text: str) -> DartsGenome:
        """Parse ``Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=[...],
        reduce_concat=range(2, 6))`` (keywords or positional; lists or ``range``)."""
        text = check_text(text, "DARTS genotype").strip()
        try:
            tree = ast.parse(text, mode="eval")
        except Exception as exc:  # noqa: BLE001 - SyntaxError, ValueError, RecursionError...
            raise InvalidGenomeError(f"DARTS genotype string is not valid syntax: {exc}") from None
        call = tree.body
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "Genotype"
        ):
            raise InvalidGenomeError(
                f"DARTS genotype string must be 'Genotype(normal=[...], normal_concat=[...], "
                f"reduce=[...], reduce_concat=[...])', got {text!r:.120}"
            )
        if len(call.args) > len(_FIELDS):
            raise InvalidGenomeError(f"Genotype takes {len(_FIELDS)} fields, got {len(call.args)}")
        values: dict[str, Any] = {}
        for field, node in zip(_FIELDS, call.args):
            values[field] = _literal(node, field)
        for kw in call.keywords:
            if kw.arg not in _FIELDS:
                raise InvalidGenomeError(
                    f"unknown Genotype field {kw.arg!r}; allowed fields: {list(_FIELDS)}"
                )
            if kw.arg in values:
                raise InvalidGenomeError(f"Genotype field {kw.arg!r} given twice")
            values[kw.arg] = _literal(kw.value, kw.arg)
        missing = [f for f in _FIELDS if f not in values]
        if missing:
            raise InvalidGenomeError(f"Genotype is missing the fields {missing}")
        for cell in CELLS:
            v = values[cell]
            if isinstance(v, (list, tuple)):
                values[cell] = tuple(
                    tuple(e) if isinstance(e, (list, tuple)) else e for e in v
                )
        return self.validate(DartsGenome(**values))

    def to_string(self, genome: DartsGenome) -> str:
        g = self.validate(genome)

        def cell(c: Cell) -> str:
            return "[" + ", ".join(f"({op!r}, {src})" for op, src in c) + "]"

        return (
            f"Genotype(normal={cell(g.normal)}, normal_concat={list(g.normal_concat)}, "
            f"reduce={cell(g.reduce)}, reduce_concat={list(g.reduce_concat)})"
        )

    def canonical(self, genome: DartsGenome) -> DartsGenome:
        """The same genotype with each node's 2 inputs sorted by (input, op)."""
        g = self.validate(genome)
        return DartsGenome(
            normal=self._sorted_cell(g.normal),
            normal_concat=g.normal_concat,
            reduce=self._sorted_cell(g.reduce),
            reduce_concat=g.reduce_concat,
        )

    @staticmethod
    def _sorted_cell(cell: Cell) -> Cell:
        out: list[tuple[str, int]] = []
        for i in range(0, len(cell), 2):
            out.extend(sorted(cell[i : i + 2], key=lambda e: (e[1], e[0])))
        return tuple(out)

    def key(self, genome: DartsGenome) -> str:
        return self.to_string(self.canonical(genome))

    # -- NASLib / NB301 compact form -------------------------------------------------------
    def from_compact(self, compact: Any) -> DartsGenome:
        """Genome from NASLib's compact NB301 form ``[[(input, op index), ...] x 2]`` (normal,
        reduce; op index into ``GENOTYPE_OPS``), as in naslib/zc_nasbench301.json keys."""
        if isinstance(compact, str):
            try:
                compact = ast.literal_eval(check_text(compact, "NB301 compact"))
            except Exception as exc:  # noqa: BLE001
                raise InvalidGenomeError(f"NB301 compact string is not a literal: {exc}") from None
        cells = as_tuple("compact", compact)
        if len(cells) != 2:
            raise InvalidGenomeError(f"compact form needs 2 cells (normal, reduce), got {len(cells)}")
        out = []
        for name, cell in zip(CELLS, cells):
            pairs = []
            for k, e in enumerate(as_tuple(name, cell)):
                e = as_tuple(f"{name}[{k}]", e)
                if len(e) != 2:
                    raise InvalidGenomeError(f"{name}[{k}]={e!r:.60} must be (input, op index)")
                op = as_int(f"{name}[{k}] op index", e[1])
                if not 0 <= op < len(GENOTYPE_OPS):
                    raise InvalidGenomeError(
                        f"{name}[{k}] op index={op} is not allowed: must be in [0, {len(GENOTYPE_OPS)})"
                    )
                pairs.append((GENOTYPE_OPS[op], e[0]))
            out.append(tuple(pairs))
        return self.validate(DartsGenome(out[0], self.concat, out[1], self.concat))

    def to_compact(self, genome: DartsGenome) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Inverse of ``from_compact`` (keeps the pair order of ``genome``)."""
        g = self.validate(genome)
        return tuple(
            tuple((src, GENOTYPE_OPS.index(op)) for op, src in cell) for cell in (g.normal, g.reduce)
        )

    # -- random ---------------------------------------------------------------------------
    def sample_cell(self, rng: np.random.Generator) -> Cell:
        rng = check_rng(rng)
        cell: list[tuple[str, int]] = []
        for i in range(self.steps):
            srcs = sorted(int(s) for s in rng.choice(i + 2, size=2, replace=False))
            for s in srcs:
                cell.append((GENOTYPE_OPS[int(rng.integers(len(GENOTYPE_OPS)))], s))
        return tuple(cell)

    def sample(self, rng: np.random.Generator) -> DartsGenome:
        """Like the NB301 / DARTS random sampler: each node reads 2 distinct earlier nodes
        chosen uniformly, each through a uniformly chosen op (both cells independently)."""
        return DartsGenome(
            normal=self.sample_cell(rng),
            normal_concat=self.concat,
            reduce=self.sample_cell(rng),
            reduce_concat=self.concat,
        )

    def mutate(self, genome: DartsGenome, rng: np.random.Generator) -> DartsGenome:
        """In one uniformly chosen cell, change one op (probability 1/2) or one input (1/2;
        always possible since node 3 onward has a third choice); the new value is uniform
        among those that keep the genotype valid and different."""
        rng = check_rng(rng)
        g = self.validate(genome)
        which = CELLS[int(rng.integers(2))]
        cell = list(getattr(g, which))
        if self.steps > 1 and rng.random() < 0.5:
            k = int(rng.integers(2, 2 * self.steps))  # edges of nodes 3.. have a free input
            node = k // 2 + 2
            sibling = cell[k ^ 1][1]
            choices = [s for s in range(node) if s not in (cell[k][1], sibling)]
            cell[k] = (cell[k][0], choices[int(rng.integers(len(choices)))])
        else:
            k = int(rng.integers(2 * self.steps))
            choices = [o for o in GENOTYPE_OPS if o != cell[k][0]]
            cell[k] = (choices[int(rng.integers(len(choices)))], cell[k][1])
        if which == "normal":
            return DartsGenome(tuple(cell), g.normal_concat, g.reduce, g.reduce_concat)
        return DartsGenome(g.normal, g.normal_concat, tuple(cell), g.reduce_concat)

    # -- AG-Net encoding ------------------------------------------------------------------
    def _cell_spec(self) -> GraphSpec:
        return GraphSpec(node_types=DARTS_NODE_TYPES, max_nodes=2 * self.steps + 3)

    def cell_to_dense(self, cell: Any) -> tuple[np.ndarray, np.ndarray]:
        c = self._sorted_cell(self.validate_cell(cell))
        n = 2 * self.steps + 3
        types = np.zeros(n, dtype=np.int64)
        types[0] = DARTS_NODE_TYPES.index("input")
        types[1] = DARTS_NODE_TYPES.index("input_1")
        adj = np.zeros((n, n), dtype=np.int64)
        for k, (op, src) in enumerate(c):
            p = k + 2
            types[p] = DARTS_NODE_TYPES.index(op)
            if src < 2:
                adj[src, p] = 1
            else:
                adj[2 * src - 2, p] = adj[2 * src - 1, p] = 1
            adj[p, n - 1] = 1
        types[n - 1] = DARTS_NODE_TYPES.index("output")
        return types, adj

    def cell_from_dense(self, node_types: Any, adjacency: Any) -> Cell:
        types, adj = check_dense(node_types, adjacency, self._cell_spec())
        n = 2 * self.steps + 3
        names = [DARTS_NODE_TYPES[t] for t in types]
        if names[0] != "input" or names[1] != "input_1" or names[-1] != "output":
            raise InvalidGenomeError(
                f"nodes 0, 1 and {n - 1} must be 'input', 'input_1' and 'output'; got "
                f"{names[0]!r}, {names[1]!r}, {names[-1]!r}"
            )
        out_expected = np.zeros(n, dtype=np.int64)
        out_expected[2 : n - 1] = 1
        if not np.array_equal(adj[:, n - 1], out_expected):
            raise InvalidGenomeError(
                f"the output node must read exactly the op nodes 2..{n - 2}; got "
                f"{np.nonzero(adj[:, n - 1])[0].tolist()}"
            )
        if adj[0, 1]:
            raise InvalidGenomeError("there is no edge from node 0 to node 1 (both are inputs)")
        cell: list[tuple[str, int]] = []
        for p in range(2, n - 1):
            op = names[p]
            if op not in GENOTYPE_OPS:
                raise InvalidGenomeError(
                    f"node {p} must be an op from {list(GENOTYPE_OPS)}, got {op!r}"
                )
            node = (p - 2) // 2 + 2
            srcs = np.nonzero(adj[:p, p])[0].tolist()
            allowed = {(0,): 0, (1,): 1}
            for j in range(2, node):
                allowed[(2 * j - 2, 2 * j - 1)] = j
            if tuple(srcs) not in allowed:
                raise InvalidGenomeError(
                    f"op node {p} (node {node}) reads graph nodes {srcs}; it must read node 0, "
                    f"node 1, or both op nodes of one earlier intermediate node"
                )
            cell.append((op, allowed[tuple(srcs)]))
        return self.validate_cell(tuple(cell))

    def encode_cell(self, cell: Any) -> np.ndarray:
        types, adj = self.cell_to_dense(cell)
        return dense_to_y(types, adj, self._cell_spec())

    def decode_cell(self, y: Any) -> Cell:
        types, adj = y_to_dense(y, self._cell_spec())
        return self.cell_from_dense(types, adj)

    def to_dense(self, genome: DartsGenome) -> tuple[np.ndarray, np.ndarray]:
        g = self.validate(genome)
        (tn, an), (tr, ar) = self.cell_to_dense(g.normal), self.cell_to_dense(g.reduce)
        return np.stack([tn, tr]), np.stack([an, ar])

    def from_dense(self, node_types: np.ndarray, adjacency: np.ndarray) -> DartsGenome:
        t, a = np.asarray(node_types), np.asarray(adjacency)
        n = 2 * self.steps + 3
        if t.shape != (2, n) or a.shape != (2, n, n):
            raise InvalidGenomeError(
                f"darts dense graphs need node_types (2, {n}) and adjacency (2, {n}, {n}) "
                f"(normal, reduce); got {t.shape} and {a.shape}"
            )
        return DartsGenome(
            normal=self.cell_from_dense(t[0], a[0]),
            normal_concat=self.concat,
            reduce=self.cell_from_dense(t[1], a[1]),
            reduce_concat=self.concat,
        )

    def encode(self, genome: DartsGenome) -> np.ndarray:
        """(2, encoding_size) float32: row 0 the normal cell, row 1 the reduction cell."""
        g = self.validate(genome)
        return np.stack([self.encode_cell(g.normal), self.encode_cell(g.reduce)])

    def decode(self, y: np.ndarray) -> DartsGenome:
        try:
            arr = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidGenomeError(f"encoding y must be numeric: {exc}") from None
        size = self._cell_spec().encoding_size
        if arr.shape != (2, size):
            raise InvalidGenomeError(
                f"darts encoding must have shape (2, {size}) (normal, reduce); got {arr.shape}"
            )
        return DartsGenome(
            normal=self.decode_cell(arr[0]),
            normal_concat=self.concat,
            reduce=self.decode_cell(arr[1]),
            reduce_concat=self.concat,
        )

    def to_graph(self, genome: DartsGenome) -> jraph.GraphsTuple:
        """Two graphs (normal, reduce) in one GraphsTuple."""
        types, adj = self.to_dense(genome)
        n = 2 * self.steps + 3
        spec = self._cell_spec()
        return graphs_to_batch([dense_to_graph(types[i], adj[i], n, spec) for i in range(2)])

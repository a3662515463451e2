"""NAS-Bench-101 cell space (semantics of the NAS-Bench-101 API ``ModelSpec``).

The AG-Net encoding of this space is described in docs/algorithms.md.

A cell is an upper-triangular 0/1 adjacency matrix over ``n <= 7`` vertices plus one op per
vertex (``input``, n-2 of ``NB101_OPS``, ``output``). Like the API, a genome keeps its original
(unpruned) matrix; validity, the edge limit and the fingerprint are judged on the *pruned* cell
(vertices not on an input-to-output path removed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import jraph
import numpy as np

from jaxnas.errors import ConfigError, InvalidGenomeError
from jaxnas.spaces._common import (
    DenseGraphEncoding,
    as_int,
    as_str,
    as_tuple,
    check_dense,
    check_genome_type,
    check_rng,
    check_text,
    dense_to_graph,
)
from jaxnas.spaces.base import GraphSpec

NB101_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
# AG-Net node type order (docs/algorithms.md) -- differs from NB101_OPS order on purpose.
NB101_NODE_TYPES = ("output", "input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3")
# NAS-Bench-101's limits: at most 7 vertices and 9 edges per (pruned) cell
NB101_MAX_VERTICES = 7
NB101_MAX_EDGES = 9


@dataclass(frozen=True)
class NB101Genome:
    matrix: tuple[tuple[int, ...], ...]  # upper-triangular 0/1 adjacency, n x n, n <= 7
    ops: tuple[str, ...]  # "input", n-2 of NB101_OPS, "output"


def _matrix_array(genome: NB101Genome) -> np.ndarray:
    return np.asarray(genome.matrix, dtype=np.int64).reshape(len(genome.ops), len(genome.ops))


def prune_arrays(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]] | None:
    """The NB101 API's ``ModelSpec._prune``: drop vertices not on an input->output path.
    Returns None when the output is unreachable from the input."""
    n = matrix.shape[0]
    from_input = {0}
    frontier = [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top, v] and v not in from_input:
                from_input.add(v)
                frontier.append(v)
    to_output = {n - 1}
    frontier = [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(0, top):
            if matrix[v, top] and v not in to_output:
                to_output.add(v)
                frontier.append(v)
    keep = sorted(from_input & to_output)
    if len(keep) < 2 or keep[0] != 0 or keep[-1] != n - 1:
        return None
    return matrix[np.ix_(keep, keep)], [ops[i] for i in keep]


def hash_module(matrix: np.ndarray, labeling: list[int]) -> str:
    """The NAS-Bench-101 graph hash (``nasbench.lib.graph_util.hash_module``)."""
    vertices = matrix.shape[0]
    # .tolist() matters: str() of numpy ints differs ("np.int64(1)") and changes every hash.
    in_edges = np.sum(matrix, axis=0).tolist()
    out_edges = np.sum(matrix, axis=1).tolist()
    hashes = [
        hashlib.md5(str(h).encode("utf-8")).hexdigest()
        for h in zip(out_edges, in_edges, labeling)
    ]
    for _ in range(vertices):
        new_hashes = []
        for v in range(vertices):
            in_neighbors = [hashes[w] for w in range(vertices) if matrix[w, v]]
            out_neighbors = [hashes[w] for w in range(vertices) if matrix[v, w]]
            new_hashes.append(
                hashlib.md5(
                    ("".join(sorted(in_neighbors)) + "|" + "".join(sorted(out_neighbors)) + "|"
                     + hashes[v]).encode("utf-8")
                ).hexdigest()
            )
        hashes = new_hashes
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NB101Space(DenseGraphEncoding):
    """NAS-Bench-101 cells: at most ``max_vertices`` vertices and ``max_edges`` edges (after
    pruning), ops from ``NB101_OPS``.

    ``key`` is the NB101 fingerprint of the pruned cell (isomorphic cells share it; it equals
    the ``hash`` of the NAS-Bench-101 tables). Canonical string: compact JSON
    ``{"matrix":[[...]],"ops":[...]}`` of the genome as given (not pruned).

    AG-Net encoding (y length 56 for N=7): the *pruned* cell, node i = vertex i (input at 0,
    output at n-1), node types ``NB101_NODE_TYPES``; slots n..N-1 are type ``output`` with no
    edges. ``decode`` truncates at the first ``output`` node (as AG-Net does) and ignores what
    follows, so ``decode(encode(g)) == prune(g)``.
    """

    max_vertices: int = NB101_MAX_VERTICES
    max_edges: int = NB101_MAX_EDGES
    name: ClassVar[str] = "nb101"

    def __post_init__(self) -> None:
        for field in ("max_vertices", "max_edges"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2 - (
                field == "max_edges"
            ):
                raise ConfigError(f"{field}={value!r} is not allowed: must be an int >= 2")

    @property
    def graph_spec(self) -> GraphSpec:
        return GraphSpec(node_types=NB101_NODE_TYPES, max_nodes=self.max_vertices)

    # -- structure ------------------------------------------------------------------------
    def _structure(self, genome: NB101Genome) -> NB101Genome:
        """Type/shape checks only (no pruning): normalised genome."""
        check_genome_type(genome, NB101Genome)
        ops = as_tuple("ops", genome.ops)
        n = len(ops)
        if not 2 <= n <= self.max_vertices:
            raise InvalidGenomeError(
                f"ops has {n} vertices; must be between 2 and max_vertices={self.max_vertices}"
            )
        ops = tuple(as_str(f"ops[{i}]", o) for i, o in enumerate(ops))
        if ops[0] != INPUT:
            raise InvalidGenomeError(f"ops[0]={ops[0]!r:.40} is not allowed: must be 'input'")
        if ops[-1] != OUTPUT:
            raise InvalidGenomeError(
                f"ops[{n - 1}]={ops[-1]!r:.40} is not allowed: must be 'output'"
            )
        for i, o in enumerate(ops[1:-1], start=1):
            if o not in NB101_OPS:
                raise InvalidGenomeError(
                    f"ops[{i}]={o!r:.40} is not allowed; choose one of {list(NB101_OPS)}"
                )
        if isinstance(genome.matrix, np.ndarray):
            if genome.matrix.ndim != 2:
                raise InvalidGenomeError(f"matrix must be 2-d, got shape {genome.matrix.shape}")
            rows = tuple(tuple(r) for r in genome.matrix.tolist())
        else:
            rows = tuple(as_tuple(f"matrix[{i}]", r) for i, r in enumerate(as_tuple("matrix", genome.matrix)))
        if len(rows) != n or any(len(r) != n for r in rows):
            raise InvalidGenomeError(
                f"matrix must be {n}x{n} to match the {n} ops, got rows of lengths "
                f"{[len(r) for r in rows]}"
            )
        matrix = []
        for i, row in enumerate(rows):
            out_row = []
            for j, v in enumerate(row):
                v = as_int(f"matrix[{i}][{j}]", v)
                if v not in (0, 1):
                    raise InvalidGenomeError(f"matrix[{i}][{j}]={v} is not allowed: must be 0 or 1")
                if v and j <= i:
                    raise InvalidGenomeError(
                        f"matrix[{i}][{j}]=1 is not allowed: the matrix must be strictly "
                        "upper-triangular (a DAG in topological order)"
                    )
                out_row.append(v)
            matrix.append(tuple(out_row))
        return NB101Genome(matrix=tuple(matrix), ops=ops)

    def prune(self, genome: NB101Genome) -> NB101Genome:
        """Remove vertices not on an input->output path (ops and matrix together), as the
        NAS-Bench-101 API does; raises InvalidGenomeError if input and output are unconnected."""
        g = self._structure(genome)
        pruned = prune_arrays(_matrix_array(g), list(g.ops))
        if pruned is None:
            raise InvalidGenomeError(
                "the output vertex is not reachable from the input vertex (no input->output path)"
            )
        m, ops = pruned
        return NB101Genome(matrix=tuple(tuple(int(x) for x in r) for r in m), ops=tuple(ops))

    def validate(self, genome: NB101Genome) -> NB101Genome:
        g = self._structure(genome)
        p = self.prune(g)
        edges = int(np.sum(_matrix_array(p)))
        if edges > self.max_edges:
            raise InvalidGenomeError(
                f"the pruned cell has {edges} edges; at most max_edges={self.max_edges} allowed"
            )
        return g

    def is_valid(self, genome: Any) -> bool:
        try:
            self.validate(genome)
        except InvalidGenomeError:
            return False
        return True

    def fingerprint(self, genome: NB101Genome) -> str:
        """The NB101 graph hash of the pruned cell (``ModelSpec.hash_spec``)."""
        p = self.prune(self.validate(genome))
        labeling = [-1] + [NB101_OPS.index(o) for o in p.ops[1:-1]] + [-2]
        return hash_module(_matrix_array(p), labeling)

    # -- strings --------------------------------------------------------------------------
    def to_string(self, genome: NB101Genome) -> str:
        g = self.validate(genome)
        return json.dumps(
            {"matrix": [list(r) for r in g.matrix], "ops": list(g.ops)}, separators=(",", ":")
        )

    def parse(self, text: str) -> NB101Genome:
        text = check_text(text, "NB101 cell JSON")
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidGenomeError(f"NB101 cell string is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise InvalidGenomeError(
                f'NB101 cell JSON must be an object {{"matrix": [[...]], "ops": [...]}}, '
                f"got {type(obj).__name__}"
            )
        keys = set(obj)
        if keys != {"matrix", "ops"}:
            raise InvalidGenomeError(
                f"NB101 cell JSON must have exactly the keys 'matrix' and 'ops'; "
                f"got {sorted(map(str, keys))}"
            )
        return self.genome_from(obj["matrix"], obj["ops"])

    def genome_from(self, matrix: Any, ops: Any) -> NB101Genome:
        """Validated genome from any matrix-like (lists, arrays) and op sequence."""
        if isinstance(matrix, np.ndarray):
            matrix = matrix.tolist()
        if not isinstance(matrix, (list, tuple)) or not all(
            isinstance(r, (list, tuple)) for r in matrix
        ):
            raise InvalidGenomeError(f"matrix must be a list of rows, got {matrix!r:.80}")
        ops_t = as_tuple("ops", ops)
        return self.validate(NB101Genome(matrix=tuple(tuple(r) for r in matrix), ops=ops_t))

    def key(self, genome: NB101Genome) -> str:
        return self.fingerprint(genome)

    # -- random ---------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> NB101Genome:
        """The NB101 API's ``random_spec``: a 7x7 upper-triangular matrix with edges p=0.5 and
        uniform ops, rejected until valid (the genome is returned unpruned, as the API does)."""
        rng = check_rng(rng)
        n = self.max_vertices
        while True:
            matrix = np.triu(rng.integers(0, 2, size=(n, n)), 1)
            mid = rng.integers(0, len(NB101_OPS), size=n - 2)
            ops = (INPUT,) + tuple(NB101_OPS[int(i)] for i in mid) + (OUTPUT,)
            g = NB101Genome(matrix=tuple(tuple(int(x) for x in r) for r in matrix), ops=ops)
            if self.is_valid(g):
                return g

    def _padded(self, g: NB101Genome, rng: np.random.Generator) -> NB101Genome:
        """Grow a cell to max_vertices by inserting unconnected vertices (random ops) before
        the output, so small cells can gain vertices by mutation; pruning removes them again."""
        n = len(g.ops)
        extra = self.max_vertices - n
        if extra <= 0:
            return g
        m = np.zeros((self.max_vertices,) * 2, dtype=np.int64)
        old = _matrix_array(g)
        m[: n - 1, : n - 1] = old[: n - 1, : n - 1]
        m[: n - 1, -1] = old[: n - 1, -1]
        mid = tuple(NB101_OPS[int(i)] for i in rng.integers(0, len(NB101_OPS), size=extra))
        ops = g.ops[:-1] + mid + (OUTPUT,)
        return NB101Genome(matrix=tuple(tuple(int(x) for x in r) for r in m), ops=ops)

    def mutate(self, genome: NB101Genome, rng: np.random.Generator) -> NB101Genome:
        """One edge flip or one op change (the NB101 API's mutation with exactly one change),
        tried over all single changes in random order until the result is valid and has a
        different fingerprint. Cells smaller than ``max_vertices`` are first padded with
        unconnected vertices (which changes nothing about the cell). Degenerate cells where no
        single change alters the pruned cell (e.g. input->output only: a new vertex needs an
        edge in and an edge out) fall back to two changes."""
        rng = check_rng(rng)
        g = self._padded(self.validate(genome), rng)
        base_key = self.fingerprint(g)
        n = len(g.ops)
        moves: list[tuple] = [("edge", i, j) for i in range(n) for j in range(i + 1, n)]
        moves += [("op", v, o) for v in range(1, n - 1) for o in NB101_OPS if o != g.ops[v]]
        m0 = _matrix_array(g)

        def apply(m: np.ndarray, ops: list[str], move: tuple) -> None:
            kind, a, b = move
            if kind == "edge":
                m[a, b] = 1 - m[a, b]
            else:
                ops[a] = b

        def candidate(chosen: tuple) -> NB101Genome | None:
            m, ops = m0.copy(), list(g.ops)
            for move in chosen:
                apply(m, ops, move)
            cand = NB101Genome(matrix=tuple(tuple(int(x) for x in r) for r in m), ops=tuple(ops))
            if self.is_valid(cand) and self.fingerprint(cand) != base_key:
                return cand
            return None

        for idx in rng.permutation(len(moves)):
            cand = candidate((moves[int(idx)],))
            if cand is not None:
                return cand
        edge_moves = [mv for mv in moves if mv[0] == "edge"]
        pairs = [(a, b) for a in range(len(edge_moves)) for b in range(a + 1, len(edge_moves))]
        for idx in rng.permutation(len(pairs)):
            a, b = pairs[int(idx)]
            cand = candidate((edge_moves[a], edge_moves[b]))
            if cand is not None:
                return cand
        raise InvalidGenomeError(
            f"no valid mutation exists for {self.to_string(genome)}"
        )

    # -- AG-Net encoding ------------------------------------------------------------------
    def to_dense(self, genome: NB101Genome) -> tuple[np.ndarray, np.ndarray]:
        p = self.prune(self.validate(genome))
        n, big = len(p.ops), self.max_vertices
        types = np.zeros(big, dtype=np.int64)  # padding = 'output' (index 0)
        types[:n] = [NB101_NODE_TYPES.index(o) for o in p.ops]
        adj = np.zeros((big, big), dtype=np.int64)
        adj[:n, :n] = _matrix_array(p)
        return types, adj

    def from_dense(self, node_types: np.ndarray, adjacency: np.ndarray) -> NB101Genome:
        types, adj = check_dense(node_types, adjacency, self.graph_spec)
        names = [NB101_NODE_TYPES[t] for t in types]
        if names[0] != INPUT:
            raise InvalidGenomeError(f"node 0 must be 'input', got {names[0]!r}")
        if OUTPUT not in names:
            raise InvalidGenomeError("no 'output' node")
        n = names.index(OUTPUT) + 1  # AG-Net truncates at the first output node
        bad = [(i, o) for i, o in enumerate(names[1 : n - 1], start=1) if o not in NB101_OPS]
        if bad:
            raise InvalidGenomeError(
                f"inner nodes must be one of {list(NB101_OPS)}; got {bad}"
            )
        return self.genome_from(adj[:n, :n], names[:n])

    def to_graph(self, genome: NB101Genome) -> jraph.GraphsTuple:
        """The pruned cell as one graph (n nodes, one edge per matrix entry)."""
        types, adj = self.to_dense(genome)
        n = len(self.prune(genome).ops)
        return dense_to_graph(types, adj, n, self.graph_spec)

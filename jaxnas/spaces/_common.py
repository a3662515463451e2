"""Helpers shared by the spaces: checked conversions, the AG-Net dense encoding, jraph views.

Everything here is numpy only (no JAX), so the spaces stay cheap to import and to call from
data-loading code.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import jraph
import numpy as np

from jaxnas.errors import ConfigError, InvalidGenomeError
from jaxnas.spaces.base import GraphSpec

# A parse() input longer than this is rejected before any parsing work (a guard against
# pathological strings; every real genome string is far shorter).
MAX_TEXT_LENGTH = 100_000


def as_int(field: str, value: Any) -> int:
    """``value`` as a Python int (numpy integers accepted; bools, floats, strings are not)."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidGenomeError(f"{field}={value!r} is not allowed: must be an integer, not a bool")
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidGenomeError(
            f"{field}={value!r} is not allowed: must be an integer, got {type(value).__name__}"
        ) from None


def as_tuple(field: str, value: Any) -> tuple:
    """``value`` as a tuple (lists, tuples and 1-d arrays accepted; strings and dicts not)."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise InvalidGenomeError(f"{field} must be 1-dimensional, got shape {value.shape}")
        return tuple(value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise InvalidGenomeError(
        f"{field}={value!r} is not allowed: must be a tuple or list, got {type(value).__name__}"
    )


def as_str(field: str, value: Any) -> str:
    if isinstance(value, np.str_):
        return str(value)
    if not isinstance(value, str):
        raise InvalidGenomeError(
            f"{field}={value!r} is not allowed: must be a string, got {type(value).__name__}"
        )
    return value


def check_text(text: Any, what: str) -> str:
    """Reject non-strings and absurdly long strings before parsing."""
    if not isinstance(text, str):
        raise InvalidGenomeError(
            f"a {what} string is required, got {type(text).__name__}: {text!r:.80}"
        )
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidGenomeError(
            f"{what} string has {len(text)} characters; at most {MAX_TEXT_LENGTH} allowed"
        )
    return text


def check_genome_type(genome: Any, cls: type) -> None:
    if not isinstance(genome, cls):
        raise InvalidGenomeError(
            f"expected a {cls.__name__}, got {type(genome).__name__}: {genome!r:.80}"
        )


def check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            f"rng={rng!r:.60} is not allowed: pass a numpy.random.Generator "
            "(e.g. numpy.random.default_rng(seed))"
        )
    return rng


# ---------------------------------------------------------------------------------------------
# AG-Net dense encoding
# ---------------------------------------------------------------------------------------------


def edge_order(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sources, targets) of the AG-Net edge indicators: target j = 1..n-1, source i = 0..j-1."""
    src = [i for j in range(1, n) for i in range(j)]
    dst = [j for j in range(1, n) for _ in range(j)]
    return np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)


def dense_to_y(types: np.ndarray, adj: np.ndarray, spec: GraphSpec) -> np.ndarray:
    """``[one-hot(types) flattened ; edge indicators]`` as float32 (docs/algorithms.md)."""
    n, a = spec.max_nodes, spec.num_node_types
    onehot = np.zeros((n, a), dtype=np.float32)
    onehot[np.arange(n), types] = 1.0
    src, dst = edge_order(n)
    edges = adj[src, dst].astype(np.float32)
    return np.concatenate([onehot.reshape(-1), edges])


def y_to_dense(y: Any, spec: GraphSpec) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`dense_to_y`: argmax node types, edges where ``y > 0.5``."""
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidGenomeError(f"encoding y must be numeric: {exc}") from None
    if arr.shape != (spec.encoding_size,):
        raise InvalidGenomeError(
            f"encoding y has shape {arr.shape}; expected ({spec.encoding_size},) "
            f"= {spec.max_nodes} nodes x {spec.num_node_types} types + {spec.num_edges} edges"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidGenomeError("encoding y contains NaN or infinite values")
    n, a = spec.max_nodes, spec.num_node_types
    types = np.argmax(arr[: n * a].reshape(n, a), axis=1).astype(np.int64)
    adj = np.zeros((n, n), dtype=np.int64)
    src, dst = edge_order(n)
    adj[src, dst] = (arr[n * a :] > 0.5).astype(np.int64)
    return types, adj


def check_dense(types: Any, adj: Any, spec: GraphSpec) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes/values of a dense (types, adjacency) pair; return int64 copies."""
    try:
        t = np.asarray(types)
        m = np.asarray(adj)
    except Exception as exc:  # noqa: BLE001 - anything unconvertible is an invalid genome
        raise InvalidGenomeError(f"dense graph is not array-like: {exc}") from None
    n = spec.max_nodes
    if t.shape != (n,):
        raise InvalidGenomeError(f"node_types has shape {t.shape}; expected ({n},)")
    if m.shape != (n, n):
        raise InvalidGenomeError(f"adjacency has shape {m.shape}; expected ({n}, {n})")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(m.dtype, np.number)) and not (
        m.dtype == bool and np.issubdtype(t.dtype, np.integer)
    ):
        raise InvalidGenomeError(
            f"node_types must be integers and adjacency numeric, got {t.dtype} and {m.dtype}"
        )
    if t.size and (t.min() < 0 or t.max() >= spec.num_node_types):
        raise InvalidGenomeError(
            f"node type indices must be in [0, {spec.num_node_types}), got {t.tolist()}"
        )
    m = m.astype(np.float64)
    if not np.all((m == 0) | (m == 1)):
        raise InvalidGenomeError("adjacency entries must be 0 or 1")
    if np.any(np.tril(m) != 0):
        raise InvalidGenomeError(
            "adjacency must be strictly upper-triangular (edges go from lower to higher nodes)"
        )
    return t.astype(np.int64), m.astype(np.int64)


def dense_to_graph(
    types: np.ndarray, adj: np.ndarray, num_nodes: int, spec: GraphSpec
) -> jraph.GraphsTuple:
    """One graph: one-hot node features of the first ``num_nodes`` nodes, one edge per 1 in
    ``adj`` (sender = source, receiver = target). Padding nodes are left out; use
    :func:`graphs_to_batch` to batch and pad. ``edges`` and ``globals`` are None."""
    t = np.asarray(types[:num_nodes], dtype=np.int64)
    nodes = np.zeros((num_nodes, spec.num_node_types), dtype=np.float32)
    nodes[np.arange(num_nodes), t] = 1.0
    senders, receivers = np.nonzero(np.asarray(adj)[:num_nodes, :num_nodes])
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=senders.astype(np.int32),
        receivers=receivers.astype(np.int32),
        n_node=np.asarray([num_nodes], dtype=np.int32),
        n_edge=np.asarray([len(senders)], dtype=np.int32),
        globals=None,
    )


def graphs_to_batch(
    graphs: Sequence[jraph.GraphsTuple],
    n_node_pad: int | None = None,
    n_edge_pad: int | None = None,
    n_graph_pad: int | None = None,
) -> jraph.GraphsTuple:
    """Concatenate graphs from ``to_graph`` (numpy) and optionally pad to fixed sizes.

    Padding follows the jraph convention (``jraph.pad_with_graphs``): one extra graph holds all
    padding nodes and padding edges (edges point at the first padding node), followed by empty
    graphs, so ``n_graph_pad`` must exceed the number of real graphs and ``n_node_pad`` the
    number of real nodes. Use ``jraph.get_graph_padding_mask`` / ``get_node_padding_mask`` for
    masks. Fixed padded sizes keep jit from recompiling for every batch.
    """
    if not graphs:
        raise ConfigError("graphs_to_batch needs at least one graph")
    widths = {np.asarray(g.nodes).shape[1:] for g in graphs}
    if len(widths) != 1:
        raise ConfigError(
            f"graphs_to_batch needs graphs of one space (same node feature width), got {widths}"
        )
    nodes = np.concatenate([np.asarray(g.nodes) for g in graphs], axis=0)
    n_node = np.concatenate([np.asarray(g.n_node) for g in graphs]).astype(np.int32)
    n_edge = np.concatenate([np.asarray(g.n_edge) for g in graphs]).astype(np.int32)
    # senders/receivers inside each input tuple are relative to that tuple's first node (a
    # tuple may hold several graphs, e.g. darts normal + reduce); shift by the nodes before it.
    sizes = [int(np.sum(np.asarray(g.n_node))) for g in graphs]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    senders = np.concatenate(
        [np.asarray(g.senders, dtype=np.int32) + s for g, s in zip(graphs, starts)]
    ).astype(np.int32)
    receivers = np.concatenate(
        [np.asarray(g.receivers, dtype=np.int32) + s for g, s in zip(graphs, starts)]
    ).astype(np.int32)

    if n_node_pad is None and n_edge_pad is None and n_graph_pad is None:
        return jraph.GraphsTuple(
            nodes=nodes, edges=None, senders=senders, receivers=receivers,
            n_node=n_node, n_edge=n_edge, globals=None,
        )
    total_nodes, total_edges, total_graphs = int(n_node.sum()), int(n_edge.sum()), len(n_node)
    n_node_pad = total_nodes + 1 if n_node_pad is None else int(n_node_pad)
    n_edge_pad = total_edges if n_edge_pad is None else int(n_edge_pad)
    n_graph_pad = total_graphs + 1 if n_graph_pad is None else int(n_graph_pad)
    if n_node_pad <= total_nodes or n_edge_pad < total_edges or n_graph_pad <= total_graphs:
        raise ConfigError(
            f"padding too small: need n_node_pad > {total_nodes} (got {n_node_pad}), "
            f"n_edge_pad >= {total_edges} (got {n_edge_pad}), "
            f"n_graph_pad > {total_graphs} (got {n_graph_pad})"
        )
    pad_nodes, pad_edges = n_node_pad - total_nodes, n_edge_pad - total_edges
    nodes = np.concatenate([nodes, np.zeros((pad_nodes, nodes.shape[1]), nodes.dtype)])
    pad_idx = np.full(pad_edges, total_nodes, dtype=np.int32)
    empty = n_graph_pad - total_graphs - 1
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=np.concatenate([senders, pad_idx]),
        receivers=np.concatenate([receivers, pad_idx]),
        n_node=np.concatenate([n_node, [pad_nodes], np.zeros(empty, np.int32)]).astype(np.int32),
        n_edge=np.concatenate([n_edge, [pad_edges], np.zeros(empty, np.int32)]).astype(np.int32),
        globals=None,
    )


class DenseGraphEncoding:
    """``encode``/``decode`` (the AG-Net vector) of a space that defines ``to_dense``,
    ``from_dense`` and ``graph_spec``: one definition for every cell space."""

    def encode(self, genome: Any) -> np.ndarray:
        types, adj = self.to_dense(genome)
        return dense_to_y(types, adj, self.graph_spec)

    def decode(self, y: np.ndarray) -> Any:
        types, adj = y_to_dense(y, self.graph_spec)
        return self.from_dense(types, adj)

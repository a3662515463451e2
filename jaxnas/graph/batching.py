"""Batching and padding of ``jraph.GraphsTuple`` with masks built here.

jraph's own ``zero_out_padding`` and ``get_fully_connected_graph`` call APIs removed from JAX
(``jax.tree_map``), so the masks are computed from ``n_node`` / ``n_edge`` directly: after
``jraph.pad_with_graphs`` the padding occupies the trailing graphs, nodes and edges, and every
padding edge points at a padding node, so real nodes never receive a padding message.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax.numpy as jnp
import jraph
import numpy as np

from jaxnas.errors import ConfigError


class GraphMasks(NamedTuple):
    """Boolean masks of the real (non-padding) graphs, nodes and edges of a padded batch."""

    graph: jnp.ndarray  # (n_graph,)
    node: jnp.ndarray  # (total nodes,)
    edge: jnp.ndarray  # (total edges,)


def graph_masks(graph: jraph.GraphsTuple, num_real_graphs: int | None = None) -> GraphMasks:
    """Masks of the real parts of a batch padded by :func:`pad_graphs` / ``pad_with_graphs``.

    With ``num_real_graphs=None`` the last graph is taken to be the (only) padding graph, which
    is what ``jraph.pad_with_graphs`` produces when ``n_graph = real graphs + 1``. Works under
    jit (sizes are static, counts are traced).
    """
    n_graph = graph.n_node.shape[0]
    real = n_graph - 1 if num_real_graphs is None else num_real_graphs
    graph_mask = jnp.arange(n_graph) < real
    total_nodes = graph.nodes.shape[0] if not isinstance(graph.nodes, dict) else next(
        iter(graph.nodes.values())).shape[0]
    total_edges = graph.senders.shape[0]
    real_nodes = jnp.sum(jnp.where(graph_mask, graph.n_node, 0))
    real_edges = jnp.sum(jnp.where(graph_mask, graph.n_edge, 0))
    node_mask = jnp.arange(total_nodes) < real_nodes
    edge_mask = jnp.arange(total_edges) < real_edges
    return GraphMasks(graph_mask, node_mask, edge_mask)


def pad_graphs(
    graphs: Sequence[jraph.GraphsTuple],
    n_node: int | None = None,
    n_edge: int | None = None,
    n_graph: int | None = None,
) -> tuple[jraph.GraphsTuple, int]:
    """Batch ``graphs`` and pad to fixed sizes (so a jitted function compiles once).

    Defaults: one extra graph, one extra node and no extra edges (the minimum
    ``pad_with_graphs`` needs). Returns the padded batch and the number of real graphs.
    """
    if not graphs:
        raise ConfigError("pad_graphs needs at least one graph, got an empty sequence")
    batch_fn = jraph.batch_np if hasattr(jraph, "batch_np") else jraph.batch
    batch = batch_fn(list(graphs))
    real_nodes = int(np.sum(batch.n_node))
    real_edges = int(np.sum(batch.n_edge))
    n_node = real_nodes + 1 if n_node is None else n_node
    n_edge = real_edges if n_edge is None else n_edge
    n_graph = len(graphs) + 1 if n_graph is None else n_graph
    if n_node <= real_nodes or n_edge < real_edges or n_graph <= len(graphs):
        raise ConfigError(
            f"padding sizes (n_node={n_node}, n_edge={n_edge}, n_graph={n_graph}) must exceed "
            f"the batch ({real_nodes} nodes, {real_edges} edges, {len(graphs)} graphs)"
        )
    return jraph.pad_with_graphs(batch, n_node, n_edge, n_graph), len(graphs)

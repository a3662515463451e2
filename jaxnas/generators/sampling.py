"""From generator logits to discrete graphs, encodings and space genomes.

See docs/algorithms.md, AG-Net.

Sampling follows the original ``convert_to_pg_data``: node types are drawn from
Categorical(logits) for nodes 0..N-2 (node 0's logits are fixed to the input type), the last
node is forced to ``output``, the graph is truncated at the first ``output`` node (later slots
become ``output`` padding, their edges zero) and every edge is drawn from
Bernoulli(sigmoid(logit)). The space's own ``from_dense`` then decides validity.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.errors import InvalidGenomeError


def edge_pairs(max_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) of the N(N-1)/2 edge slots: target j = 1..N-1, source i = 0..j-1."""
    src = [i for j in range(1, max_nodes) for i in range(j)]
    dst = [j for j in range(1, max_nodes) for _ in range(j)]
    return np.asarray(src, np.int32), np.asarray(dst, np.int32)


def edges_to_adjacency(edges: jax.Array, max_nodes: int) -> jax.Array:
    """(..., E) edge indicators -> (..., N, N) upper-triangular adjacency (adj[i, j]: i -> j)."""
    src, dst = edge_pairs(max_nodes)
    adj = jnp.zeros(edges.shape[:-1] + (max_nodes, max_nodes), edges.dtype)
    return adj.at[..., src, dst].set(edges)


def adjacency_to_edges(adjacency: np.ndarray) -> np.ndarray:
    """(..., N, N) adjacency -> (..., E) edge indicators in the encoding order."""
    src, dst = edge_pairs(adjacency.shape[-1])
    return np.asarray(adjacency)[..., src, dst]


def encode_dense(node_types: np.ndarray, adjacency: np.ndarray, num_node_types: int
                 ) -> np.ndarray:
    """AG-Net vectors y (..., N*A + E) from dense graphs (numpy; same layout as space.encode)."""
    node_types = np.asarray(node_types)
    onehot = np.eye(num_node_types, dtype=np.float32)[node_types]
    flat = onehot.reshape(node_types.shape[:-1] + (-1,))
    return np.concatenate([flat, adjacency_to_edges(adjacency).astype(np.float32)], -1)


def split_encoding(y: np.ndarray, num_node_types: int, max_nodes: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """y -> (node type indices (..., N) int32, edge indicators (..., E) float32)."""
    y = np.asarray(y, np.float32)
    nodes = y[..., : max_nodes * num_node_types].reshape(y.shape[:-1] + (max_nodes,
                                                                          num_node_types))
    return np.argmax(nodes, -1).astype(np.int32), y[..., max_nodes * num_node_types:]


def sample_dense(key: jax.Array, node_logits: jax.Array, edge_logits: jax.Array,
                 output_index: int = 0) -> tuple[jax.Array, jax.Array]:
    """Draw discrete graphs from logits: (node types (B, N) int32, adjacency (B, N, N) int32)."""
    batch, n, _ = node_logits.shape
    k_nodes, k_edges = jax.random.split(key)
    types = jax.random.categorical(k_nodes, node_logits, axis=-1).astype(jnp.int32)
    types = types.at[:, n - 1].set(output_index)
    is_out = types == output_index
    first_out = jnp.argmax(is_out, axis=1)  # the last slot is output, so one always exists
    slot = jnp.arange(n)[None, :]
    alive = slot <= first_out[:, None]
    types = jnp.where(alive, types, output_index)
    edges = jax.random.bernoulli(k_edges, jax.nn.sigmoid(edge_logits)).astype(jnp.int32)
    adj = edges_to_adjacency(edges, n)
    adj = adj * (alive[:, :, None] & alive[:, None, :]).astype(jnp.int32)
    return types, adj


def genomes_from_dense(space: Any, node_types: np.ndarray, adjacency: np.ndarray
                       ) -> list[Any | None]:
    """``space.from_dense`` per graph; None where the graph is not a valid genome."""
    out: list[Any | None] = []
    for types, adj in zip(np.asarray(node_types), np.asarray(adjacency)):
        try:
            out.append(space.from_dense(types, adj))
        except InvalidGenomeError:
            out.append(None)
    return out


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID-like Frechet distance between two sets of encodings (rows are samples)."""
    from scipy import linalg

    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    mu1, mu2 = real.mean(0), fake.mean(0)
    c1 = np.cov(real, rowvar=False)
    c2 = np.cov(fake, rowvar=False)
    # encodings have constant columns (fixed slots), so the covariances are singular: add a
    # small ridge, the usual FID remedy
    eps = 1e-6 * np.eye(c1.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = np.real(linalg.sqrtm((c1 + eps) @ (c2 + eps)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2.0 * covmean))


def validity_rate(space: Any, node_types: np.ndarray, adjacency: np.ndarray,
                  is_valid: Callable[[Any], bool] | None = None) -> tuple[float, list[Any | None]]:
    """Fraction of graphs that are valid genomes of ``space`` (and pass ``is_valid``)."""
    genomes = genomes_from_dense(space, node_types, adjacency)
    if is_valid is not None:
        genomes = [g if g is not None and is_valid(g) else None for g in genomes]
    ok = sum(g is not None for g in genomes)
    return ok / max(len(genomes), 1), genomes


def stack_encodings(space: Any, genomes: Sequence[Any]) -> np.ndarray:
    """``space.encode`` of each genome stacked into (M, len(y)) float32."""
    return np.stack([np.asarray(space.encode(g), np.float32) for g in genomes])

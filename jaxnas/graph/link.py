"""Link prediction (and masked node-op prediction) with a GAT encoder.

The model encodes a cell graph with :class:`~jaxnas.graph.gat.GATEncoder` and has two heads:

* an edge decoder: an MLP on ``[h_s, h_r, h_s * h_r]`` giving one logit per edge slot of the
  message graph (the caller decides which slots are candidate links, e.g. every ordered pair
  i < j of a cell);
* an op head: an MLP on ``h_v`` giving logits over node ops (used with masked op inputs).

Losses are masked means so padding never contributes.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from jaxnas.graph.gat import GATEncoder


class LinkPredictor(nn.Module):
    """GAT encoder + edge decoder + op head. Returns (edge logits (E,), op logits (N, K))."""

    num_ops: int
    num_layers: int = 2
    num_heads: int = 4
    head_dim: int = 16
    receivers_sorted: bool = False

    @nn.compact
    def __call__(
        self, graph: jraph.GraphsTuple, edge_mask: jnp.ndarray | None = None
    ) -> tuple[jnp.ndarray, jnp.ndarray]:
        h = GATEncoder(self.num_layers, self.num_heads, self.head_dim,
                       receivers_sorted=self.receivers_sorted, name="encoder")(
            graph, edge_mask
        )
        width = h.shape[-1]
        hs, hr = h[graph.senders], h[graph.receivers]
        z = jnp.concatenate([hs, hr, hs * hr], axis=-1)
        z = jax.nn.relu(nn.Dense(width, name="edge_hidden")(z))
        edge_logits = nn.Dense(1, name="edge_out")(z)[:, 0]
        o = jax.nn.relu(nn.Dense(width, name="op_hidden")(h))
        op_logits = nn.Dense(self.num_ops, name="op_out")(o)
        return edge_logits, op_logits


def masked_bce(logits: jnp.ndarray, labels: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Mean binary cross-entropy over the entries where ``mask`` is true."""
    losses = optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype))
    mask = mask.astype(logits.dtype)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def masked_ce(logits: jnp.ndarray, labels: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Mean softmax cross-entropy (integer labels) over the entries where ``mask`` is true."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    mask = mask.astype(logits.dtype)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

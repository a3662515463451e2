"""The NAL model: one plain data type (:class:`NALModel`) and functions over it.

The GAT link predictor (:class:`~jaxnas.graph.link.LinkPredictor`) reads a *candidate-pair
graph* of a batch of dense cells (:func:`pair_graph`): every ordered pair of a cell's
vertices (both directions) plus self loops, with edge features [forward, backward, self,
observed]. So one model answers "which links, given some links and ops" (a logit per pair)
and "which op, given the rest" (op logits per vertex). Training is in
:mod:`jaxnas.graph.training`, scoring and decoding in :mod:`jaxnas.graph.generation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from jaxnas.errors import ConfigError, check_choice
from jaxnas.graph.cells import Vocab
from jaxnas.graph.link import LinkPredictor


SCORES = ("transfer", "target-prior", "legacy", "contrast")
DECODES = ("argmax", "sample", "beam")
# NALConfig fields that only generation reads: training ignores them (no recompilation)
GENERATION_FIELDS = ("score", "decode", "beam_width", "temperature", "max_tries_factor",
                     "background_size")


@dataclass(frozen=True)
class NALConfig:
    """Hyper-parameters of the NAL model, its training and generation (docs/algorithms.md)."""

    # defaults chosen on nb101-20k alone (experiments/nal_select.py, docs/algorithms.md)
    top_fraction: float = 0.01  # expert set = this top fraction by search-time accuracy
    min_experts: int = 4  # ... but at least this many cells
    num_layers: int = 3
    num_heads: int = 4
    head_dim: int = 16
    steps: int = 200
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    op_loss_weight: float = 1.0
    negatives_per_positive: float | None = None  # None: every non-link of a cell is a negative
    # generation (not training): see jaxnas.graph.generation and docs/algorithms.md
    # "transfer": op + link terms only; "target-prior": + the target space's own vertex-count
    # distribution (structure, no accuracy); "legacy": + the experts' vertex-count histogram;
    # "contrast": the op + link terms minus those of a background model trained the same way
    # on random cells of the source space (a likelihood ratio: what sets experts apart)
    score: str = "contrast"
    background_size: int = 1000  # score="contrast", transfer: random nb101-20k cells
    decode: str = "beam"  # "argmax", "sample" (at ``temperature``) or "beam" (top-k)
    beam_width: int = 8  # beam decoding: partial cells kept per step
    temperature: float = 0.5  # decode="sample": 0 = greedy, 1 = sample from the model
    max_tries_factor: int = 8  # generation: at most this many draws per requested cell

    def __post_init__(self) -> None:
        if not 0.0 < self.top_fraction <= 1.0:
            raise ConfigError(f"top_fraction={self.top_fraction} must be in (0, 1]")
        for name in ("min_experts", "num_layers", "num_heads", "head_dim", "steps",
                     "batch_size", "max_tries_factor", "beam_width", "background_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        check_choice("score", self.score, SCORES)
        check_choice("decode", self.decode, DECODES)
        if self.temperature < 0:
            raise ConfigError(f"temperature={self.temperature} must be >= 0")
        if self.negatives_per_positive is not None and self.negatives_per_positive <= 0:
            raise ConfigError(f"negatives_per_positive={self.negatives_per_positive} must be > 0")


@dataclass(frozen=True, eq=False)
class NALModel:
    """A trained NAL model: parameters plus what generation needs to know about the experts."""

    params: Any
    vocab: Vocab
    config: NALConfig
    fixed_adjacency: np.ndarray | None  # NB201: the AG-Net topology; None: links are learned
    n_counts: np.ndarray  # histogram of expert vertex counts (index = count)
    losses: np.ndarray  # training loss per step
    # score="contrast": the same model trained on random cells of the source space
    background: "NALModel | None" = None


def link_predictor(vocab: Vocab, config: NALConfig) -> LinkPredictor:
    """The (stateless, hashable) GAT module of a model with this vocabulary and config."""
    return LinkPredictor(len(vocab.ops), config.num_layers, config.num_heads, config.head_dim,
                         receivers_sorted=True)


def pair_mask(n: jnp.ndarray, s: int) -> jnp.ndarray:
    """(B, S, S): the candidate links i < j < n of each cell."""
    slot = jnp.arange(s)
    return ((slot[:, None] < slot[None, :])[None]
            & (slot[None, None, :] < n[:, None, None]))


def middle_mask(n: jnp.ndarray, s: int) -> jnp.ndarray:
    """(B, S): the op vertices 0 < v < n - 1 of each cell (not input, output or padding)."""
    slot = jnp.arange(s)[None]
    return (slot > 0) & (slot < n[:, None] - 1)


def pair_graph(tokens: jnp.ndarray, obs: jnp.ndarray, n: jnp.ndarray, num_tokens: int
               ) -> tuple[jraph.GraphsTuple, jnp.ndarray]:
    """The candidate-pair ``GraphsTuple`` of a batch of dense cells, and its edge mask.

    Node features: one-hot token, relative position, sin(pi * position), n / 8. Edges: every
    ordered pair of slots in receiver-major order (receivers come out sorted: faster segment
    ops on CPU), features [forward, backward, self, observed in ``obs``]; edges touching
    slots >= n are masked.
    """
    b, s = tokens.shape
    slot = jnp.arange(s)
    valid = slot[None, :] < n[:, None]
    pos = slot[None, :] / jnp.maximum(n[:, None] - 1, 1)
    feats = jnp.concatenate([
        jax.nn.one_hot(tokens, num_tokens),
        pos[..., None], jnp.sin(jnp.pi * pos)[..., None],
        jnp.broadcast_to((n / 8.0)[:, None, None], (b, s, 1)),
    ], axis=-1)
    ls, lr = jnp.meshgrid(slot, slot, indexing="xy")
    ls, lr = ls.reshape(-1), lr.reshape(-1)
    lo, hi = jnp.minimum(ls, lr), jnp.maximum(ls, lr)
    observed = (obs[:, lo, hi] > 0) & (ls != lr)[None]
    kinds = jnp.stack([ls < lr, ls > lr, ls == lr], -1).astype(jnp.float32)
    edge_feats = jnp.concatenate([
        jnp.broadcast_to(kinds[None], (b, s * s, 3)), observed[..., None].astype(jnp.float32),
    ], -1)
    edge_mask = valid[:, ls] & valid[:, lr]
    offsets = (jnp.arange(b) * s)[:, None]
    graph = jraph.GraphsTuple(
        nodes=feats.reshape(b * s, -1), edges=edge_feats.reshape(b * s * s, -1),
        senders=(ls[None] + offsets).reshape(-1), receivers=(lr[None] + offsets).reshape(-1),
        n_node=jnp.full((b,), s), n_edge=jnp.full((b,), s * s), globals=None)
    return graph, edge_mask.reshape(-1)


def init_graph(b: int, s: int, num_tokens: int) -> tuple[jraph.GraphsTuple, jnp.ndarray]:
    """A dummy candidate-pair graph of the right feature sizes for ``module.init``."""
    feats = jnp.zeros((b * s, num_tokens + 3))
    edges = jnp.zeros((b * s * s, 4))
    idx = jnp.zeros((b * s * s,), jnp.int32)
    graph = jraph.GraphsTuple(nodes=feats, edges=edges, senders=idx, receivers=idx,
                              n_node=jnp.full((b,), s), n_edge=jnp.full((b,), s * s),
                              globals=None)
    return graph, jnp.ones((b * s * s,), bool)


def forward(module: LinkPredictor, params: Any, tokens: jnp.ndarray, obs: jnp.ndarray,
            n: jnp.ndarray, num_tokens: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Encode a batch of dense cells: (pair logits (B, S, S) [b, sender, receiver], op logits
    (B, S, K))."""
    b, s = tokens.shape
    graph, edge_mask = pair_graph(tokens, obs, n, num_tokens)
    edge_logits, op_logits = module.apply(params, graph, edge_mask)
    # flat edge index = receiver * s + sender -> [b, sender, receiver]
    return edge_logits.reshape(b, s, s).transpose(0, 2, 1), op_logits.reshape(b, s, -1)


@partial(jax.jit, static_argnums=(0, 5))
def _jit_forward(module, params, tokens, obs, n, num_tokens):
    return forward(module, params, tokens, obs, n, num_tokens)


def predict(model: NALModel, tokens: np.ndarray, obs: np.ndarray,
            n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs for dense inputs: (pair probabilities (B,S,S), op log-probs (B,S,K))."""
    module = link_predictor(model.vocab, model.config)
    edge_logits, op_logits = _jit_forward(module, model.params, jnp.asarray(tokens, jnp.int32),
                                          jnp.asarray(obs, jnp.int32), jnp.asarray(n, jnp.int32),
                                          model.vocab.num_tokens)
    return np.asarray(jax.nn.sigmoid(edge_logits)), np.asarray(jax.nn.log_softmax(op_logits))

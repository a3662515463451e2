"""NAL: automating neural architecture design without search (Liang & Sun, arXiv 2204.11838).

A GAT link predictor (``jaxnas.graph``) learns from "expert" cells (the top fraction of cells
by search-time accuracy) and then *generates* cells directly, with no search-and-evaluate loop.
Design decisions (all ours; the paper's details are not public) are documented in
docs/_sections/nal.md.

Pieces:

* **Cells as dense graphs** (:class:`Cells`): op tokens per vertex, upper-triangular adjacency,
  vertex count. NB101 cells are used as they are; an NB201 cell uses the AG-Net encoding
  (input, the 6 edge-ops as vertices, output, with a fixed adjacency).
* **Model and training** (:func:`train`): the GAT encodes a *candidate-pair graph* (every
  ordered pair i < j of a cell, in both directions, plus self loops), whose edge features
  say forward / backward / self and whether the link is *observed*. Per training step every
  cell gets a random observed fraction of its true links and a random masked fraction of its
  ops; the loss is BCE on the unobserved pairs (true links against non-links) plus
  cross-entropy on the masked ops. So one model answers "which links, given some links and
  ops" and "which op, given the rest".
* **Generation** (:func:`generate`): iterative masked-op decoding (most confident vertex first,
  op drawn at a temperature with seeded Gumbel noise), then iterative link decoding (add the
  best-scoring admissible link, re-encode, until the cell is valid and no link has p > 0.5, or
  9 links); invalid decodes are repaired by pruning and rejected if no input-output path is
  left; duplicates are replaced by further draws. Deterministic for a seed.
* **Pool scoring** (:func:`score_cells`, :func:`generate_from_pool`): the model's joint score
  of a complete cell (mean log-probability of its ops with ops masked plus mean
  log-probability of its links with links unobserved, plus a vertex-count prior); a pool (all
  15,625 NB201 cells mapped to NB101-style graphs, or the 20,001 nb101-20k cells) is ranked with
  Gumbel-top-k. No cell of the pool is evaluated.
* **Transfer** NB101 -> NB201 (:func:`nb201_as_nb101_graph`, :func:`generate_nb201_transfer`)
  and NB101 -> DARTS (:func:`generate_darts`: ops decoded as above and mapped by
  ``NB101_TO_DARTS``, the 2 most probable incoming links per intermediate node).
* The ``nal`` strategy (:class:`NAL`) for the runner: ``--queries 0`` = transfer,
  ``--queries N`` = in-space (learn from N queried random cells); the generated cells come
  back through ``recommend`` and are reported by the runner at 0 / N queries.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, ClassVar, Sequence

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from jaxnas.errors import ConfigError, InvalidGenomeError, UnknownNameError
from jaxnas.graph import LinkPredictor, masked_bce, masked_ce
from jaxnas.search.base import SearchContext, SearchRecord, as_key, split_rng

# ----------------------------------------------------------------------------- vocabularies

NB101_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NB101_MAX_VERTICES = 7
NB101_MAX_EDGES = 9

# NB101 op -> NB201 op (transfer). maxpool has no NB201 twin: avg_pool_3x3 is the closest pool.
NB101_TO_NB201 = {"conv3x3-bn-relu": "nor_conv_3x3", "conv1x1-bn-relu": "nor_conv_1x1",
                  "maxpool3x3": "avg_pool_3x3"}
# NB101 op -> DARTS op (transfer). DARTS has no plain or 1x1 conv: both convs become the
# cheapest DARTS conv (sep_conv_3x3); pooling stays max pooling.
NB101_TO_DARTS = {"conv3x3-bn-relu": "sep_conv_3x3", "conv1x1-bn-relu": "sep_conv_3x3",
                  "maxpool3x3": "max_pool_3x3"}
DARTS_TO_NB101 = {"sep_conv_3x3": "conv3x3-bn-relu", "sep_conv_5x5": "conv3x3-bn-relu",
                  "dil_conv_3x3": "conv3x3-bn-relu", "dil_conv_5x5": "conv3x3-bn-relu",
                  "max_pool_3x3": "maxpool3x3", "avg_pool_3x3": "maxpool3x3"}


@dataclass(frozen=True)
class Vocab:
    """Vertex tokens of a domain: 0 = input, 1 = output, 2.. = ``ops``, last = MASK."""

    name: str
    ops: tuple[str, ...]

    @property
    def num_tokens(self) -> int:
        return len(self.ops) + 3

    @property
    def mask_token(self) -> int:
        return len(self.ops) + 2

    def token(self, op: str) -> int:
        if op == "input":
            return 0
        if op == "output":
            return 1
        if op not in self.ops:
            raise InvalidGenomeError(f"op {op!r} is not in the {self.name} vocabulary {self.ops}")
        return 2 + self.ops.index(op)

    def op(self, token: int) -> str:
        return ("input", "output", *self.ops)[int(token)]


NB101_VOCAB = Vocab("nb101", NB101_OPS)
NB201_VOCAB = Vocab("nb201", NB201_OPS)


# ----------------------------------------------------------------------------- dense cells


@dataclass(frozen=True, eq=False)
class Cells:
    """A set of cells as dense arrays: ``tokens`` (C, S), ``adj`` (C, S, S) upper-triangular
    0/1, ``n`` (C,) vertex counts (slots >= n are padding)."""

    tokens: np.ndarray
    adj: np.ndarray
    n: np.ndarray

    def __len__(self) -> int:
        return len(self.n)

    @property
    def slots(self) -> int:
        return self.tokens.shape[1]

    def subset(self, index: Sequence[int] | np.ndarray) -> "Cells":
        index = np.asarray(index, dtype=np.int64)
        return Cells(self.tokens[index], self.adj[index], self.n[index])


def make_cells(graphs: Sequence[tuple[Sequence[str], np.ndarray]], vocab: Vocab,
               slots: int | None = None) -> Cells:
    """Dense :class:`Cells` from ``(ops, adjacency)`` pairs (ops include input/output)."""
    if not graphs:
        raise ConfigError("make_cells needs at least one cell")
    slots = slots or max(len(ops) for ops, _ in graphs)
    tokens = np.zeros((len(graphs), slots), np.int32)
    adj = np.zeros((len(graphs), slots, slots), np.int32)
    n = np.zeros(len(graphs), np.int32)
    for c, (ops, matrix) in enumerate(graphs):
        k = len(ops)
        if k > slots:
            raise ConfigError(f"cell with {k} vertices does not fit {slots} slots")
        tokens[c, :k] = [vocab.token(o) for o in ops]
        tokens[c, k:] = 1  # padding slots look like extra outputs; masked everywhere anyway
        adj[c, :k, :k] = np.triu(np.asarray(matrix, np.int32), 1)
        n[c] = k
    return Cells(tokens, adj, n)


def nb201_agnet_adjacency() -> np.ndarray:
    """The fixed 8x8 adjacency of an NB201 cell in the AG-Net encoding (papers.md 3.2)."""
    adj = np.zeros((8, 8), np.int32)
    for e, (src, dst) in enumerate(NB201_EDGES):
        if src == 0:
            adj[0, 1 + e] = 1
        if dst == 3:
            adj[1 + e, 7] = 1
        for f, (src2, _) in enumerate(NB201_EDGES):
            if src2 == dst:
                adj[1 + e, 1 + f] = 1
    return adj


def nb201_cells(ops_list: Sequence[Sequence[str]]) -> Cells:
    """NB201 cells (6 edge ops each, NB201_EDGES order) in the AG-Net encoding."""
    adj = nb201_agnet_adjacency()
    return make_cells([(("input", *ops, "output"), adj) for ops in ops_list], NB201_VOCAB)


def prune(matrix: np.ndarray, ops: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """Remove vertices not on an input->output path (the NB101 rule); None if no such path."""
    matrix = np.triu(np.asarray(matrix, np.int32), 1)
    k = len(ops)
    # plain Python sets: the graphs have <= 9 vertices and this runs for every NB201 cell
    succ: list[set[int]] = [set() for _ in range(k)]
    for i, j in zip(*np.nonzero(matrix)):
        succ[int(i)].add(int(j))
    fwd = {0}
    for j in range(1, k):
        if any(j in succ[i] for i in fwd):
            fwd.add(j)
    bwd = {k - 1}
    for i in range(k - 2, -1, -1):
        if succ[i] & bwd:
            bwd.add(i)
    keep = sorted(fwd & bwd)
    if not keep or keep[0] != 0 or keep[-1] != k - 1:
        return None
    return matrix[np.ix_(keep, keep)], tuple(ops[i] for i in keep)


def nb201_as_nb101_graph(ops6: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray] | None:
    """An NB201 cell as an NB101-style graph (ops on vertices, NB101 op names), or None.

    The NB201 cell has 4 states; state t is the sum of its incoming edges. An edge (s, t)
    with a conv/pool op becomes a vertex fed by every vertex whose output makes up state s;
    ``skip_connect`` becomes direct links (state s's vertices feed state t's consumers), and
    ``none`` becomes missing links. The output vertex is fed by state 3. Dead vertices are
    pruned; a cell whose output is unreachable maps to None.
    """
    inverse = {v: k for k, v in NB101_TO_NB201.items()}
    vertices = ["input"]
    state: list[list[int]] = [[0], [], [], []]  # vertices whose outputs sum into each state
    links: list[tuple[int, int]] = []
    for (src, dst), op in zip(NB201_EDGES, ops6):
        if op == "none" or not state[src]:
            continue
        if op == "skip_connect":
            state[dst].extend(state[src])
            continue
        v = len(vertices)
        vertices.append(inverse[op])
        links.extend((u, v) for u in state[src])
        state[dst].append(v)
    if not state[3]:
        return None
    out = len(vertices)
    vertices.append("output")
    links.extend((u, out) for u in sorted(set(state[3])))
    matrix = np.zeros((len(vertices),) * 2, np.int32)
    for u, v in links:
        matrix[u, v] = 1
    pruned = prune(matrix, vertices)
    if pruned is None:
        return None
    matrix, vertices = pruned
    return tuple(vertices), matrix


def darts_as_nb101_graph(cell: Sequence[tuple[str, int]]) -> tuple[tuple[str, ...], np.ndarray]:
    """A DARTS cell (8 (op, input) pairs, 2 per intermediate node 2..5) as an NB101-style graph.

    Both cell inputs c_{k-2}, c_{k-1} become one ``input`` vertex (NB101 has one input); each
    conv/pool edge becomes a vertex (``DARTS_TO_NB101``) fed by the vertices that make up its
    source node; ``skip_connect`` forwards the source's vertices; every intermediate node feeds
    the output (DARTS concatenates all four). Same construction as :func:`nb201_as_nb101_graph`.
    """
    vertices = ["input"]
    state: list[list[int]] = [[0], [0]]
    links: list[tuple[int, int]] = []
    for node in range(4):
        members: list[int] = []
        for op, src in cell[2 * node: 2 * node + 2]:
            if op == "none":
                continue
            if op == "skip_connect":
                members.extend(state[src])
                continue
            if op not in DARTS_TO_NB101:
                raise InvalidGenomeError(f"DARTS op {op!r} unknown; allowed: "
                                         f"{sorted(DARTS_TO_NB101) + ['skip_connect', 'none']}")
            v = len(vertices)
            vertices.append(DARTS_TO_NB101[op])
            links.extend((u, v) for u in state[src])
            members.append(v)
        state.append(sorted(set(members)))
    out = len(vertices)
    vertices.append("output")
    links.extend((u, out) for u in sorted({u for s in state[2:] for u in s}))
    matrix = np.zeros((len(vertices),) * 2, np.int32)
    for u, v in set(links):
        matrix[u, v] = 1
    pruned = prune(matrix, vertices)
    assert pruned is not None  # the input always reaches the output through some node
    return pruned[0], pruned[1]


# ----------------------------------------------------------------------------- config / model


@dataclass(frozen=True)
class NALConfig:
    """Hyper-parameters of the NAL model, training and generation (docs/_sections/nal.md)."""

    top_fraction: float = 0.1  # expert set = this top fraction by search-time accuracy
    min_experts: int = 4  # ... but at least this many cells
    num_layers: int = 2
    num_heads: int = 4
    head_dim: int = 8
    steps: int = 200
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    op_loss_weight: float = 1.0
    negatives_per_positive: float | None = None  # None: every non-link of a cell is a negative
    temperature: float = 0.5  # generation: 0 = greedy, 1 = sample from the model
    max_tries_factor: int = 8  # generation: at most this many draws per requested cell

    def __post_init__(self) -> None:
        if not 0.0 < self.top_fraction <= 1.0:
            raise ConfigError(f"top_fraction={self.top_fraction} must be in (0, 1]")
        for name in ("min_experts", "num_layers", "num_heads", "head_dim", "steps",
                     "batch_size", "max_tries_factor"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
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


def _module(vocab: Vocab, config: NALConfig) -> LinkPredictor:
    return LinkPredictor(len(vocab.ops), config.num_layers, config.num_heads, config.head_dim,
                         receivers_sorted=True)


def _forward(module: LinkPredictor, params: Any, tokens: jnp.ndarray, obs: jnp.ndarray,
             n: jnp.ndarray, num_tokens: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Encode a batch of dense cells; (pair logits (B, S, S), op logits (B, S, K)).

    Builds the candidate-pair GraphsTuple: every ordered pair of real slots (both directions)
    plus self loops, edge features [forward, backward, self, observed]; slots >= n are
    isolated padding (their edges are masked).
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
    # receiver-major edge order: receivers come out sorted (faster segment ops on CPU)
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
    edge_logits, op_logits = module.apply(params, graph, edge_mask.reshape(-1))
    # flat edge index = receiver * s + sender -> [b, sender, receiver]
    return edge_logits.reshape(b, s, s).transpose(0, 2, 1), op_logits.reshape(b, s, -1)


def _pair_mask(n: jnp.ndarray, s: int) -> jnp.ndarray:
    slot = jnp.arange(s)
    return ((slot[:, None] < slot[None, :])[None]
            & (slot[None, None, :] < n[:, None, None]))


def _middle_mask(n: jnp.ndarray, s: int) -> jnp.ndarray:
    slot = jnp.arange(s)[None]
    return (slot > 0) & (slot < n[:, None] - 1)


def expert_indices(scores: np.ndarray, top_fraction: float, min_experts: int = 1) -> np.ndarray:
    """Indices of the top ``top_fraction`` of ``scores`` (at least ``min_experts``), best first."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 1 or len(scores) == 0:
        raise ConfigError(f"scores must be a non-empty 1-d array, got shape {scores.shape}")
    k = min(len(scores), max(min_experts, int(math.ceil(top_fraction * len(scores)))))
    return np.argsort(-scores, kind="stable")[:k]


def _capacity(count: int) -> int:
    """Rows the expert arrays are padded to (a power of two >= 64): the jitted trainer then
    compiles once per capacity, not once per expert count."""
    return max(64, 1 << (max(count, 1) - 1).bit_length())


@partial(jax.jit, static_argnames=("module", "config", "vocab", "fixed", "batch"))
def _train_jit(key: Any, tokens: jnp.ndarray, adj: jnp.ndarray, n: jnp.ndarray,
               count: jnp.ndarray, *, module: LinkPredictor, config: NALConfig, vocab: Vocab,
               fixed: bool, batch: int) -> tuple[Any, jnp.ndarray]:
    """The whole training run (init + ``config.steps`` AdamW steps) as one jitted scan.

    Module-level and keyed on static hashables so repeated trainings (seeds, in-space rounds)
    reuse the compiled program; ``count`` (traced) is how many of the padded rows are real.
    """
    s = tokens.shape[1]
    num_tokens, mask_token, num_ops = vocab.num_tokens, vocab.mask_token, len(vocab.ops)
    tx = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)

    def loss_fn(params, idx, step_key):
        t, a, m = tokens[idx], adj[idx], n[idx]
        k1, k2, k3, k4, k5 = jax.random.split(step_key, 5)
        if fixed:
            obs = a
        else:  # a random observed fraction of the true links, per cell
            q = jax.random.uniform(k1, (batch, 1, 1))
            obs = a * (jax.random.uniform(k2, a.shape) < q)
        p = jax.random.uniform(k3, (batch, 1))
        masked = _middle_mask(m, s) & (jax.random.uniform(k4, (batch, s)) < p)
        t_in = jnp.where(masked, mask_token, t)
        edge_logits, op_logits = _forward(module, params, t_in, obs, m, num_tokens)
        op_loss = masked_ce(op_logits, jnp.clip(t - 2, 0, num_ops - 1), masked)
        if fixed:
            return config.op_loss_weight * op_loss
        targets = _pair_mask(m, s) & (obs == 0)  # BCE on the unobserved pairs only
        if config.negatives_per_positive is not None:
            pos = targets & (a > 0)
            neg = targets & (a == 0)
            n_pos = jnp.sum(pos, axis=(1, 2), keepdims=True)
            n_neg = jnp.maximum(jnp.sum(neg, axis=(1, 2), keepdims=True), 1)
            keep = jax.random.uniform(k5, a.shape) < config.negatives_per_positive * n_pos / n_neg
            targets = pos | (neg & keep)
        link_loss = masked_bce(edge_logits, a, targets)
        return link_loss + config.op_loss_weight * op_loss

    def step(carry, step_key):
        params, opt_state = carry
        k_idx, k_loss = jax.random.split(step_key)
        idx = jax.random.randint(k_idx, (batch,), 0, count)  # with replacement, real rows only
        loss, grads = jax.value_and_grad(loss_fn)(params, idx, k_loss)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    # init inside the same jit: eager flax init dispatches op by op (slow on CPU)
    init_key, key = jax.random.split(key)
    params = module.init(init_key, *_dense_graph_for_init(batch, s, num_tokens))
    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)),
                                       jax.random.split(key, config.steps))
    return params, losses


def train(cells: Cells, vocab: Vocab, key: Any, config: NALConfig = NALConfig(),
          fixed_adjacency: np.ndarray | None = None) -> NALModel:
    """Train the GAT link / op model on the (expert) ``cells``; jitted, one ``lax.scan``.

    Each step draws ``batch_size`` cells (with replacement), hides a random fraction of each
    cell's links and ops, and minimises BCE on the hidden pairs (true links vs non-links) plus
    cross-entropy on the hidden ops. With ``fixed_adjacency`` (NB201) all links are always
    observed and only ops are learned.
    """
    if len(cells) == 0:
        raise ConfigError("train needs at least one expert cell")
    # only the model/training fields are static: subclasses (the strategy's config) and
    # generation-only fields must not force a recompilation
    config = NALConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(NALConfig)})
    cap = _capacity(len(cells))
    pad = np.arange(cap) % len(cells)  # padding rows repeat real ones; never sampled anyway
    padded = cells.subset(pad)
    key = jax.random.PRNGKey(key) if isinstance(key, (int, np.integer)) else as_key(key)
    params, losses = _train_jit(
        key, jnp.asarray(padded.tokens), jnp.asarray(padded.adj), jnp.asarray(padded.n),
        jnp.asarray(len(cells), jnp.int32), module=_module(vocab, config), config=config,
        vocab=vocab, fixed=fixed_adjacency is not None, batch=config.batch_size)
    counts = np.bincount(np.asarray(cells.n), minlength=cells.slots + 1)
    return NALModel(params, vocab, config,
                    None if fixed_adjacency is None else np.asarray(fixed_adjacency),
                    counts, np.asarray(losses))


def _dense_graph_for_init(b: int, s: int, num_tokens: int) -> tuple[jraph.GraphsTuple, jnp.ndarray]:
    """A dummy candidate-pair graph of the right feature sizes for ``module.init``."""
    feats = jnp.zeros((b * s, num_tokens + 3))
    edges = jnp.zeros((b * s * s, 4))
    idx = jnp.zeros((b * s * s,), jnp.int32)
    graph = jraph.GraphsTuple(nodes=feats, edges=edges, senders=idx, receivers=idx,
                              n_node=jnp.full((b,), s), n_edge=jnp.full((b,), s * s),
                              globals=None)
    return graph, jnp.ones((b * s * s,), bool)


@partial(jax.jit, static_argnums=(0, 5))
def _jit_forward(module, params, tokens, obs, n, num_tokens):
    return _forward(module, params, tokens, obs, n, num_tokens)


def predict(model: NALModel, tokens: np.ndarray, obs: np.ndarray,
            n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs for dense inputs: (pair probabilities (B,S,S), op log-probs (B,S,K))."""
    module = _module(model.vocab, model.config)
    edge_logits, op_logits = _jit_forward(module, model.params, jnp.asarray(tokens, jnp.int32),
                                          jnp.asarray(obs, jnp.int32), jnp.asarray(n, jnp.int32),
                                          model.vocab.num_tokens)
    return np.asarray(jax.nn.sigmoid(edge_logits)), np.asarray(jax.nn.log_softmax(op_logits))


# ----------------------------------------------------------------------------- scoring


def score_cells(model: NALModel, cells: Cells, chunk: int = 4096) -> np.ndarray:
    """Joint score of complete cells, the decoder's own factorisation (higher = more
    expert-like): log p(vertex count) (experts' histogram, add-one smoothed)
    + mean log p(op | links, all ops masked) + mean log p(link / non-link | ops, no links).

    Means, not sums, so that a cell is not favoured for having fewer terms; the vertex-count
    prior is what stops trivially small cells from winning (docs/_sections/nal.md).
    """
    out = []
    max_n = max(len(model.n_counts), int(cells.n.max()) + 1)
    counts = np.zeros(max_n, np.float64)
    counts[: len(model.n_counts)] = model.n_counts
    counts[2:] += 1.0  # add-one smoothing over counts >= 2
    with np.errstate(divide="ignore"):  # counts 0 and 1 are impossible: log 0 = -inf
        log_pn = np.log(counts / counts.sum())
    size = min(chunk, len(cells))
    for start in range(0, len(cells), size):
        # every chunk has the same shape (the last one padded with repeats of the last cell, cut
        # off below) so the model is compiled once
        rows = np.minimum(np.arange(start, start + size), len(cells) - 1)
        part = cells.subset(rows)
        real = min(size, len(cells) - start)
        s = part.slots
        middle = np.asarray(_middle_mask(jnp.asarray(part.n), s))
        masked = np.where(middle, model.vocab.mask_token, part.tokens)
        _, op_logp = predict(model, masked, part.adj, part.n)
        labels = np.clip(part.tokens - 2, 0, len(model.vocab.ops) - 1)
        op_term = np.take_along_axis(op_logp, labels[..., None], -1)[..., 0]
        op_score = (op_term * middle).sum(1) / np.maximum(middle.sum(1), 1)
        if model.fixed_adjacency is not None:
            out.append(op_score[:real])  # fixed topology: the count and links carry no choice
            continue
        probs, _ = predict(model, part.tokens, np.zeros_like(part.adj), part.n)
        pairs = np.asarray(_pair_mask(jnp.asarray(part.n), s))
        probs = np.clip(probs, 1e-6, 1 - 1e-6)
        ll = np.where(part.adj > 0, np.log(probs), np.log1p(-probs))
        link_score = (ll * pairs).sum((1, 2)) / np.maximum(pairs.sum((1, 2)), 1)
        out.append((log_pn[part.n] + op_score + link_score)[:real])
    return np.concatenate(out)


def gumbel_top_k(scores: np.ndarray, k: int, temperature: float,
                 rng: np.random.Generator) -> np.ndarray:
    """k distinct indices: top-k of ``scores / T + Gumbel`` (sampling without replacement from
    softmax(scores / T)); T = 0 is plain top-k."""
    scores = np.asarray(scores, np.float64)
    if temperature > 0:
        perturbed = scores / temperature + rng.gumbel(size=scores.shape)
    else:
        perturbed = scores + 1e-9 * rng.random(scores.shape)  # seeded tie-break only
    perturbed = np.where(np.isfinite(scores), perturbed, -np.inf)
    return np.argsort(-perturbed, kind="stable")[:k]


def generate_from_pool(model: NALModel, pool: Cells, k: int, seed: int,
                       temperature: float | None = None) -> np.ndarray:
    """Indices of ``k`` distinct pool cells drawn by Gumbel-top-k on :func:`score_cells`."""
    t = model.config.temperature if temperature is None else temperature
    return gumbel_top_k(score_cells(model, pool), k, t, np.random.default_rng(seed))


# ----------------------------------------------------------------------------- generation


def _pick(logp: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(logp))
    return int(np.argmax(logp / temperature + rng.gumbel(size=logp.shape)))


def _valid_dag(adj: np.ndarray, n: int) -> bool:
    """Every vertex lies on an input->output path."""
    m = adj[:n, :n]
    fwd = np.zeros(n, bool)
    fwd[0] = True
    for j in range(1, n):
        fwd[j] = bool(np.any(m[:j, j] & fwd[:j]))
    bwd = np.zeros(n, bool)
    bwd[n - 1] = True
    for i in range(n - 2, -1, -1):
        bwd[i] = bool(np.any(m[i, i + 1:] & bwd[i + 1:]))
    return bool(np.all(fwd & bwd))


def decode_one(model: NALModel, rng: np.random.Generator, temperature: float,
               num_vertices: int | None = None, max_edges: int = NB101_MAX_EDGES,
               slots: int | None = None) -> tuple[tuple[str, ...], np.ndarray] | None:
    """Decode one cell: ops by iterative masked prediction, then links one at a time.

    Returns ``(ops, adjacency)`` (pruned to input-output paths) or None for an invalid decode.
    """
    vocab = model.vocab
    fixed = model.fixed_adjacency
    if fixed is not None:
        n = fixed.shape[0]
    elif num_vertices is not None:
        n = num_vertices
    else:  # vertex count drawn from the experts' histogram at the same temperature
        with np.errstate(divide="ignore"):
            n = _pick(np.log(model.n_counts.astype(np.float64)), temperature, rng)
    s = slots or max(n, len(model.n_counts) - 1)
    if n < 2 or n > s:
        raise ConfigError(f"num_vertices={n} must be in [2, {s}]")
    tokens = np.ones((1, s), np.int32)
    tokens[0, 0] = 0
    tokens[0, 1:n - 1] = vocab.mask_token
    obs = np.zeros((1, s, s), np.int32)
    if fixed is not None:
        obs[0] = fixed
    nn_ = np.array([n], np.int32)
    # ops: fill the most confident masked vertex first (MaskGIT-style)
    for _ in range(n - 2):
        _, op_logp = predict(model, tokens, obs, nn_)
        masked = np.flatnonzero(tokens[0, :n] == vocab.mask_token)
        confidence = op_logp[0, masked].max(-1)
        v = int(masked[np.argmax(confidence)])
        tokens[0, v] = 2 + _pick(op_logp[0, v], temperature, rng)
    ops = tuple(vocab.op(t) for t in tokens[0, :n])
    if fixed is not None:
        return ops, fixed.copy()
    # links: add the best admissible pair until valid and no pair has p > 0.5 (or max_edges)
    with np.errstate(divide="ignore"):
        for _ in range(max_edges):
            probs, _ = predict(model, tokens, obs, nn_)
            cand = np.triu(np.ones((n, n), bool), 1) & (obs[0, :n, :n] == 0)
            if not cand.any():
                break
            p = np.clip(probs[0, :n, :n], 1e-6, 1 - 1e-6)
            logit = np.log(p) - np.log1p(-p)
            noise = rng.gumbel(size=logit.shape) * temperature if temperature > 0 else 0.0
            score = np.where(cand, logit + noise, -np.inf)
            i, j = np.unravel_index(int(np.argmax(score)), score.shape)
            if _valid_dag(obs[0], n) and score[i, j] <= 0.0:
                break  # complete, and the model prefers no further link
            obs[0, i, j] = 1
    pruned = prune(obs[0, :n, :n], ops)
    if pruned is None:
        return None
    return pruned[1], pruned[0]


def generate(model: NALModel, k: int, seed: int, temperature: float | None = None,
             key_fn: Callable[[tuple[str, ...], np.ndarray], Any] | None = None,
             accept: Callable[[tuple[str, ...], np.ndarray], bool] | None = None,
             **decode_options: Any) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """``k`` distinct valid cells ``(ops, adjacency)`` for ``seed`` (draw i uses the numpy
    Generator seeded by ``(seed, i)``, so the result is deterministic for a seed).

    ``key_fn`` identifies duplicates (default: exact ops and adjacency); ``accept`` may reject
    cells (e.g. space constraints). Fewer than ``k`` cells come back only when
    ``k * max_tries_factor`` draws did not give ``k`` distinct ones.
    """
    if k < 1:
        raise ConfigError(f"k={k} must be >= 1")
    t = model.config.temperature if temperature is None else temperature
    key_fn = key_fn or (lambda ops, adj: (ops, adj.tobytes(), adj.shape))
    seen, out = set(), []
    for i in range(k * model.config.max_tries_factor):
        cell = decode_one(model, np.random.default_rng([seed, i]), t, **decode_options)
        if cell is None or (accept is not None and not accept(*cell)):
            continue
        ident = key_fn(*cell)
        if ident in seen:
            if t == 0:
                t = 0.25  # greedy decoding is deterministic: further draws need noise
            continue
        seen.add(ident)
        out.append(cell)
        if len(out) == k:
            break
    return out


# ----------------------------------------------------------------------------- knowledge sources


def nb101_table_cells(indices: Sequence[int] | np.ndarray | None = None) -> tuple[Cells, np.ndarray]:
    """Cells of the shipped nb101-20k table (all, or rows ``indices``) and their search-time
    accuracy (108-epoch validation %)."""
    from jaxnas.benchmarks import nb101_table

    table = nb101_table()
    rows = np.arange(len(table)) if indices is None else np.asarray(indices, np.int64)
    graphs = []
    for i in rows:
        matrix, ops = table.spec(int(i))
        graphs.append((ops, np.asarray(matrix, np.int32)))
    acc = np.asarray(table.columns["val_acc_108"], np.float64)[rows]
    return make_cells(graphs, NB101_VOCAB, slots=NB101_MAX_VERTICES), acc


@functools.lru_cache(maxsize=None)  # a pure function of the shipped (read-only) table
def _nb101_pool() -> Cells:
    cells, _ = nb101_table_cells()
    for array in (cells.tokens, cells.adj, cells.n):
        array.setflags(write=False)
    return cells


def train_nb101_experts(key: Any, config: NALConfig = NALConfig()) -> NALModel:
    """The transfer model: trained on the top ``config.top_fraction`` of nb101-20k by 108-epoch
    validation accuracy (the paper learns from NAS-Bench-101)."""
    from jaxnas.benchmarks import nb101_table

    acc = np.asarray(nb101_table().columns["val_acc_108"], np.float64)
    experts, _ = nb101_table_cells(expert_indices(acc, config.top_fraction, config.min_experts))
    return train(experts, NB101_VOCAB, key, config)


@functools.lru_cache(maxsize=None)  # a pure function of nothing: the fixed NB201 space
def nb201_pool() -> tuple[Cells, np.ndarray]:
    """All 15,625 NB201 cells (table order) as NB101-style graphs for the transfer model, and a
    boolean mask of the cells whose output is reachable (the others cannot be scored: their
    output is identically zero)."""
    from jaxnas.spaces import get_space

    codes = get_space("nb201").all_op_codes()
    graphs, ok = [], np.zeros(len(codes), bool)
    dummy = (("input", "output"), np.array([[0, 1], [0, 0]], np.int32))
    for i, row in enumerate(codes):
        g = nb201_as_nb101_graph([NB201_OPS[int(c)] for c in row])
        ok[i] = g is not None
        graphs.append(g if g is not None else dummy)
    cells = make_cells(graphs, NB101_VOCAB, slots=8)
    for array in (cells.tokens, cells.adj, cells.n, ok):
        array.setflags(write=False)
    return cells, ok


def nb201_transfer_scores(model: NALModel) -> np.ndarray:
    """The NB101-trained model's score (:func:`score_cells`) of every NB201 cell, table order;
    -inf for cells whose output is unreachable."""
    if model.vocab != NB101_VOCAB:
        raise ConfigError(f"transfer to nb201 needs a model trained on nb101, got "
                          f"{model.vocab.name}")
    pool, ok = nb201_pool()
    return np.where(ok, score_cells(model, pool), -np.inf)


def generate_nb201_transfer(model: NALModel, k: int, seed: int,
                            temperature: float | None = None,
                            scores: np.ndarray | None = None) -> list[int]:
    """``k`` distinct NB201 table indices drawn from the NB101-trained model's scores of every
    NB201 cell (Gumbel-top-k at ``temperature``; deterministic for ``seed``). ``scores``:
    precomputed :func:`nb201_transfer_scores` (to draw several seeds from one model)."""
    scores = nb201_transfer_scores(model) if scores is None else scores
    t = model.config.temperature if temperature is None else temperature
    return [int(i) for i in gumbel_top_k(scores, k, t, np.random.default_rng(seed))]


def generate_darts_cell(model: NALModel, rng: np.random.Generator,
                        temperature: float | None = None, steps: int = 4) -> tuple[tuple[str, int], ...]:
    """One DARTS cell (``steps`` intermediate nodes, 2 inputs each) from an NB101 model.

    NB101 vertex v_k (k = 1..steps) plays DARTS node k+1; the NB101 input plays both cell
    inputs c_{k-2}, c_{k-1}. The ops of v_1..v_steps are decoded by masked prediction (as in
    :func:`decode_one`) and mapped with ``NB101_TO_DARTS`` onto both edges entering the node
    (a conv of a sum is the sum of convs of the same kernel); the two inputs of node k+1 are
    the two most probable links into v_k (Gumbel-perturbed at ``temperature``) among the
    input and v_1..v_{k-1}; when the input is picked it becomes c_{k-1} (node's nearest input),
    and when it is picked twice, both c_{k-2} and c_{k-1}.
    """
    t = model.config.temperature if temperature is None else temperature
    vocab = model.vocab
    n = steps + 2
    tokens = np.ones((1, n), np.int32)
    tokens[0, 0] = 0
    tokens[0, 1:n - 1] = vocab.mask_token
    obs = np.zeros((1, n, n), np.int32)
    nn_ = np.array([n], np.int32)
    for _ in range(steps):
        _, op_logp = predict(model, tokens, obs, nn_)
        masked = np.flatnonzero(tokens[0, :n] == vocab.mask_token)
        v = int(masked[np.argmax(op_logp[0, masked].max(-1))])
        tokens[0, v] = 2 + _pick(op_logp[0, v], t, rng)
    probs, _ = predict(model, tokens, obs, nn_)
    p = np.clip(probs[0], 1e-6, 1 - 1e-6)
    logit = np.log(p) - np.log1p(-p)
    cell: list[tuple[str, int]] = []
    for k in range(1, steps + 1):
        op = NB101_TO_DARTS[vocab.op(tokens[0, k])]
        # candidates: the input twice (c_{k-2}, c_{k-1}) and every earlier intermediate node
        cand = [(logit[0, k], 1), (logit[0, k], 0)] + [(logit[j, k], j + 1) for j in range(1, k)]
        noise = rng.gumbel(size=len(cand)) * t if t > 0 else np.zeros(len(cand))
        scored = [c[0] + e for c, e in zip(cand, noise)]
        order = np.argsort(-np.asarray(scored), kind="stable")[:2]
        inputs = sorted(cand[i][1] for i in order)
        cell.extend((op, src) for src in inputs)
    return tuple(cell)


def generate_darts(model: NALModel, seed: int, temperature: float | None = None) -> Any:
    """A DARTS genotype (``jaxnas.spaces.darts.DartsGenome``) from an NB101 model: normal and
    reduction cells from the same generator, successive draws of one seeded Generator."""
    from jaxnas.spaces import get_space
    from jaxnas.spaces.darts import DartsGenome

    space = get_space("darts")
    rng = np.random.default_rng(seed)
    normal = generate_darts_cell(model, rng, temperature, space.steps)
    reduce = generate_darts_cell(model, rng, temperature, space.steps)
    return space.validate(DartsGenome(normal, space.concat, reduce, space.concat))


# ----------------------------------------------------------------------------- strategy

SETTINGS = ("auto", "transfer", "in-space")
GENERATION = ("auto", "decode", "pool")


@dataclass(frozen=True)
class NALStrategyConfig(NALConfig):
    """NAL as a runner strategy. ``setting``: ``transfer`` (learn from nb101-20k, 0 queries),
    ``in-space`` (learn from the first ``budget`` queried random cells) or ``auto`` (transfer
    when the run's budget is 0). ``generation``: ``decode`` (build cells vertex by vertex and
    link by link), ``pool`` (Gumbel-top-k of the model's score over the space's cells:
    all 15,625 for nb201, the 20,001 table cells for nb101-20k) or ``auto`` (nb201 transfer
    and nb101-20k: pool; nb201 in-space: decode). ``num_generate`` cells are recommended per seed."""

    setting: str = "auto"
    generation: str = "auto"
    num_generate: int = 1
    ask_batch: int | None = None  # in-space: random cells per ask (None: all N at once)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.setting not in SETTINGS:
            raise ConfigError(f"setting={self.setting!r}; choose one of {list(SETTINGS)}")
        if self.generation not in GENERATION:
            raise ConfigError(f"generation={self.generation!r}; choose one of {list(GENERATION)}")
        if self.num_generate < 1:
            raise ConfigError(f"num_generate={self.num_generate} must be >= 1")
        if self.ask_batch is not None and self.ask_batch < 1:
            raise ConfigError(f"ask_batch={self.ask_batch} must be >= 1 or None")


@dataclass(frozen=True)
class NALState:
    """``key``; ``told``: (canonical genome string, search accuracy) of every queried cell."""

    key: Any
    asked: int = 0
    told: tuple[tuple[str, float], ...] = ()


class NAL:
    """NAL behind init / ask / tell / recommend.

    * **transfer** (``--queries 0``): never asks; :meth:`recommend` trains on nb101-20k experts
      and generates ``num_generate`` cells for the target space (nb201 or nb101-20k). The
      runner looks them up for the report at zero queries.
    * **in-space** (``--queries N``): asks N uniformly random cells (the queries), then
      :meth:`recommend` trains on the top fraction of those N by search accuracy and
      generates; the runner reports the generated cells at N queries (they are not queried).
    """

    name: ClassVar[str] = "nal"
    Config = NALStrategyConfig

    def __init__(self, space: Any, config: NALStrategyConfig | None = None,
                 context: SearchContext | None = None) -> None:
        self.space = space
        self.config = config or NALStrategyConfig()
        self.context = context or SearchContext()
        self.space_name = getattr(space, "name", self.context.space_name)
        if self.space_name not in ("nb201", "nb101", "nb101-20k"):
            raise UnknownNameError(f"NAL supports spaces nb201 and nb101(-20k), got "
                                   f"{self.space_name!r}")
        budget = self.context.budget or 0
        setting = self.config.setting
        if setting == "auto":
            setting = "transfer" if budget == 0 else "in-space"
        if setting == "in-space" and budget < 1:
            raise ConfigError("NAL in-space needs a query budget >= 1 (the cells it learns "
                              "from); use --queries 0 for the transfer setting")
        if setting == "transfer" and budget > 0:
            raise ConfigError(f"NAL transfer spends no queries; run it with --queries 0, "
                              f"got a budget of {budget}")
        if setting == "transfer" and self.space_name != "nb201":
            raise ConfigError("NAL transfer learns from nb101-20k, so it cannot be scored on "
                              "nb101 (a cell learned from the table it is scored on is no "
                              "result); use --space nb201, or --queries N (in-space) on nb101")
        self.setting = setting
        generation = self.config.generation
        if generation == "auto":
            # nb201 transfer: NB201 ops have no NB101 vertex twins, so cells are scored;
            # nb101-20k: the space *is* the table's cells, so generate among them (a decoded
            # cell falls outside the 20,001 cells ~95 % of the time: generation=decode)
            generation = "pool" if (setting == "transfer" and self.space_name == "nb201") \
                or self.space_name == "nb101-20k" else "decode"
        if generation == "decode" and setting == "transfer" and self.space_name == "nb201":
            raise ConfigError("NB101 -> NB201 transfer generates by scoring the NB201 cells "
                              "(generation=pool); decode is for in-space or nb101")
        self.generation = generation

    def init(self, key: Any) -> NALState:
        return NALState(key=as_key(key))

    def ask(self, state: NALState) -> tuple[NALState, list[Any]]:
        if self.setting == "transfer":
            raise ConfigError("NAL transfer asks for nothing; the runner calls recommend()")
        key, rng = split_rng(state.key)
        remaining = max(1, (self.context.budget or 1) - len(state.told))
        if self.config.ask_batch is not None:
            remaining = min(remaining, self.config.ask_batch)
        genomes = [self.space.sample(rng) for _ in range(remaining)]
        return replace(state, key=key, asked=state.asked + len(genomes)), genomes

    def tell(self, state: NALState, genomes: Sequence[Any],
             records: Sequence[SearchRecord]) -> NALState:
        seen = {g for g, _ in state.told}
        told = list(state.told)
        for genome, record in zip(genomes, records):
            if record.genome not in seen:
                told.append((record.genome, float(record.metrics["accuracy"])))
                seen.add(record.genome)
        return replace(state, told=tuple(told))

    # -- the model ----------------------------------------------------------------------
    def _train_key(self, state: NALState) -> Any:
        return jax.random.fold_in(as_key(state.key), 1)

    def model(self, state: NALState) -> NALModel:
        """The trained model for ``state`` (deterministic: seeded by the state's key)."""
        c = self.config
        key = self._train_key(state)
        if self.setting == "transfer":
            return train_nb101_experts(key, c)
        strings = [g for g, _ in state.told]
        acc = np.asarray([a for _, a in state.told], np.float64)
        idx = expert_indices(acc, c.top_fraction, c.min_experts)
        genomes = [self.space.parse(strings[i]) for i in idx]
        if self.space_name == "nb201":
            return train(nb201_cells([g.ops for g in genomes]), NB201_VOCAB, key, c,
                         fixed_adjacency=nb201_agnet_adjacency())
        graphs = []
        for g in genomes:
            pruned = prune(np.asarray(g.matrix, np.int32), g.ops)
            if pruned is None:
                raise InvalidGenomeError(f"queried NB101 cell {g!r} has no input-output path")
            graphs.append((pruned[1], pruned[0]))
        return train(make_cells(graphs, NB101_VOCAB, slots=NB101_MAX_VERTICES), NB101_VOCAB,
                     key, c)

    def recommend(self, state: NALState) -> list[Any]:
        """The generated cells (``num_generate``, most preferred first; deterministic)."""
        model = self.model(state)
        k = self.config.num_generate
        words = np.asarray(jax.random.fold_in(as_key(state.key), 2), np.uint32)
        seed = [int(w) for w in words]
        if self.space_name == "nb201" and self.generation == "pool":
            if model.fixed_adjacency is None:
                idx = generate_nb201_transfer(model, k, seed[0] * 2**32 + seed[1])
            else:
                from jaxnas.spaces import get_space

                ops_all = [[NB201_OPS[int(c)] for c in row]
                           for row in get_space("nb201").all_op_codes()]
                idx = generate_from_pool(model, nb201_cells(ops_all), k,
                                         seed[0] * 2**32 + seed[1]).tolist()
            return [self.space.from_index(int(i)) for i in idx]
        if self.space_name == "nb201":
            cells = generate(model, k, seed[0] * 2**32 + seed[1])
            from jaxnas.spaces.nb201 import NB201Genome

            # AG-Net vertex order of the 6 op vertices is the NB201 edge order
            return [self.space.validate(NB201Genome(tuple(ops[1:-1]))) for ops, _ in cells]
        if self.generation == "pool":
            oracle = getattr(self.space, "oracle", None)
            if oracle is None:
                raise ConfigError("generation=pool on nb101 needs the nb101-20k table space")
            pool = _nb101_pool()
            idx = generate_from_pool(model, pool, k, seed[0] * 2**32 + seed[1])
            return [oracle.genome(int(i)) for i in idx]
        base = getattr(self.space, "base", self.space)
        cells = generate(model, k, seed[0] * 2**32 + seed[1],
                         accept=lambda ops, adj: int(adj.sum()) <= NB101_MAX_EDGES)
        return [base.genome_from(adj, ops) for ops, adj in cells]

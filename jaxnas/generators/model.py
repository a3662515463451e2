"""AG-Net generator and surrogate predictor in Flax (docs/algorithms.md, AG-Net).

The generator decodes a latent ``z`` (``latent_dim`` = 32) into a node-attributed DAG of
``max_nodes`` nodes, one node at a time. Graphs are *dense and padded*: the node states of a
batch are an array (B, N, d_n) and the partial graph at step t is the first t nodes with the
adjacency (B, t, t) of the edges generated so far whose raw logit is > 0.5. Because every graph
of the batch owns its own (t, t) block, a batch of partial graphs never exchanges messages.
(The original torch-geometric code offsets the edge indices of the batched graphs by "max node
index used so far + 1", which misaligns graphs whose newest node has no incoming edge; and
its edge head tiles the graph embedding and ``z`` over the batch (``repeat(idx, 1)``), so an
edge row gets graph ``row mod B``'s values. Neither quirk is carried over: ``h_G`` and ``z``
are broadcast per graph. Both are listed in docs/algorithms.md.)

The N-1 generation steps run as one ``nn.scan`` (N is static), so one call of the module is
one traced program; ``jax.jit`` of :func:`decode` compiles the whole decode of a batch once.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxnas.errors import ConfigError

#: fixed raw logit used where the original fixes an edge or the start node's type
FIXED_LOGIT = 20.0


@dataclass(frozen=True)
class GeneratorConfig:
    """Sizes of the generator (defaults: ``configs/model_configs/ag_configspace.json``)."""

    num_node_types: int
    max_nodes: int
    node_dim: int = 32
    latent_dim: int = 32
    gnn_layers: int = 2
    input_index: int = 1  # node_types[1] == "input" in every GraphSpec
    output_index: int = 0  # node_types[0] == "output" (also the padding class)
    edge_threshold: float = 0.5  # on raw logits, not probabilities (as the original)
    darts_mode: bool = False  # NB301 cells: two input nodes with fixed first edges

    def __post_init__(self) -> None:
        if self.num_node_types < 2:
            raise ConfigError(f"num_node_types={self.num_node_types} must be >= 2")
        if self.max_nodes < 2:
            raise ConfigError(f"max_nodes={self.max_nodes} must be >= 2")
        if self.node_dim % 2:
            raise ConfigError(f"node_dim={self.node_dim} must be even (forward/backward halves)")

    @property
    def num_edges(self) -> int:
        return self.max_nodes * (self.max_nodes - 1) // 2

    @property
    def encoding_size(self) -> int:
        return self.max_nodes * self.num_node_types + self.num_edges


class _GatedSum(nn.Module):
    """Gated-sum readout R(h) = sum_v sigmoid(g(h_v)) * f(h_v) over the partial graph's nodes.

    ``single`` (a (B,) index or None): where the partial graph is one node, the original uses
    ``f(h_single)`` with no gate; that value is returned where ``use_single`` is true.
    """

    graph_dim: int

    def setup(self) -> None:
        self.f = nn.Dense(self.graph_dim)
        self.g = nn.Dense(1)

    def __call__(self, h: jax.Array, mask: jax.Array, single_index: jax.Array,
                 use_single: jax.Array) -> jax.Array:
        fh = self.f(h)
        gated = jnp.sum(jax.nn.sigmoid(self.g(h)) * fh * mask[None, :, None], axis=1)
        single = jnp.take(fh, single_index, axis=1)
        return jnp.where(use_single, single, gated)


class _GRU(nn.Module):
    """GRU cell with PyTorch's parameterisation (input and hidden biases for all 3 gates).

    Two fused Dense layers (3H each) keep the op count low: XLA on CPU is dispatch-bound for
    these tiny matrices.
    """

    features: int

    @nn.compact
    def __call__(self, h: jax.Array, x: jax.Array) -> jax.Array:
        gi = nn.Dense(3 * self.features, name="input")(x)
        gh = nn.Dense(3 * self.features, name="hidden")(h)
        i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
        r = jax.nn.sigmoid(i_r + h_r)
        u = jax.nn.sigmoid(i_z + h_z)
        n = jnp.tanh(i_n + r * h_n)
        return (1.0 - u) * n + u * h


class _DirectedGRULayer(nn.Module):
    """One message-passing layer on one direction: m_v = sum_u A[u,v] W[h_u; h_v], GRU update.

    ``W [h_src; h_dst] + b`` is evaluated as ``W[:H] h_src + (W[H:] h_dst + b)`` so no
    (B, N, N, d) tensor is built; nodes with no incoming edge get a GRU update with a zero
    message, as in torch-geometric. Only nodes inside ``mask`` (the partial graph) change.
    """

    half_dim: int

    @nn.compact
    def __call__(self, h: jax.Array, adj: jax.Array, mask: jax.Array) -> jax.Array:
        d = 2 * self.half_dim
        kernel = self.param("message_kernel", nn.initializers.lecun_normal(), (d, d))
        bias = self.param("message_bias", nn.initializers.zeros_init(), (d,))
        src_part = h @ kernel[: self.half_dim]
        dst_part = h @ kernel[self.half_dim:] + bias
        in_degree = jnp.sum(adj, axis=1)[..., None]
        message = jnp.einsum("buv,bud->bvd", adj, src_part) + in_degree * dst_part
        new_h = _GRU(self.half_dim, name="gru")(h, message)
        return jnp.where(mask[None, :, None], new_h, h)


def _step(mdl: "Generator", carry, t, z):
    """One generation step (adds node t); scanned over t = 1..N-1 with shared parameters."""
    c = mdl.config
    h, adj, edge_mat = carry  # (B,N,d_n), (B,N,N) thresholded, (B,N,N) raw edge logits
    batch, n, _ = h.shape
    nodes = jnp.arange(n)
    mask = nodes < t  # the partial graph: nodes 0..t-1
    # the original skips propagation (and the readout gate) while the graph has one node;
    # NB301 mode also at t == 2, where only the second input node feeds the embedding
    single = (t == 1) | ((t == 2) & c.darts_mode)
    single_index = jnp.where(t == 1, 0, 1)
    h_prop = mdl._propagate(h, adj, mask)
    h = jnp.where(single, h, h_prop)
    h_g = mdl.readout(h, mask, single_index, single)
    h_g_init = mdl.readout_init(h, mask, single_index, single)
    logits_new = mdl.node_2(nn.relu(mdl.node_1(jnp.concatenate([h_g, z], -1))))
    h_new = mdl.init_2(nn.relu(mdl.init_1(
        jnp.concatenate([mdl._embed(logits_new), h_g_init, z], -1))))
    pair = jnp.concatenate([
        h,
        jnp.broadcast_to(h_new[:, None], h.shape),
        jnp.broadcast_to(h_g[:, None], (batch, n, h_g.shape[-1])),
        jnp.broadcast_to(z[:, None], (batch, n, z.shape[-1])),
    ], axis=-1)
    scores = mdl.edge_2(nn.relu(mdl.edge_1(pair)))[..., 0]  # (B, N): source u -> t
    if c.darts_mode:
        fixed = jnp.where(nodes == 0, 1.0, -1.0)  # t == 2: +1 from node 0, -1 from node 1
        scores = jnp.where(t == 1, -1.0, jnp.where(t == 2, fixed[None, :], scores))
    else:
        scores = jnp.where(t == 1, FIXED_LOGIT, scores)
    scores = jnp.where(mask[None, :], scores, 0.0)
    is_t = nodes == t
    h = jnp.where(is_t[None, :, None], h_new[:, None, :], h)
    edge_mat = jnp.where(is_t[None, None, :], scores[:, :, None], edge_mat)
    # partial-graph edges for the next steps: raw logit > threshold (not differentiable,
    # as in the original)
    new_edges = ((scores > c.edge_threshold) & mask[None, :]).astype(h.dtype)
    adj = jnp.where(is_t[None, None, :], new_edges[:, :, None], adj)
    return (h, adj, edge_mat), logits_new


class Generator(nn.Module):
    """The AG-Net decoder: ``z`` (B, latent_dim) -> node logits (B, N, A), edge logits (B, E).

    Edge logits are ordered for target j = 1..N-1, source i = 0..j-1 (the space encoding).
    The N-1 steps run as one ``nn.scan`` (shared weights), so the traced program stays small
    and compiles in seconds.
    """

    config: GeneratorConfig

    def setup(self) -> None:
        c = self.config
        d_n, d_g, a = c.node_dim, c.latent_dim, c.num_node_types
        self.embed_1 = nn.Dense(d_n)  # type embedding E, applied to raw logits
        self.embed_2 = nn.Dense(d_n)
        self.start_1 = nn.Dense(d_n + d_g)
        self.start_2 = nn.Dense(d_n)
        self.forward_layers = [_DirectedGRULayer(d_n // 2) for _ in range(c.gnn_layers)]
        self.backward_layers = [_DirectedGRULayer(d_n // 2) for _ in range(c.gnn_layers)]
        self.readout = _GatedSum(d_g)
        self.readout_init = _GatedSum(d_g)
        self.node_1 = nn.Dense(d_g)
        self.node_2 = nn.Dense(a)
        self.init_1 = nn.Dense(d_n + d_g)
        self.init_2 = nn.Dense(d_n)
        self.edge_1 = nn.Dense(d_n + d_g)
        self.edge_2 = nn.Dense(1)

    def _embed(self, logits: jax.Array) -> jax.Array:
        return self.embed_2(nn.relu(self.embed_1(logits)))

    def _propagate(self, h: jax.Array, adj: jax.Array, mask: jax.Array) -> jax.Array:
        half = self.config.node_dim // 2
        h_fwd, h_bwd = h[..., :half], h[..., half:]
        for layer in self.forward_layers:
            h_fwd = layer(h_fwd, adj, mask)
        adj_t = jnp.swapaxes(adj, 1, 2)  # reversed edges for the backward half
        for layer in self.backward_layers:
            h_bwd = layer(h_bwd, adj_t, mask)
        return jnp.concatenate([h_fwd, h_bwd], axis=-1)

    def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        c = self.config
        batch = z.shape[0]
        n, a = c.max_nodes, c.num_node_types
        input_onehot = jnp.broadcast_to(jax.nn.one_hot(c.input_index, a), (batch, a))
        h0 = self.start_2(nn.relu(self.start_1(
            jnp.concatenate([self._embed(input_onehot), z], axis=-1))))
        h = jnp.zeros((batch, n, c.node_dim), z.dtype).at[:, 0].set(h0)
        adj = jnp.zeros((batch, n, n), z.dtype)
        edge_mat = jnp.zeros((batch, n, n), z.dtype)
        scan = nn.scan(_step, variable_broadcast="params", split_rngs={"params": False},
                       in_axes=(0, nn.broadcast), length=n - 1)
        (_, _, edge_mat), logits = scan(self, (h, adj, edge_mat), jnp.arange(1, n), z)
        node_logits = jnp.concatenate(
            [FIXED_LOGIT * input_onehot[:, None], jnp.swapaxes(logits, 0, 1)], axis=1)
        src = [i for j in range(1, n) for i in range(j)]
        dst = [j for j in range(1, n) for _ in range(j)]
        return node_logits, edge_mat[:, jnp.array(src), jnp.array(dst)]


class Predictor(nn.Module):
    """MLP surrogate on the generator's raw logits (docs/algorithms.md, AG-Net).

    ``num_layers`` = 4 gives 5 Dense layers (in->H, 3x H->H, H->out) with H = input size;
    an optional condition (device one-hot) is re-concatenated after every hidden layer.
    """

    hidden: int
    num_outputs: int = 1
    num_layers: int = 4

    @nn.compact
    def __call__(self, x: jax.Array, condition: jax.Array | None = None) -> jax.Array:
        if condition is not None:
            x = jnp.concatenate([x, condition], axis=-1)
        for i in range(self.num_layers):
            x = nn.relu(nn.Dense(self.hidden, name=f"hidden_{i}")(x))
            if condition is not None:
                x = jnp.concatenate([x, condition], axis=-1)
        return nn.Dense(self.num_outputs, name="out")(x)


def flat_logits(node_logits: jax.Array, edge_logits: jax.Array) -> jax.Array:
    """``[node logits flattened ; edge logits]``: the predictor's input (len(y) values)."""
    return jnp.concatenate([node_logits.reshape(node_logits.shape[0], -1), edge_logits], -1)


def reconstruction_loss(node_logits: jax.Array, edge_logits: jax.Array,
                        target_types: jax.Array, target_edges: jax.Array) -> jax.Array:
    """Per-graph mean cross-entropy over the N node slots + mean BCE over the edges, (B,)."""
    ce = -jnp.sum(jax.nn.log_softmax(node_logits, -1)
                  * jax.nn.one_hot(target_types, node_logits.shape[-1]), -1)
    bce = (jnp.maximum(edge_logits, 0) - edge_logits * target_edges
           + jnp.log1p(jnp.exp(-jnp.abs(edge_logits))))
    return jnp.mean(ce, -1) + jnp.mean(bce, -1)

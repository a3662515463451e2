"""GAT on jraph.GraphsTuple: permutation equivariance, padding isolation, masks, losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from jaxnas.errors import ConfigError
from jaxnas.graph import GATEncoder, GATLayer, graph_masks, masked_bce, pad_graphs, roc_auc


def _graph(rng: np.random.Generator, n: int, e: int, f: int = 5, ef: int = 3) -> jraph.GraphsTuple:
    return jraph.GraphsTuple(
        nodes=rng.normal(size=(n, f)).astype(np.float32),
        edges=rng.normal(size=(e, ef)).astype(np.float32),
        senders=rng.integers(0, n, e).astype(np.int32),
        receivers=rng.integers(0, n, e).astype(np.int32),
        n_node=np.array([n], np.int32), n_edge=np.array([e], np.int32), globals=None)


@pytest.fixture(scope="module")
def encoder():
    module = GATEncoder(num_layers=2, num_heads=2, head_dim=4)
    g = _graph(np.random.default_rng(0), 6, 12)
    params = module.init(jax.random.PRNGKey(0), g)
    return module, jax.jit(module.apply)


def test_gat_is_permutation_equivariant(encoder):
    module, apply = encoder
    rng = np.random.default_rng(1)
    g = _graph(rng, 7, 15)
    params = module.init(jax.random.PRNGKey(3), g)
    perm = rng.permutation(7)  # new node i is old node perm[i]
    inv = np.argsort(perm)
    edge_perm = rng.permutation(15)
    g2 = g._replace(nodes=g.nodes[perm], edges=g.edges[edge_perm],
                    senders=inv[g.senders[edge_perm]].astype(np.int32),
                    receivers=inv[g.receivers[edge_perm]].astype(np.int32))
    out, out2 = np.asarray(apply(params, g)), np.asarray(apply(params, g2))
    np.testing.assert_allclose(out2, out[perm], rtol=1e-4, atol=1e-5)
    # and it is not trivially constant: different nodes get different embeddings
    assert np.std(out, axis=0).max() > 1e-3


def test_attention_is_a_softmax_over_incoming_edges():
    rng = np.random.default_rng(2)
    g = _graph(rng, 5, 11)
    layer = GATLayer(num_heads=3, head_dim=4)
    params = layer.init(jax.random.PRNGKey(0), g.nodes, g.senders, g.receivers, g.edges)
    _, alpha = layer.apply(params, g.nodes, g.senders, g.receivers, g.edges)
    sums = jax.ops.segment_sum(alpha, g.receivers, num_segments=5)
    has_in = np.bincount(g.receivers, minlength=5) > 0
    np.testing.assert_allclose(np.asarray(sums)[has_in], 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(sums)[~has_in], 0.0, atol=1e-7)


def test_padding_never_reaches_real_nodes(encoder):
    module, apply = encoder
    rng = np.random.default_rng(4)
    a, b = _graph(rng, 4, 6), _graph(rng, 3, 5)
    params = module.init(jax.random.PRNGKey(5), a)
    padded, real = pad_graphs([a, b], n_node=16, n_edge=20, n_graph=4)
    masks = graph_masks(padded, real)
    assert int(masks.node.sum()) == 7 and int(masks.edge.sum()) == 11
    assert masks.graph.tolist() == [True, True, False, False]
    out = np.asarray(module.apply(params, padded, masks.edge))
    # the batched real nodes equal each graph encoded alone
    np.testing.assert_allclose(out[:4], np.asarray(apply(params, a)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[4:7], np.asarray(apply(params, b)), rtol=1e-4, atol=1e-5)
    # garbage in the padding nodes and padding edges (even pointing at real nodes) changes
    # nothing for real nodes once the edge mask is applied
    junk = padded._replace(
        nodes=np.where(np.asarray(masks.node)[:, None], padded.nodes, 1e3).astype(np.float32),
        senders=np.where(np.asarray(masks.edge), padded.senders, 0).astype(np.int32),
        receivers=np.where(np.asarray(masks.edge), padded.receivers, 1).astype(np.int32))
    out_junk = np.asarray(module.apply(params, junk, masks.edge))
    np.testing.assert_allclose(out_junk[:7], out[:7], rtol=1e-4, atol=1e-5)


def test_pad_graphs_rejects_too_small_padding():
    g = _graph(np.random.default_rng(0), 4, 6)
    with pytest.raises(ConfigError, match="padding sizes"):
        pad_graphs([g], n_node=4)
    with pytest.raises(ConfigError):
        pad_graphs([])


def test_masked_bce_ignores_masked_entries():
    logits = jnp.array([2.0, -1.0, 30.0, -30.0])
    labels = jnp.array([1, 0, 0, 1])
    mask = jnp.array([True, True, False, False])
    expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))])
    assert float(masked_bce(logits, labels, mask)) == pytest.approx(expected, rel=1e-5)


def test_roc_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 40).astype(float)  # many ties
    labels = rng.random(40) < 0.4
    pos, neg = scores[labels], scores[~labels]
    pairwise = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert roc_auc(scores, labels) == pytest.approx(pairwise)
    assert np.isnan(roc_auc(scores, np.zeros(40, bool)))

"""GAT on jraph.GraphsTuple: permutation equivariance, padding isolation, masks, losses; the
NAL model's pieces (pruning, candidate-pair graph, score components, decoding)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from jaxnas import graph
from jaxnas.errors import ConfigError
from jaxnas.graph import GATEncoder, GATLayer, graph_masks, masked_bce, pad_graphs, roc_auc
from jaxnas.spaces import get_space
from jaxnas.spaces.nb101 import NB101Space
from jaxnas.spaces.nb201 import NB201_ADJACENCY, NB201Genome


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


# ----------------------------------------------------------------------------- NAL model pieces


def test_cell_pruning_is_the_spaces_rule():
    space = NB101Space(max_edges=21)  # any DAG on 7 vertices
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 8))
        matrix = np.triu(rng.integers(0, 2, (n, n)), 1)
        ops = ["input"] + ["conv3x3-bn-relu"] * (n - 2) + ["output"]
        pruned = graph.prune_cell(matrix, ops)
        genome = space.genome_from(matrix, ops) if pruned is not None else None
        if pruned is None:
            assert not graph.is_pruned(matrix, n)
            continue
        expected = space.prune(genome)
        assert pruned[0].dtype == np.int32 and pruned[1] == expected.ops
        assert pruned[0].tolist() == [list(r) for r in expected.matrix]
        assert graph.is_pruned(matrix, n) == (len(expected.ops) == n)


def test_nb201_cells_use_the_spaces_adjacency_and_vocabulary():
    cells = graph.nb201_cells([("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                                "avg_pool_3x3", "none")])
    assert cells.adj.dtype == np.int32 and np.array_equal(cells.adj[0], NB201_ADJACENCY)
    assert [graph.NB201_VOCAB.op(t) for t in cells.tokens[0]][1:3] == ["none", "skip_connect"]
    assert graph.NB201_VOCAB.mask_token == graph.NB201_VOCAB.num_tokens - 1


def test_pair_graph_has_every_ordered_pair_receiver_sorted():
    tokens = jnp.array([[0, 2, 1, 1], [0, 3, 4, 1]], jnp.int32)
    obs = jnp.zeros((2, 4, 4), jnp.int32).at[1, 0, 2].set(1)
    n = jnp.array([3, 4], jnp.int32)
    g, mask = graph.pair_graph(tokens, obs, n, graph.NB101_VOCAB.num_tokens)
    assert g.senders.shape == (32,) and np.all(np.diff(np.asarray(g.receivers)) >= 0)
    assert int(mask.sum()) == 3 * 3 + 4 * 4  # pairs among real slots only
    observed = np.asarray(g.edges[:, 3]).reshape(2, 4, 4)  # [cell, receiver, sender]
    assert observed[1, 2, 0] == 1 and observed[1, 0, 2] == 1 and observed.sum() == 2


@pytest.fixture(scope="module")
def tiny_model():
    """A tiny NB101 model trained on NB201 cells seen as NB101 graphs (no data files)."""
    space = get_space("nb201")

    def cells_of(seed: int) -> graph.Cells:
        rng = np.random.default_rng(seed)
        graphs = [g for g in (graph.nb201_as_nb101_graph(space.sample(rng).ops)
                              for _ in range(40)) if g is not None]
        return graph.make_cells(graphs, graph.NB101_VOCAB, slots=8)

    cells = cells_of(0)
    config = graph.NALConfig(steps=20, batch_size=8, num_layers=1, num_heads=1, head_dim=4)
    # the default score is "contrast": the model carries a background model (other cells)
    return graph.train_contrast(cells, cells_of(1), graph.NB101_VOCAB, 0, config), cells


def test_score_is_the_sum_of_its_components(tiny_model):
    model, cells = tiny_model
    assert model.losses.shape == (20,) and np.all(np.isfinite(model.losses))
    op = graph.op_log_likelihood(model, cells, chunk=16)
    link = graph.link_log_likelihood(model, cells, chunk=16)
    # the transfer score: op + link terms only; target-prior adds the target space's size term
    np.testing.assert_array_equal(graph.score_cells(model, cells, chunk=16, score="transfer"),
                                  op + link)
    prior = graph.size_log_prior(cells.n, cells.slots)
    np.testing.assert_allclose(
        graph.score_cells(model, cells, chunk=16, score="target-prior", target_log_prior=prior),
        op + link + prior[cells.n], rtol=1e-12)
    with pytest.raises(ConfigError, match="target_log_prior"):
        graph.score_cells(model, cells, score="target-prior")
    # the legacy score is the former formula: vertex-count prior + op + link
    legacy = graph.score_cells(model, cells, chunk=16, score="legacy")
    np.testing.assert_allclose(legacy, graph.vertex_count_log_prior(model, cells.n) + op + link,
                               rtol=1e-12)
    assert np.array_equal(graph.score_cells(model, cells, score="legacy"), legacy)  # chunking
    with pytest.raises(ConfigError, match="score"):
        graph.score_cells(model, cells, score="bogus")
    with pytest.raises(ConfigError, match="score"):
        graph.NALConfig(score="bogus")
    with pytest.raises(ConfigError, match="decode"):
        graph.NALConfig(decode="greedy")


def test_transfer_score_has_no_vertex_count_term(tiny_model):
    """Two NB201 cells whose collapsed graphs differ only in size: the experts' size histogram
    moves the legacy score, never the transfer or target-prior score."""
    import dataclasses

    model, _ = tiny_model
    small = graph.nb201_as_nb101_graph(["none", "none", "none", "nor_conv_3x3",
                                        "none", "none"])  # 1 op vertex (input, conv, output)
    large = graph.nb201_as_nb101_graph(["nor_conv_3x3"] * 6)  # 6 op vertices
    assert len(small[0]) == 3 and len(large[0]) == 8
    cells = graph.make_cells([small, large], graph.NB101_VOCAB, slots=8)
    peaked = np.zeros_like(model.n_counts)
    peaked[8] = 1000  # every expert has the large cell's size (NB101: 99 % have 6-7)
    skewed = dataclasses.replace(model, n_counts=peaked)
    prior = graph.nb201_size_log_prior()  # NB201's own sizes: does not move with the experts
    for score in ("transfer", "target-prior"):
        np.testing.assert_array_equal(
            graph.score_cells(skewed, cells, score=score, target_log_prior=prior),
            graph.score_cells(model, cells, score=score, target_log_prior=prior))
    shift = (graph.score_cells(skewed, cells, score="legacy")
             - graph.score_cells(skewed, cells, score="transfer"))
    assert shift[0] < shift[1] - 4.0  # the legacy score's penalty for the small cell


def test_nb201_decode_modes(tiny_model):
    model, _ = tiny_model
    space = get_space("nb201")
    argmax = graph.decode_nb201_transfer(model, 1, seed=0, mode="argmax")
    assert graph.decode_nb201_transfer(model, 1, seed=7, mode="argmax") == argmax  # no noise
    samples = {graph.decode_nb201_transfer(model, 1, seed=s, mode="sample",
                                           temperature=1.0)[0][0] for s in range(6)}
    assert len(samples) > 1  # the draw depends on the seed
    assert graph.decode_nb201_transfer(model, 1, seed=3, mode="sample", temperature=1.0) == \
        graph.decode_nb201_transfer(model, 1, seed=3, mode="sample", temperature=1.0)
    beam = graph.decode_nb201_transfer(model, 5, seed=0, mode="beam", beam_width=8)
    ops = [o for o, _ in beam]
    scores = [sc for _, sc in beam]
    assert len(set(ops)) == 5 and scores == sorted(scores, reverse=True)
    for o in ops:
        space.validate(NB201Genome(o))  # raises when invalid
        assert graph.nb201_as_nb101_graph(o) is not None  # a reachable output
    # each returned score is the complete cell's score
    cells = graph.make_cells([graph.nb201_as_nb101_graph(o) for o in ops], graph.NB101_VOCAB,
                             slots=8)
    np.testing.assert_allclose(scores, graph.score_cells(
        model, cells, target_log_prior=graph.nb201_size_log_prior()), atol=1e-5)
    # a beam wide enough to keep every partial cell finds the best cell of the whole table
    full = graph.decode_nb201_transfer(model, 1, seed=0, mode="beam", beam_width=125)
    table = graph.nb201_transfer_scores(model)
    assert abs(full[0][1] - table.max()) < 1e-4


def test_beam_decoding_returns_distinct_valid_cells_by_score(tiny_model):
    model, _ = tiny_model
    cells = graph.generate(model, 4, seed=0, mode="beam", slots=8)
    assert cells == [] or len({(o, a.tobytes()) for o, a in cells}) == len(cells)
    assert len(cells) >= 2
    for ops, adj in cells:
        assert ops[0] == "input" and ops[-1] == "output" and graph.is_pruned(adj, len(ops))
    dense = graph.make_cells(cells, graph.NB101_VOCAB, slots=8)
    scores = graph.score_cells(model, dense)  # the model's own score (contrast)
    assert np.all(np.diff(scores) <= 1e-6)  # best first
    again = graph.generate(model, 4, seed=99, mode="beam", slots=8)  # deterministic
    assert [(o, a.tolist()) for o, a in again] == [(o, a.tolist()) for o, a in cells]


def test_darts_edge_op_expresses_skip_dilated_and_5x5():
    conv3, conv1, pool = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
    from jaxnas.spaces.darts import GENOTYPE_OPS

    emitted = set(graph.NB101_TO_DARTS.values()) | set(graph.NB101_PATH_TO_DARTS.values())
    assert emitted <= set(GENOTYPE_OPS)
    assert {"skip_connect", "dil_conv_3x3", "dil_conv_5x5", "sep_conv_5x5"} <= emitted

    def prob(direct: float, via: float) -> np.ndarray:
        p = np.full((4, 4), 0.01)
        p[0, 2], p[0, 1], p[1, 2] = direct, via, via
        return p

    def edge(op_via: str, op_k: str, direct: float, via: float) -> str:
        return graph.darts_edge_op(["input", op_via, op_k, "output"], prob(direct, via), 0, 2)

    assert edge(conv3, conv1, 0.9, 0.5) == "skip_connect"  # direct link, 1x1
    assert edge(conv3, conv3, 0.9, 0.5) == "sep_conv_3x3"  # direct link, 3x3
    assert edge(conv3, conv3, 0.1, 0.9) == "sep_conv_5x5"  # routed through a 3x3 vertex
    assert edge(conv1, conv3, 0.1, 0.9) == "dil_conv_3x3"
    assert edge(pool, conv3, 0.1, 0.9) == "dil_conv_5x5"


def test_decoding_is_deterministic_and_valid(tiny_model):
    model, _ = tiny_model
    cells = graph.generate(model, 3, seed=5, slots=8)
    again = graph.generate(model, 3, seed=5, slots=8)
    assert [(o, a.tolist()) for o, a in cells] == [(o, a.tolist()) for o, a in again]
    for ops, adj in cells:
        assert ops[0] == "input" and ops[-1] == "output"
        assert graph.is_pruned(adj, len(ops))

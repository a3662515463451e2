"""NAL: link prediction learned from real NB101 expert cells, generation without search,
transfer to NB201 / DARTS, and the strategy through the runner (with resume)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxnas import graph
from jaxnas.benchmarks import get_oracle
from jaxnas.errors import ConfigError
from jaxnas.graph import roc_auc
from jaxnas.search.runner import RunConfig, build, run_seed
from jaxnas.spaces import get_space
from jaxnas.spaces.nb201 import NB201Genome

# small and fast (tests); the defaults are in graph.NALConfig / docs
TINY = dict(steps=150, batch_size=32, num_layers=2, num_heads=2, head_dim=8)
TINY_OPTIONS = tuple(sorted((k, str(v)) for k, v in TINY.items()))


@pytest.fixture(scope="module")
def experts(shared_data):
    """The top 5 % of the real nb101-20k cells by 108-epoch validation accuracy (raw specs)."""
    specs = json.loads((shared_data / "nb101" / "nb101_20k_specs.json").read_text())
    acc = np.array([s["108_final_validation_accuracy"] for s in specs])
    idx = graph.expert_indices(acc, 0.05)
    assert len(idx) == int(np.ceil(0.05 * len(specs))) and acc[idx[0]] == acc.max()
    cells = graph.make_cells([(specs[i]["ops"], np.array(specs[i]["matrix"])) for i in idx],
                           graph.NB101_VOCAB, slots=7)
    return cells


@pytest.fixture(scope="module")
def background(shared_data):
    """300 uniformly drawn real nb101-20k cells (no accuracy read): the contrast's background."""
    specs = json.loads((shared_data / "nb101" / "nb101_20k_specs.json").read_text())
    rows = np.random.default_rng(0).choice(len(specs), 300, replace=False)
    return graph.make_cells([(specs[i]["ops"], np.array(specs[i]["matrix"])) for i in rows],
                            graph.NB101_VOCAB, slots=7)


@pytest.fixture(scope="module")
def model(experts, background):
    """The default model: the expert model with its background model (score="contrast")."""
    train = experts.subset(np.arange(0, len(experts) - 100))
    return graph.train_contrast(train, background, graph.NB101_VOCAB, jax.random.PRNGKey(0),
                                graph.NALConfig(**TINY))


def test_link_predictor_learns_on_real_expert_cells(experts, model):
    losses = model.losses
    assert np.all(np.isfinite(losses))
    assert losses[-20:].mean() < 0.8 * losses[:5].mean()  # the loss drops
    # held-out experts: true links score above non-links given the ops and no links
    held = experts.subset(np.arange(len(experts) - 100, len(experts)))
    probs, _ = graph.predict(model, held.tokens, np.zeros_like(held.adj), held.n)
    pairs = np.asarray(graph.pair_mask(held.n, held.slots))
    assert roc_auc(probs[pairs], held.adj[pairs] > 0) > 0.7


def test_generated_nb101_cells_are_valid_and_deterministic(model):
    space = get_space("nb101")
    cells = graph.generate(model, 5, seed=3, mode="sample")
    again = graph.generate(model, 5, seed=3, mode="sample")
    assert len(cells) == 5
    assert [(o, a.tolist()) for o, a in cells] == [(o, a.tolist()) for o, a in again]
    keys = set()
    for ops, adj in cells:
        genome = space.genome_from(adj, ops)  # raises InvalidGenomeError when invalid
        assert space.is_valid(genome) and len(ops) <= 7 and adj.sum() <= 9
        assert np.array_equal(adj, np.triu(adj, 1))
        keys.add(space.key(genome))
    assert len(keys) == 5  # k distinct cells
    other = graph.generate(model, 5, seed=4, mode="sample")
    assert [(o, a.tolist()) for o, a in other] != [(o, a.tolist()) for o, a in cells]


def test_nb201_as_nb101_graph_semantics():
    assert graph.nb201_as_nb101_graph(["none"] * 6) is None  # output unreachable
    ops, adj = graph.nb201_as_nb101_graph(["skip_connect"] * 6)
    assert ops == ("input", "output") and adj.tolist() == [[0, 1], [0, 0]]
    # only edge (0,3) is a conv: input -> conv3x3 -> output
    ops, adj = graph.nb201_as_nb101_graph(["none", "none", "none", "nor_conv_3x3", "none", "none"])
    assert ops == ("input", "conv3x3-bn-relu", "output")
    assert adj.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    # conv on (0,1), pool on (1,3): a chain; the dead edge (0,2)->(2,3) path is none
    ops, adj = graph.nb201_as_nb101_graph(
        ["nor_conv_1x1", "none", "none", "none", "avg_pool_3x3", "none"])
    assert ops == ("input", "conv1x1-bn-relu", "maxpool3x3", "output")
    assert int(adj.sum()) == 3


def test_nb201_transfer_generation_valid_and_deterministic(model):
    space = get_space("nb201")
    scores = graph.nb201_transfer_scores(model)
    assert scores.shape == (15625,)
    # exactly the cells with an unreachable output are unscorable
    dead = [space.from_index(i).ops for i in np.flatnonzero(~np.isfinite(scores))[:50]]
    assert dead and all(graph.nb201_as_nb101_graph(ops) is None for ops in dead)
    a = graph.generate_nb201_transfer(model, 3, seed=0, scores=scores)
    assert a == graph.generate_nb201_transfer(model, 3, seed=0, scores=scores)
    assert len(set(a)) == 3
    for i in a:
        assert np.isfinite(scores[i])  # a valid cell with a reachable output
    assert graph.generate_nb201_transfer(model, 3, seed=1, scores=scores) != a
    # argmax picks the model's best-scored cells (ties: lower index), whatever the seed
    greedy = graph.generate_nb201_transfer(model, 3, seed=0, scores=scores, mode="argmax")
    assert greedy == np.argsort(-scores, kind="stable")[:3].tolist()
    assert greedy == graph.generate_nb201_transfer(model, 3, seed=9, scores=scores, mode="argmax")


def test_nb201_transfer_decodes_from_the_real_model(model):
    """Decoding (the method) is deterministic in argmax / beam mode, its cells are valid and
    scored like the table tool scores them; the new default score is not the legacy one."""
    space = get_space("nb201")
    beam = graph.decode_nb201_transfer(model, 3, seed=0, mode="beam", beam_width=8)
    assert beam == graph.decode_nb201_transfer(model, 3, seed=5, mode="beam", beam_width=8)
    table = graph.nb201_transfer_scores(model)
    for ops, score in beam:
        index = space.index_of(space.validate(NB201Genome(ops)))
        assert abs(table[index] - score) < 1e-4
    legacy = graph.nb201_transfer_scores(model, score="legacy")
    assert not np.allclose(legacy[np.isfinite(legacy)], table[np.isfinite(table)])


def test_darts_genotype_from_nb101_knowledge(model):
    space = get_space("darts")
    genome = graph.generate_darts(model, seed=0)
    assert space.validate(genome) == genome
    for cell in (genome.normal, genome.reduce):
        for node in range(4):
            (op_a, src_a), (op_b, src_b) = cell[2 * node: 2 * node + 2]
            assert src_a != src_b and max(src_a, src_b) < node + 2  # 2 distinct earlier inputs
            emitted = set(graph.NB101_TO_DARTS.values()) | set(graph.NB101_PATH_TO_DARTS.values())
            assert op_a in emitted and op_b in emitted
    assert graph.generate_darts(model, seed=0) == genome


def test_strategy_in_space_through_runner_with_resume(tmp_path):
    config = RunConfig(space="nb201", dataset="cifar10", strategy="nal", queries=8,
                       options=TINY_OPTIONS + (("ask_batch", "4"),))
    full = run_seed(config, 0)
    assert full["queries"] == 8 and full["finished"]
    assert [e["queries"] for e in full["curve"]] == list(range(1, 9)) + [8]
    rec = full["recommended"][0]
    oracle = get_oracle("nb201", "cifar10")
    assert full["curve"][-1]["arch"] == rec["arch"]
    assert full["curve"][-1]["report_metric"] == oracle.value(rec["arch"], "test_acc_200")
    # interrupted after the first tell, then resumed: the same result
    part = run_seed(config, 0, tmp_path, stop_after_steps=1)
    assert not part["finished"] and part["queries"] == 4
    resumed = run_seed(config, 0, tmp_path)
    assert resumed == full


def test_strategy_transfer_spends_zero_queries():
    # top 5 %: the same padded expert count as the module's model, so no recompilation
    config = RunConfig(space="nb201", dataset="cifar100", strategy="nal", queries=0,
                       options=tuple(sorted(TINY_OPTIONS + (("top_fraction", "0.05"),))))
    strategy, _, _ = build(config)
    state = strategy.init(1)
    assert strategy.generates and strategy.done(state)
    asked, genomes = strategy.ask(state)  # transfer asks for nothing (never raises)
    assert genomes == [] and asked.pending == ()
    result = run_seed(config, 1)
    assert result["queries"] == 0 and result["best"] is None
    assert [r["arch"] for r in result["recommended"]] == [result["curve"][0]["arch"]]
    (entry,) = result["curve"]
    assert entry["queries"] == 0
    oracle = get_oracle("nb201", "cifar100")
    assert entry["report_metric"] == oracle.value(entry["arch"], "test_acc_200")
    with pytest.raises(ConfigError, match="generate without search"):
        RunConfig(space="nb201", strategy="random", queries=0)
    with pytest.raises(ConfigError, match="transfer"):
        run_seed(RunConfig(space="nb201", strategy="nal", queries=5,
                           options=(("setting", "transfer"),)), 0)


def test_transfer_is_refused_on_its_own_source_table():
    with pytest.raises(ConfigError, match="scored on"):
        run_seed(RunConfig(space="nb101", strategy="nal", queries=0), 0)


def test_contrast_score_is_the_likelihood_ratio_against_a_background_model(experts, model):
    config = graph.NALConfig(**TINY)
    assert config.score == "contrast" and model.background is not None
    # the expert model is the one `train` gives (same key; the background has its own)
    plain = graph.train(experts.subset(np.arange(0, len(experts) - 100)), graph.NB101_VOCAB,
                        jax.random.PRNGKey(0), config)
    np.testing.assert_array_equal(plain.losses, model.losses)
    assert plain.background is None
    assert not np.array_equal(model.background.losses, model.losses)
    cells = experts.subset(np.arange(20))
    ratio = graph.score_cells(model, cells)
    np.testing.assert_allclose(
        ratio, graph.score_cells(model, cells, score="transfer")
        - graph.score_cells(model.background, cells, score="transfer"), rtol=1e-6)
    with pytest.raises(ConfigError, match="background"):
        graph.score_cells(plain, cells, score="contrast")
    with pytest.raises(ConfigError, match="background cells"):
        graph.train_contrast(cells, None, graph.NB101_VOCAB, 0, config)
    # the strategy's transfer path builds the background itself and decodes an NB201 cell
    run = RunConfig(space="nb201", dataset="cifar10", strategy="nal", queries=0,
                    options=tuple(sorted(TINY_OPTIONS + (("score", "contrast"),
                                                         ("background_size", "64")))))
    (entry,) = run_seed(run, 0)["curve"]
    assert get_space("nb201").parse(entry["arch"]) is not None

"""AG-Net generator, sampling, rank weights, Pareto/hypervolume and a small real search."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.generators.model import Generator, GeneratorConfig
from jaxnas.generators.sampling import genomes_from_dense, sample_dense
from jaxnas.search.agnet import hw_rank, rank_weights
from jaxnas.search.pareto import hypervolume, pareto_front


def _gen(n: int = 8, a: int = 7):
    cfg = GeneratorConfig(num_node_types=a, max_nodes=n)
    gen = Generator(cfg)
    params = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, cfg.latent_dim)))
    return cfg, gen, params


def test_decode_shapes_and_fixed_logits():
    cfg, gen, params = _gen()
    z = jax.random.normal(jax.random.PRNGKey(1), (5, cfg.latent_dim))
    nodes, edges = jax.jit(gen.apply)(params, z)
    assert nodes.shape == (5, 8, 7) and edges.shape == (5, 28)
    # node 0 is the input type with a fixed logit; edge input -> node 1 is fixed to 20
    assert np.all(np.argmax(nodes[:, 0], -1) == cfg.input_index)
    np.testing.assert_allclose(edges[:, 0], 20.0)
    assert np.all(np.isfinite(nodes)) and np.all(np.isfinite(edges))


def test_batch_members_never_exchange_messages():
    cfg, gen, params = _gen()
    z = jax.random.normal(jax.random.PRNGKey(2), (6, cfg.latent_dim)) * 3.0
    nodes, edges = gen.apply(params, z)
    z2 = z.at[3].set(jax.random.normal(jax.random.PRNGKey(3), (cfg.latent_dim,)) * 3.0)
    nodes2, edges2 = gen.apply(params, z2)
    others = np.array([0, 1, 2, 4, 5])
    np.testing.assert_allclose(nodes2[others], nodes[others], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(edges2[others], edges[others], rtol=1e-5, atol=1e-5)
    assert not np.allclose(edges2[3], edges[3])  # the changed graph did change
    # and each graph decodes the same alone as inside a batch
    alone_n, alone_e = gen.apply(params, z[4:5])
    np.testing.assert_allclose(alone_e[0], edges[4], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(alone_n[0], nodes[4], rtol=1e-4, atol=1e-4)


def test_sample_dense_masks_after_first_output():
    n, a = 8, 7
    logits = jax.random.normal(jax.random.PRNGKey(4), (64, n, a)) * 3
    edges = jax.random.normal(jax.random.PRNGKey(5), (64, n * (n - 1) // 2)) * 3
    types, adj = sample_dense(jax.random.PRNGKey(6), logits, edges, output_index=0)
    types, adj = np.asarray(types), np.asarray(adj)
    assert np.all(types[:, -1] == 0)
    for t, m in zip(types, adj):
        first = int(np.argmax(t == 0))
        assert np.all(t[first:] == 0)
        assert not m[first + 1:].any() and not m[:, first + 1:].any()
        assert not np.tril(m).any()


def test_pretrained_samples_are_valid_cells(shared_data):
    from jaxnas.generators.pretrain import load_weights, sample_graphs
    from jaxnas.spaces import get_space

    space = get_space("nb201")
    cfg, params, meta = load_weights("nb201")
    types, adj = sample_graphs(cfg, params, jax.random.PRNGKey(7), 500, chunk=500)
    genomes = [g for g in genomes_from_dense(space, types, adj) if g is not None]
    assert len(genomes) / 500 > 0.5 * meta["validity"]  # same order as the logged rate
    for g in genomes[:50]:
        ty, ad = space.to_dense(g)
        assert space.key(space.from_dense(ty, ad)) == space.key(g)


def test_rank_weights_formula():
    acc = np.array([70.0, 90.0, 80.0, 60.0])
    w = rank_weights(acc, 0.01)
    ranks = np.array([2, 0, 1, 3])  # 90 is rank 0
    np.testing.assert_allclose(w, 1.0 / (0.01 * 4 + ranks))
    lower = rank_weights(np.array([3.0, 1.0, 2.0]), 0.01, higher_is_better=False)
    np.testing.assert_allclose(lower, 1.0 / (0.03 + np.array([2, 0, 1])))


def test_hw_rank_penalty_and_joint():
    acc = np.array([90.0, 80.0, 70.0])
    lat = np.array([30.0, 10.0, 20.0])
    # constrained: accuracy rank (1-based) x 1000 above the limit
    np.testing.assert_allclose(hw_rank(acc, lat, 25.0, joint=False), [1000.0, 2.0, 3.0])
    # joint: rank_acc + rank_lat
    np.testing.assert_allclose(hw_rank(acc, lat, None, joint=True), [1 + 3, 2 + 1, 3 + 2])


def _brute_front(acc, lat):
    out = []
    for i in range(len(acc)):
        dominated = any((lat[j] <= lat[i] and acc[j] >= acc[i])
                        and (lat[j] < lat[i] or acc[j] > acc[i]) for j in range(len(acc)))
        if not dominated:
            out.append(i)
    return out


def _brute_hv(acc, lat, ref_acc, ref_lat, grid=400):
    # Monte-Carlo-free grid count of the dominated region
    xs = np.linspace(lat.min() - 1e-9, ref_lat, grid)
    ys = np.linspace(ref_acc, acc.max(), grid)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    gx, gy = np.meshgrid(xs[:-1] + (xs[1] - xs[0]) / 2, ys[:-1] + (ys[1] - ys[0]) / 2)
    dom = np.zeros(gx.shape, bool)
    for a, l in zip(acc, lat):
        dom |= (gx >= l) & (gy <= a)
    return dom.sum() * cell


def test_pareto_and_hypervolume_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(5):
        acc = rng.uniform(50, 95, 40).round(1)
        lat = rng.uniform(1, 30, 40).round(1)
        front = pareto_front(acc, lat)
        # duplicates of a front point are kept once; compare the set of (acc, lat) values
        assert {(acc[i], lat[i]) for i in front} == {(acc[i], lat[i])
                                                      for i in _brute_front(acc, lat)}
        hv = hypervolume(acc, lat, 50.0, 31.0)
        assert hv == pytest.approx(_brute_hv(acc, lat, 50.0, 31.0), rel=0.02)


def _run(seed, queries=32, resume_at=None, **options):
    from jaxnas.search.runner import build, RunConfig
    from jaxnas.search.store import decode_state, encode_state

    opts = {"epochs": "2", **options}
    cfg = RunConfig(space="nb201", dataset="cifar10", strategy="agnet", queries=queries,
                    seeds=(seed,), options=tuple(sorted(opts.items())))
    strategy, evaluator, _ = build(cfg)
    state = strategy.init(jax.random.PRNGKey(seed))
    asked: list[str] = []
    steps = 0
    while len(asked) < queries:
        state, genomes = strategy.ask(state)
        genomes = genomes[: queries - len(asked)]
        records = evaluator.evaluate(genomes)
        asked += [r.key for r in records]
        state = strategy.tell(state, genomes, [r.visible() for r in records])
        steps += 1
        if resume_at == steps:
            import json

            state = decode_state(json.loads(json.dumps(encode_state(state))))
    return asked, state


@pytest.mark.slow  # ~35 s CPU, minutes of wall time on the loaded shared machine
def test_agnet_search_deterministic_and_resumable(shared_data):
    a, state_a = _run(3, queries=48)
    b, _ = _run(3, queries=48, resume_at=2)  # checkpointed after the first AG-Net round
    assert a == b
    assert len(set(a)) == 48 and state_a.rounds == 2
    assert state_a.generated > 0

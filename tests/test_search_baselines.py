"""Baseline strategies (random, RE, LS) on the ask/tell interface, query accounting, runner.

Oracle runs use the shipped NB201 / nb101-20k tables; expected values come from the tables
themselves (looked up independently of the runner) or from the NATS-Bench defaults.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from jaxnas.benchmarks import get_oracle, oracle_space
from jaxnas.errors import ConfigError
from jaxnas.search import make_strategy
from jaxnas.search.base import SearchContext, SearchRecord
from jaxnas.search.evaluators import OracleEvaluator
from jaxnas.search.evolution import RegularizedEvolution
from jaxnas.search.registry import make_config, strategy_class
from jaxnas.search.runner import RunConfig, build, run_search, run_seed, summarize, value_at
from jaxnas.search.store import SeedStore, read_evals
from jaxnas.spaces import get_space

NB201 = get_space("nb201")
CTX = SearchContext(space_name="nb201", dataset="cifar10")


def _drive(strategy, evaluator, queries, seed=0):
    """Plain ask/evaluate/tell loop; returns the list of genome strings evaluated (cost 1)."""
    state = strategy.init(jax.random.PRNGKey(seed))
    out = []
    while evaluator.queries < queries:
        state, genomes = strategy.ask(state)
        records = evaluator.evaluate(genomes)
        out += [r.genome for r in records if r.cost > 0]
        state = strategy.tell(state, genomes, [r.visible() for r in records])
    return out


# ------------------------------------------------------------------------------ accounting


def test_oracle_query_accounting_and_hidden_report_metric():
    oracle = get_oracle("nb201", "cifar10")
    ev = OracleEvaluator(NB201, CTX)
    a, b = oracle.genome(6111), oracle.genome(0)
    assert ev.costs([a, b, a]) == [1.0, 1.0, 0.0]  # a repeat inside one batch is free
    records = ev.evaluate([a, b, a])
    assert [r.cost for r in records] == [1.0, 1.0, 0.0] and ev.queries == 2
    assert ev.costs([b]) == [0.0]
    again = ev.evaluate([b])[0]
    assert again.cost == 0.0 and ev.queries == 2
    assert records[0].metrics["accuracy"] == oracle.value(6111, "val_acc_12")
    assert records[0].report["test_accuracy"] == pytest.approx(94.3733, abs=1e-4)
    view = records[0].visible()
    assert isinstance(view, SearchRecord)
    assert set(view.metrics) == {"accuracy"}
    assert not hasattr(view, "report")
    assert 94.37 not in [round(v, 2) for v in view.metrics.values()]


class SpyStrategy(RegularizedEvolution):
    """RE that remembers everything it is told (to check what reaches a strategy)."""

    told: list

    def tell(self, state, genomes, records):
        self.told.extend(records)
        return super().tell(state, genomes, records)


def test_runner_never_shows_report_metric_and_counts_queries_exactly():
    config = RunConfig(strategy="re", queries=60, seeds=(0,))
    from jaxnas.search import runner

    strategy, evaluator, _ = runner.build(config)
    spy = SpyStrategy(strategy.space, strategy.config, strategy.context)
    spy.told = []
    oracle = get_oracle("nb201", "cifar10")
    state = spy.init(jax.random.PRNGKey(0))
    for _ in range(200):
        if evaluator.queries >= 60:
            break
        state, genomes = spy.ask(state)
        state = spy.tell(state, genomes, [r.visible() for r in evaluator.evaluate(genomes)])
    assert all(type(r) is SearchRecord and set(r.metrics) == {"accuracy"} for r in spy.told)
    # the report metric of a told cell differs from what the strategy saw
    r = spy.told[0]
    assert r.metrics["accuracy"] == oracle.value(r.genome, "val_acc_12")
    # runner: one curve entry per query, exactly the budget, incumbent = best search metric
    result = run_seed(config, 0)
    curve = result["curve"]
    assert [e["queries"] for e in curve] == list(range(1, 61))
    best = max(oracle.value(e["arch"], "val_acc_12") for e in curve)
    assert curve[-1]["search_metric"] == best
    assert curve[-1]["report_metric"] == oracle.value(curve[-1]["arch"], "test_acc_200")
    assert all(a["search_metric"] <= b["search_metric"] for a, b in zip(curve, curve[1:]))


# ------------------------------------------------------------------------------ strategies


def test_re_defaults_follow_nats_bench_and_are_configurable():
    cls = strategy_class("re")
    cfg = make_config(cls.Config, {})
    # NATS-Bench exps/NATS-algos/regularized_ea.py, topology space: --ea_population 10
    # --ea_sample_size 3
    assert (cfg.population_size, cfg.sample_size) == (10, 3)
    cfg = make_config(cls.Config, {"population_size": "20", "sample_size": "5"})
    assert (cfg.population_size, cfg.sample_size) == (20, 5)
    with pytest.raises(ConfigError, match="allowed"):
        make_config(cls.Config, {"populaton_size": "20"})
    with pytest.raises(ConfigError):
        make_config(cls.Config, {"population_size": "many"})


def test_re_population_is_an_ageing_queue_and_children_are_mutations():
    strategy = make_strategy("re", NB201, {"population_size": "5", "sample_size": "2"},
                             context=CTX)
    ev = OracleEvaluator(NB201, CTX)
    state = strategy.init(jax.random.PRNGKey(3))
    history = []
    for step in range(12):
        state, genomes = strategy.ask(state)
        records = ev.evaluate(genomes)
        if step >= 5:  # after the random initial population: a one-edge mutation of a member
            parents = {g for g, _ in state.population}
            child = genomes[0]
            assert any(sum(a != b for a, b in zip(child.ops, NB201.parse(p).ops)) == 1
                       for p in parents)
        state = strategy.tell(state, genomes, [r.visible() for r in records])
        history.append(NB201.to_string(genomes[0]))
    assert [g for g, _ in state.population] == history[-5:]


@pytest.mark.parametrize("name", ["random", "re", "ls"])
def test_strategies_are_deterministic_per_seed(name):
    def run(seed):
        strategy = make_strategy(name, NB201, context=CTX)
        return _drive(strategy, OracleEvaluator(NB201, CTX), 80, seed)

    first, again, other = run(0), run(0), run(1)
    assert first == again
    assert first != other
    assert len(set(first)) == len(first)  # every charged query is a new cell


def test_local_search_climbs_to_a_local_optimum():
    oracle = get_oracle("nb201", "cifar10")
    strategy = make_strategy("ls", NB201, context=CTX)
    ev = OracleEvaluator(NB201, CTX)
    state = strategy.init(jax.random.PRNGKey(0))
    while state.restarts == 0:
        state, genomes = strategy.ask(state)
        previous = state.current
        state = strategy.tell(state, genomes, [r.visible() for r in ev.evaluate(genomes)])
    # the restart happened at a cell no neighbour beats on the search metric
    text, fitness = previous
    genome = NB201.parse(text)
    assert fitness == oracle.value(genome, "val_acc_12")
    assert all(oracle.value(n, "val_acc_12") <= fitness for n in NB201.neighbours(genome))


def test_nb101_subset_search_stays_inside_and_is_named():
    config = RunConfig(space="nb101", dataset="cifar10", strategy="re", queries=40, seeds=(0,))
    result = run_seed(config, 0)
    oracle = get_oracle("nb101")
    space = oracle_space("nb101", oracle)
    assert len(result["curve"]) == 40
    for entry in result["curve"]:
        assert oracle.contains(space.parse(entry["arch"]))
    assert result["curve"][-1]["report_metric"] == oracle.value(result["best"]["arch"],
                                                                 "val_acc_108")
    from jaxnas.search import runner

    assert runner.build(config)[2] == "nb101-20k"


# ------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("name,space", [("re", "nb201"), ("ls", "nb201"),
                                        ("random", "nb201"), ("re", "nb101")])
def test_checkpoint_after_a_tell_then_resume_equals_uninterrupted(tmp_path, name, space):
    queries = 70 if space == "nb201" else 30
    config = RunConfig(space=space, strategy=name, queries=queries, seeds=(4,))
    straight = run_seed(config, 4)
    # interrupted: 7 tells, then a fresh process-like resume from the run directory
    steps = 2 if name == "ls" else 7  # LS tells whole neighbourhoods (24 cells) at once
    part = run_seed(config, 4, tmp_path, stop_after_steps=steps)
    assert not part["finished"] and 0 < len(part["curve"]) < queries
    store = SeedStore(tmp_path, 4)
    step, state, *_ = store.load_checkpoint(build(config)[0].init(0))
    assert step == steps
    assert type(state).__name__.endswith("State")
    resumed = run_seed(config, 4, tmp_path)
    assert resumed["finished"]
    assert resumed["curve"] == straight["curve"]
    assert resumed["best"] == straight["best"]
    # the log holds every evaluation once
    logged = [(s, p) for s, p, _ in store.load_evals()]
    assert len(logged) == len(set(logged))
    assert sum(r.cost for _, _, r in store.load_evals()) == queries


def test_resume_replays_a_log_that_is_ahead_of_the_checkpoint(tmp_path):
    """A kill between logging evaluations and writing the checkpoint: both checkpoint slots
    are torn/lost, so the whole log is replayed from init without re-evaluating."""
    config = RunConfig(strategy="re", queries=50, seeds=(2,))
    straight = run_seed(config, 2)
    run_seed(config, 2, tmp_path, stop_after_steps=20)
    store = SeedStore(tmp_path, 2)
    for slot in store.dir.glob("checkpoint.*.json"):
        text = slot.read_text()
        slot.write_text(text[: len(text) // 2])  # torn write
    with open(store.evals_path, "a") as f:
        f.write('{"pos": 0, "rec')  # torn last line
    assert store.load_checkpoint(build(config)[0].init(0)) is None
    before = len(store.load_evals())
    assert before == 20
    resumed = run_seed(config, 2, tmp_path)
    assert resumed["curve"] == straight["curve"]
    entries = read_evals(store.evals_path)
    assert len({(e["step"], e["pos"]) for e in entries}) == len(entries)  # each once
    assert sum(e["record"]["cost"] for e in entries) == 50  # repeats are logged at cost 0


def test_run_search_builds_one_evaluator_per_seed(tmp_path, monkeypatch):
    """The evaluator built to check names and data serves the first seed (its data are not
    loaded twice); every other seed gets a fresh one, and results do not change."""
    import jaxnas.search.runner as runner

    built = []
    real = runner.make_evaluator

    def counting(*args, **kwargs):
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "make_evaluator", counting)
    one = run_search(RunConfig(queries=5, seeds=(0,)), tmp_path / "one")
    assert len(built) == 1
    two = run_search(RunConfig(queries=5, seeds=(0, 1)), tmp_path / "two")
    assert len(built) == 1 + 2
    assert two["runs"][0]["curve"] == one["runs"][0]["curve"]
    assert two["runs"][0]["curve"] == run_seed(RunConfig(queries=5, seeds=(0,)), 0)["curve"]


def test_run_search_rejects_a_different_config_in_the_same_dir(tmp_path):
    run_search(RunConfig(queries=5, seeds=(0,)), tmp_path)
    with pytest.raises(ConfigError, match="different run"):
        run_search(RunConfig(queries=6, seeds=(0,)), tmp_path)


def test_summary_statistics_over_seeds():
    config = RunConfig(strategy="random", queries=30, seeds=(0, 1, 2))
    runs = [run_seed(config, s) for s in config.seeds]
    rows = summarize(runs, 30, [10, 30])
    finals = np.array([r["curve"][-1]["report_metric"] for r in runs])
    assert rows[-1]["n"] == 3
    assert rows[-1]["mean"] == pytest.approx(finals.mean())
    assert rows[-1]["std"] == pytest.approx(finals.std())
    assert rows[-1]["median"] == pytest.approx(np.median(finals))
    assert rows[0]["mean"] == pytest.approx(np.mean([value_at(r["curve"], 10) for r in runs]))
    with pytest.raises(ConfigError):
        RunConfig(queries=0)
    assert dataclasses.replace(config, seeds=(5,)).seeds == (5,)

"""One contract for every strategy: the base class, tell's checks, checkpoints, and the curves
the refactored strategies give for the same seeds as before (tests/data/reference_curves.json,
written by the code before the refactor; no ../shared/data needed)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from jaxnas.errors import ConfigError
from jaxnas.search.base import Strategy
from jaxnas.search.codec import decode, encode
from jaxnas.search.registry import STRATEGIES, strategy_class
from jaxnas.search.runner import RunConfig, build, run_seed

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_curves.json").read_text())


def test_every_registered_strategy_subclasses_the_base_and_the_runner_never_probes():
    for name in STRATEGIES:
        assert issubclass(strategy_class(name), Strategy), name
    tree = ast.parse((ROOT / "jaxnas" / "search" / "runner.py").read_text())
    probes = [n.func.id for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id in ("hasattr", "getattr")]
    assert probes == []


def _case_id(case):
    c = case["config"]
    return f"{c['space']}-{c['strategy']}-s{c['seed']}-{c.get('objective', 'accuracy')}" + \
        "".join(f"-{k}{v}" for k, v in c["options"].items())


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=_case_id)
def test_the_same_seed_gives_the_same_curve_as_before_the_refactor(case):
    c = dict(case["config"])
    seed = c.pop("seed")
    c["options"] = tuple(sorted(c["options"].items()))
    result = run_seed(RunConfig(seeds=(seed,), **c), seed)
    got = [[e["queries"], e["arch"], e["search_metric"], e["report_metric"]]
           for e in result["curve"]]
    assert got == case["curve"]


def test_local_search_in_chunks_gives_the_same_curve():
    whole = run_seed(RunConfig(strategy="ls", queries=90, seeds=(5,)), 5)
    chunks = run_seed(RunConfig(strategy="ls", queries=90, seeds=(5,),
                                options=(("batch_size", "5"),)), 5)
    assert chunks["curve"] == whole["curve"] and chunks["steps"] > whole["steps"]


def _strategy(name, **options):
    config = RunConfig(strategy=name, queries=40, options=tuple(sorted(options.items())))
    strategy, evaluator, _ = build(config)
    return strategy, evaluator


@pytest.mark.parametrize("name", ["random", "re", "ls"])
def test_tell_rejects_wrong_lengths_non_prefixes_and_hidden_records(name):
    strategy, evaluator = _strategy(name, batch_size="3")
    state, genomes = strategy.ask(strategy.init(0))
    records = [r.visible() for r in evaluator.evaluate(genomes)]
    with pytest.raises(ConfigError, match="records for"):
        strategy.tell(state, genomes, records[:-1])
    other = next(g for g in (strategy.space.sample(np.random.default_rng(i)) for i in range(9))
                 if strategy.space.key(g) != strategy.space.key(genomes[0]))
    with pytest.raises(ConfigError, match="prefix"):
        strategy.tell(state, [other], records[:1])
    with pytest.raises(ConfigError, match="SearchRecord"):
        strategy.tell(state, genomes, evaluator.evaluate(genomes))
    # a prefix is fine: the runner stops at exactly the budget
    assert strategy.tell(state, genomes[:1], records[:1]).pending == ()


@pytest.mark.parametrize("name,options", [("re", {}), ("ls", {"batch_size": "7"}),
                                          ("agnet", {"epochs": "1"})])
def test_a_checkpointed_state_continues_exactly(name, options):
    strategy, evaluator = _strategy(name, **options)

    def steps(state, n):
        asked = []
        for _ in range(n):
            state, genomes = strategy.ask(state)
            asked += [strategy.space.to_string(g) for g in genomes]
            records = evaluator.evaluate(genomes)
            state = strategy.tell(state, genomes, [r.visible() for r in records])
        return state, asked

    state, _ = steps(strategy.init(7), 2 if name != "agnet" else 1)
    text = json.dumps(encode(state), allow_nan=False)
    back = decode(json.loads(text), strategy.init(0))
    assert type(back) is type(state)
    assert json.dumps(encode(back)) == text
    assert steps(back, 2)[1] == steps(state, 2)[1]


def test_the_codec_keeps_plain_values_and_rejects_objects():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Inner:
        values: tuple = ()

    @dataclass(frozen=True)
    class Outer:
        inner: Inner = Inner()
        table: dict | None = None

    value = Outer(Inner((float("inf"), -0.0, ("a", 2), np.arange(3, dtype=np.int16), None)),
                  {"k": np.float32(1.5)})
    back = decode(json.loads(json.dumps(encode(value))), Outer())
    assert back.inner.values[:3] == (float("inf"), -0.0, ("a", 2))
    assert back.inner.values[3].dtype == np.int16 and back.table == {"k": 1.5}
    with pytest.raises(ConfigError, match="cannot checkpoint"):
        encode(object())
    with pytest.raises(ConfigError, match="do not match"):
        decode({"fields": {"other": 1}}, Outer())


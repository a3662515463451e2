"""The ``train`` evaluator: budget policies, presets, and real training on Fashion-MNIST scored
per batch, logged per member and resumed exactly after a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxnas.errors import ConfigError, UnknownNameError
from jaxnas.search.base import SearchContext
from jaxnas.search.runner import RunConfig, run_seed
from jaxnas.search.store import read_evals
from jaxnas.spaces import get_space
from jaxnas.train.allocation import (cell_weights, egnas_weight, epochs_per_member,
                                     share_epochs)
from jaxnas.train.presets import PRESETS, get_preset

# a population small enough for a test: 1-cell-per-stage, 4-channel nb201 nets, 1 epoch
TINY = ("train_images=384", "val_images=128", "test_images=128", "epochs=1")


def test_policies_share_the_same_total_and_aware_follows_the_weights():
    weights = [1.0, 2.0, 3.0, 10.0]
    aware = epochs_per_member("aware", 4, weights)
    assert sum(aware) == sum(epochs_per_member("uniform", 4, weights)) == 16
    assert aware == sorted(aware) and min(aware) >= 1 and aware[-1] > aware[0]
    assert share_epochs([1.0, 1.0, 1.0], 7) in ([3, 2, 2], [2, 3, 2], [2, 2, 3])
    with pytest.raises(ConfigError, match="cannot give"):
        share_epochs([1.0, 2.0], 1)
    with pytest.raises(ConfigError, match="budget policy"):
        epochs_per_member("greedy", 4, weights)
    space = get_space("egnas")
    deep, shallow = space.parse("L14-C64-o" + "0" * 14 + "-k" + "3" * 14), \
        space.parse("L10-C64-o" + "0" * 10 + "-k" + "3" * 10)
    assert egnas_weight(deep) == egnas_weight(shallow) + 4  # the EG-NAS counter: +1 per layer
    # cell spaces: +1 per doubling of compute over the batch's smallest network, so NB201's
    # ~5x FLOPs range really moves epochs (log FLOPs itself gave every cell the same 3)
    assert cell_weights([1000, 2000, 8000]) == [1.0, 2.0, 4.0]
    flops = [1_000_000, 2_500_000, 5_500_000]
    assert epochs_per_member("aware", 3, cell_weights(flops)) == [2, 3, 4]


def test_presets_are_named_and_documented():
    assert set(PRESETS) == {"smoke", "cpu", "paper"}
    with pytest.raises(UnknownNameError, match="known"):
        get_preset("fast")
    smoke, paper = PRESETS["smoke"], PRESETS["paper"]
    assert smoke.options_for("nb201") and not paper.options_for("nb201")  # reduced on CPU
    assert smoke.recipe_for(28, 3).crop_size == 28 and paper.recipe_for(28, 3).crop_size == 32
    assert json.loads(json.dumps(smoke.to_json()))["name"] == "smoke"


def _evaluator(shared_data, **options):
    from jaxnas.search.train_evaluator import TrainEvaluator

    tiny = {k: v for k, v in (o.split("=") for o in TINY)}
    context = SearchContext(space_name="nb201", dataset="fashion_mnist",
                            data_dir=str(shared_data))
    return TrainEvaluator(get_space("nb201"), context, **{**tiny, **options})


@pytest.mark.slow  # real training of a small population: minutes on a 2-core CPU
def test_a_batch_is_trained_once_per_cell_and_recorded_per_member(shared_data):
    evaluator = _evaluator(shared_data, policy="aware", epochs="2")
    space = evaluator.space
    genomes = [space.sample(np.random.default_rng(i)) for i in (1, 2)]
    finished = []
    records = evaluator.evaluate([genomes[0], genomes[1], genomes[0]],
                                 on_record=lambda i, r: finished.append(i))
    assert sorted(finished) == [0, 1, 2] and [r.cost for r in records] == [1.0, 1.0, 0.0]
    first = records[0]
    assert set(first.metrics) == {"accuracy"} and set(first.report) == {"test_accuracy"}
    assert first.info["status"] == "ok" and first.info["params"] > 0
    assert sum(r.info["epochs"] for r in records[:2]) == 4  # aware: the same total
    cost = first.info["cost"]
    assert cost["candidate_epochs"] == first.info["epochs"] and cost["compile_s"] >= 0
    assert records[2].metrics == first.metrics  # a repeat: the same record, free
    assert evaluator.costs(genomes) == [0.0, 0.0]
    # a cell trains the same way alone, in another batch and in another evaluator
    alone = _evaluator(shared_data, policy="aware", epochs="2").evaluate(
        [genomes[1]], budgets=[None])
    if alone[0].info["epochs"] == records[1].info["epochs"]:
        assert alone[0].metrics == records[1].metrics
    with pytest.raises(ConfigError, match="epochs='x'"):
        _evaluator(shared_data, epochs="x")


def _search(run_dir, data_dir, queries=4):
    return [sys.executable, "-c", "import sys; from jaxnas.cli import main; sys.exit(main())",
            "search", "--space", "nb201", "--dataset", "fashion_mnist", "--strategy", "random",
            "--option", f"batch_size={queries}", "--queries", str(queries), "--seeds", "1",
            "--evaluator", "train", "--train-preset", "smoke", "--data-dir", str(data_dir),
            *[x for o in TINY for x in ("--evaluator-option", o)],
            "--quiet", "--run-dir", str(run_dir)]


@pytest.mark.slow  # two real training runs and a kill: minutes on a 2-core CPU
def test_a_sigkilled_training_search_resumes_exactly(tmp_path, shared_data):
    run_dir = tmp_path / "run"
    env = dict(os.environ)
    proc = subprocess.Popen(_search(run_dir, shared_data), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = run_dir / "seed_0" / "evals.jsonl"
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if log.is_file() and len(read_evals(log)) >= 1:  # mid-population
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the population finished before the kill"
    kept = read_evals(log)
    assert 1 <= len(kept) < 4  # at most the members in flight were lost
    done = subprocess.run(_search(run_dir, shared_data), env=env, capture_output=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    resumed = json.loads((run_dir / "results.json").read_text())["runs"][0]
    entries = read_evals(log)
    assert [e["record"] for e in entries[: len(kept)]] == [e["record"] for e in kept]
    assert sorted(e["pos"] for e in entries) == [0, 1, 2, 3]  # each member once
    config = RunConfig(space="nb201", dataset="fashion_mnist", strategy="random", queries=4,
                       options=(("batch_size", "4"),), evaluator="train",
                       data_dir=str(shared_data), evaluator_options=tuple(sorted(
                           [("preset", "smoke"), *(tuple(o.split("=")) for o in TINY)])))
    straight = run_seed(config, 0)
    assert [e["search_metric"] for e in resumed["curve"]] == \
        [e["search_metric"] for e in straight["curve"]]
    assert resumed["asked"] == straight["asked"]

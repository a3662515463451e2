"""Results store: state codec, crash-safe logs, and a real search killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxnas.errors import ConfigError
from jaxnas.search.evolution import RegularizedEvolutionState
from jaxnas.search.runner import RunConfig, run_seed, summarize
from jaxnas.search.store import SeedStore, decode_state, encode_state, read_evals
from jaxnas.spaces import get_space


@dataclass(frozen=True)
class _Local:  # a class outside the allowed packages
    x: int = 1


def test_state_codec_round_trips_keys_arrays_generators_and_dataclasses():
    g = get_space("nb201").sample(np.random.default_rng(0))
    rng = np.random.default_rng(5)
    rng.random(3)
    state = {
        "legacy": jax.random.PRNGKey(7),
        "typed": jax.random.key(3),
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "jax": jax.numpy.ones((2,), jax.numpy.bfloat16),
        "gen": rng,
        "re": RegularizedEvolutionState(key=jax.random.PRNGKey(1), population=((g, 93.5),),
                                        seen=frozenset({"a", "b"})),
        "floats": (float("inf"), -0.0, 1e-300),
        "mixed": [1, "x", None, True, (2, 3)],
    }
    back = decode_state(json.loads(json.dumps(encode_state(state))))
    assert np.array_equal(back["legacy"], state["legacy"])
    assert np.array_equal(jax.random.key_data(back["typed"]), jax.random.key_data(state["typed"]))
    assert back["array"].dtype == np.int16 and np.array_equal(back["array"], state["array"])
    assert back["jax"].dtype == jax.numpy.bfloat16
    assert back["gen"].random() == rng.random()  # same position in the stream
    assert back["re"].population == state["re"].population
    assert back["re"].seen == frozenset({"a", "b"})
    assert back["floats"] == state["floats"] and back["mixed"] == state["mixed"]
    with pytest.raises(ConfigError, match="cannot checkpoint"):
        encode_state(object())
    bad = encode_state(_Local())
    with pytest.raises(ConfigError, match="only classes"):
        decode_state(bad)


def test_torn_log_tail_is_dropped_but_a_corrupt_middle_is_an_error(tmp_path):
    path = tmp_path / "evals.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b"')
    assert read_evals(path) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    with pytest.raises(ConfigError, match="corrupt"):
        read_evals(path)


def test_checkpoint_slots_fall_back_to_the_older_intact_one(tmp_path):
    store = SeedStore(tmp_path, 0)
    store.save_checkpoint(4, {"v": 4})
    store.save_checkpoint(5, {"v": 5})
    assert store.load_checkpoint() == (5, {"v": 5})
    slot = store.dir / "checkpoint.1.json"
    slot.write_bytes(slot.read_bytes()[:-5])  # torn mid-write
    assert store.load_checkpoint() == (4, {"v": 4})


# ------------------------------------------------------------------------------ SIGKILL

QUERIES, SEEDS = 100, (0, 1)
SEARCH = ["search", "--space", "nb201", "--dataset", "cifar10", "--strategy", "re",
          "--queries", str(QUERIES), "--seeds", str(len(SEEDS)), "--quiet"]


def _jaxnas(args: list[str]) -> list[str]:
    return [sys.executable, "-c", "import sys; from jaxnas.cli import main; sys.exit(main())",
            *args]


def _logged(run_dir: Path) -> int:
    total = 0
    for log in run_dir.glob("seed_*/evals.jsonl"):
        with open(log, "rb") as f:
            total += f.read().count(b"\n")
    return total


def test_sigkilled_search_resumes_without_losing_or_repeating_evaluations(tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    kills = 0
    command = _jaxnas([*SEARCH, "--run-dir", str(run_dir)])
    for attempt in range(3):  # two kills, then a resume that finishes
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        start_lines = _logged(run_dir)
        deadline = time.monotonic() + 60
        # kill -9 once this attempt has logged some new evaluations (mid-run, at a random
        # point relative to log / checkpoint writes)
        target = start_lines + 25 + 20 * attempt
        while attempt < 2 and proc.poll() is None and time.monotonic() < deadline:
            if _logged(run_dir) >= target:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.003)
        proc.wait(timeout=60)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        command = _jaxnas(["search", "--resume", str(run_dir), "--quiet"])
    else:
        done = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert kills >= 2, "the search finished before it could be killed: make it longer"
    killed = json.loads((run_dir / "results.json").read_text())

    # the same search uninterrupted, in this process (no run directory: no fsync wait)
    config = RunConfig(strategy="re", queries=QUERIES, seeds=SEEDS)
    for run in killed["runs"]:
        straight = run_seed(config, run["seed"])
        assert run["curve"] == straight["curve"] and run["best"] == straight["best"]
        entries = [json.loads(x) for x in
                   (run_dir / f"seed_{run['seed']}" / "evals.jsonl").read_text().splitlines()]
        # every finished evaluation exactly once: (step, pos) unique and gap-free, each charged
        # cell once, the budget spent exactly
        steps = [(e["step"], e["pos"]) for e in entries]
        assert len(set(steps)) == len(steps) and steps == sorted(steps)
        assert sorted({s for s, _ in steps}) == list(range(1, steps[-1][0] + 1))
        charged = [e["record"]["key"] for e in entries if e["record"]["cost"] > 0]
        assert len(charged) == len(set(charged)) == QUERIES
    summary = summarize([run_seed(config, s) for s in SEEDS], QUERIES)
    assert killed["summary"] == summary

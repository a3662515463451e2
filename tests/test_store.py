"""Results store: crash-safe logs and checkpoints, and a real search killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxnas.errors import ConfigError
from jaxnas.search.runner import RunConfig, run_search, run_seed, summarize
from jaxnas.search.store import SeedStore, read_evals


def _log_lines(n):
    from jaxnas.search.store import _line

    return [_line(1, i, {"genome": f"g{i}", "key": f"k{i}", "metrics": {"accuracy": 50.0 + i}})
            for i in range(n)]


def test_torn_log_tail_is_dropped_but_a_damaged_middle_is_an_error(tmp_path):
    path = tmp_path / "evals.jsonl"
    lines = _log_lines(3)
    path.write_text("".join(lines[:2]) + lines[2][:-9])  # torn mid-write
    assert [e["pos"] for e in read_evals(path)] == [0, 1]
    path.write_text("".join(lines[:2]) + lines[2][:-1])  # whole entry, newline not written
    assert [e["pos"] for e in read_evals(path)] == [0, 1]
    for damaged in (lines[1].replace("51.0", "61.0"), "{}\n", lines[1][:20] + "\n"):
        path.write_text(lines[0] + damaged + lines[2])  # a changed value, an empty entry
        with pytest.raises(ConfigError, match="line 2 is damaged"):
            read_evals(path)


def test_checkpoint_slots_fall_back_to_the_older_intact_one(tmp_path):
    store = SeedStore(tmp_path, 0)
    store.save_checkpoint(4, {"v": 4})
    store.save_checkpoint(5, {"v": 5})
    assert store.load_checkpoint({"v": 0})[:2] == (5, {"v": 5})
    slot = store.dir / "checkpoint.1.json"
    slot.write_bytes(slot.read_bytes()[:-5])  # torn mid-write
    assert store.load_checkpoint({"v": 0})[:2] == (4, {"v": 4})


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
        entries = read_evals(run_dir / f"seed_{run['seed']}" / "evals.jsonl")
        # every finished evaluation exactly once: (step, pos) unique and gap-free, each charged
        # cell once, the budget spent exactly
        steps = [(e["step"], e["pos"]) for e in entries]
        assert len(set(steps)) == len(steps) and steps == sorted(steps)
        assert sorted({s for s, _ in steps}) == list(range(1, steps[-1][0] + 1))
        charged = [e["record"]["key"] for e in entries if e["record"]["cost"] > 0]
        assert len(charged) == len(set(charged)) == QUERIES
    summary = summarize([run_seed(config, s) for s in SEEDS], QUERIES)
    assert killed["summary"] == summary


# ------------------------------------------------------------------------------ reliability


def _partial_run(tmp_path, steps=20, queries=50, seed=2):
    config = RunConfig(strategy="re", queries=queries, seeds=(seed,))
    run_seed(config, seed, tmp_path, stop_after_steps=steps)
    return config, SeedStore(tmp_path, seed)


def test_loading_a_torn_log_never_writes_and_the_next_append_cuts_the_tail(tmp_path):
    config, store = _partial_run(tmp_path)
    with open(store.evals_path, "a") as f:
        f.write('{"crc": 1, "entry": {"pos": 0, "rec')
    torn = store.evals_path.read_bytes()
    assert len(SeedStore(tmp_path, 2).load_evals()) == 20
    assert store.evals_path.read_bytes() == torn  # loading is read-only
    resumed = run_seed(config, 2, tmp_path)
    assert resumed["curve"] == run_seed(config, 2)["curve"]
    entries = read_evals(store.evals_path)
    assert len({(e["step"], e["pos"]) for e in entries}) == len(entries)
    assert sum(e["record"]["cost"] for e in entries) == 50


@pytest.mark.parametrize("syscall", ["write", "ftruncate"])
def test_a_resume_killed_at_its_first_log_write_loses_nothing(tmp_path, syscall):
    """SIGKILL exactly at the resume's first write (or tail cut) to the log, injected by
    strace: the log keeps every intact line, and the next resume finishes exactly."""
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("needs strace to inject a SIGKILL at a system call")
    run_dir = tmp_path / "run"
    search = _jaxnas(["search", "--strategy", "re", "--queries", "50", "--seeds", "1",
                      "--quiet", "--run-dir", str(run_dir)])
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAXNAS_CPU_TUNING="0")
    killer = subprocess.Popen(search, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    log = run_dir / "seed_0" / "evals.jsonl"
    deadline = time.monotonic() + 120
    while killer.poll() is None and time.monotonic() < deadline:
        if log.is_file() and log.read_bytes().count(b"\n") >= 20:
            os.kill(killer.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    killer.wait(timeout=60)
    with open(log, "a") as f:
        f.write('{"crc": 1, "entry": {"pos": 0, "rec')  # torn tail: the resume must cut it
    intact = len(read_evals(log))
    strace = ["strace", "-f", "-qq", "-o", os.devnull, "-P", str(log),
              "-e", f"inject={syscall}:signal=KILL:when=1", "-e", f"trace={syscall}"]
    resume = _jaxnas(["search", "--resume", str(run_dir), "--quiet"])
    done = subprocess.run(strace + resume, env=env, capture_output=True, timeout=180)
    assert done.returncode != 0, "the injected SIGKILL did not happen"
    assert len(read_evals(log)) == intact  # nothing lost, nothing half-written kept
    final = subprocess.run(resume, env=env, capture_output=True, timeout=180)
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    result = json.loads((run_dir / "results.json").read_text())["runs"][0]
    assert result["curve"] == run_seed(RunConfig(strategy="re", queries=50), 0)["curve"]
    assert sum(e["record"]["cost"] for e in read_evals(log)) == 50


def test_a_log_behind_its_checkpoint_is_replayed_not_trusted(tmp_path, capsys):
    config, store = _partial_run(tmp_path)
    lines = store.evals_path.read_text().splitlines(keepends=True)
    store.evals_path.write_text("".join(lines[:-3]))  # lost lines: fewer than checkpointed
    resumed = run_seed(config, 2, tmp_path)
    assert "replaying the log from the start" in capsys.readouterr().err
    assert resumed["curve"] == run_seed(config, 2)["curve"]
    entries = read_evals(store.evals_path)
    assert len({(e["step"], e["pos"]) for e in entries}) == len(entries)
    assert sum(e["record"]["cost"] for e in entries) == 50


def test_a_resumed_seed_reports_the_wall_time_of_every_process_that_ran_it(tmp_path):
    config, store = _partial_run(tmp_path)  # the first process: 20 tells
    for slot in store.dir.glob("checkpoint.*.json"):  # as if that process had run 1,000 s
        header, rest = slot.read_text().split("\n", 1)
        slot.write_text(json.dumps({**json.loads(header), "elapsed_s": 1000.0}) + "\n" + rest)
    resumed = run_search(config, tmp_path)["timing"]["seed_wall_time_s"]["2"]
    assert 1000.0 < resumed < 1000.0 + 60
    assert store.load_wall() == resumed
    again = run_search(config, tmp_path)["timing"]["seed_wall_time_s"]["2"]  # nothing to run
    assert again == resumed  # the stored cost, not this process's few milliseconds


def test_a_second_process_on_the_same_run_dir_is_refused_with_the_holders_pid(tmp_path):
    from jaxnas.search.store import locked_run_dir

    with locked_run_dir(tmp_path / "run"):
        with pytest.raises(ConfigError, match=f"in use by another jaxnas process \\(PID "
                                              f"{os.getpid()}\\)"):
            run_search(RunConfig(strategy="re", queries=5), tmp_path / "run")
    run_search(RunConfig(strategy="re", queries=5), tmp_path / "run")  # released


def test_results_of_another_seed_or_budget_are_refused_and_more_queries_really_run(tmp_path):
    config = RunConfig(strategy="re", queries=30, seeds=(0, 1))
    run_search(config, tmp_path)
    shutil_copy = (tmp_path / "seed_0" / "result.json").read_text()
    (tmp_path / "seed_1" / "result.json").write_text(shutil_copy)
    with pytest.raises(ConfigError, match="not the result of seed 1"):
        run_search(config, tmp_path)
    (tmp_path / "seed_1" / "result.json").unlink()
    more = RunConfig(strategy="re", queries=45, seeds=(0, 1))
    with pytest.raises(ConfigError, match="different run"):
        run_search(more, tmp_path)  # a flag that conflicts with the stored run
    stored = json.loads((tmp_path / "config.json").read_text())
    stored["config"]["queries"] = 45  # the documented extension: edit the budget, resume
    (tmp_path / "config.json").write_text(json.dumps(stored))
    extended = run_search(more, tmp_path)
    for run in extended["runs"]:
        assert run["queries"] == 45 and run["curve"] == run_seed(more, run["seed"])["curve"]
    (tmp_path / "seed_0" / "result.json").write_text("{\"seed\": 0, ")  # torn: rebuilt
    assert run_search(more, tmp_path)["runs"] == extended["runs"]


def test_a_run_whose_preset_changed_since_is_refused_field_by_field(tmp_path, monkeypatch):
    from jaxnas.search.random_search import RandomSearch, RandomSearchConfig

    monkeypatch.setattr(RandomSearch, "PRESETS", {"small": RandomSearchConfig(batch_size=2)})
    config = RunConfig(strategy="random", queries=6, preset="small")
    first = run_search(config, tmp_path)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["strategy_settings"] == {"batch_size": 2}
    assert run_search(config, tmp_path)["runs"] == first["runs"]  # unchanged: resumes
    monkeypatch.setattr(RandomSearch, "PRESETS", {"small": RandomSearchConfig(batch_size=3)})
    with pytest.raises(ConfigError, match=r"other strategy settings \(batch_size: 2 -> 3\)"):
        run_search(config, tmp_path)
    del stored["strategy_settings"]  # a run dir from before the values were recorded
    (tmp_path / "config.json").write_text(json.dumps(stored))
    with pytest.raises(ConfigError, match="names preset 'small' but not its values"):
        run_search(config, tmp_path)


def test_an_egnas_run_records_the_data_fields_its_preset_resolved_to():
    from jaxnas.search.egnas import PRESETS, TrainerEvaluator

    identity = TrainerEvaluator(preset="cpu", n_train=123).identity()
    assert identity["data"]["n_train"] == 123
    assert identity["data"]["n_val"] == PRESETS["cpu"].n_val
    assert identity != TrainerEvaluator(preset="cpu").identity()


def test_a_failed_start_leaves_no_run_directory(tmp_path):
    with pytest.raises(ConfigError, match="exceeds the 15,625 distinct cells"):
        run_search(RunConfig(strategy="random", queries=1_000_000_000), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        run_search(RunConfig(strategy="random", queries=5), tmp_path / "file")


@pytest.mark.parametrize("trial", range(12))
def test_fuzzed_logs_and_checkpoints_recover_exactly_or_fail_clearly(tmp_path, trial):
    """Random truncations, byte flips, dropped and repeated lines of the log and the
    checkpoints: the resumed search gives the uninterrupted result or a clear ConfigError,
    never a silently different one."""
    rng = np.random.default_rng(trial)
    config, store = _partial_run(tmp_path, steps=int(rng.integers(5, 40)))
    targets = [store.evals_path, *sorted(store.dir.glob("checkpoint.*.json"))]
    for _ in range(int(rng.integers(1, 4))):
        path = targets[int(rng.integers(len(targets)))]
        data = bytearray(path.read_bytes())
        kind = rng.integers(4)
        if kind == 0 and data:  # truncation
            data = data[: int(rng.integers(len(data)))]
        elif kind == 1 and data:  # a flipped byte
            i = int(rng.integers(len(data)))
            data[i] = (data[i] + int(rng.integers(1, 255))) % 256
        else:  # a dropped or a repeated line
            lines = bytes(data).splitlines(keepends=True)
            if lines:
                i = int(rng.integers(len(lines)))
                lines.insert(i, lines[i]) if kind == 3 else lines.pop(i)
            data = bytearray(b"".join(lines))
        path.write_bytes(bytes(data))
    try:
        resumed = run_seed(config, 2, tmp_path)
    except ConfigError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert resumed["curve"] == run_seed(config, 2)["curve"]
    entries = read_evals(store.evals_path)
    assert sum(e["record"]["cost"] for e in entries) == config.queries

"""Multi-process population training (jaxnas.train.distributed): two real processes on this
machine (jax.distributed, Gloo CPU collectives, coordinator on 127.0.0.1) train one population
sharded over both and must report what one process reports; only process 0 writes."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxnas.errors import ConfigError
from jaxnas.train import distributed

WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXNAS_") or k in (
        "JAXNAS_CPU_TUNING", "JAXNAS_COMPILE_CACHE")}
    # one CPU device per process; XLA optimisation off: these tiny programs compile ~5x faster
    # (every process, the reference too, runs under the same flags)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    env.update(XLA_FLAGS=" ".join(flags + ["--xla_backend_optimization_level=0"]),
               JAX_PLATFORMS="cpu", PYTHONPATH=str(Path(__file__).resolve().parents[1]), **extra)
    return env


def test_two_processes_train_one_sharded_population_like_one_process(tmp_path):
    port = _free_port()
    out = tmp_path / "shared" / "results.json"
    runs = {
        "single": subprocess.Popen([sys.executable, str(WORKER), str(tmp_path / "single.json")],
                                   env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)}
    for i in range(2):
        runs[i] = subprocess.Popen(
            [sys.executable, str(WORKER), str(out)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env=_env(JAXNAS_COORDINATOR=f"127.0.0.1:{port}", JAXNAS_NUM_PROCESSES="2",
                     JAXNAS_PROCESS_ID=str(i)))
    got, codes, errors = {}, {}, {}
    try:
        for name, proc in runs.items():
            stdout, errors[name] = proc.communicate(timeout=TIMEOUT_S)
            codes[name] = proc.returncode
            if proc.returncode == 0:
                got[name] = json.loads(stdout.strip().splitlines()[-1])
    finally:
        for proc in runs.values():  # one failed process leaves the other waiting: end both
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    if codes.get(0) == 77 or codes.get(1) == 77:
        pytest.skip("this jaxlib has no Gloo CPU collectives: "
                    + (errors.get(0) or errors.get(1) or "").strip()[-500:])
    for name, code in codes.items():
        assert code == 0, f"{name} exited {code}:\n{errors[name][-3000:]}"

    single = got["single"]
    assert (single["multi"], single["processes"], single["devices"]) == (False, 1, 1)
    for i in range(2):
        assert (got[i]["multi"], got[i]["process"], got[i]["processes"], got[i]["devices"]) \
            == (True, i, 2, 2)
        assert len(got[i]["members"]) == len(single["members"]) == 3
        for a, b in zip(got[i]["members"], single["members"]):
            assert a[:4] == b[:4] and a[1] == "ok", (a, b)  # genome, status, reason, steps
            np.testing.assert_allclose(a[4], b[4], rtol=0, atol=1e-4)  # val accuracy
            np.testing.assert_allclose(a[6], b[6], rtol=0, atol=1e-4)  # train accuracy
            np.testing.assert_allclose(a[5], b[5], rtol=1e-5)  # train loss
    # only process 0 wrote: process 1's output went to its own scratch folder, now removed
    assert sorted(p.name for p in out.parent.iterdir()) == ["results.json"]
    assert json.loads(out.read_text())["process"] == 0
    assert got[0]["wrote"] == str(out)
    assert Path(got[1]["wrote"]).parent.parent != out.parent
    assert not Path(got[1]["wrote"]).exists()


def test_redirect_outputs_keeps_process_zero_and_moves_the_others(tmp_path, monkeypatch):
    args = argparse.Namespace(json=tmp_path / "r.json", plot=None, run_dir=tmp_path / "run")
    assert distributed.redirect_outputs(args) is None
    assert (args.json, args.run_dir) == (tmp_path / "r.json", tmp_path / "run")
    run = tmp_path / "old_run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"json_path": str(tmp_path / "r.json"),
                                                 "config": {}}))
    monkeypatch.setattr(distributed.jax, "process_index", lambda: 1)
    args = argparse.Namespace(json=tmp_path / "r.json", plot=tmp_path / "p.png",
                              run_dir=None, resume=run)
    scratch = distributed.redirect_outputs(args)
    assert scratch is not None and scratch.is_dir() and tmp_path not in scratch.parents
    for path in (args.json, args.plot, args.resume):
        assert scratch in Path(path).parents
    assert args.run_dir is None
    assert json.loads((args.resume / "config.json").read_text())["json_path"] is None
    assert json.loads((run / "config.json").read_text())["json_path"] == str(tmp_path / "r.json")


def test_initialize_from_env_needs_all_three_variables(monkeypatch):
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES,
                 distributed.ENV_PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    assert distributed.initialize_from_env() is False
    monkeypatch.setenv(distributed.ENV_COORDINATOR, "127.0.0.1:1")
    with pytest.raises(ConfigError, match="set all of"):
        distributed.initialize_from_env()
    monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "2")
    monkeypatch.setenv(distributed.ENV_PROCESS_ID, "2")
    with pytest.raises(ConfigError, match=r"must be in \[0, 2\)"):
        distributed.initialize_from_env()

"""`jaxnas search` / `jaxnas plot`: reproducible results files, recorded environment, help
texts, and every plot kind rendered to real files."""

from __future__ import annotations

import json
import struct

import jax
import pytest

from jaxnas.benchmarks import get_oracle
from jaxnas.cli import build_parser, main
from jaxnas.errors import ConfigError
from jaxnas.search import runner
from jaxnas.search.egnas import EGNASConfig, TrainerEvaluator
from jaxnas.search.pareto import pareto_front
from jaxnas.search.egnas.state import outcome
from jaxnas.search.plots import egnas_trace, read_egnas_log
from jaxnas.search.runner import comparable
from jaxnas.search.store import SeedStore
from jaxnas.train.options import MemberResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _search(tmp_path, name, *extra):
    out = tmp_path / f"{name}.json"
    args = ["search", "--space", "nb201", "--dataset", "cifar10", "--queries", "40",
            "--seeds", "2", "--quiet", "--run-dir", str(tmp_path / f"run_{name}"),
            "--json", str(out), *extra]
    assert main(args) == 0
    return json.loads(out.read_text()), args


def test_same_command_same_seed_gives_the_same_results_file(tmp_path):
    a, args = _search(tmp_path, "a", "--strategy", "re", "--option", "population_size=8")
    b, _ = _search(tmp_path, "b", "--strategy", "re", "--option", "population_size=8")
    # only the documented volatile fields may differ: the speed-only process settings too
    assert comparable(a) == comparable(b)
    tuned_off = dict(b, environment=dict(b["environment"], process_env={"XLA_FLAGS": ""}))
    assert comparable(tuned_off) == comparable(a)
    assert comparable(dict(b, summary=[])) != comparable(a)
    assert a["runs"] == b["runs"] and a["summary"] == b["summary"]
    assert a["config"]["options"] == {"population_size": "8"}
    # a different seed gives a different file
    c, _ = _search(tmp_path, "c", "--strategy", "re", "--option", "population_size=8",
                   "--seed-offset", "5")
    assert c["runs"] != a["runs"]
    # the file records versions, backend, devices and the command line
    env = a["environment"]
    assert env["versions"]["jax"] == jax.__version__ and env["versions"]["jaxnas"]
    assert env["backend"] == jax.default_backend()
    assert env["devices"] == [str(d) for d in jax.devices()]
    assert env["command"] == ["jaxnas", *args]
    # the minimum schema: one curve entry per query
    for run in a["runs"]:
        assert [e["queries"] for e in run["curve"]] == list(range(1, 41))
        assert set(run["curve"][0]) >= {"queries", "arch", "search_metric", "report_metric"}


def test_resume_flag_completes_a_run_and_unknown_options_fail(tmp_path, capsys):
    from jaxnas.search.runner import RunConfig, run_seed

    config = RunConfig(strategy="random", queries=30, seeds=(0,))
    run_dir = tmp_path / "r"
    run_seed(config, 0, run_dir, stop_after_steps=5)
    from jaxnas.search.store import write_json_atomic

    write_json_atomic(run_dir / "config.json", {"config": config.to_json(),
                                                "environment": {}})
    assert main(["search", "--resume", str(run_dir), "--quiet", "--json",
                 str(tmp_path / "r.json")]) == 0
    done = json.loads((tmp_path / "r.json").read_text())
    assert done["runs"][0]["curve"] == run_seed(config, 0)["curve"]
    assert main(["search", "--option", "nonsense=1", "--queries", "5", "--quiet",
                 "--run-dir", str(tmp_path / "bad")]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_help_texts_explain_every_flag(capsys):
    parser = build_parser()
    for command in ("search", "plot"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = capsys.readouterr().out
        assert "example" in text
        sub = parser._subparsers._group_actions[0].choices[command]
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{command} {action.option_strings} has no help"


def test_plot_kinds_render_png_and_svg(tmp_path):
    re_results, _ = _search(tmp_path, "re", "--strategy", "re")
    _search(tmp_path, "rs", "--strategy", "random")
    _search(tmp_path, "hw", "--strategy", "re", "--device", "pixel3", "--max-latency", "15")
    files = {
        "curves": ["--kind", "curves", "--optimum"],
        "compare": ["--kind", "compare", "--band", "iqr", "--labels", "RE,random"],
    }
    for name, extra in files.items():
        out = tmp_path / f"{name}.png"
        assert main(["plot", str(tmp_path / "re.json"), str(tmp_path / "rs.json"),
                     "--out", str(out), *extra]) == 0
        w, h = _png_size(out)
        assert w > 300 and h > 200 and out.stat().st_size > 10_000
    out = tmp_path / "pareto.png"
    assert main(["plot", str(tmp_path / "hw.json"), "--kind", "pareto", "--out", str(out)]) == 0
    assert _png_size(out)[0] > 300
    out = tmp_path / "pareto.svg"  # a run without a device: --device given here
    assert main(["plot", str(tmp_path / "run_re"), "--kind", "pareto", "--device", "fpga",
                 "--out", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml") and "<svg" in out.read_text()
    # bad requests are errors that name the problem
    assert main(["plot", str(tmp_path / "re.json"), "--kind", "pareto",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert main(["plot", str(tmp_path / "re.json"), "--out", str(tmp_path / "x.jpg")]) == 2
    assert main(["plot", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.png")]) == 2
    assert re_results["run_dir"] == str(tmp_path / "run_re")
    # runs scored by training are labelled with what their proxy measured, not NB201's table
    from jaxnas.search.plots import _ylabel

    trained = dict(re_results, config=dict(re_results["config"], evaluator="train"))
    assert "200-epoch" in _ylabel([re_results], "report_metric")
    assert "proxy training" in _ylabel([trained], "report_metric")
    assert "200-epoch" in _ylabel([re_results, trained], "report_metric")  # mixed: the table's


def test_pareto_front_against_brute_force():
    oracle = get_oracle("nb201", "cifar10", "pixel3")
    lat = oracle.column("latency")[:3000]
    acc = oracle.column("test_acc_200")[:3000]
    front = set(pareto_front(acc, lat).tolist())
    for i in range(0, 3000, 7):
        dominated = bool(((lat <= lat[i]) & (acc >= acc[i]) &
                          ((lat < lat[i]) | (acc > acc[i]))).any())
        assert (i in front) != dominated


ROLE_PHASE = {"start": "depth", "depth": "depth", "width": "width", "op_base": "ops",
              "op": "ops", "op_combo": "ops", "kernel": "kernels", "kernel_combo": "kernels"}


def test_egnas_trace_infers_the_phases_of_a_real_search_log(tmp_path, monkeypatch):
    """Run EG-NAS through the runner with a trainer whose accuracy depends on the genome, and
    check the trace's phases (inferred from the run's log) against the roles the strategy
    asked for (kept in its final state)."""
    cfg = EGNASConfig(max_width=24, max_depth_candidates=4, max_width_candidates=3,
                      micro_layers=3)

    def train_fn(space_name, genomes, budgets, train, val, **kwargs):
        out = []
        for g, b in zip(genomes, budgets):
            acc = 80 + 0.3 * g.depth - 0.05 * abs(g.width - 20) + 0.2 * sum(g.ops) \
                + 0.1 * b.epochs
            out.append(MemberResult("g", "ok", val_acc_per_epoch=(acc - 1, acc),
                                    train_acc_per_epoch=(80.0, 90.0), params=1))
        return out

    made = []

    def make_evaluator(name, space, context, **options):
        made.append(TrainerEvaluator(space, context, cfg, data=(None, None, None),
                                     train_fn=train_fn))
        return made[-1]

    monkeypatch.setattr(runner, "make_evaluator", make_evaluator)
    options = (("max_depth_candidates", "4"), ("max_width", "24"),
               ("max_width_candidates", "3"), ("micro_layers", "3"))
    config = runner.RunConfig(space="egnas", dataset="fashion_mnist", strategy="egnas",
                              queries=10 ** 6, options=options)
    run_dir = tmp_path / "run"
    runner.run_seed(config, 0, run_dir)
    trainings = made[-1].trainings
    strategy, _, _ = runner.build(config)
    state = SeedStore(run_dir, 0).load_checkpoint(strategy.init(0)).state
    roles = {}
    for row in state.history:
        cand = outcome(row).candidate
        roles.setdefault((cand.genome, cand.epochs), cand.role)
    records = read_egnas_log(run_dir)
    rows = egnas_trace(records)
    assert len(rows) == len(records) == trainings
    want = [ROLE_PHASE[roles[r["genome"], r["info"]["epochs"]]] for r in records]
    assert [r["phase"] for r in rows] == want
    assert {"depth", "width", "ops", "kernels"} <= set(want)
    out = tmp_path / "trace.png"
    assert main(["plot", str(run_dir), "--kind", "egnas-trace", "--out", str(out)]) == 0
    assert _png_size(out)[1] > 300
    with pytest.raises(ConfigError):
        from jaxnas.search.plots import plot_curves

        plot_curves([], tmp_path / "none.png")


def test_compile_cache_is_written_and_can_be_turned_off(tmp_path, monkeypatch):
    import jax
    import jax.numpy as jnp

    from jaxnas.compile_cache import default_compile_cache_dir, enable_compile_cache

    assert enable_compile_cache("none") is None and enable_compile_cache(None) is None
    monkeypatch.setenv("JAXNAS_COMPILE_CACHE", str(tmp_path / "env"))
    assert default_compile_cache_dir() == str(tmp_path / "env")
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes", "jax_compilation_cache_max_size")
    before = {k: getattr(jax.config, k) for k in keys}
    try:
        used = enable_compile_cache(tmp_path / "xla", min_compile_seconds=0.0)
        assert used == str(tmp_path / "xla")
        jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.25)(jnp.ones(7)).block_until_ready()
        assert any((tmp_path / "xla").iterdir()), "no compiled program was stored"
    finally:
        for k, v in before.items():
            jax.config.update(k, v)


def _run_jaxnas(args, env_changes, cwd):
    import os
    import subprocess
    import sys

    env = dict(os.environ, **env_changes)
    env.pop("JAXNAS_COMPILE_CACHE", None)
    return subprocess.run([sys.executable, "-m", "jaxnas", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_an_unusable_cache_folder_is_one_note_and_the_command_still_works(tmp_path):
    from jaxnas.compile_cache import cache_problem

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert "cannot write" in cache_problem(blocker / "xla")
    # a HOME/XDG cache that cannot be created (read-only containers, clusters)
    done = _run_jaxnas(["describe", "egnas", "L10-C64-o0000000000-k3333333333",
                        "--dataset", "fashion_mnist"],
                       {"XDG_CACHE_HOME": str(blocker)}, tmp_path)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.strip()]
    assert notes == [notes[0]] and "compile cache off" in notes[0], done.stderr
    assert json.loads(done.stdout)["params"] == 307146  # the authors' log: 0.307146 MB


def test_cache_failures_while_running_print_one_line(capsys):
    import warnings

    from jaxnas.compile_cache import one_line_cache_warnings

    with one_line_cache_warnings():
        for _ in range(3):  # JAX warns once per program whose entry could not be written
            warnings.warn("Error writing persistent compilation cache entry for 'jit_f': "
                          "OSError: [Errno 28] No space left on device", UserWarning)
    err = capsys.readouterr().err
    assert err.count("compile cache failed") == 1 and "No space left on device" in err

"""`jaxnas bench` helpers and the PyTorch reference's architecture parity."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxnas.cli import build_parser, main
from jaxnas.train.bench import bench_genomes, format_table, measure_executor
from jaxnas.errors import ConfigError, UnknownNameError
from jaxnas.nn import count_params
from jaxnas.spaces import get_space
from jaxnas.spaces.egnas import EgnasGenome

ROOT = Path(__file__).resolve().parents[1]


def test_bench_genomes_seeded_in_range_and_valid():
    a = bench_genomes("egnas", 16, seed=3)
    b = bench_genomes("egnas", 16, seed=3)
    assert a == b and a != bench_genomes("egnas", 16, seed=4)
    space = get_space("egnas", max_width=64, kernel_choices=(3, 5))
    for g in a:
        space.validate(g)
        assert 10 <= g.depth <= 20 and 16 <= g.width <= 64 and g.width % 2 == 0
    # prefixes are stable: P=4 uses the same networks as the first 4 of P=16
    assert bench_genomes("egnas", 4, seed=3) == a[:4]
    nb = bench_genomes("nb201", 5, seed=0)
    assert len({get_space("nb201").key(g) for g in nb}) == 5


def test_bench_genomes_rejects_bad_input():
    with pytest.raises(ConfigError, match="n=0"):
        bench_genomes("egnas", 0)
    with pytest.raises(ConfigError, match="depth range"):
        bench_genomes("egnas", 2, depth=(12, 10))


def test_bench_cli_parses_and_rejects_unknown_executor(capsys):
    args = build_parser().parse_args(["bench", "egnas", "-p", "2", "--executor", "loop"])
    assert args.population == 2 and args.executor == "loop" and args.run.__module__.endswith(
        "bench_cmd")
    assert main(["bench", "egnas", "--executor", "warp"]) == 2
    assert "warp" in capsys.readouterr().err
    # README spelling `jaxnas bench --space egnas` is accepted; no space is an error
    args = build_parser().parse_args(["bench", "--space", "nb201"])
    assert args.space is None and args.space_option == "nb201"
    assert main(["bench", "--executor", "loop"]) == 2
    assert "search space" in capsys.readouterr().err


@pytest.mark.slow  # one real compile: ~20 s idle, > 60 s on the loaded shared machine
def test_measure_executor_tiny_loop(tmp_path):
    """A real (tiny) measurement through train_population: numbers are positive and
    consistent with each other."""
    g = [EgnasGenome(3, 4, (0, 1, 0), (3, 3, 5))]
    r = measure_executor("egnas", g, "loop", steps=1, batch_size=8, warm_calls=1,
                         epoch_images=80)
    assert r["statuses"] == ["ok"] and r["executor_used"] == ["loop"] and not r["partial"]
    assert r["images_per_s"] > 0 and r["compile_s"] >= 0 and r["peak_rss_mb"] > 50
    assert r["images_per_s"] == pytest.approx(8 / r["population_step_s"])
    assert r["candidate_epoch_s"] >= 10 * r["population_step_s"]
    assert "egnas" in format_table([r])
    json.dumps(r)  # serialisable


def _torch_reference():
    pytest.importorskip("torch", reason="the PyTorch reference needs the bench extra: "
                                 "pip install -e '.[bench]'")
    spec = importlib.util.spec_from_file_location(
        "torch_reference", ROOT / "experiments" / "torch_reference.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["torch_reference"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_torch_reference_matches_jaxnas_parameter_counts():
    ref = _torch_reference()
    # the authors' logged L10-C64 CIFAR-10 network (docs/algorithms.md): 309,450 parameters
    g = EgnasGenome(10, 64, (0,) * 10, (3,) * 10)
    assert ref.count_params(ref.build("egnas", g, 3, 10)) == 309450
    rng = np.random.default_rng(1)
    for g in bench_genomes("egnas", 3, seed=5):
        assert ref.count_params(ref.build("egnas", g, 3, 10)) == count_params(
            "egnas", g, 10, (32, 32, 3))
    nb = get_space("nb201")
    for _ in range(3):
        g = nb.sample(rng)
        assert ref.count_params(ref.build("nb201", g, 3, 100)) == count_params(
            "nb201", g, 100, (32, 32, 3))


def test_torch_reference_trains():
    ref = _torch_reference()
    import torch
    model = ref.build("egnas", EgnasGenome(3, 8, (0, 1, 0), (3, 5, 3)), 1, 10)
    imgs = torch.randint(0, 256, (64, 1, 32, 32), dtype=torch.uint8)
    labs = torch.randint(0, 10, (64,))
    first, step, losses = ref.time_training(model, imgs, labs, batch_size=16, steps=2)
    assert first > 0 and step > 0 and len(losses) == 3 and all(np.isfinite(losses))


def test_unknown_space_is_reported():
    with pytest.raises(UnknownNameError):
        bench_genomes("nb999", 2)

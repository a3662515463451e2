"""EG-NAS against the authors' own search logs (the two Fashion-MNIST logs shipped in
jaxnas/benchmarks/data/egnas_logs): the parser, the parameter count of every logged candidate,
and the replay evaluator, which makes the faithful search ask exactly the log's candidates
and end with the log's final architecture. Nothing is trained: each test takes seconds."""

from __future__ import annotations

import json
import math

import pytest

from jaxnas.benchmarks.egnas_log import (
    LOG_DATASETS,
    parse_arguments,
    parse_log,
    shipped_log,
    shipped_logs,
    torch_printed_lr,
)
from jaxnas.errors import ConfigError
from jaxnas.nn import count_params
from jaxnas.search.egnas.replay import (
    ReplayEvaluator,
    ReplayMismatch,
    log_options,
    replay_run_config,
)
from jaxnas.search.base import SearchContext
from jaxnas.search.runner import run_search
from jaxnas.spaces.egnas import EgnasGenome

FINALS = {
    "FashionMNIST-20240213-114828": "L18-C46-o010001000100000000-k333333335333333333",
    "FashionMNIST-20240215-123604": "L16-C62-o0110100010010001-k3333335333335333",
}


def _genome(text: str) -> EgnasGenome:
    from jaxnas.spaces.egnas import EgnasSpace

    return EgnasSpace(min_depth=1, min_width=1, max_width=256).parse(text)


def _count(text: str, log) -> int:
    return count_params("egnas", _genome(text), log.num_classes,
                        (log.image_size, log.image_size, log.channels))


def test_both_logs_ship_with_the_package():
    assert set(shipped_logs()) == set(FINALS)


@pytest.mark.parametrize("name", sorted(FINALS))
def test_parser_reads_the_whole_log(name):
    log = parse_log(shipped_log(name))
    assert log.dataset == "fashion_mnist" and (log.channels, log.num_classes) == (1, 10)
    assert log.arguments["valid_size"] == 0.0 and log.arguments["max_depth"] == 100
    roles = [c.role for c in log.candidates]
    assert roles[0] == "start" and roles.count("op_base") == 1
    depth = log.final_depth
    assert roles.count("op") == depth and roles.count("kernel") == depth
    assert log.final.genome == FINALS[name]
    for c in log.candidates:
        assert len(c.valid_acc) == len(c.train_acc) == len(c.lr) == c.epochs
        assert c.best_valid == pytest.approx(max(c.valid_acc), abs=1e-5)
        # the lr column is PyTorch's chained-form get_lr() of the cosine schedule
        for e, lr in enumerate(c.lr):
            expected = torch_printed_lr(e, c.epochs, log.arguments["learning_rate"])
            assert lr == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_start_network_of_the_64_wide_log():
    log = parse_log(shipped_log("FashionMNIST-20240213-114828"))
    start = log.candidates[0]
    assert start.genome == "L10-C64-o0000000000-k3333333333"
    assert start.params == 307_146 and start.epochs == 10
    assert start.valid_acc[0] == pytest.approx(85.79) and start.best_valid == pytest.approx(92.82)
    assert start.lr[0] == pytest.approx(2.379138e-02)
    assert (log.final_depth, log.final_width, log.final_epochs) == (18, 54, 32)


@pytest.mark.parametrize("name", sorted(FINALS))
def test_every_logged_parameter_count_matches(name):
    log = parse_log(shipped_log(name))
    # every trained candidate: depth, width, ops and kernels phases
    for c in log.candidates:
        assert _count(c.genome, log) == c.params, (c.role, c.genome, c.line)
    by_kind = {s.kind: s for s in log.summaries}
    # the end of the macro phase and the final block count their own genome
    assert _count(by_kind["macro_end"].genome, log) == by_kind["macro_end"].params
    assert _count(by_kind["final"].genome, log) == by_kind["final"].params
    # the micro summaries print the incumbent's lists beside the last candidate's count
    last_op = [c for c in log.candidates if c.role == "op"][-1]
    last_kernel = [c for c in log.candidates if c.role == "kernel"][-1]
    assert by_kind["ops_end"].params == last_op.params
    assert by_kind["micro_end"].params == last_kernel.params


@pytest.mark.parametrize("name", sorted(FINALS))
def test_faithful_search_replays_the_log_exactly(name, tmp_path):
    log = parse_log(shipped_log(name))
    results = run_search(replay_run_config(name), tmp_path / "run", json_path=tmp_path / "r.json")
    run = json.loads((tmp_path / "r.json").read_text())["runs"][0]
    assert run["asked"] == [c.genome for c in log.candidates]  # every candidate, in order
    assert run["result"]["genome"] == FINALS[name]
    assert results["runs"][0]["queries"] == log.total_epochs


def test_replay_options_come_from_the_arguments_line():
    log = parse_log(shipped_log("FashionMNIST-20240215-123604"))
    opts = log_options(log)
    assert opts["max_width"] == 128 and opts["min_width"] == 16 and opts["start_epochs"] == 10
    assert opts["add_epochs"] == 1 and opts["add_epochs_w"] == 2
    assert opts["selection"] == "test"  # valid_size=0.0: the authors select on the test set
    assert opts["cutout_size"] == 16 and opts["grad_clip_norm"] == 5.0
    assert opts["dp_break_tolerance"] == 2 and opts["ch_drop_tolerance"] == 0.05


def test_a_candidate_the_log_lacks_stops_with_both_names(tmp_path):
    config = replay_run_config("FashionMNIST-20240213-114828")
    opts = dict(config.options)
    opts["dp_break_tolerance"] = "1"  # stops the depth phase one candidate early
    import dataclasses

    config = dataclasses.replace(config, options=tuple(sorted(opts.items())))
    with pytest.raises(ReplayMismatch) as err:
        run_search(config, tmp_path / "run")
    msg = str(err.value)
    assert "L18-C62-o000000000000000000-k333333333333333333" in msg  # what the search asked
    assert "L22-C64-o0000000000000000000000-k3333333333333333333333" in msg  # log's next


def test_dataset_must_be_the_logs():
    with pytest.raises(ConfigError, match="fashion_mnist"):
        ReplayEvaluator(None, SearchContext(space_name="egnas", dataset="cifar10"),
                        log="FashionMNIST-20240213-114828")


def test_cli_replay(tmp_path, monkeypatch):
    from jaxnas.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.json"
    assert main(["search", "--space", "egnas", "--strategy", "egnas", "--evaluator", "replay",
                 "--replay-log", str(shipped_log("FashionMNIST-20240215-123604")),
                 "--json", str(out), "--quiet"]) == 0
    results = json.loads(out.read_text())
    assert results["config"]["dataset"] == "fashion_mnist"
    assert dict(results["config"]["evaluator_options"])["log"].endswith(
        "FashionMNIST-20240215-123604.txt")
    assert results["runs"][0]["result"]["genome"] == FINALS["FashionMNIST-20240215-123604"]


@pytest.mark.parametrize("dataset", sorted(LOG_DATASETS))
def test_parser_handles_every_dataset_and_wrapped_lists(dataset):
    # the authors' argparse order (their EMNIST / KMNIST / CIFAR logs) and a 40-layer block,
    # whose per-layer lists numpy wraps over several lines
    args = (f"Namespace(dataset='{dataset}', datapath='/data', valid_size=0.0, batch_size=64, "
            "learning_rate=0.025, momentum=0.9, weight_decay=0.0003, grad_clip=5, epochs=10, "
            "report_freq=1, gpu=1, cutout=True, cutout_length=16, model_path='saved_models', "
            "save='x', seed=0, add_epochs=1, add_epochs_w=2, target_acc=100.0, "
            "target_acc_tolerance=0.1, ch_drop_tolerance=0.05, dp_break_tolerance=2, "
            "ch_break_tolerance=2, dp_add_tolerance=0.1, min_width=16, max_width=128, "
            "width_resolution=2, min_depth=40, max_depth=100)")
    stamp = "2024-02-14 16:00:04,081 "
    ops = " ".join(["0"] * 40)
    ks = " ".join(["3"] * 40)
    lines = [stamp + "Arguments = " + args, stamp + "RUNNING DEPTH SEARCH FIRST...",
             stamp + "MODEL DETAILS", stamp + "Model Depth 40 Model Width 128",
             stamp + f"Model Layers [{ops[:70]}", f" {ops[70:]}] Model Kernels [{ks[:50]}",
             f" {ks[50:]}]", stamp + "Training epochs 1.000000",
             stamp + "Model Parameters = 1.500000MB", stamp + "Training Model...",
             stamp + "epoch 0 lr 0.000000e+00", stamp + "train_acc 50.5",
             stamp + "valid_acc 60.25", stamp + "Best Training Accuracy 50.500000",
             stamp + "Best Validation Accuracy 60.250000", stamp + "Test Loss: 0.2", stamp,
             "Test Accuracy (Overall): 60.25% (1/1)"]
    log = parse_log(text="\n".join(lines))
    name, channels, classes, _ = LOG_DATASETS[dataset]
    assert (log.dataset, log.channels, log.num_classes) == (name, channels, classes)
    (c,) = log.candidates
    assert c.depth == 40 and c.ops == (0,) * 40 and c.kernels == (3,) * 40
    assert (c.params, c.best_valid, c.best_train) == (1_500_000, 60.25, 50.5)
    assert log_options(log)["min_depth"] == 40


def test_unknown_arguments_are_not_dropped_silently():
    log = parse_log(text="2024-01-01 00:00:00,000 Arguments = Namespace(dataset='KMNIST', "
                         "drop_path_prob=0.2)")
    with pytest.raises(ConfigError, match="drop_path_prob"):
        log_options(log)
    assert parse_arguments("Namespace(a=1, b='x', c=True)") == {"a": 1, "b": "x", "c": True}
    assert math.isclose(torch_printed_lr(0, 10, 0.025), 2.379138e-02, rel_tol=1e-6)

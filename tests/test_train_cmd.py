"""``jaxnas train``: one genome, the EG-NAS recipe, best and final test accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxnas.cli import main
from jaxnas.errors import ConfigError, InvalidGenomeError
from jaxnas.nn import count_params
from jaxnas.spaces import get_space, parse_genome
from jaxnas.train.recipe import TrainRecipe
from jaxnas.train.single import load_split_data, parse_searched_genome, train_genome


def test_parse_genome_validates_against_the_space_limits():
    g = parse_genome("egnas", "L10-C16-o0000000000-k3333333333")
    assert (g.depth, g.width) == (10, 16)
    for bad in ("L1-C999999-o0-k3", "L4-C7-o0100-k3353", "L4-C7-o010-k3353", "nonsense"):
        with pytest.raises(InvalidGenomeError):
            parse_genome("egnas", bad)
    assert parse_genome("egnas", "L4-C7-o0100-k3353", min_depth=1, min_width=1).width == 7
    space = get_space("nb201")
    s = space.to_string(space.sample(np.random.default_rng(0)))
    assert space.to_string(parse_genome("nb201", s)) == s
    with pytest.raises(InvalidGenomeError):
        parse_genome("nb201", "|conv~0|")


def test_train_takes_any_searched_egnas_depth_and_width_up_to_the_maxima():
    # the search's presets start shallower and its micro phase shrinks below min_width
    g, text = parse_searched_genome("egnas", "L4-C7-o0100-k3353")
    assert (g.depth, g.width, g.ops, g.kernels) == (4, 7, (0, 1, 0, 0), (3, 3, 5, 3))
    assert text == "L4-C7-o0100-k3353"
    with pytest.raises(InvalidGenomeError, match="width=999999"):
        parse_searched_genome("egnas", "L1-C999999-o0-k3")
    with pytest.raises(InvalidGenomeError):
        parse_searched_genome("egnas", "L4-C7-o010-k3353")


def test_cli_rejects_a_genome_outside_the_space_in_one_line(capsys):
    rc = main(["train", "--space", "egnas", "--genome", "L1-C999999-o0-k3", "--dataset",
               "fashion_mnist", "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("jaxnas train: error:") and "width=999999" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_recipe_defaults_are_the_train_recipe():
    from jaxnas.cli import build_parser
    from jaxnas.cli.train_cmd import _recipe_overrides

    args = build_parser().parse_args(["train", "--space", "egnas", "--genome", "x",
                                      "--dataset", "mnist", "--epochs", "3"])
    assert _recipe_overrides(args) == {}  # every default comes from TrainRecipe
    args = build_parser().parse_args(["train", "--space", "egnas", "--genome", "x", "--dataset",
                                      "mnist", "--epochs", "3", "--grad-clip", "0",
                                      "--learning-rate", "0.1"])
    assert _recipe_overrides(args) == {"grad_clip_norm": None, "learning_rate": 0.1}
    assert TrainRecipe(epochs=1).learning_rate == 0.025


@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": 0}, "epochs 0"),
    ({"epochs": 1, "val_fraction": 1.0}, "val_fraction 1.0"),
    # already loaded splits (no file is read before these checks)
    ({"epochs": 1, "data": ("tr", None, "te"), "n_train": 5}, "^n_train given with already"),
    ({"epochs": 1, "data": ("tr", "va", "te")}, "val_fraction 0.0 does not match"),
    ({"epochs": 1, "data": ("tr", "te")}, "got 2 items"),
])
def test_bad_arguments_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        train_genome("egnas", "L4-C8-o0000-k3333", "fashion_mnist", **kwargs)


def test_cli_reports_bad_net_option(capsys):
    rc = main(["train", "--space", "egnas", "--genome", "L4-C8-o0000-k3333", "--dataset",
               "fashion_mnist", "--epochs", "1", "--net-option", "oops"])
    assert rc == 2 and "KEY=VALUE" in capsys.readouterr().err


def test_train_real_fashion_mnist_reports_best_and_final_test(shared_data, tmp_path, capsys):
    out = tmp_path / "train.json"
    command = ["train", "--space", "egnas", "--genome", "L4-C6-o0100-k3333", "--dataset",
               "fashion_mnist", "--epochs", "2", "--n-train", "256", "--n-test", "100",
               "--data-dir", str(shared_data), "--json", str(out),
               "--checkpoint-dir", str(tmp_path / "ck")]
    rc = main(command)
    assert rc == 0
    res = json.loads(out.read_text())
    (checkpoint,) = (tmp_path / "ck").glob("*.ckpt")
    saved = checkpoint.stat().st_mtime_ns
    assert main(command) == 0  # the same command again: restored, nothing trained
    again = json.loads(out.read_text())
    assert checkpoint.stat().st_mtime_ns == saved
    assert again["test_acc_per_epoch"] == res["test_acc_per_epoch"]
    assert again["train_loss_per_epoch"] == res["train_loss_per_epoch"]
    curve = res["test_acc_per_epoch"]
    assert res["status"] == "ok" and len(curve) == 2 and res["epochs"] == 2
    assert res["best_test_acc"] == max(curve) and res["final_test_acc"] == curve[-1]
    assert curve[res["best_test_epoch"] - 1] == max(curve)
    assert all(0.0 <= a <= 100.0 for a in curve)
    assert res["train_images"] == 256 and res["test_images"] == 100
    g, _ = parse_searched_genome("egnas", "L4-C6-o0100-k3333")
    assert res["params"] == count_params("egnas", g, 10, (28, 28, 1))
    # the authors' recipe (docs/algorithms.md): 32 px crops of the 28 px images, cutout 16, ...
    assert res["recipe"]["crop_size"] == 32 and res["recipe"]["cutout_size"] == 16
    assert res["recipe"]["batch_size"] == 64 and res["recipe"]["learning_rate"] == 0.025
    printed = capsys.readouterr().out
    assert f"best test acc {max(curve):.2f} %" in printed
    assert f"final test acc {curve[-1]:.2f} %" in printed


@pytest.mark.slow
def test_train_with_validation_split_reports_test_at_best_val(shared_data):
    # 237 s together with the test above on the loaded 2-core machine, hence slow
    res2 = train_genome("egnas", "L4-C6-o0100-k3333", "fashion_mnist", 2, val_fraction=0.1,
                        n_train=512, n_test=200, data_dir=str(shared_data))
    val = res2["val_acc_per_epoch"]
    assert len(val) == 2 and res2["val_images"] == 6000
    assert res2["test_acc_at_best_val"] == res2["test_acc_per_epoch"][val.index(max(val))]
    # the same splits loaded beforehand (a caller training several genomes): same training
    data = load_split_data("fashion_mnist", str(shared_data), 0.1, 512, 200, 0)
    res3 = train_genome("egnas", "L4-C6-o0100-k3333", "fashion_mnist", 2, val_fraction=0.1,
                        data=data)
    assert res3["val_acc_per_epoch"] == val
    assert res3["test_acc_per_epoch"] == res2["test_acc_per_epoch"]

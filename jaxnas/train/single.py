"""Train one genome from scratch on a real dataset and report its test accuracy (the library
side of ``jaxnas train``).

The recipe is :class:`~jaxnas.train.recipe.TrainRecipe`'s (the EG-NAS authors' final
training; docs/algorithms.md, "Training recipe") unless overridden. The whole training split is
trained on and the test split is evaluated after every epoch; the result holds the best and the
final test accuracy (the authors report the best). ``val_fraction`` holds out a seeded
validation split instead and adds the test accuracy at the epoch of the best validation
accuracy (the honest estimate).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from jaxnas.errors import ConfigError
from jaxnas.spaces import get_space, parse_genome
from jaxnas.train.options import MemberResult, TrainOptions
from jaxnas.train.recipe import TrainRecipe

#: limits a genome to train must keep, per space (``get_space(name, **limits)``; the space's
#: defaults otherwise). An EG-NAS search returns nets below the egnas space's default minimum
#: depth 10 and width 16 (its presets start lower and the micro phase shrinks the width one
#: channel at a time), so only the upper limits hold for egnas.
SEARCHED_GENOME_LIMITS: Mapping[str, Mapping[str, int]] = {
    "egnas": {"min_depth": 1, "min_width": 1},
}


def parse_searched_genome(space_name: str, text: str,
                          limits: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """(genome, canonical string) of ``text``, validated by :func:`jaxnas.spaces.parse_genome`
    within ``limits`` (default :data:`SEARCHED_GENOME_LIMITS` of the space)."""
    limits = dict(SEARCHED_GENOME_LIMITS.get(space_name, {}) if limits is None else limits)
    genome = parse_genome(space_name, text, **limits)
    return genome, get_space(space_name, **limits).to_string(genome)


def single_recipe(space_name: str, epochs: int, **overrides: Any) -> TrainRecipe:
    """The :class:`TrainRecipe` of ``epochs`` epochs with ``overrides`` (recipe fields); the
    crop is 32 px for egnas (the authors crop 32 px even from 28 px MNIST-family images) and the
    dataset's training crop for the other spaces, unless ``crop_size`` is given."""
    if epochs < 1 or int(epochs) != epochs:
        raise ConfigError(f"epochs {epochs!r} must be an integer >= 1")
    if space_name != "egnas":
        overrides.setdefault("crop_size", None)  # None: the dataset's training crop
    elif overrides.get("crop_size", 0) is None:
        del overrides["crop_size"]  # egnas: the recipe's default crop
    try:
        return TrainRecipe(epochs=int(epochs), **overrides)
    except TypeError as error:
        raise ConfigError(f"bad recipe option(s) {sorted(overrides)}: {error}") from None


def load_split_data(dataset: str, data_dir: str | None, val_fraction: float,
                    n_train: int | None, n_test: int | None, seed: int) -> tuple[Any, Any, Any]:
    """(train, val or None, test) of ``dataset``: ``val_fraction`` of the training split held
    out (seeded), then seeded subsets of ``n_train`` / ``n_test`` images when given."""
    from jaxnas.data import load_dataset, subset, train_val_split

    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction {val_fraction} must be in [0, 1)")
    train = load_dataset(dataset, "train", data_dir)
    test = load_dataset(dataset, "test", data_dir)
    val = None
    if val_fraction > 0:
        train, val = train_val_split(train, val_fraction, seed)
    if n_train is not None and n_train < len(train):
        train = subset(train, n_train, seed)
    if n_test is not None and n_test < len(test):
        test = subset(test, n_test, seed + 2)
    return train, val, test


def train_genome(space_name: str, genome_text: str, dataset: str, epochs: int, *,
                 val_fraction: float = 0.0, n_train: int | None = None,
                 n_test: int | None = None, seed: int = 0, executor: str = "auto",
                 net_options: tuple[tuple[str, Any], ...] = (), data_dir: str | None = None,
                 progress: bool = False, conv_impl: str = "auto",
                 limits: Mapping[str, Any] | None = None,
                 checkpoint_dir: str | Path | None = None,
                 data: tuple[Any, Any, Any] | None = None, **recipe: Any) -> dict[str, Any]:
    """Train one genome and return what ``jaxnas train`` prints and writes (a JSON-able dict:
    best/final test accuracy, the epoch of the best, params, curves, wall time, recipe).

    ``recipe``: :class:`TrainRecipe` fields overriding its defaults (:func:`single_recipe`).
    ``conv_impl``: the network's ``conv_impl`` (:data:`jaxnas.nn.layers.CONV_IMPLS`, speed
    only). ``limits``: see :func:`parse_searched_genome`. ``checkpoint_dir``: save the state
    after every epoch and continue from it when called again (``train_population``'s).
    ``data``: the (train, val or None, test) splits of ``dataset``, already loaded by
    :func:`load_split_data` (a caller training several genomes loads them once); then
    ``data_dir``, ``n_train`` and ``n_test`` must stay None and ``val_fraction`` must be the
    one the splits were made with (it is recorded).
    """
    import jax

    from jaxnas.train.population import train_population

    rec = single_recipe(space_name, epochs, **recipe)
    genome, canonical = parse_searched_genome(space_name, genome_text, limits)
    if data is None:
        data = load_split_data(dataset, data_dir, val_fraction, n_train, n_test, seed)
    else:
        _check_loaded(data, val_fraction, data_dir=data_dir, n_train=n_train, n_test=n_test)
    train, val, test = data
    opts = TrainOptions(network_options=tuple(net_options), network_conv_impl=conv_impl)
    start = time.perf_counter()
    # without a validation split the test set is the trainer's (only) evaluation set, so it
    # is evaluated once per epoch, not twice
    (res,) = train_population(space_name, [genome], [rec], train,
                              val if val is not None else test, key=jax.random.PRNGKey(seed),
                              executor=executor, test_data=test if val is not None else None,
                              progress=progress, options=opts, checkpoint_dir=checkpoint_dir)
    out = _summary(res, val is not None, time.perf_counter() - start)
    out.update(space=space_name, genome=canonical, dataset=dataset, epochs=rec.epochs,
               train_images=len(train), test_images=len(test), seed=int(seed),
               recipe={"batch_size": rec.batch_size, "learning_rate": rec.learning_rate,
                       "momentum": rec.momentum, "weight_decay": rec.weight_decay,
                       "grad_clip_norm": rec.grad_clip_norm, "schedule": rec.schedule,
                       "cutout_size": rec.cutout_size, "crop_size": rec.crop_size,
                       "crop_padding": rec.crop_padding, "val_fraction": val_fraction})
    if val is not None:
        out["val_images"] = len(val)
    return out


def _check_loaded(data: tuple[Any, Any, Any], val_fraction: float, **loading: Any) -> None:
    """Reject loading arguments next to already loaded splits, and a ``val_fraction`` the
    splits contradict."""
    given = sorted(name for name, value in loading.items() if value is not None)
    if given:
        raise ConfigError(f"{', '.join(given)} given with already loaded data; pass them to "
                          "load_split_data instead")
    if len(data) != 3:
        raise ConfigError(f"data must be (train, val or None, test), got {len(data)} items")
    if (data[1] is not None) != (val_fraction > 0):
        raise ConfigError(f"val_fraction {val_fraction} does not match the loaded data "
                          f"({'a' if data[1] is not None else 'no'} validation split)")


def _summary(res: MemberResult, has_val: bool, wall: float) -> dict[str, Any]:
    """The accuracies of one trained member: the test curve, its best and final value and,
    with a validation split, the test accuracy at the best validation epoch."""
    test_curve = [float(v) for v in (res.test_acc_per_epoch if has_val
                                     else res.val_acc_per_epoch)]
    out: dict[str, Any] = {
        "status": res.status, "reason": res.reason, "params": int(res.params),
        "flops": int(res.flops),
        "best_test_acc": max(test_curve) if test_curve else None,
        "best_test_epoch": (test_curve.index(max(test_curve)) + 1) if test_curve else None,
        "final_test_acc": test_curve[-1] if test_curve else None,
        "test_acc_per_epoch": test_curve,
        "train_acc_per_epoch": [float(v) for v in res.train_acc_per_epoch],
        "train_loss_per_epoch": [float(v) for v in res.train_loss_per_epoch],
        "wall_time_s": wall, "executor": res.executor,
    }
    if has_val:
        val_curve = [float(v) for v in res.val_acc_per_epoch]
        out["val_acc_per_epoch"] = val_curve
        if val_curve and test_curve:
            best = val_curve.index(max(val_curve))
            out["best_val_acc"] = val_curve[best]
            out["test_acc_at_best_val"] = test_curve[best] if best < len(test_curve) else None
    return out


__all__ = ["SEARCHED_GENOME_LIMITS", "load_split_data", "parse_searched_genome",
           "single_recipe", "train_genome"]

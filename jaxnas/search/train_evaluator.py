"""The ``train`` evaluator: every batch a strategy asks is trained as one population.

``jaxnas search --evaluator train --dataset D --train-preset P`` scores the cells that any
strategy proposes by training them with :func:`jaxnas.train.train_population` (executor
``auto``, data on the device, on-device augmentation) on a seeded train/validation split:

* ``metrics``: ``{"accuracy": best validation accuracy %}``, the only value a strategy sees;
* ``report``: ``{"test_accuracy": test accuracy % after the last epoch}``, never seen;
* ``cost``: 1 query per cell trained (a cell already trained costs 0 and returns its record);
  ``info["cost"]`` holds the candidate-epochs and the wall seconds split into compile and
  train;
* ``info``: params, FLOPs, status (``ok``/``diverged``/``failed``) and reason, the recipe's
  epochs, the budget policy and the per-epoch curves.

A diverged or failed member is recorded with its reason and accuracy 0; the search goes on.
Each finished member is handed to the runner at once (``on_record``), which appends it to the
fsynced log, so a kill loses at most the members still in training.

Budget policies (``policy=uniform|aware``) and presets (``preset=smoke|cpu|paper``) are
documented in :mod:`jaxnas.train.allocation` and :mod:`jaxnas.train.presets`; ``epochs``,
``train_images``, ``val_images`` and ``test_images`` override a preset's values (results
record the preset as used).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from typing import Any, Callable, Sequence

import jax

from jaxnas.data import ArrayDataset, data_fingerprint, load_dataset, train_val_split
from jaxnas.data.splits import subset
from jaxnas.nn import count_flops
from jaxnas.errors import ConfigError, check_choice
from jaxnas.search.base import ACCURACY, EvalRecord, Evaluator, SearchContext
from jaxnas.train import train_population
from jaxnas.train.allocation import cell_weights, egnas_weight, epochs_per_member
from jaxnas.train.options import EXECUTORS, TrainOptions
from jaxnas.train.presets import TrainPreset, get_preset
from jaxnas.train.recipe import TrainRecipe

OnRecord = Callable[[int, EvalRecord], None]


def load_search_data(preset: TrainPreset, dataset: str, data_dir: str | None
                     ) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
    """(train, validation, test) of ``dataset`` at the preset's sizes; validation comes out of
    the training split with the preset's fixed seed, so every search seed sees the same data."""
    full = load_dataset(dataset, "train", data_dir)
    test = load_dataset(dataset, "test", data_dir)
    val_fraction = (preset.val_images / len(full) if preset.val_images is not None
                    else preset.val_fraction)
    train, val = train_val_split(full, val_fraction, seed=preset.split_seed)
    if preset.train_images is not None and preset.train_images < len(train):
        train = subset(train, preset.train_images, seed=preset.split_seed)
    if preset.test_images is not None and preset.test_images < len(test):
        test = subset(test, preset.test_images, seed=preset.split_seed)
    return train, val, test


class TrainEvaluator(Evaluator):
    """Scores genomes by training each asked batch as one population (module docstring)."""

    def __init__(self, space: Any, context: SearchContext | None = None, *,
                 preset: str | TrainPreset = "smoke", policy: str = "uniform",
                 epochs: int | None = None, train_images: int | None = None,
                 val_images: int | None = None, test_images: int | None = None,
                 executor: str = "auto", progress: bool = False, seed: int = 0) -> None:
        super().__init__(space, context, _flag(progress))
        self.preset = preset if isinstance(preset, TrainPreset) else get_preset(preset)
        sizes = {"epochs": epochs, "train_images": train_images, "val_images": val_images,
                 "test_images": test_images}
        self.preset = replace(self.preset, **{k: _count(k, v, 1) for k, v in sizes.items()
                                              if v is not None})
        self.policy = policy
        epochs_per_member(policy, self.preset.epochs, [1.0])  # checks the policy name
        check_choice("executor", executor, EXECUTORS)
        self.executor = executor
        self.seed = _count("seed", seed, 0)
        self.space_name = self.context.space_name
        self.train, self.val, self.test = load_search_data(
            self.preset, self.context.dataset, self.context.data_dir)
        self.info = self.train.info
        self.fingerprint = data_fingerprint(self.train, self.val, self.test)
        self.network_options = self.preset.options_for(self.space_name)
        self._seen: dict[str, EvalRecord] = {}

    def identity(self) -> dict[str, Any]:
        """What makes two runs' evaluations comparable (checked on resume)."""
        return {"dataset": self.context.dataset, "data": self.fingerprint,
                "preset": self.preset.to_json(), "policy": self.policy,
                "executor": self.executor, "seed": self.seed}

    # ------------------------------------------------------------------ the interface

    def costs(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None
              ) -> list[float]:
        seen, out = set(self._seen), []
        for genome in genomes:
            key = self.space.key(genome)
            out.append(0.0 if key in seen else 1.0)
            seen.add(key)
        return out

    def restore(self, records: Sequence[EvalRecord]) -> None:
        for record in records:
            self._seen.setdefault(record.key, record)

    def evaluate(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None,
                 on_record: OnRecord | None = None) -> list[EvalRecord]:
        genomes = list(genomes)
        budgets = list(budgets) if budgets is not None else [None] * len(genomes)
        keys = [self.space.key(g) for g in genomes]
        fresh = [i for i, k in enumerate(keys) if k not in self._seen and k not in keys[:i]]
        recipes = self._recipes([genomes[i] for i in fresh], [budgets[i] for i in fresh])
        records: dict[int, EvalRecord] = {}

        def finished(member: int, result: Any) -> None:
            pos = fresh[member]
            record = self._record(genomes[pos], keys[pos], recipes[member], result)
            self._seen[keys[pos]] = record
            records[pos] = record
            if on_record is not None:
                on_record(pos, record)

        if fresh:
            with _MemberBar(len(fresh), self.progress, self.space_name) as bar:
                def counted(member: int, result: Any) -> None:
                    finished(member, result)
                    bar.done(result)

                self._train([genomes[i] for i in fresh], recipes, counted, bar.epoch)
        out = []
        for pos, key in enumerate(keys):
            if pos not in records:  # a repeat: free, the same record
                old = self._seen[key]
                records[pos] = replace(old, cost=0.0, wall_time=0.0)
                if on_record is not None:
                    on_record(pos, records[pos])
            out.append(records[pos])
        return out

    # ------------------------------------------------------------------ parts

    def _recipes(self, genomes: list[Any], budgets: list[Any]) -> list[TrainRecipe]:
        """The strategy's recipe where it gives one (EG-NAS), else the policy's epochs."""
        weights = self._weights(genomes) if self.policy == "aware" else [1.0] * len(genomes)
        epochs = epochs_per_member(self.policy, self.preset.epochs, weights)
        return [b if isinstance(b, TrainRecipe) else
                self.preset.recipe_for(self.info.image_size, e) for b, e in zip(budgets, epochs)]

    def _weights(self, genomes: list[Any]) -> list[float]:
        """The ``aware`` policy's weight of each genome of a batch (jaxnas.train.allocation)."""
        if self.space_name == "egnas":  # relative to the searched space's bounds
            return [egnas_weight(g, min_depth=self.space.min_depth,
                                 max_width=self.space.max_width,
                                 width_step=self.space.width_step) for g in genomes]
        return cell_weights([count_flops(self.space_name, g, self.info.num_classes,
                                         self._input_shape(), **dict(self.network_options))
                             for g in genomes])

    def _input_shape(self) -> tuple[int, int, int]:
        size = self.preset.recipe_for(self.info.image_size, 1).crop_size or self.info.train_crop_size
        return (size, size, self.info.channels)

    def _member_key(self, genome: Any) -> jax.Array:
        """A cell's training key depends on the evaluator seed and the cell only, so a cell
        trains the same way in any batch, in any order and after any resume."""
        digest = zlib.crc32(self.space.key(genome).encode()) & 0x7FFFFFFF
        return jax.random.fold_in(jax.random.PRNGKey(self.seed), digest)

    def _train(self, genomes: list[Any], recipes: list[TrainRecipe],
               finished: Callable[[int, Any], None],
               epoch_done: Callable[[int, int], None] | None = None) -> None:
        keys = [self._member_key(g) for g in genomes]
        train_population(self.space_name, genomes, recipes, self.train, self.val,
                         key=keys[0], member_keys=keys, executor=self.executor,
                         test_data=self.test, progress=self.progress,
                         options=TrainOptions(network_options=self.network_options),
                         on_member=finished, on_epoch=epoch_done)

    def _record(self, genome: Any, key: str, recipe: TrainRecipe, result: Any) -> EvalRecord:
        ok = result.status == "ok" and result.val_acc_per_epoch
        accuracy = float(result.best_val_acc) if ok else 0.0
        test = float(result.test_acc_per_epoch[-1]) if ok and result.test_acc_per_epoch else None
        info = {"status": result.status, "reason": result.reason, "params": int(result.params),
                "flops": int(result.flops), "epochs": recipe.epochs, "policy": self.policy,
                "preset": self.preset.name,
                "cost": {"candidate_epochs": len(result.val_acc_per_epoch),
                         "compile_s": float(result.compile_time),
                         "train_s": float(result.wall_time - result.compile_time)},
                "curves": {"val": list(result.val_acc_per_epoch),
                           "test": list(result.test_acc_per_epoch),
                           "train_loss": [x if math.isfinite(x) else None
                                          for x in result.train_loss_per_epoch]}}
        return EvalRecord(genome=self.space.to_string(genome), key=key,
                          metrics={ACCURACY: accuracy},
                          report={} if test is None else {"test_accuracy": test},
                          cost=1.0, wall_time=float(result.wall_time), info=info)


class _MemberBar:
    """A tqdm bar of one population's members (done / total, ETA), with the epoch the latest
    group has finished and the compile and training seconds so far shown apart; nothing when
    ``show`` is False."""

    def __init__(self, total: int, show: bool, label: str) -> None:
        self.bar, self.compile_s, self.train_s, self.epochs = None, 0.0, 0.0, "-"
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="net", desc=f"training {label} population",
                            leave=False, dynamic_ncols=True)

    def epoch(self, done: int, of: int) -> None:
        self.epochs = f"{done}/{of}"
        self._show(refresh=True)

    def done(self, result: Any) -> None:
        self.compile_s += float(result.compile_time)
        self.train_s += float(result.wall_time - result.compile_time)
        self._show(refresh=False)
        if self.bar is not None:
            self.bar.update(1)

    def _show(self, refresh: bool) -> None:
        if self.bar is not None:
            self.bar.set_postfix({"epoch": self.epochs, "compile s": f"{self.compile_s:.0f}",
                                  "train s": f"{self.train_s:.0f}"}, refresh=refresh)

    def __enter__(self) -> "_MemberBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


def _count(name: str, value: Any, minimum: int) -> int:
    """An int option (given as a string on the command line) of at least ``minimum``."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}") from None
    if number < minimum:
        raise ConfigError(f"{name}={number} must be >= {minimum}")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


__all__ = ["TrainEvaluator", "load_search_data"]

"""The EG-NAS search rules: constants, :class:`EGNASConfig` and the run-size :data:`PRESETS`.

Every rule of the search is a config field whose default is the authors' (Fashion-MNIST -T
runs, ``max_width`` 64). Defaults are written once: the epoch counter's come from
:class:`jaxnas.train.EgnasBudgetSchedule` and the SGD recipe's from
:class:`jaxnas.train.recipe.TrainRecipe`; this module only names them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from jaxnas.errors import ConfigError, check_choice
from jaxnas.spaces.egnas import EgnasSpace
from jaxnas.train.budget import EgnasBudgetSchedule
from jaxnas.train.recipe import TrainRecipe

#: search-visible metric besides ``accuracy``: best per-epoch training accuracy (%)
TRAIN_ACCURACY = "train_accuracy"
MODES = ("faithful", "batched")
SELECTIONS = ("val", "test")
FINAL_WIDTHS = ("micro", "macro")
PHASES = ("start", "depth", "width", "ops", "kernels", "done")

_COUNTER = EgnasBudgetSchedule()  # the authors' epoch counter defaults
_RECIPE = TrainRecipe(epochs=1)  # the authors' SGD recipe defaults
# recipe fields a config may override (the rest keep TrainRecipe's defaults)
#: fields the evaluator reads (data split, selection, seeds, executor)
DATA_FIELDS = ("selection", "val_fraction", "n_train", "n_val", "n_test", "data_seed", "seed",
               "executor")
RECIPE_FIELDS = ("batch_size", "learning_rate", "momentum", "weight_decay", "grad_clip_norm",
                 "schedule", "cutout_size", "crop_size")

BATCHED_NOTES = """\
Batched mode trains each phase's candidates as one population; where it can decide
differently from faithful mode:
* depth and width: a candidate's genome and epoch budget do not depend on earlier decisions
  (depth d always gets start_epochs + (d - min_depth) * add_epochs; the k-th width step always
  gets E_depth_end + k * add_epochs_w, and C shrinks after fails too), so batched mode trains
  the next ``batch_depth`` / ``batch_width`` candidates together and replays the faithful
  rules over their accuracies in order. The decisions are identical for identical
  accuracies; the only difference is extra candidates trained past the stopping point (they
  are logged and counted, but unused). The first batch also holds the start net.
* ops and kernels: faithful flips accumulate (layer i's candidate carries every earlier
  accepted flip, shrunk to the budget), so each depends on all earlier decisions. Batched
  mode trains the baseline and every single-layer flip *from the same incumbent* in one
  population, keeps the flips that beat the incumbent, then trains up to ``batch_combos``
  combinations (the best 2, best 3, ... improving flips together, shrunk to the same
  parameter budget) as a second population and takes the best of all (ties: the earlier,
  simpler one). So batched mode can pick a flip that faithful mode would have judged against
  an already-changed network, and judges combinations by one training instead of a chain of
  strict improvements; the parameter budget rule is the same."""


@dataclass(frozen=True)
class EGNASConfig:
    """Every rule and limit of the search (see :mod:`jaxnas.search.egnas` for the phases).

    Run-size knobs (not in the authors' code): ``epoch_scale`` multiplies every nominal epoch
    count (rounded, at least ``min_epochs``: a scaled-down run still trains its 2-epoch micro
    candidates long enough to learn); ``max_depth_candidates`` / ``max_width_candidates`` cap the
    trainings of the depth and width phases (after the start net); ``micro_layers`` tries
    ops/kernels on that many layers spread evenly over the net (None: all).
    The recipe fields (:data:`RECIPE_FIELDS`) go into every candidate's
    :class:`TrainRecipe` (:meth:`recipe`). The data fields are read by
    :class:`~jaxnas.search.egnas.TrainerEvaluator`: ``n_train`` / ``n_val`` subsample the train
    / val parts of the seeded split of the training set (None: all), ``n_test`` the test set;
    ``selection="test"`` selects on the best per-epoch test accuracy, as the authors did (for
    comparison only: numbers selected that way are not honest test estimates).
    """

    mode: str = "faithful"
    # space limits
    min_depth: int = 10
    max_depth: int = 100
    min_width: int = 16
    max_width: int = 64
    width_resolution: int = 2
    # architecture-aware epoch budgets (the authors' epoch counter E)
    start_epochs: int = _COUNTER.start_epochs
    add_epochs: int = _COUNTER.add_epochs
    add_epochs_w: int = _COUNTER.add_epochs_w
    micro_epochs: int = _COUNTER.micro_epochs
    epoch_scale: float = 1.0
    min_epochs: int = 1
    # decision rules (the authors' tolerances)
    target_acc: float = 100.0
    target_acc_tolerance: float = 0.10
    dp_add_tolerance: float = 0.10
    ch_drop_tolerance: float = 0.05
    dp_break_tolerance: int = 2
    ch_break_tolerance: int = 2
    train_acc_stop: float = 99.5
    width_accept_margin: float = 0.0
    micro_accept_margin: float = 0.0
    param_slack: int = 10_000
    micro_kernels: tuple[int, ...] = (5,)
    search_ops: bool = True
    search_kernels: bool = True
    final_width: str = "micro"
    # caps for small runs (None: the authors' unbounded loops)
    max_depth_candidates: int | None = None
    max_width_candidates: int | None = None
    micro_layers: int | None = None
    # batched mode
    batch_depth: int = 4
    batch_width: int = 4
    batch_combos: int = 3
    # selection split and data (read by TrainerEvaluator)
    selection: str = "val"
    val_fraction: float = 0.1
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    data_seed: int = 0
    seed: int = 0
    executor: str = "auto"
    # SGD recipe of every candidate (TrainRecipe's defaults)
    batch_size: int = _RECIPE.batch_size
    learning_rate: float = _RECIPE.learning_rate
    momentum: float = _RECIPE.momentum
    weight_decay: float = _RECIPE.weight_decay
    grad_clip_norm: float | None = _RECIPE.grad_clip_norm
    schedule: str = _RECIPE.schedule
    cutout_size: int = _RECIPE.cutout_size
    crop_size: int | None = _RECIPE.crop_size  # training crop (px); None: the dataset's

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("selection", self.selection, SELECTIONS)
        check_choice("final_width", self.final_width, FINAL_WIDTHS)
        if not 1 <= self.min_depth <= self.max_depth:
            raise ConfigError(f"need 1 <= min_depth={self.min_depth} <= max_depth={self.max_depth}")
        if not 1 <= self.min_width <= self.max_width:
            raise ConfigError(f"need 1 <= min_width={self.min_width} <= max_width={self.max_width}")
        for name in ("width_resolution", "start_epochs", "micro_epochs", "batch_depth",
                     "batch_width", "min_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 1")
        for name in ("add_epochs", "add_epochs_w", "dp_break_tolerance", "ch_break_tolerance",
                     "param_slack", "batch_combos"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 0")
        if not self.epoch_scale > 0:
            raise ConfigError(f"epoch_scale={self.epoch_scale!r} must be > 0")
        for k in self.micro_kernels:
            if k not in (3, 5, 7):
                raise ConfigError(f"micro_kernels contains {k!r}; allowed 3, 5, 7")
        for name in ("max_depth_candidates", "max_width_candidates", "micro_layers",
                     "n_train", "n_val", "n_test"):
            v = getattr(self, name)
            if v is not None and v < (0 if name.startswith("max_") else 1):
                raise ConfigError(f"{name}={v!r} must be None or positive")
        self.recipe(1)  # the recipe fields are checked by TrainRecipe itself

    def scaled(self, nominal_epochs: int) -> int:
        """Epochs actually trained for a nominal count (``epoch_scale``; at least
        ``min_epochs``)."""
        return max(self.min_epochs, int(round(nominal_epochs * self.epoch_scale)))

    def recipe(self, epochs: int) -> TrainRecipe:
        """The :class:`TrainRecipe` of a candidate trained ``epochs`` epochs."""
        return TrainRecipe(epochs=int(epochs),
                           **{name: getattr(self, name) for name in RECIPE_FIELDS})

    def epoch_counter(self, phase: str = "depth", epochs: int | None = None
                      ) -> EgnasBudgetSchedule:
        """The authors' epoch counter E with this config's increments, standing at nominal
        ``epochs`` (default: the start net's). The search keeps only E in its state."""
        return EgnasBudgetSchedule(
            phase=phase, epochs=self.start_epochs if epochs is None else epochs,
            start_epochs=self.start_epochs, add_epochs=self.add_epochs,
            add_epochs_w=self.add_epochs_w, micro_epochs=self.micro_epochs,
            base=self.recipe(1))


#: run-size presets; each changes only limits, caps and data sizes, never a search rule
PRESETS: Mapping[str, EGNASConfig] = {
    # the authors' limits (Fashion-MNIST -T run: max_width 64), full data, 10 % validation
    "paper": EGNASConfig(),
    # ~15-25 min faithful on 2 shared CPU cores, where compiling each new architecture
    # (30-70 s under load) dominates: depth from 6, width 16 down to 8, 2,000 train / 1,000
    # val images, every epoch budget x0.2 (start net 2 epochs, micro candidates 1), at most
    # 3 depth and 2 width steps, micro phase on 3 layers (first, middle, last)
    "small": EGNASConfig(min_depth=6, max_width=16, min_width=8, epoch_scale=0.2,
                         max_depth_candidates=3, max_width_candidates=2, micro_layers=3,
                         n_train=2000, n_val=1000, n_test=1000,
                         batch_depth=3, batch_width=2, batch_combos=2),
    # <= 5 min faithful on 2 shared CPU cores (one XLA compile per new architecture, ~25 s,
    # dominates): depth from 4, width 16 down to 12, 8,000 / 1,000 / 1,000 train / val / test
    # images, every epoch budget x0.2 with at least 2 epochs (start net and micro candidates
    # 2, width step 3: >= 250 SGD steps, enough to learn), 1 depth + 1 width step, micro
    # phase on 1 layer, the learning rate annealed every step (per epoch, a 2-epoch candidate
    # ends at half the rate; docs/results.md). (The earlier 512-image, 1-epoch smoke trained
    # at chance.)
    "smoke": EGNASConfig(min_depth=4, max_width=16, min_width=12, epoch_scale=0.2,
                         min_epochs=2, max_depth_candidates=1, max_width_candidates=1,
                         micro_layers=1, n_train=8000, n_val=1000, n_test=1000, batch_depth=1,
                         batch_width=1, batch_combos=1, schedule="cosine_per_step"),
    # a real proxy in about an hour on 2 CPU cores, sized by measured probes (docs/results.md,
    # "Sizing a cpu preset"): a width-48 candidate needs ~900 SGD steps to pass 85 %
    # validation on Fashion-MNIST, so 20,000 / 2,000 / 2,000 images, every budget x0.3 with
    # at least 4 epochs (start, depth steps and micro candidates 4, width steps 4-5; with 3,
    # 2 of a search's 10 candidates ended at 84.5-84.85 %, with 4 all passed 85 %),
    # depth from 6, width 48 down to 32, 2 depth + 2 width steps, micro phase on 2 layers;
    # the recipe of a short proxy: lr 0.1 annealed every step, no cutout, 28-px crops
    # (at 0.025 with cutout a 3-epoch candidate stayed at 73 %)
    "cpu": EGNASConfig(min_depth=6, max_width=48, min_width=32, epoch_scale=0.3,
                       min_epochs=4, max_depth_candidates=2, max_width_candidates=2,
                       micro_layers=2, n_train=20_000, n_val=2_000, n_test=2_000,
                       batch_depth=2, batch_width=2, batch_combos=2,
                       schedule="cosine_per_step", learning_rate=0.1, cutout_size=0,
                       crop_size=28),
}


def searched_space(space: Any, config: EGNASConfig) -> EgnasSpace:
    """The egnas space the search writes its genomes in: ``space``'s (or the default one's)
    with room for every genome the config can produce. The micro phase shrinks the width one
    channel at a time, below the space's grid and minimum (the authors' CIFAR-10 search ended
    at width 43), and run-size presets start below its minimum depth."""
    base = space if isinstance(space, EgnasSpace) else EgnasSpace()
    kernels = set(base.kernel_choices) | {3} | set(config.micro_kernels)
    return replace(base, min_depth=1, min_width=1,
                   max_depth=max(base.max_depth, config.max_depth),
                   max_width=max(base.max_width, config.max_width),
                   kernel_choices=tuple(sorted(kernels)))


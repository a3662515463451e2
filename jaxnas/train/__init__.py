"""Population trainer, training recipes, budget policies and scale-out.

``train_population(space_name, genomes, recipes, train_data, val_data, *, key, ...)`` trains a
population of genomes, each with its own :class:`TrainRecipe`, and returns one
:class:`MemberResult` per genome. See docs/training.md. Modules: :mod:`~jaxnas.train.recipe`
(the recipe and its defaults), :mod:`~jaxnas.train.budget` (epochs per candidate),
:mod:`~jaxnas.train.population` (the entry point), :mod:`~jaxnas.train.executors`,
:mod:`~jaxnas.train.step`, :mod:`~jaxnas.train.options`, :mod:`~jaxnas.train.sharding`,
:mod:`~jaxnas.train.single` (one genome on a real dataset: ``jaxnas train``) and
:mod:`~jaxnas.train.bench` (timing the executors: ``jaxnas bench``).
"""

from jaxnas.train.budget import (
    PHASES,
    EgnasBudgetSchedule,
    egnas_policy,
    epochs_for_depth_step,
    epochs_for_width_step,
    fixed_policy,
)
from jaxnas.train.options import EXECUTORS, EpochMetrics, MemberResult, TrainOptions
from jaxnas.train.population import train_population
from jaxnas.train.recipe import SCHEDULES, TrainRecipe

__all__ = [
    "EXECUTORS",
    "EgnasBudgetSchedule",
    "EpochMetrics",
    "MemberResult",
    "PHASES",
    "SCHEDULES",
    "TrainOptions",
    "TrainRecipe",
    "egnas_policy",
    "epochs_for_depth_step",
    "epochs_for_width_step",
    "fixed_policy",
    "train_population",
]

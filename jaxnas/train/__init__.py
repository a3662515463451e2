"""Population trainer, executors, budget policies (issue 8) and scale-out (issue 9).

``train_population(space_name, genomes, budgets, train_data, val_data, *, key, ...)`` trains a
population of genomes, each with its own :class:`TrainBudget`, and returns one
:class:`MemberResult` per genome. See docs/training.md.
"""

from jaxnas.train.budget import (
    PHASES,
    SCHEDULES,
    EgnasBudgetSchedule,
    TrainBudget,
    egnas_policy,
    epochs_for_depth_step,
    epochs_for_width_step,
    fixed_policy,
)
from jaxnas.train.population import EXECUTORS, MemberResult, TrainOptions, train_population

__all__ = [
    "EXECUTORS",
    "EgnasBudgetSchedule",
    "MemberResult",
    "PHASES",
    "SCHEDULES",
    "TrainBudget",
    "TrainOptions",
    "egnas_policy",
    "epochs_for_depth_step",
    "epochs_for_width_step",
    "fixed_policy",
    "train_population",
]

"""Efficient Global NAS (Siddiqui et al. 2025): a greedy macro-micro search.

The authors' ``search.py`` is one sequential, data-dependent loop; here it is an explicit state
machine behind the common strategy contract (:class:`jaxnas.search.base.Strategy`), run by
:func:`jaxnas.search.runner.run_search` like every strategy. docs/algorithms.md describes the
method. Modules, one concept each:

* :mod:`.config`: the search rules (:class:`EGNASConfig`, defaults = the authors'), the
  run-size :data:`PRESETS` and the genome space the search writes in;
* :mod:`.state`: :class:`EGNASState`, the immutable, checkpointable search state;
* :mod:`.macro` / :mod:`.micro`: the depth and width rules / the ops and kernels rules;
* :mod:`.strategy`: :class:`EGNAS`, asking one candidate (faithful) or a population
  (batched) at a time, each with its own training recipe (:meth:`EGNAS.budgets`);
* :mod:`.evaluator`: :class:`TrainerEvaluator`, training candidates with
  :func:`jaxnas.train.train_population`.
"""

from jaxnas.search.egnas.config import (
    BATCHED_NOTES,
    DATA_FIELDS,
    FINAL_WIDTHS,
    MODES,
    PHASES,
    PRESETS,
    RECIPE_FIELDS,
    SELECTIONS,
    TRAIN_ACCURACY,
    EGNASConfig,
    searched_space,
)
from jaxnas.search.egnas.evaluator import TrainerEvaluator, load_search_data
from jaxnas.search.egnas.macro import plain_genome
from jaxnas.search.egnas.state import Candidate, EGNASState, Outcome
from jaxnas.search.egnas.strategy import EGNAS

__all__ = [
    "BATCHED_NOTES",
    "Candidate",
    "DATA_FIELDS",
    "EGNAS",
    "EGNASConfig",
    "EGNASState",
    "FINAL_WIDTHS",
    "MODES",
    "Outcome",
    "PHASES",
    "PRESETS",
    "RECIPE_FIELDS",
    "SELECTIONS",
    "TRAIN_ACCURACY",
    "TrainerEvaluator",
    "load_search_data",
    "plain_genome",
    "searched_space",
]

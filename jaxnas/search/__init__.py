"""Search: strategies (init / ask / tell), evaluators, the runner and the results store.

See :mod:`jaxnas.search.base` for the interface every strategy follows and
:mod:`jaxnas.search.registry` for strategies by name (``random``, ``re``, ``ls``, ``agnet``,
``nal``, ``egnas``).
"""

from jaxnas.search.base import (
    ACCURACY,
    LATENCY,
    EvalRecord,
    Evaluator,
    SearchContext,
    SearchRecord,
    Strategy,
    as_key,
    numpy_rng,
    score,
    split_rng,
)
from jaxnas.search.registry import (
    EVALUATORS,
    STRATEGIES,
    make_config,
    make_evaluator,
    make_strategy,
    strategy_class,
)

__all__ = [
    "ACCURACY", "LATENCY", "EvalRecord", "Evaluator", "SearchContext", "SearchRecord",
    "Strategy", "as_key", "numpy_rng", "score", "split_rng", "EVALUATORS", "STRATEGIES",
    "make_config", "make_evaluator", "make_strategy", "strategy_class",
]

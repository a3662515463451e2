"""The one search interface: strategies (init / ask / tell), evaluators and their records.

A **strategy** is an immutable object holding a space and a frozen config; everything that
changes during a search lives in its *state*, an immutable value (frozen dataclass, tuples,
numpy / jax arrays, optax / flax pytrees) that holds the random key too. So a search can be
checkpointed after every ``tell`` by serialising the state (``jaxnas.search.store``) and resumed
exactly::

    state = strategy.init(jax.random.key(seed))      # or jax.random.PRNGKey(seed)
    while budget left:
        state, genomes = strategy.ask(state)
        records = evaluator.evaluate(genomes)        # EvalRecord: search + hidden report metrics
        state = strategy.tell(state, genomes, [r.visible() for r in records])

``tell`` only ever sees :class:`SearchRecord` values (search-time metrics such as 12-epoch
validation accuracy, latency); report metrics (200-epoch test accuracy) stay with the
evaluator and the runner. The runner may evaluate only a *prefix* of an asked batch (it stops
at exactly the query budget), so ``tell`` must accept ``genomes`` being a prefix of what
``ask`` returned; strategies should keep their pending batch in the state if they need it.

An **evaluator** maps genomes to :class:`EvalRecord` values and charges a cost (queries for
the tabular oracle, one per not-yet-seen cell).

Strategy classes are registered by name in :mod:`jaxnas.search.registry` and built with
``cls(space, config, context)`` where ``config`` is an instance of ``cls.Config`` (a frozen
dataclass holding the paper's defaults) and ``context`` a :class:`SearchContext`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

import numpy as np

State = TypeVar("State")

#: search metric that strategies maximise unless told otherwise
ACCURACY = "accuracy"
#: extra objective offered by the oracle when a latency device is given (milliseconds)
LATENCY = "latency"


@dataclass(frozen=True)
class SearchRecord:
    """What a strategy is told about one evaluated genome: search-visible metrics only.

    ``metrics`` holds e.g. ``{"accuracy": 12-epoch val %, "latency": ms}``; ``genome`` is the
    canonical string (``space.to_string``) and ``key`` the de-duplication key (``space.key``).
    """

    genome: str
    key: str
    metrics: Mapping[str, float]
    cost: float = 1.0

    def __getitem__(self, name: str) -> float:
        return self.metrics[name]


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation as the evaluator and the runner see it.

    ``report`` holds report-time metrics (e.g. ``{"test_accuracy": 200-epoch test %}``) that
    must never reach a strategy; ``cost`` is what the evaluation charged to the budget (0 for a
    cell already seen); ``wall_time`` is seconds spent (kept out of determinism checks);
    ``info`` is free-form JSON-able extra data (e.g. training curves).
    """

    genome: str
    key: str
    metrics: Mapping[str, float]
    report: Mapping[str, float] = field(default_factory=dict)
    cost: float = 1.0
    wall_time: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)

    def visible(self) -> SearchRecord:
        """The strategy's view: report metrics, wall time and info removed."""
        return SearchRecord(self.genome, self.key, dict(self.metrics), self.cost)

    def to_json(self) -> dict[str, Any]:
        return {
            "genome": self.genome,
            "key": self.key,
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "report": {k: float(v) for k, v in self.report.items()},
            "cost": float(self.cost),
            "wall_time": float(self.wall_time),
            "info": dict(self.info),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "EvalRecord":
        return cls(
            genome=data["genome"],
            key=data["key"],
            metrics=dict(data["metrics"]),
            report=dict(data.get("report", {})),
            cost=float(data.get("cost", 1.0)),
            wall_time=float(data.get("wall_time", 0.0)),
            info=dict(data.get("info", {})),
        )


@dataclass(frozen=True)
class SearchContext:
    """Run-level settings a strategy may need besides its own config (all optional).

    Filled by the runner / CLI from ``--space``, ``--dataset``, ``--objective``, ``--device``,
    ``--max-latency``, ``--queries``, ``--batched``, ``--data-dir``.
    """

    space_name: str = "nb201"
    dataset: str = "cifar10"
    objective: str = ACCURACY  # "accuracy" or "latency"
    device: str | None = None  # latency device (nb201: one of the 27 HELP settings)
    max_latency: float | None = None  # ms; a constraint, not an objective
    budget: int | None = None  # query budget of the run
    batched: bool = False
    data_dir: str | None = None


@runtime_checkable
class Strategy(Protocol[State]):
    """init / ask / tell over an immutable state (see the module docstring)."""

    name: ClassVar[str]
    space: Any
    config: Any

    def init(self, key: Any) -> State:
        """A fresh state seeded by the jax PRNG key ``key``."""

    def ask(self, state: State) -> tuple[State, list[Any]]:
        """(new state, genomes to evaluate next); at least one genome."""

    def tell(self, state: State, genomes: Sequence[Any], records: Sequence[SearchRecord]) -> State:
        """Fold in the records of ``genomes`` (a prefix of the last ask, in order)."""


@runtime_checkable
class Evaluator(Protocol):
    """Maps genomes to records and charges their cost.

    ``costs(genomes)`` predicts per-genome cost without evaluating (the oracle: 1 for a cell
    not seen before and not earlier in the batch, else 0) so the runner can truncate a batch at
    the budget; ``restore(records)`` re-primes caches from recorded evaluations on resume.
    """

    space: Any

    def evaluate(self, genomes: Sequence[Any]) -> list[EvalRecord]:
        """Evaluate ``genomes`` in order; one record each."""

    def costs(self, genomes: Sequence[Any]) -> list[float]:
        """Predicted cost of evaluating ``genomes`` in order now."""

    def restore(self, records: Sequence[EvalRecord]) -> None:
        """Mark ``records`` as already evaluated (resume)."""


# ---------------------------------------------------------------------------- random helpers


def key_data(key: Any) -> np.ndarray:
    """The raw uint32 words of a jax key (typed ``jax.random.key`` or legacy ``PRNGKey``)."""
    import jax

    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key, dtype=np.uint32).reshape(-1)


def as_key(seed_or_key: Any) -> Any:
    """A legacy uint32 jax key from an int seed or any key (states store this form)."""
    import jax

    if isinstance(seed_or_key, (int, np.integer)):
        return jax.random.PRNGKey(int(seed_or_key))
    return jax.numpy.asarray(key_data(seed_or_key))


def numpy_rng(key: Any) -> np.random.Generator:
    """A numpy Generator derived deterministically from a jax key (for genome sampling)."""
    return np.random.default_rng([int(w) for w in key_data(key)])


def split_rng(key: Any) -> tuple[Any, np.random.Generator]:
    """(next key, numpy Generator): consume one split of ``key`` for numpy-side randomness."""
    import jax

    key, sub = jax.random.split(as_key(key))
    return key, numpy_rng(sub)


def score(metrics: Mapping[str, float], objective: str = ACCURACY,
          max_latency: float | None = None) -> float:
    """Scalar fitness to maximise: accuracy (or -latency); -inf if a latency limit is broken."""
    if max_latency is not None and metrics.get(LATENCY, -math.inf) > max_latency:
        return -math.inf
    if objective == LATENCY:
        return -float(metrics[LATENCY])
    return float(metrics[objective])

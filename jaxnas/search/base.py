"""The one search interface: strategies (init / ask / tell), evaluators and their records.

A **strategy** (:class:`Strategy`) is an immutable object holding a space, a frozen config and
a :class:`SearchContext`; everything that changes during a search lives in its *state*, a
frozen dataclass of plain data (genome strings, numbers, tuples, numpy arrays, pytrees of
arrays) that holds the random key too. So a search is checkpointed after every ``tell`` by
:mod:`jaxnas.search.codec` and resumed exactly::

    state = strategy.init(seed)                       # an int or a jax key
    while budget left:
        state, genomes = strategy.ask(state)          # [] when the strategy is done
        records = evaluator.evaluate(genomes, strategy.budgets(state, genomes))
        state = strategy.tell(state, genomes, [r.visible() for r in records])

``tell`` only ever sees :class:`SearchRecord` values (search-time metrics such as 12-epoch
validation accuracy, latency); report metrics (200-epoch test accuracy) stay with the
evaluator and the runner. The runner may evaluate only a *prefix* of an asked batch (it stops
at exactly the query budget), so ``tell`` accepts a prefix of what ``ask`` returned.

An **evaluator** (:class:`Evaluator`) maps genomes to :class:`EvalRecord` values and charges
a cost (queries for the tabular oracle, one per not-yet-seen cell; candidate-epochs when
training). Strategies and evaluators are registered by name in :mod:`jaxnas.search.registry`;
docs/architecture.md shows how to add one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Generic, Mapping, Sequence, TypeVar

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


@dataclass(frozen=True)
class StrategyState:
    """The part of every strategy state the base class owns.

    ``key`` is the raw uint32 words of a jax key (a numpy array, :func:`as_key`); ``pending``
    the canonical strings of the genomes of the last ``ask`` not yet told. Subclasses add their
    own fields (plain data only: genome strings, numbers, tuples, numpy arrays and pytrees of
    arrays), so :mod:`jaxnas.search.codec` can checkpoint every state.
    """

    key: Any
    pending: tuple[str, ...] = field(default=(), kw_only=True)


class Strategy(Generic[State]):
    """Base class of every search strategy: owns the constructor and ``init``/``ask``/``tell``.

    A subclass sets :attr:`name`, :attr:`Config` (a frozen dataclass of the paper's defaults)
    and :attr:`State` (a frozen dataclass extending :class:`StrategyState`) and fills in
    ``_init(key)``, ``_ask(state)`` and ``_tell(state, genomes, records)``; optional hooks
    have defaults. The contract, the same for every strategy:

    * ``ask`` returns ``(state, genomes)``; an empty list means the strategy is done
      (:meth:`done`), and the runner stops.
    * ``tell`` takes a *prefix* of the last ask, in order (the runner stops at exactly the
      budget), and exactly one :class:`SearchRecord` per genome; anything else raises
      :class:`~jaxnas.errors.ConfigError`.
    * Records hold search-visible metrics only; report metrics never reach a strategy.
    * :meth:`recommend` lists genomes the strategy proposes without evaluating them (NAL);
      :meth:`result` names the strategy's answer when it is not simply the best record seen
      (EG-NAS); :meth:`budgets` gives each asked genome its training recipe (EG-NAS), or
      ``None`` for the evaluator's default.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type] = type(None)
    State: ClassVar[type] = StrategyState
    #: named configs (``--preset``); empty when the strategy has none
    PRESETS: ClassVar[Mapping[str, Any]] = {}
    #: evaluator used when the run names none
    evaluator: ClassVar[str] = "oracle"
    #: True when the strategy can answer with zero queries (:meth:`recommend`)
    generates: ClassVar[bool] = False

    def __init__(self, space: Any, config: Any = None, context: SearchContext | None = None
                 ) -> None:
        from jaxnas.errors import ConfigError

        config = self.Config() if config is None else config
        if not isinstance(config, self.Config):
            raise ConfigError(f"{type(self).__name__} needs a {self.Config.__name__}, got "
                              f"{type(config).__name__}")
        self.space = space
        self.config = config
        self.context = context or SearchContext()
        self.setup()

    def setup(self) -> None:
        """Check the space and config, build fixed parts (called once by ``__init__``)."""

    # ---------------------------------------------------------------- the public interface

    def init(self, key: Any) -> State:
        """A fresh state seeded by a jax key or an int seed."""
        return self._init(as_key(key))

    def ask(self, state: State) -> tuple[State, list[Any]]:
        """(new state, genomes to evaluate next); ``[]`` once :meth:`done`."""
        if self.done(state):
            return replace(state, pending=()), []
        state, genomes = self._ask(replace(state, pending=()))
        genomes = list(genomes)
        return replace(state, pending=tuple(self.space.to_string(g) for g in genomes)), genomes

    def tell(self, state: State, genomes: Sequence[Any], records: Sequence[SearchRecord]
             ) -> State:
        """Fold in one record per genome; ``genomes`` is a prefix of the last ask, in order."""
        from jaxnas.errors import ConfigError

        genomes, records = list(genomes), list(records)
        if len(records) != len(genomes):
            raise ConfigError(f"{self.name}: tell got {len(records)} records for "
                              f"{len(genomes)} genomes; give exactly one record per genome")
        bad = [type(r).__name__ for r in records if not isinstance(r, SearchRecord)]
        if bad:
            raise ConfigError(f"{self.name}: tell takes SearchRecord values (use "
                              f"EvalRecord.visible()), got {bad[0]}")
        told = tuple(self.space.to_string(g) for g in genomes)
        if told != state.pending[:len(told)]:
            raise ConfigError(f"{self.name}: tell must get a prefix of the last ask, in "
                              f"order; asked {list(state.pending)[:3]}..., told "
                              f"{list(told)[:3]}...")
        return self._tell(replace(state, pending=()), genomes, records)

    # ---------------------------------------------------------------- hooks with defaults

    def done(self, state: State) -> bool:
        """True when the strategy has nothing more to ask."""
        return False

    def recommend(self, state: State) -> list[Any]:
        """Genomes proposed without evaluation (reported, never charged)."""
        return []

    def result(self, state: State) -> Any:
        """The strategy's answer when it is not the best record seen; ``None`` otherwise."""
        return None

    def budgets(self, state: State, genomes: Sequence[Any]) -> list[Any]:
        """One training recipe per asked genome, or ``None`` for the evaluator's default."""
        return [None] * len(genomes)

    # ---------------------------------------------------------------- for subclasses

    def _init(self, key: Any) -> State:
        return self.State(key=key)

    def _ask(self, state: State) -> tuple[State, list[Any]]:
        raise NotImplementedError

    def _tell(self, state: State, genomes: list[Any], records: list[SearchRecord]) -> State:
        raise NotImplementedError


class Evaluator:
    """Base class of evaluators: maps genomes to :class:`EvalRecord` values, charging a cost.

    ``costs(genomes, budgets)`` predicts per-genome cost without evaluating (the oracle: 1 for
    a cell not seen before and not earlier in the batch, else 0) so the runner can cut a batch
    at the budget; ``restore(records)`` re-primes caches from logged evaluations on resume.
    ``budgets`` (from :meth:`Strategy.budgets`) holds one recipe or ``None`` per genome.
    """

    #: name of the report metric in ``EvalRecord.report`` that curves show
    report_metric: str = "test_accuracy"

    def __init__(self, space: Any, context: SearchContext | None = None,
                 progress: bool = False) -> None:
        self.space = space
        self.context = context or SearchContext()
        self.progress = bool(progress)  # show progress bars where evaluations take long

    def evaluate(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None,
                 on_record: Callable[[int, EvalRecord], None] | None = None
                 ) -> list[EvalRecord]:
        """Evaluate ``genomes``; one record each, in order. ``on_record(i, record)`` is called
        as soon as record ``i`` is finished (the runner logs it at once)."""
        raise NotImplementedError

    def costs(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None
              ) -> list[float]:
        """Predicted cost of evaluating ``genomes`` in order now."""
        return [1.0] * len(genomes)

    def restore(self, records: Sequence[EvalRecord]) -> None:
        """Mark ``records`` as already evaluated (resume)."""

    def capacity(self) -> int | None:
        """How many distinct cells can be evaluated (a table's size), or ``None``."""
        return None

    def identity(self) -> dict[str, Any]:
        """What the evaluations depend on besides the run config (the data's fingerprint);
        stored with a run and checked on resume."""
        return {}


# ---------------------------------------------------------------------------- random helpers


def key_data(key: Any) -> np.ndarray:
    """The raw uint32 words of a jax key (typed ``jax.random.key`` or legacy ``PRNGKey``)."""
    import jax

    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key, dtype=np.uint32).reshape(-1)


def as_key(seed_or_key: Any) -> np.ndarray:
    """The uint32 words of a legacy jax key, as numpy (states store this form), from an int
    seed or any jax key."""
    import jax

    if isinstance(seed_or_key, (int, np.integer)) and not isinstance(seed_or_key, bool):
        return np.asarray(jax.random.PRNGKey(int(seed_or_key)), dtype=np.uint32)
    return key_data(seed_or_key).copy()


def numpy_rng(key: Any) -> np.random.Generator:
    """A numpy Generator derived deterministically from a jax key (for genome sampling)."""
    return np.random.default_rng([int(w) for w in key_data(key)])


def split_rng(key: Any) -> tuple[Any, np.random.Generator]:
    """(next key, numpy Generator): consume one split of ``key`` for numpy-side randomness."""
    import jax

    key, sub = jax.random.split(as_key(key))
    return np.asarray(key, dtype=np.uint32), numpy_rng(sub)


def batch_count(strategy: Strategy) -> int:
    """A strategy's ``config.batch_size`` capped at the run's query budget, so a huge batch
    is never built only to be cut to the budget."""
    size = int(strategy.config.batch_size)
    budget = strategy.context.budget
    return min(size, budget) if budget else size


def score(metrics: Mapping[str, float], objective: str = ACCURACY,
          max_latency: float | None = None) -> float:
    """Scalar fitness to maximise: accuracy (or -latency); -inf if a latency limit is broken."""
    if max_latency is not None and metrics.get(LATENCY, -math.inf) > max_latency:
        return -math.inf
    if objective == LATENCY:
        return -float(metrics[LATENCY])
    return float(metrics[objective])

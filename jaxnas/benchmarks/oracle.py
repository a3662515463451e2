"""Oracles: tabular benchmarks bound to a dataset (and optionally a latency device).

An :class:`Oracle` answers metric look-ups for a genome, a canonical string or a table index.
It separates the **search-time** metric a strategy may see (``search_metrics``: NB201 12-epoch
validation accuracy, the NATS-Bench protocol; NB101 108-epoch validation accuracy) from the
**report-time** metrics (``report_metrics``: NB201 200-epoch test accuracy). Query accounting
(one query per not-yet-seen cell) lives in ``jaxnas.search.evaluators.OracleEvaluator``.

Metric names: NB201 ``val_acc_12``, ``test_acc_12``, ``test_acc_200`` (per dataset),
``latency`` (per device), ``params`` / ``flops`` (when the shipped table has them); NB101
(nb101-20k subset) ``val_acc_4/12/36/108``, ``params``, ``train_time_s``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxnas.benchmarks.tables import (
    NB101Table,
    NB201Table,
    canonical_dataset,
    check_device,
    nb101_table,
    nb201_table,
)
from jaxnas.errors import InvalidGenomeError, UnknownNameError

SPACES = ("nb201", "nb101-20k")
_SPACE_ALIASES = {"nb201": "nb201", "nats-tss": "nb201", "nb101": "nb101-20k",
                  "nb101-20k": "nb101-20k", "nb101_20k": "nb101-20k"}


def canonical_space(name: str) -> str:
    """``"nb101"`` -> ``"nb101-20k"`` (the only NB101 table shipped); UnknownNameError else."""
    if name not in _SPACE_ALIASES:
        raise UnknownNameError(f"no oracle for space {name!r}; oracles exist for {list(SPACES)} "
                               f"(nb101 means the nb101-20k subset)")
    return _SPACE_ALIASES[name]


def _f(value: Any) -> float:
    """A float32 table entry as the shortest decimal that round-trips (94.37334, not
    94.37333679199219), so JSON results stay readable and identical across runs."""
    return float(str(np.float32(value)))


def _parse_nb201_string(text: str) -> tuple[str, ...]:
    ops = []
    for node in text.strip().strip("+").split("+"):
        for item in node.strip("|").split("|"):
            ops.append(item.split("~")[0])
    return tuple(ops)


@dataclass(frozen=True, eq=False)
class Oracle:
    """A benchmark table bound to ``dataset`` (and ``device`` for latency)."""

    space_name: str
    dataset: str
    device: str | None
    table: Any
    search_metric: str
    report_metric: str

    # ------------------------------------------------------------------ identity
    def __len__(self) -> int:
        return len(self.table)

    def index(self, genome: Any) -> int:
        """Table row of a genome / canonical string / index (isomorphic NB101 cells match).

        Raises InvalidGenomeError for a malformed cell and, for nb101-20k, for a valid cell
        outside the 20,001-cell subset.
        """
        if isinstance(genome, (int, np.integer)):
            if not 0 <= int(genome) < len(self.table):
                raise InvalidGenomeError(f"index {genome} outside [0, {len(self.table)})")
            return int(genome)
        if isinstance(self.table, NB201Table):
            ops = _parse_nb201_string(genome) if isinstance(genome, str) else tuple(genome.ops)
            return self.table.index_of_ops(ops)
        key = self._nb101_key(genome)
        if key not in self.table.key_to_index:
            raise InvalidGenomeError(
                f"NB101 cell {genome!r} (fingerprint {key}) is not in the nb101-20k subset "
                f"(20,001 of NAS-Bench-101's 423,624 cells); only those have metrics here")
        return self.table.key_to_index[key]

    def contains(self, genome: Any) -> bool:
        try:
            self.index(genome)
        except InvalidGenomeError:
            return False
        return True

    def genome(self, index: int) -> Any:
        """The genome object of table row ``index``."""
        if isinstance(self.table, NB201Table):
            from jaxnas.spaces.nb201 import NB201Genome

            return NB201Genome(self.table.ops_of(index))
        from jaxnas.spaces.nb101 import NB101Genome

        matrix, ops = self.table.spec(int(index))
        return NB101Genome(matrix, ops)

    def _nb101_key(self, genome: Any) -> str:
        space = _nb101_space()
        if isinstance(genome, str):
            genome = space.parse(genome)
        return space.key(genome)

    # ------------------------------------------------------------------ columns
    @property
    def metric_names(self) -> tuple[str, ...]:
        names = tuple(self.table.columns)
        return names + (("latency",) if isinstance(self.table, NB201Table) else ())

    def column(self, metric: str, dataset: str | None = None,
               device: str | None = None) -> np.ndarray:
        """Values of ``metric`` for every cell (read-only float array, table order)."""
        if metric == "latency":
            if not isinstance(self.table, NB201Table):
                raise UnknownNameError("latency exists only for nb201")
            device = device or self.device
            if device is None:
                raise UnknownNameError("latency needs a device; choose one of "
                                       f"{list(self.table.devices)}")
            return self.table.latency_ms[:, self.table.devices.index(check_device(device))]
        if metric not in self.table.columns:
            raise UnknownNameError(f"metric {metric!r} not in {self.space_name}; "
                                   f"known: {list(self.metric_names)}")
        values = self.table.columns[metric]
        if values.ndim == 2:
            ds = canonical_dataset(dataset or self.dataset, self.table.datasets)
            values = values[:, self.table.datasets.index(ds)]
        return values

    def value(self, genome: Any, metric: str, dataset: str | None = None) -> float:
        column = self.column(metric, dataset)
        value = column[self.index(genome)]
        return float(value) if column.dtype.kind in "iu" else _f(value)

    # ------------------------------------------------------------------ search / report view
    def search_metrics(self, genome: Any) -> dict[str, float]:
        """What a strategy may see: ``{"accuracy": ...}`` (+ ``"latency"`` with a device)."""
        i = self.index(genome)
        out = {"accuracy": _f(self.column(self.search_metric)[i])}
        if self.device is not None:
            out["latency"] = _f(self.column("latency")[i])
        return out

    def report_metrics(self, genome: Any) -> dict[str, float]:
        """Report-time metrics, never shown to strategies (NB201: 200-epoch test accuracy)."""
        i = self.index(genome)
        if isinstance(self.table, NB201Table):
            return {"test_accuracy": _f(self.column("test_acc_200")[i]),
                    "test_accuracy_12": _f(self.column("test_acc_12")[i])}
        return {"val_accuracy_108": _f(self.column("val_acc_108")[i])}

    @property
    def report_name(self) -> str:
        """Key of the main report metric in ``report_metrics``."""
        return "test_accuracy" if isinstance(self.table, NB201Table) else "val_accuracy_108"

    # ------------------------------------------------------------------ summaries
    def optimum(self, metric: str | None = None, dataset: str | None = None,
                minimize: bool = False) -> float:
        """Best value of ``metric`` (default: the report metric) over the whole table."""
        metric = metric or self.report_metric
        if isinstance(self.table, NB201Table) and metric == "test_acc_200" and not minimize:
            ds = canonical_dataset(dataset or self.dataset, self.table.datasets)
            return self.table.exact_max[f"test_acc_200:{ds}"]  # float64, not rounded to f32
        values = self.column(metric, dataset)
        return float(values.min() if minimize else values.max())

    def argbest(self, metric: str | None = None, dataset: str | None = None,
                minimize: bool = False) -> int:
        values = self.column(metric or self.report_metric, dataset)
        return int(values.argmin() if minimize else values.argmax())

    def percentile(self, value_or_genome: Any, metric: str | None = None,
                   dataset: str | None = None) -> float:
        """Percentage of cells whose ``metric`` is <= the given value (100 = best cell).

        ``value_or_genome`` is a float, or a genome / string / index whose value is looked up.
        """
        metric = metric or self.report_metric
        column = self.column(metric, dataset)
        if isinstance(value_or_genome, (float, np.floating)):
            value = float(value_or_genome)
        else:
            value = float(column[self.index(value_or_genome)])
        return float(100.0 * np.count_nonzero(column <= value) / len(column))

    def rank(self, genome: Any, metric: str | None = None, dataset: str | None = None) -> int:
        """1-based rank of a cell (1 = best; ties share the best rank)."""
        column = self.column(metric or self.report_metric, dataset)
        return int(np.count_nonzero(column > column[self.index(genome)]) + 1)


@functools.lru_cache(maxsize=None)
def _nb101_space() -> Any:
    from jaxnas.spaces import get_space

    return get_space("nb101")


@functools.lru_cache(maxsize=None)  # oracles are immutable views on read-only tables
def get_oracle(space: str = "nb201", dataset: str = "cifar10",
               device: str | None = None) -> Oracle:
    """The oracle for ``space`` ("nb201", "nb101"/"nb101-20k") on ``dataset``."""
    space = canonical_space(space)
    if space == "nb201":
        table = nb201_table()
        dataset = canonical_dataset(dataset, table.datasets)
        if device is not None:
            check_device(device)
        return Oracle(space, dataset, device, table, "val_acc_12", "test_acc_200")
    table = nb101_table()
    dataset = canonical_dataset(dataset, ("cifar10",))
    if device is not None:
        raise UnknownNameError(f"latency device {device!r}: nb101-20k has no latency table")
    return Oracle(space, dataset, None, table, "val_acc_108", "val_acc_108")


def nb201_optima() -> dict[str, float]:
    """200-epoch test optimum per NB201 dataset (94.3733 / 73.5133 / 47.3111)."""
    table = nb201_table()
    return {d: table.exact_max[f"test_acc_200:{d}"] for d in table.datasets}


__all__ = ["Oracle", "get_oracle", "canonical_space", "nb201_optima", "NB101Table", "NB201Table"]

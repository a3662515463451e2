"""The oracle evaluator: tabular look-ups with query accounting.

Every look-up of a cell not seen before (by ``space.key``, so isomorphic NB101 cells are one
cell) costs one query; a repeated cell costs nothing and returns the same record. Strategies
see only ``metrics`` (search-time: NB201 12-epoch validation accuracy, plus ``latency`` with a
device); ``report`` (NB201 200-epoch test accuracy) stays with the runner.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from jaxnas.benchmarks.oracle import Oracle, get_oracle
from jaxnas.search.base import EvalRecord, Evaluator, SearchContext


class OracleEvaluator(Evaluator):
    """Evaluator over a tabular benchmark (``nb201`` or ``nb101-20k``); training recipes
    (``budgets``) do not apply to a table and are ignored.

    Holds a cache of evaluated keys (the only mutable part; ``restore`` rebuilds it on resume).
    """

    def __init__(self, space: Any, context: SearchContext | None = None, *,
                 oracle: Oracle | None = None, progress: bool = False) -> None:
        super().__init__(space, context, progress)
        context = self.context
        self.oracle = oracle or get_oracle(context.space_name, context.dataset, context.device)
        self.report_metric = self.oracle.report_name
        self._seen: dict[str, EvalRecord] = {}

    def capacity(self) -> int:
        return len(self.oracle)

    @property
    def queries(self) -> int:
        """Queries charged so far (distinct cells looked up)."""
        return len(self._seen)

    def costs(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None
              ) -> list[float]:
        seen = set(self._seen)
        out = []
        for genome in genomes:
            key = self.space.key(genome)
            out.append(0.0 if key in seen else 1.0)
            seen.add(key)
        return out

    def evaluate(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None,
                 on_record: Callable[[int, EvalRecord], None] | None = None
                 ) -> list[EvalRecord]:
        records = []
        for genome in genomes:
            start = time.perf_counter()
            key = self.space.key(genome)
            if key in self._seen:
                old = self._seen[key]
                records.append(EvalRecord(old.genome, key, dict(old.metrics), dict(old.report),
                                          cost=0.0, wall_time=time.perf_counter() - start))
                continue
            record = EvalRecord(
                genome=self.space.to_string(genome),
                key=key,
                metrics=self.oracle.search_metrics(genome),
                report=self.oracle.report_metrics(genome),
                cost=1.0,
                wall_time=time.perf_counter() - start,
            )
            self._seen[key] = record
            records.append(record)
        return records

    def restore(self, records: Sequence[EvalRecord]) -> None:
        for record in records:
            if record.key not in self._seen:
                self._seen[record.key] = record

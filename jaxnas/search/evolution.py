"""Regularized (ageing) evolution, Real et al. 2019, as run in the NATS-Bench study.

Defaults follow NATS-Bench's topology-space runs (``--ea_population 10 --ea_sample_size 3``):
the first ``population_size`` asks are uniform samples; afterwards each child is the mutation
of the best of ``sample_size`` members drawn uniformly *with replacement* from the population;
every told child joins the population and the oldest member leaves.

Repeated cells: with the oracle a cell already evaluated costs no query, and NATS-Bench's RE
lets such a child join the population like any other. In a sparse table subset (nb101-20k:
20,001 of 423,624 cells) the population can then settle on a cluster whose every in-table
neighbour was seen, and it never spends another query. ``skip_seen`` makes RE draw again
(new tournament and mutation, up to ``max_redraws`` times, then uniform samples) when a child
was already told; ``None`` (default) means on for table-subset spaces (nb101-20k) and off
elsewhere (NB201: the NATS-Bench algorithm unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from jaxnas.benchmarks.subset import TableSubsetSpace
from jaxnas.errors import ConfigError
from jaxnas.search.base import (
    SearchRecord,
    Strategy,
    StrategyState,
    batch_count,
    score,
    split_rng,
)


@dataclass(frozen=True)
class RegularizedEvolutionConfig:
    population_size: int = 10
    sample_size: int = 3
    batch_size: int = 1  # children per ask (1 = the sequential algorithm)
    skip_seen: bool | None = None  # None: True on table-subset spaces (nb101-20k) only
    max_redraws: int = 100

    def __post_init__(self) -> None:
        for name in ("population_size", "sample_size", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an int >= 1")
        if self.sample_size > self.population_size:
            raise ConfigError(f"sample_size={self.sample_size} must be <= population_size="
                              f"{self.population_size}")
        if self.max_redraws < 0:
            raise ConfigError(f"max_redraws={self.max_redraws} must be >= 0")


@dataclass(frozen=True)
class RegularizedEvolutionState(StrategyState):
    population: tuple[tuple[str, float], ...] = ()  # (genome string, fitness), oldest first
    asked: int = 0
    told: int = 0
    seen: tuple[str, ...] = ()  # keys of told cells, sorted (kept only when skip_seen is on)


class RegularizedEvolution(Strategy):
    """Ageing evolution over any space with ``sample`` and ``mutate``."""

    name = "re"
    Config = RegularizedEvolutionConfig
    State = RegularizedEvolutionState

    @property
    def skip_seen(self) -> bool:
        if self.config.skip_seen is not None:
            return bool(self.config.skip_seen)
        return isinstance(self.space, TableSubsetSpace)

    def _child(self, state: RegularizedEvolutionState, rng: Any) -> Any:
        picks = rng.integers(len(state.population), size=self.config.sample_size)
        # best of the tournament; ties go to the first drawn
        parent = max((state.population[i] for i in picks), key=lambda member: member[1])
        return self.space.mutate(self.space.parse(parent[0]), rng)

    def _ask(self, state: RegularizedEvolutionState
             ) -> tuple[RegularizedEvolutionState, list[Any]]:
        key, rng = split_rng(state.key)
        cfg = self.config
        genomes = []
        taken = set(state.seen)
        for _ in range(batch_count(self)):
            if state.told + len(genomes) < cfg.population_size or not state.population:
                child = self.space.sample(rng)
            else:
                child = self._child(state, rng)
                if self.skip_seen:
                    for _ in range(cfg.max_redraws):
                        if self.space.key(child) not in taken:
                            break
                        child = self._child(state, rng)
                    for _ in range(cfg.max_redraws):
                        if self.space.key(child) not in taken:
                            break
                        child = self.space.sample(rng)
            taken.add(self.space.key(child))
            genomes.append(child)
        return replace(state, key=key, asked=state.asked + len(genomes)), genomes

    def _tell(self, state: RegularizedEvolutionState, genomes: list[Any],
              records: list[SearchRecord]) -> RegularizedEvolutionState:
        if self.skip_seen:
            state = replace(state, seen=tuple(sorted(set(state.seen) | {r.key for r in records})))
        population = list(state.population)
        for genome, record in zip(genomes, records):
            fitness = score(record.metrics, self.context.objective, self.context.max_latency)
            population.append((self.space.to_string(genome), fitness))
            if len(population) > self.config.population_size:
                population.pop(0)  # ageing: the oldest dies, not the worst
        return replace(state, population=tuple(population), told=state.told + len(records))

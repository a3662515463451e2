"""Local search (White, Nolen, Savani, UAI 2021, "Local search is state of the art for NAS
benchmarks"): hill climbing over the one-mutation neighbourhood with random restarts.

Start from a uniform sample; evaluate its whole neighbourhood (in random order, as one batch);
move to the best neighbour if it beats the current cell, otherwise restart from a new uniform
sample. The neighbourhood is ``space.neighbours(genome)`` when the space offers it, else up to
``num_neighbors`` distinct mutations drawn with ``space.mutate`` (NB201 has 24 neighbours).
``batch_size`` asks the neighbourhood in chunks of that many cells (for evaluators that train
a batch as one population); the move is decided once the whole neighbourhood is told, so the
algorithm is the same for every batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from jaxnas.errors import ConfigError
from jaxnas.search.base import SearchRecord, Strategy, StrategyState, score, split_rng


@dataclass(frozen=True)
class LocalSearchConfig:
    num_neighbors: int = 24  # used only when the space cannot enumerate neighbours
    max_draws: int = 2000  # mutation draws to collect num_neighbors distinct neighbours
    batch_size: int | None = None  # cells per ask; None: the whole neighbourhood at once

    def __post_init__(self) -> None:
        if self.num_neighbors < 1:
            raise ConfigError(f"num_neighbors={self.num_neighbors} must be >= 1")
        if self.batch_size is not None and (not isinstance(self.batch_size, int)
                                            or self.batch_size < 1):
            raise ConfigError(f"batch_size={self.batch_size!r} must be an int >= 1 or None")


@dataclass(frozen=True)
class LocalSearchState(StrategyState):
    current: tuple[str, float] | None = None  # (genome string, fitness) of the current cell
    phase: str = "start"  # "start": next ask is a random cell; "climb": neighbourhood asked
    restarts: int = 0
    queue: tuple[str, ...] = ()  # neighbours not asked yet (batch_size below the neighbourhood)
    best_child: tuple[str, float] | None = None  # best neighbour told so far


class LocalSearch(Strategy):
    """Best-improvement hill climbing with restarts."""

    name = "ls"
    Config = LocalSearchConfig
    State = LocalSearchState

    def _neighbours(self, genome: Any, rng: Any) -> list[Any]:
        if hasattr(self.space, "neighbours"):  # spaces that can enumerate them (NB201)
            found = list(self.space.neighbours(genome))
            order = rng.permutation(len(found))
            return [found[i] for i in order]
        own = self.space.key(genome)
        seen, found = {own}, []
        for _ in range(self.config.max_draws):
            child = self.space.mutate(genome, rng)
            key = self.space.key(child)
            if key not in seen:
                seen.add(key)
                found.append(child)
                if len(found) >= self.config.num_neighbors:
                    break
        return found

    def _ask(self, state: LocalSearchState) -> tuple[LocalSearchState, list[Any]]:
        if state.queue:  # the rest of a neighbourhood asked in chunks
            return self._chunk(state, [self.space.parse(t) for t in state.queue])
        key, rng = split_rng(state.key)
        if state.phase == "start" or state.current is None:
            return replace(state, key=key, phase="start"), [self.space.sample(rng)]
        neighbours = self._neighbours(self.space.parse(state.current[0]), rng)
        if not neighbours:  # an isolated cell (e.g. in nb101-20k) is a local optimum
            return (replace(state, key=key, current=None, phase="start",
                            restarts=state.restarts + 1), [self.space.sample(rng)])
        return self._chunk(replace(state, key=key, phase="climb", best_child=None), neighbours)

    def _chunk(self, state: LocalSearchState, neighbours: list[Any]
               ) -> tuple[LocalSearchState, list[Any]]:
        size = self.config.batch_size or len(neighbours)
        rest = tuple(self.space.to_string(g) for g in neighbours[size:])
        return replace(state, queue=rest), neighbours[:size]

    def _tell(self, state: LocalSearchState, genomes: list[Any],
              records: list[SearchRecord]) -> LocalSearchState:
        if not records:
            return state
        fits = [score(r.metrics, self.context.objective, self.context.max_latency)
                for r in records]
        if state.phase == "start" or state.current is None:
            return replace(state, current=(self.space.to_string(genomes[0]), fits[0]),
                           phase="climb")
        best = max(range(len(fits)), key=lambda i: fits[i])  # first best on ties
        child = state.best_child
        if child is None or fits[best] > child[1]:
            child = (self.space.to_string(genomes[best]), fits[best])
        if state.queue:
            return replace(state, best_child=child)  # more of the neighbourhood to come
        state = replace(state, queue=(), best_child=None)
        if child[1] > state.current[1]:
            return replace(state, current=child, phase="climb")
        return replace(state, current=None, phase="start", restarts=state.restarts + 1)

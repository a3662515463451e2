"""Local search (White, Nolen, Savani, UAI 2021, "Local search is state of the art for NAS
benchmarks"): hill climbing over the one-mutation neighbourhood with random restarts.

Start from a uniform sample; evaluate its whole neighbourhood (in random order, as one batch);
move to the best neighbour if it beats the current cell, otherwise restart from a new uniform
sample. The neighbourhood is ``space.neighbours(genome)`` (or ``neighbors``) when the space offers it, else up to
``num_neighbors`` distinct mutations drawn with ``space.mutate`` (NB201 has 24 neighbours).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Sequence

from jaxnas.errors import ConfigError
from jaxnas.search.base import SearchContext, SearchRecord, as_key, score, split_rng


@dataclass(frozen=True)
class LocalSearchConfig:
    num_neighbors: int = 24  # used only when the space cannot enumerate neighbours
    max_draws: int = 2000  # mutation draws to collect num_neighbors distinct neighbours

    def __post_init__(self) -> None:
        if self.num_neighbors < 1:
            raise ConfigError(f"num_neighbors={self.num_neighbors} must be >= 1")


@dataclass(frozen=True)
class LocalSearchState:
    key: Any
    current: tuple[Any, float] | None = None  # (genome, fitness) of the current cell
    phase: str = "start"  # "start": next ask is a random cell; "climb": neighbourhood asked
    restarts: int = 0


class LocalSearch:
    """Best-improvement hill climbing with restarts."""

    name: ClassVar[str] = "ls"
    Config = LocalSearchConfig

    def __init__(self, space: Any, config: LocalSearchConfig | None = None,
                 context: SearchContext | None = None) -> None:
        self.space = space
        self.config = config or LocalSearchConfig()
        self.context = context or SearchContext()

    def init(self, key: Any) -> LocalSearchState:
        return LocalSearchState(key=as_key(key))

    def _neighbours(self, genome: Any, rng: Any) -> list[Any]:
        enumerate_fn = getattr(self.space, "neighbours", None) or getattr(self.space, "neighbors", None)
        if enumerate_fn is not None:
            found = list(enumerate_fn(genome))
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

    def ask(self, state: LocalSearchState) -> tuple[LocalSearchState, list[Any]]:
        key, rng = split_rng(state.key)
        if state.phase == "start" or state.current is None:
            return replace(state, key=key, phase="start"), [self.space.sample(rng)]
        neighbours = self._neighbours(state.current[0], rng)
        if not neighbours:  # an isolated cell (e.g. in nb101-20k) is a local optimum
            return (replace(state, key=key, current=None, phase="start",
                            restarts=state.restarts + 1), [self.space.sample(rng)])
        return replace(state, key=key, phase="climb"), neighbours

    def tell(self, state: LocalSearchState, genomes: Sequence[Any],
             records: Sequence[SearchRecord]) -> LocalSearchState:
        fits = [score(r.metrics, self.context.objective, self.context.max_latency)
                for r in records]
        if not records:
            return state
        if state.phase == "start" or state.current is None:
            return replace(state, current=(genomes[0], fits[0]), phase="climb")
        best = max(range(len(fits)), key=lambda i: fits[i])  # first best on ties
        if fits[best] > state.current[1]:
            return replace(state, current=(genomes[best], fits[best]), phase="climb")
        return replace(state, current=None, phase="start", restarts=state.restarts + 1)

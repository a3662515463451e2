"""Random search: independent uniform samples from the space (NATS-Bench "RANDOM")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Sequence

from jaxnas.search.base import SearchContext, SearchRecord, as_key, split_rng


@dataclass(frozen=True)
class RandomSearchConfig:
    batch_size: int = 1  # genomes per ask


@dataclass(frozen=True)
class RandomSearchState:
    key: Any
    asked: int = 0


class RandomSearch:
    """Ask ``batch_size`` uniform samples each time; ``tell`` learns nothing.

    Repeated cells are free (the oracle charges only unseen cells), so the run spends its whole
    budget on distinct cells.
    """

    name: ClassVar[str] = "random"
    Config = RandomSearchConfig

    def __init__(self, space: Any, config: RandomSearchConfig | None = None,
                 context: SearchContext | None = None) -> None:
        self.space = space
        self.config = config or RandomSearchConfig()
        self.context = context or SearchContext()

    def init(self, key: Any) -> RandomSearchState:
        return RandomSearchState(key=as_key(key))

    def ask(self, state: RandomSearchState) -> tuple[RandomSearchState, list[Any]]:
        key, rng = split_rng(state.key)
        genomes = [self.space.sample(rng) for _ in range(self.config.batch_size)]
        return replace(state, key=key, asked=state.asked + len(genomes)), genomes

    def tell(self, state: RandomSearchState, genomes: Sequence[Any],
             records: Sequence[SearchRecord]) -> RandomSearchState:
        return state

"""Random search: independent uniform samples from the space (NATS-Bench "RANDOM")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from jaxnas.errors import ConfigError
from jaxnas.search.base import SearchRecord, Strategy, StrategyState, batch_count, split_rng


@dataclass(frozen=True)
class RandomSearchConfig:
    batch_size: int = 1  # genomes per ask

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size!r} must be an int >= 1")


@dataclass(frozen=True)
class RandomSearchState(StrategyState):
    asked: int = 0


class RandomSearch(Strategy):
    """Ask ``batch_size`` uniform samples each time; ``tell`` learns nothing.

    Repeated cells are free (the oracle charges only unseen cells), so the run spends its whole
    budget on distinct cells.
    """

    name = "random"
    Config = RandomSearchConfig
    State = RandomSearchState

    def _ask(self, state: RandomSearchState) -> tuple[RandomSearchState, list[Any]]:
        key, rng = split_rng(state.key)
        genomes = [self.space.sample(rng) for _ in range(batch_count(self))]
        return replace(state, key=key, asked=state.asked + len(genomes)), genomes

    def _tell(self, state: RandomSearchState, genomes: list[Any],
              records: list[SearchRecord]) -> RandomSearchState:
        return state

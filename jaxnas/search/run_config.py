"""The configuration of a search run (:class:`RunConfig`): what defines a run and is checked
when it is resumed. Where the data lives (``data_dir``) is recorded but is not identity."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from jaxnas.errors import ConfigError
from jaxnas.search.base import ACCURACY, LATENCY, SearchContext
from jaxnas.search.registry import canonical_strategy_name, strategy_class

#: largest seed: jax.random.PRNGKey(seed) keeps 32 bits of it
MAX_SEED = 2**32 - 1

@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a search run (the ``config`` block of a results file)."""

    space: str = "nb201"
    dataset: str = "cifar10"
    strategy: str = "re"
    queries: int = 200
    seeds: tuple[int, ...] = (0,)
    options: tuple[tuple[str, str], ...] = ()
    preset: str | None = None
    evaluator: str | None = None  # None: the strategy's default (oracle)
    objective: str = ACCURACY
    device: str | None = None
    max_latency: float | None = None
    batched: bool = False
    data_dir: str | None = None  # where the data is; not part of a run's identity
    evaluator_options: tuple[tuple[str, str], ...] = ()  # e.g. (("preset", "smoke"),)

    def __post_init__(self) -> None:
        _check_types(self)
        strategy = strategy_class(self.strategy)  # UnknownNameError for an unknown name
        if self.queries < 0 or (self.queries == 0 and not strategy.generates):
            raise ConfigError(f"queries={self.queries} must be >= 1 (0 only for strategies "
                              f"that generate without search: nal)")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds={list(self.seeds)} repeat a seed; give distinct seeds")
        bad = [s for s in self.seeds if not 0 <= s <= MAX_SEED]
        if bad:
            raise ConfigError(f"seed {bad[0]} is outside 0..{MAX_SEED} (jax.random.PRNGKey "
                              f"keeps 32 bits, so larger seeds would repeat smaller ones)")
        if self.objective not in (ACCURACY, LATENCY):
            raise ConfigError(f"objective={self.objective!r}; choose one of "
                              f"{[ACCURACY, LATENCY]}")
        if self.objective == LATENCY and self.device is None:
            raise ConfigError("objective='latency' needs --device")
        if self.max_latency is not None:
            if self.device is None:
                raise ConfigError("--max-latency needs --device")
            if not (math.isfinite(self.max_latency) and self.max_latency > 0):
                raise ConfigError(f"max_latency={self.max_latency!r} must be a finite number "
                                  f"of milliseconds > 0")
        for name, pairs in (("options", self.options),
                            ("evaluator_options", self.evaluator_options)):
            keys = [k for k, _ in pairs]
            if len(set(keys)) != len(keys):
                raise ConfigError(f"{name} name an option twice: {keys}; give each once")

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seeds"] = list(self.seeds)
        data["options"] = dict(self.options)
        data["evaluator_options"] = dict(self.evaluator_options)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunConfig":
        data = dict(data)
        data["seeds"] = tuple(int(s) for s in data["seeds"])
        data["options"] = tuple(sorted(dict(data.get("options") or {}).items()))
        data["evaluator_options"] = tuple(sorted(
            dict(data.get("evaluator_options") or {}).items()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def identity(self) -> "RunConfig":
        """The config without where the data lives (two runs with equal identities are the
        same run, wherever their data is stored)."""
        return dataclasses.replace(self, data_dir=None)

    def context(self, space_label: str) -> SearchContext:
        return SearchContext(space_name=space_label, dataset=self.dataset,
                             objective=self.objective, device=self.device,
                             max_latency=self.max_latency, budget=self.queries,
                             batched=self.batched, data_dir=self.data_dir)


def _check_types(config: RunConfig) -> None:
    """Checks of the Python API's types: one clear ConfigError per wrong type."""
    values = vars(config)

    def wrong(name: str, expected: str) -> ConfigError:
        return ConfigError(f"RunConfig.{name}={values[name]!r} must be {expected}")

    for name in ("space", "dataset", "strategy", "objective"):
        if not isinstance(values[name], str):
            raise wrong(name, "a string")
    for name in ("preset", "evaluator", "device", "data_dir"):
        if values[name] is not None and not isinstance(values[name], str):
            raise wrong(name, "a string or None")
    if not isinstance(config.queries, int) or isinstance(config.queries, bool):
        raise wrong("queries", "an int")
    if not isinstance(config.seeds, tuple) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in config.seeds):
        raise wrong("seeds", "a tuple of ints, e.g. (0, 1, 2)")
    if not isinstance(config.batched, bool):
        raise wrong("batched", "True or False")
    if config.max_latency is not None and (isinstance(config.max_latency, bool) or
                                           not isinstance(config.max_latency, (int, float))):
        raise wrong("max_latency", "a number or None")
    for name in ("options", "evaluator_options"):
        if not isinstance(values[name], tuple) or not all(
                isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                for p in values[name]):
            raise wrong(name, "a tuple of (name, value) pairs")


def config_from_options(strategy: str, **kwargs: Any) -> RunConfig:
    """Convenience: RunConfig with a canonical strategy name."""
    return RunConfig(strategy=canonical_strategy_name(strategy), **kwargs)


__all__ = ["MAX_SEED", "RunConfig", "config_from_options"]

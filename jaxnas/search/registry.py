"""Strategies and evaluators by name, imported lazily from ``"module:attribute"`` strings.

A strategy target is a class with a ``Config`` attribute (frozen dataclass, paper defaults;
optionally a ``PRESETS: dict[str, Config]`` class attribute or ``preset(name)`` classmethod)
built as ``cls(space, config, context)``; it may set ``evaluator = "<name>"`` to choose its
default evaluator. An evaluator target is built as ``cls(space, context, **options)``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import types
import typing
from typing import Any, Mapping

from jaxnas.errors import ConfigError, UnknownNameError
from jaxnas.search.base import SearchContext

# name -> "module:attribute" (read-only mapping: no module-level mutable state)
STRATEGIES: Mapping[str, str] = types.MappingProxyType({
    "random": "jaxnas.search.random_search:RandomSearch",
    "re": "jaxnas.search.evolution:RegularizedEvolution",
    "ls": "jaxnas.search.local_search:LocalSearch",
    "agnet": "jaxnas.search.agnet:AGNet",
    "nal": "jaxnas.search.nal:NAL",
    "egnas": "jaxnas.search.egnas:EGNAS",
})

EVALUATORS: Mapping[str, str] = types.MappingProxyType({
    "oracle": "jaxnas.search.evaluators:OracleEvaluator",
    "train": "jaxnas.search.train_evaluator:TrainEvaluator",
    "egnas": "jaxnas.search.egnas:TrainerEvaluator",
    "replay": "jaxnas.search.egnas.replay:ReplayEvaluator",  # EG-NAS authors' search logs
})

# aliases accepted on the command line
_ALIASES = {"rs": "random", "evolution": "re", "regularized_evolution": "re",
            "local_search": "ls", "ag-net": "agnet", "eg-nas": "egnas"}


def _load(kind: str, table: Mapping[str, str], name: str) -> Any:
    name = _ALIASES.get(name, name) if kind == "strategy" else name
    if name not in table:
        raise UnknownNameError(f"unknown {kind} {name!r}; known: {sorted(table)}")
    module_name, _, attr = table[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise UnknownNameError(
            f"{kind} {name!r} is registered as {table[name]!r} but module {module_name!r} "
            f"is not available in this installation; available now: "
            f"{available(kind)}") from error
    try:
        return getattr(module, attr)
    except AttributeError as error:
        raise UnknownNameError(f"{kind} {name!r}: {module_name!r} has no {attr!r}") from error


def available(kind: str = "strategy") -> list[str]:
    """Registered names whose module can be imported now."""
    table = STRATEGIES if kind == "strategy" else EVALUATORS
    found = []
    for name, target in table.items():
        module_name = target.partition(":")[0]
        try:
            if importlib.util.find_spec(module_name) is not None:
                found.append(name)
        except (ImportError, ValueError):
            pass
    return found


def strategy_class(name: str) -> type:
    """The class registered as ``name`` (UnknownNameError if unknown or not installed)."""
    return _load("strategy", STRATEGIES, name)


def evaluator_class(name: str) -> type:
    return _load("evaluator", EVALUATORS, name)


def canonical_strategy_name(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in STRATEGIES:
        raise UnknownNameError(f"unknown strategy {name!r}; known: {sorted(STRATEGIES)}")
    return name


# ------------------------------------------------------------------------ config from options


def _convert(field_name: str, text: Any, annotation: Any) -> Any:
    """Convert a ``--option KEY=VALUE`` string to the type of a config field."""
    if not isinstance(text, str):
        return text
    if isinstance(annotation, str):  # postponed annotations: evaluate the common spellings
        annotation = {"int": int, "float": float, "bool": bool, "str": str}.get(
            annotation.replace(" ", ""), annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(field_name, text, arg)
            except ConfigError:
                continue
        raise ConfigError(f"option {field_name}={text!r} does not fit {annotation}")
    try:
        if annotation is bool or annotation == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation is int or annotation == "int":
            return int(text)
        if annotation is float or annotation == "float":
            return float(text)
        if origin is tuple or annotation is tuple or (isinstance(annotation, str)
                                                       and annotation.startswith("tuple")):
            inner = args[0] if args else str
            parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
            return tuple(_convert(field_name, p.strip(), inner) for p in parts)
    except ValueError as error:
        raise ConfigError(f"option {field_name}={text!r} is not a valid {annotation}") from error
    return text


def make_config(config_cls: type, options: Mapping[str, Any] | None = None,
                preset: str | None = None, owner: Any = None) -> Any:
    """An instance of ``config_cls`` from a preset (optional) and ``KEY=VALUE`` overrides."""
    options = dict(options or {})
    if preset is not None:
        presets = getattr(owner, "PRESETS", None) or getattr(config_cls, "PRESETS", None)
        if presets is not None:
            if preset not in presets:
                raise UnknownNameError(f"unknown preset {preset!r}; known: {sorted(presets)}")
            base = presets[preset]
        elif hasattr(owner, "preset") or hasattr(config_cls, "preset"):
            base = (getattr(owner, "preset", None) or config_cls.preset)(preset)
        else:
            raise ConfigError(f"preset {preset!r} given but this strategy has no presets")
    else:
        base = config_cls()
    if not options:
        return base
    hints = {}
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # noqa: BLE001 - fall back to raw annotations
        pass
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    updates = {}
    for key, value in options.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise ConfigError(f"unknown option {key!r} for {config_cls.__qualname__}; "
                              f"allowed: {sorted(fields)}")
        updates[name] = _convert(name, value, hints.get(name, fields[name].type))
    return dataclasses.replace(base, **updates)


def parse_option_strings(items: list[str] | None, flag: str = "--option") -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a missing ``=`` or a name given twice
    is a ConfigError."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r} must look like KEY=VALUE")
        if key in out:
            raise ConfigError(f"{flag} {key} is given twice ({out[key]!r} and "
                              f"{value.strip()!r}); give it once")
        out[key] = value.strip()
    return out


def make_strategy(name: str, space: Any, options: Mapping[str, Any] | None = None, *,
                  preset: str | None = None, context: SearchContext | None = None) -> Any:
    """Build the strategy registered as ``name`` for ``space``."""
    cls = strategy_class(name)
    config = make_config(cls.Config, options, preset, owner=cls)
    return cls(space, config, context or SearchContext())


def make_evaluator(name: str, space: Any, context: SearchContext | None = None,
                   **options: Any) -> Any:
    """Build the evaluator registered as ``name``; ``options`` are its keyword arguments."""
    import inspect

    cls = evaluator_class(name)
    allowed = [p for p in inspect.signature(cls.__init__).parameters
               if p not in ("self", "space", "context")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for the {name!r} evaluator; "
                          f"allowed: {allowed}")
    return cls(space, context or SearchContext(), **options)

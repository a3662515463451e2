"""Strategy states to JSON and back: a short codec for plain data.

A state is a frozen dataclass (:class:`jaxnas.search.base.StrategyState`) whose fields hold
plain data. Each kind of value has one JSON form:

* ``None``, bools, ints, strings: themselves; finite floats: themselves, ``inf``/``nan`` as
  ``{"float": "inf"}``;
* tuples (the only sequence type a state holds): JSON lists, decoded back to tuples;
* dicts with string keys: JSON objects;
* numpy and jax arrays: ``{"array": [dtype, shape, base64 bytes]}``, decoded to numpy;
* nested dataclasses: ``{"fields": {...}}``, rebuilt from the template's class;
* any other pytree node (optax's NamedTuple states): ``{"leaves": [...]}``, rebuilt in the
  structure of the same value in a *template* state (``strategy.init(0)``), since optimizer
  state structures follow from the config, never from the search.

Decoding takes that template, so no class is ever imported by name from a checkpoint.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from typing import Any

import numpy as np

from jaxnas.errors import ConfigError


def _array_json(value: Any) -> dict[str, Any]:
    array = np.ascontiguousarray(np.asarray(value))
    return {"array": [array.dtype.name, list(array.shape),
                      base64.b64encode(array.tobytes()).decode("ascii")]}


def _array_from_json(data: list[Any]) -> np.ndarray:
    dtype, shape, raw = data
    try:
        dtype = np.dtype(dtype)
    except TypeError:  # bfloat16 and friends are known to jax's ml_dtypes
        import jax.numpy as jnp

        dtype = jnp.dtype(dtype)
    return np.frombuffer(base64.b64decode(raw), dtype=dtype).reshape(shape).copy()


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def encode(value: Any) -> Any:
    """The JSON-able form of a state (see the module docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"fields": {f.name: encode(getattr(value, f.name))
                           for f in dataclasses.fields(value)}}
    if _is_namedtuple(value):
        import jax

        return {"leaves": [encode(leaf) for leaf in jax.tree_util.tree_leaves(value)]}
    if isinstance(value, tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ConfigError("state dicts need string keys to be checkpointed")
        return {"dict": {k: encode(v) for k, v in value.items()}}
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _array_json(value)
    raise ConfigError(f"cannot checkpoint a {type(value).__qualname__}: states hold strings, "
                      f"numbers, tuples, dicts, arrays and pytrees of arrays")


def decode(data: Any, template: Any = None) -> Any:
    """Inverse of :func:`encode`; ``template`` is a value of the same shape of state (a fresh
    ``strategy.init``), needed for nested dataclasses and pytree nodes."""
    if isinstance(data, list):
        inner = template if isinstance(template, tuple) else ()
        return tuple(decode(v, inner[i] if i < len(inner) else None)
                     for i, v in enumerate(data))
    if not isinstance(data, dict):
        return data
    if "float" in data:
        return float(data["float"])
    if "array" in data:
        return _array_from_json(data["array"])
    if "dict" in data:
        inner = template if isinstance(template, dict) else {}
        return {k: decode(v, inner.get(k)) for k, v in data["dict"].items()}
    if "fields" in data:
        if not dataclasses.is_dataclass(template):
            raise ConfigError("checkpoint holds a nested state the strategy does not have")
        names = {f.name for f in dataclasses.fields(template)}
        if set(data["fields"]) != names:
            raise ConfigError(f"checkpoint fields {sorted(data['fields'])} do not match "
                              f"{type(template).__name__} {sorted(names)}")
        return type(template)(**{k: decode(v, getattr(template, k))
                                 for k, v in data["fields"].items()})
    if "leaves" in data:
        import jax

        treedef = jax.tree_util.tree_structure(template)
        if template is None or treedef.num_leaves != len(data["leaves"]):
            raise ConfigError("checkpoint holds a pytree whose structure the strategy's "
                              "config does not give")
        return jax.tree_util.tree_unflatten(treedef, [decode(v) for v in data["leaves"]])
    raise ConfigError(f"unreadable checkpoint value with keys {sorted(data)}")


__all__ = ["decode", "encode"]

"""Run directories: config, append-only evaluation log, per-tell checkpoints, summary.

Layout of a run directory::

    RUN_DIR/config.json              run config, environment, command line (written once)
    RUN_DIR/seed_<s>/evals.jsonl     one line per finished evaluation, fsynced, append-only
    RUN_DIR/seed_<s>/checkpoint.{0,1}.json  strategy state after the last two tells
    RUN_DIR/seed_<s>/result.json     the seed's curve once it has finished
    RUN_DIR/results.json             all seeds + summary (the --json file has the same content)

Crash safety: an evaluation line is written and fsynced before the strategy is told; the
checkpoint (state after tell number ``step``) goes to one of two alternating slots with a
sha256 of its content (see ``SeedStore.save_checkpoint``). After SIGKILL the log may hold
records of steps after the checkpoint's, and
possibly a torn last line; :func:`read_evals` drops a torn line and the runner re-asks each later
step from the checkpoint (deterministic) and tells the logged records instead of evaluating them
again, so nothing is lost or recorded twice. A missing or torn checkpoint means replaying the
whole log from ``init``.

States are serialised to JSON (no pickle): dataclasses, named tuples, tuples, dicts, numpy /
jax arrays (raw bytes, base64), typed jax keys and numpy Generators are tagged with their type;
classes are re-imported only from the jaxnas, optax, flax, jax and numpy packages.
"""

from __future__ import annotations

import base64
import hashlib
import dataclasses
import importlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from jaxnas.errors import ConfigError, DataNotFoundError
from jaxnas.search.base import EvalRecord

_ALLOWED_MODULES = ("jaxnas", "optax", "flax", "jax", "jaxlib", "numpy", "collections",
                    "builtins")

# ------------------------------------------------------------------------------ state codec


def _class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    if module_name.split(".")[0] not in _ALLOWED_MODULES:
        raise ConfigError(f"checkpoint names class {path!r}; only classes from "
                          f"{list(_ALLOWED_MODULES)} may be restored")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _encode_array(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    return {"dtype": array.dtype.name if array.dtype.names is None else str(array.dtype),
            "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode("ascii")}


def _decode_array(data: Mapping[str, Any]) -> np.ndarray:
    dtype = data["dtype"]
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        import jax.numpy as jnp  # bfloat16 and friends (ml_dtypes) are known to jax

        dtype = jnp.dtype(dtype)
    raw = base64.b64decode(data["data"])
    return np.frombuffer(raw, dtype=dtype).reshape(data["shape"]).copy()


def encode_state(obj: Any) -> Any:
    """A JSON-able, type-tagged form of a strategy state (see module docstring)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj) if isinstance(obj, int) else {"__npscalar__": _encode_array(np.asarray(obj))}
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, np.generic):
        return {"__npscalar__": _encode_array(np.asarray(obj))}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": _encode_array(obj)}
    if isinstance(obj, np.random.Generator):
        return {"__npgen__": encode_state(obj.bit_generator.state)}
    if type(obj).__module__.startswith(("jax", "jaxlib")) and hasattr(obj, "dtype"):
        import jax

        if jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
            return {"__jaxkey__": _encode_array(np.asarray(jax.random.key_data(obj))),
                    "impl": str(jax.random.key_impl(obj))}
        return {"__jax__": _encode_array(np.asarray(obj))}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: encode_state(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"__dataclass__": _class_path(obj), "fields": fields}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple (optax states)
        return {"__namedtuple__": _class_path(obj), "items": [encode_state(v) for v in obj]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_state(v) for v in obj]}
    if isinstance(obj, list):
        return [encode_state(v) for v in obj]
    if isinstance(obj, (frozenset, set)):
        items = sorted((encode_state(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
        return {"__frozenset__" if isinstance(obj, frozenset) else "__set__": items}
    if isinstance(obj, Mapping):
        items = [[encode_state(k), encode_state(v)] for k, v in obj.items()]
        if type(obj) is dict:
            return {"__dict__": items}
        return {"__mapping__": _class_path(obj), "items": items}
    raise ConfigError(f"cannot checkpoint a value of type {type(obj).__qualname__}: use "
                      f"dataclasses, tuples, dicts, numbers, strings or arrays in states")


def decode_state(data: Any) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(data, list):
        return [decode_state(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__float__" in data:
        return float(data["__float__"])
    if "__npscalar__" in data:
        return _decode_array(data["__npscalar__"])[()]
    if "__ndarray__" in data:
        return _decode_array(data["__ndarray__"])
    if "__npgen__" in data:
        state = decode_state(data["__npgen__"])
        bit_generator = getattr(np.random, state["bit_generator"])()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if "__jaxkey__" in data:
        import jax

        raw = jax.numpy.asarray(_decode_array(data["__jaxkey__"]))
        impl = data.get("impl", "")
        impl_name = "rbg" if "rbg" in impl else ("unsafe_rbg" if "unsafe" in impl else "threefry2x32")
        return jax.random.wrap_key_data(raw, impl=impl_name)
    if "__jax__" in data:
        import jax.numpy as jnp

        return jnp.asarray(_decode_array(data["__jax__"]))
    if "__dataclass__" in data:
        cls = _import_class(data["__dataclass__"])
        values = {k: decode_state(v) for k, v in data["fields"].items()}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in values.items() if k in init})
        for k, v in values.items():
            if k not in init:
                object.__setattr__(obj, k, v)
        return obj
    if "__namedtuple__" in data:
        return _import_class(data["__namedtuple__"])(*[decode_state(v) for v in data["items"]])
    if "__tuple__" in data:
        return tuple(decode_state(v) for v in data["__tuple__"])
    if "__frozenset__" in data:
        return frozenset(decode_state(v) for v in data["__frozenset__"])
    if "__set__" in data:
        return {decode_state(v) for v in data["__set__"]}
    if "__dict__" in data:
        return {decode_state(k): decode_state(v) for k, v in data["__dict__"]}
    if "__mapping__" in data:
        cls = _import_class(data["__mapping__"])
        return cls({decode_state(k): decode_state(v) for k, v in data["items"]})
    return {k: decode_state(v) for k, v in data.items()}


# ------------------------------------------------------------------------------ files


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any, fsync: bool = True) -> None:
    """Write JSON to ``path`` via a temporary file and an atomic rename (fsynced unless
    ``fsync=False``: the rename alone is atomic against a killed process)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(path.parent)


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def read_evals(path: Path) -> list[dict[str, Any]]:
    """Entries of an evals.jsonl file; a torn (unparsable) last line is dropped."""
    path = Path(path)
    if not path.is_file():
        return []
    entries = []
    with open(path) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1 and any(x.strip() for x in lines[i + 1:]):
                raise ConfigError(f"{path}: corrupt line {i + 1} in the middle of the log")
            break  # torn final write from a kill: that evaluation was never told
    return entries


class SeedStore:
    """The files of one seed of a run (see module docstring)."""

    def __init__(self, run_dir: Path, seed: int) -> None:
        self.dir = Path(run_dir) / f"seed_{seed}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.evals_path = self.dir / "evals.jsonl"
        self.result_path = self.dir / "result.json"

    def load_evals(self) -> list[tuple[int, int, EvalRecord]]:
        """(step, position in the step, record) of every logged evaluation; rewrites the file
        without a torn last line so later appends stay well-formed."""
        entries = read_evals(self.evals_path)
        with open(self.evals_path, "a+") as f:  # drop a torn tail so the next line starts clean
            f.seek(0)
            text = f.read()
        clean = "".join(json.dumps(e, sort_keys=True, allow_nan=False) + "\n" for e in entries)
        if text != clean:
            with open(self.evals_path, "w") as f:
                f.write(clean)
                f.flush()
                os.fsync(f.fileno())
        return [(e["step"], e["pos"], EvalRecord.from_json(e["record"])) for e in entries]

    def append_eval(self, step: int, pos: int, record: EvalRecord) -> None:
        line = json.dumps({"step": step, "pos": pos, "record": record.to_json()},
                          sort_keys=True, allow_nan=False) + "\n"
        with open(self.evals_path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _slot(self, step: int) -> Path:
        return self.dir / f"checkpoint.{step % 2}.json"

    def save_checkpoint(self, step: int, state: Any, extra: Mapping[str, Any] | None = None) -> None:
        """Write the state after tell ``step`` into slot ``step % 2``.

        Two slots overwritten in place (no rename, no fsync: a rename or fsync per tell cost
        ~2-15 ms here). A kill mid-write tears at most the slot being written; its sha256 then
        fails and :meth:`load_checkpoint` takes the other slot (one step older), and the
        fsynced evaluation log replays the rest.
        """
        payload = json.dumps(encode_state(state), separators=(",", ":"), allow_nan=False)
        header = {"step": int(step), "sha256": hashlib.sha256(payload.encode()).hexdigest(),
                  **dict(extra or {})}
        data = (json.dumps(header, sort_keys=True) + "\n" + payload + "\n").encode()
        fd = os.open(self._slot(step), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def load_checkpoint(self) -> tuple[int, Any] | None:
        """(step, state) of the newest intact checkpoint slot, or None."""
        best: tuple[int, str] | None = None
        for slot in (self.dir / "checkpoint.0.json", self.dir / "checkpoint.1.json"):
            try:
                header_line, payload, *_ = slot.read_text().split("\n")
                header = json.loads(header_line)
            except (OSError, ValueError):
                continue
            if hashlib.sha256(payload.encode()).hexdigest() != header.get("sha256"):
                continue  # torn by a kill mid-write
            if best is None or header["step"] > best[0]:
                best = (int(header["step"]), payload)
        if best is None:
            return None
        return best[0], decode_state(json.loads(best[1]))

    def save_result(self, result: Mapping[str, Any]) -> None:
        write_json_atomic(self.result_path, result)

    def load_result(self) -> dict[str, Any] | None:
        return read_json(self.result_path) if self.result_path.is_file() else None


def load_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise DataNotFoundError(f"{run_dir} is not a jaxnas run directory (no config.json)")
    return read_json(path)


def iter_results(paths: Iterable[Path]) -> Iterable[dict[str, Any]]:
    """Results files (the --json output or RUN_DIR/results.json) read one by one."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            path = path / "results.json"
        yield read_json(path)

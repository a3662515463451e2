"""Epoch checkpoints of a training group: a long training that is killed continues from its
last finished epoch, exactly.

Why exact: besides the training state (weights, batch statistics, optimizer state), everything
epoch ``e`` computes depends only on the member keys and ``e`` (data order, augmentation,
learning rate; :mod:`jaxnas.train.population`). So the state after epoch ``e`` and the
members' records of epochs ``0..e`` are all a restart needs, and a resumed training gives the
same numbers as an uninterrupted one.

One file per group, ``DIR/<identity>.ckpt``: a JSON header line (identity, epochs done, the
members' records, seconds spent) and the state as flax msgpack bytes, replaced atomically after
every epoch (:func:`jaxnas.files.write_bytes_atomic`), so a kill leaves the previous epoch's
file or the new one. The identity is a hash of everything the training depends on (space,
genomes, recipes, member keys, network options, executor grouping, the data's fingerprint):
a changed setting never resumes from another training's file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import numpy as np
from flax import serialization

from jaxnas.errors import ConfigError
from jaxnas.files import write_bytes_atomic

#: a member's record fields that a checkpoint carries (see :class:`jaxnas.train.executors.Member`)
RECORD_FIELDS = ("val", "test", "loss", "train_acc", "steps", "status", "reason")


class Restored(NamedTuple):
    """What a group resumes from: the epochs it has finished, its state after them, each
    member's records, and the wall / compile seconds spent on them so far."""

    epochs_done: int
    state: Any
    records: list[dict[str, Any]]
    wall_s: float
    compile_s: float


def group_identity(parts: Sequence[Any]) -> str:
    """A hash of ``parts`` (JSON-able; keys as their raw uint32 data): the checkpoint name."""
    def plain(x: Any) -> Any:
        if isinstance(x, jax.Array) or isinstance(x, np.ndarray):
            data = jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) \
                else x
            return np.asarray(data).tolist()
        return repr(x)

    text = json.dumps(list(parts), default=plain, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class GroupCheckpoint:
    """The checkpoint file of one group (module docstring)."""

    directory: Path
    identity: str

    @property
    def path(self) -> Path:
        return Path(self.directory) / f"{self.identity}.ckpt"

    def save(self, epochs_done: int, state: Any, members: Sequence[Any], wall_s: float,
             compile_s: float) -> None:
        """Store the state after ``epochs_done`` epochs and the members' records."""
        header = {"identity": self.identity, "epochs_done": int(epochs_done),
                  "wall_s": float(wall_s), "compile_s": float(compile_s),
                  "records": [{f: getattr(m, f) for f in RECORD_FIELDS} for m in members]}
        payload = serialization.to_bytes(jax.device_get(state))
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.path, json.dumps(header).encode() + b"\n" + payload)

    def load(self, template: Any) -> Restored | None:
        """The stored progress (state placed like ``template``'s leaves), or None when this
        group has no checkpoint yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        head, _, payload = data.partition(b"\n")
        try:
            header = json.loads(head)
            restored = serialization.from_bytes(jax.device_get(template), payload)
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"{self.path} is not a readable training checkpoint ({error}); "
                              f"delete it to train from the start") from None
        if header.get("identity") != self.identity:
            raise ConfigError(f"{self.path} belongs to another training (identity "
                              f"{header.get('identity')!r}); delete it to train from the start")
        state = jax.tree_util.tree_map(
            lambda t, v: jax.device_put(np.asarray(v), t.sharding), template, restored)
        return Restored(header["epochs_done"], state, header["records"], header["wall_s"],
                        header["compile_s"])


__all__ = ["GroupCheckpoint", "RECORD_FIELDS", "Restored", "group_identity"]

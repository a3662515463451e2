"""Placing the population axis on a device mesh (``jax.sharding``).

The ``bucketed`` and ``vmap`` executors stack members along a leading population axis; here
that axis is sharded over a 1-D :class:`jax.sharding.Mesh` (axis name ``"pop"``) with
:class:`jax.sharding.NamedSharding`, and the data are replicated. XLA then runs each device's
slice of the population on that device with no cross-device traffic: members are independent
(per-member loss, gradient norm, clip and batch statistics), so nothing is reduced over
``"pop"``. Populations are padded to a multiple of the device count by the trainer.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnas.errors import ConfigError

POP_AXIS = "pop"


def population_mesh(devices: Sequence[Any] | None = None) -> Mesh | None:
    """A 1-D mesh over ``devices`` (default: every visible device, all processes), or None when
    there is a single device (no sharding needed)."""
    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise ConfigError("devices is empty; pass None (all visible devices) or a device list")
    if len(devs) == 1:
        return None
    return Mesh(np.asarray(devs), (POP_AXIS,))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (the training/eval data)."""
    return NamedSharding(mesh, PartitionSpec())


def population_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (population) axis split over the mesh."""
    return NamedSharding(mesh, PartitionSpec(POP_AXIS))


def shard_population(mesh: Mesh, tree: Any) -> Any:
    """``device_put`` every leaf of ``tree`` with its leading axis sharded over ``mesh``."""
    sharding = population_sharding(mesh)
    return jax.tree_util.tree_map(lambda a: jax.device_put(a, sharding), tree)


__all__ = ["POP_AXIS", "population_mesh", "population_sharding", "replicated_sharding",
           "shard_population"]

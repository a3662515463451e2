"""Candidate networks built from genomes, with exact parameter and FLOP counts.

``build_network(space_name, genome, num_classes, **options)`` returns a ``flax.linen.Module``
called as ``module.apply(variables, x, train=bool, mutable=["batch_stats"])`` on NHWC float32
input (BatchNorm running statistics live in the ``"batch_stats"`` collection). The networks
follow the reference code of each space:

* ``"egnas"``: the chain net of Efficient Global NAS (options: ``depthwise_impl``,
  ``conv_impl``);
* ``"nb101"``: the NAS-Bench-101 network (options: ``stem_channels``, ``num_stacks``,
  ``cells_per_stack``);
* ``"nb201"``: NAS-Bench-201's TinyNetwork (options: ``channels``, ``cells_per_stage``,
  ``conv_impl``);
* ``"darts"``: DARTS' NetworkCIFAR (options: ``channels`` (36), ``layers`` (20),
  ``auxiliary``, ``drop_path_prob``, ``depthwise_impl``, ``conv_impl``).

``conv_impl`` (egnas, nb201, darts; one of :data:`CONV_IMPLS`, default ``"auto"``) picks how the
dense convolutions compute their gradients (:func:`jaxnas.nn.layers.resolve_conv_impl`); it is
an explicit option, never read from the environment, and changes only speed and float
round-off. ``"auto"`` is the fastest under the ``jaxnas`` command's XLA:CPU flags;
``jaxnas.cpu_tuning.conv_impl_for_flags(os.environ)`` names the best one for other flags.
``depthwise_impl`` (egnas, darts) does the same for the depthwise convolutions.

``count_params`` counts trainable parameters (PyTorch convention: weights, biases, BN scale
and bias; not running statistics). ``count_flops`` counts multiply-accumulates for one image,
see :mod:`jaxnas.nn.counting` for the exact convention.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn

from jaxnas.errors import ConfigError, InvalidGenomeError, UnknownNameError
from jaxnas.nn.counting import count_module_flops, count_module_params, egnas_param_count
from jaxnas.nn.darts import DARTS_V2, DartsNetwork
from jaxnas.nn.egnas import EgnasNetwork
from jaxnas.nn.layers import CONV_IMPLS, DEPTHWISE_IMPLS, DepthwiseConv
from jaxnas.nn.nb101 import NB101Network
from jaxnas.nn.nb201 import NB201Network
from jaxnas.spaces.darts import DartsGenome
from jaxnas.spaces.egnas import EgnasGenome
from jaxnas.spaces.nb101 import NB101Genome
from jaxnas.spaces.nb201 import NB201Genome

__all__ = [
    "build_network", "count_params", "count_flops", "NETWORKS", "DARTS_V2", "DepthwiseConv",
    "CONV_IMPLS", "DEPTHWISE_IMPLS",
    "EgnasNetwork", "NB101Network", "NB201Network", "DartsNetwork",
]

NETWORKS: dict[str, tuple[type[nn.Module], type]] = {
    "egnas": (EgnasNetwork, EgnasGenome),
    "nb101": (NB101Network, NB101Genome),
    "nb201": (NB201Network, NB201Genome),
    "darts": (DartsNetwork, DartsGenome),
}


def build_network(space_name: str, genome: Any, num_classes: int, **options: Any) -> nn.Module:
    """The Flax module of ``genome`` in ``space_name`` with a ``num_classes`` classifier."""
    if space_name not in NETWORKS:
        raise UnknownNameError(f"space {space_name!r} is not one of {sorted(NETWORKS)}")
    cls, genome_cls = NETWORKS[space_name]
    if not isinstance(genome, genome_cls):
        raise InvalidGenomeError(
            f"space {space_name!r} needs a {genome_cls.__name__}, got {type(genome).__name__}")
    if int(num_classes) < 1:
        raise InvalidGenomeError(f"num_classes={num_classes!r} must be >= 1")
    fields = set(cls.__dataclass_fields__) - {"genome", "num_classes", "parent", "name"}
    unknown = set(options) - fields
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for {space_name!r} networks; "
                          f"allowed {sorted(fields)}")
    return cls(genome=genome, num_classes=int(num_classes), **options)


@functools.lru_cache(maxsize=4096)
def _cached_params(space_name: str, genome: Any, num_classes: int,
                   input_shape: tuple[int, ...], options: tuple) -> int:
    module = build_network(space_name, genome, num_classes, **dict(options))  # checks inputs
    if space_name == "egnas":  # closed form (its options change speed only, not the count)
        return egnas_param_count(genome, num_classes, input_shape[-1])
    return count_module_params(module, input_shape)


def count_params(space_name: str, genome: Any, num_classes: int,
                 input_shape: Sequence[int] = (32, 32, 3), **options: Any) -> int:
    """Trainable parameters of the network (PyTorch convention), for an NHWC
    ``input_shape`` (H, W, C) image; traced with ``jax.eval_shape`` (nothing is allocated),
    except egnas: :func:`jaxnas.nn.counting.egnas_param_count` (closed form, tested against
    the traced count)."""
    return _cached_params(space_name, genome, int(num_classes), tuple(int(s) for s in input_shape),
                          tuple(sorted(options.items())))


def count_flops(space_name: str, genome: Any, num_classes: int,
                input_shape: Sequence[int] = (32, 32, 3), *, include_bias: bool = True,
                include_pool: bool = True, **options: Any) -> int:
    """FLOPs of one image in the NAS-Bench-201 (xautodl ``get_model_infos``) convention:
    multiply-accumulates of conv and dense layers, plus bias adds and pooling-window
    elements (switch those off for pure MACs). See :mod:`jaxnas.nn.counting`."""
    module = build_network(space_name, genome, num_classes, **options)
    return count_module_flops(module, tuple(input_shape), include_bias=include_bias,
                              include_pool=include_pool)

"""The chain network of Efficient Global NAS (authors' ``NetworkMix.py``; docs/algorithms.md).

stem conv3x3 (no bias) + BN -> 2C channels; L layers; layer 0 maps 2C -> C; layers
``L // 3`` and ``2L // 3`` have stride 2 and double the channels; op 0 = ReLU -> depthwise kxk
(on C_in, stride s) -> pointwise 1x1 (C_in -> C_out) -> BN; op 1 = ReLU -> conv kxk -> BN;
global average pool -> Linear. The depthwise conv of a reduction layer runs on the input
channels and the pointwise conv doubles them: this is what reproduces the authors' logged
309,450 parameters for L=10, C=64 on CIFAR-10.
"""

from __future__ import annotations

from typing import Literal

import jax
import flax.linen as nn

from jaxnas.errors import InvalidGenomeError
from jaxnas.nn.layers import Dense, DepthwiseConv, batch_norm, conv, global_avg_pool
from jaxnas.spaces.egnas import SEPARABLE, STANDARD, EgnasGenome


def egnas_layer_plan(genome: EgnasGenome) -> tuple[tuple[int, int, int, int, int], ...]:
    """Per layer ``(op, kernel, stride, c_in, c_out)``, after checking the genome's shape."""
    depth, width = int(genome.depth), int(genome.width)
    if depth < 1 or width < 1:
        raise InvalidGenomeError(f"egnas depth={depth}, width={width}: both must be >= 1")
    if len(genome.ops) != depth or len(genome.kernels) != depth:
        raise InvalidGenomeError(
            f"egnas genome with depth={depth} needs {depth} ops and kernels, got "
            f"{len(genome.ops)} ops and {len(genome.kernels)} kernels")
    plan = []
    c_prev, c = 2 * width, width
    reductions = (depth // 3, (2 * depth) // 3)
    for i, (op, k) in enumerate(zip(genome.ops, genome.kernels)):
        if op not in (SEPARABLE, STANDARD):
            raise InvalidGenomeError(f"egnas op {op!r} at layer {i}: allowed 0 (sep) or 1 (std)")
        if k not in (3, 5, 7):
            raise InvalidGenomeError(f"egnas kernel {k!r} at layer {i}: allowed 3, 5 or 7")
        stride = 1
        if i in reductions:
            c, stride = 2 * c, 2
        plan.append((int(op), int(k), stride, c_prev, c))
        c_prev = c
    return tuple(plan)


class EgnasNetwork(nn.Module):
    """Call as ``apply(variables, x, train=..., mutable=["batch_stats"])``; x is NHWC."""

    genome: EgnasGenome
    num_classes: int
    depthwise_impl: Literal["auto", "grouped", "shift", "native"] = "auto"
    conv_impl: str = "auto"  # jaxnas.nn.layers.CONV_IMPLS

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        plan = egnas_layer_plan(self.genome)
        ci = self.conv_impl
        x = conv(2 * self.genome.width, 3, name="stem_conv", impl=ci)(x)
        x = batch_norm(train, name="stem_bn")(x)
        for i, (op, k, stride, c_in, c_out) in enumerate(plan):
            x = nn.relu(x)
            if op == SEPARABLE:
                x = DepthwiseConv(c_in, k, stride, impl=self.depthwise_impl,
                                  name=f"layer{i}_dw")(x)
                x = conv(c_out, 1, name=f"layer{i}_pw", impl=ci)(x)
            else:
                x = conv(c_out, k, stride, name=f"layer{i}_conv", impl=ci)(x)
            x = batch_norm(train, name=f"layer{i}_bn")(x)
        return Dense(self.num_classes, name="classifier")(global_avg_pool(x))

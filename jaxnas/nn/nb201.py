"""NAS-Bench-201's ``TinyNetwork`` (xautodl ``models/cell_infers/tiny_network.py``).

stem conv3x3 (C=16) + BN; 3 stages of N=5 cells with a ResNet basic block (stride 2, C -> 2C,
shortcut avgpool 2x2 + 1x1 conv) between stages; BN + ReLU; global average pool; Linear.
Cell: node j = sum over i < j of op_{i->j}(node i); ops ``none`` (zero), ``skip_connect``,
``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU-conv-BN), ``avg_pool_3x3`` (stride 1,
count_include_pad=False). BN is affine with running statistics (PyTorch defaults).
"""

from __future__ import annotations

import jax
import flax.linen as nn

from jaxnas.errors import InvalidGenomeError
from jaxnas.nn.layers import Dense, Pool, batch_norm, conv, global_avg_pool
from jaxnas.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Genome


def check_nb201_genome(genome: NB201Genome) -> None:
    if len(genome.ops) != len(NB201_EDGES):
        raise InvalidGenomeError(f"NB201 genome needs 6 ops, got {len(genome.ops)}: {genome.ops}")
    for op in genome.ops:
        if op not in NB201_OPS:
            raise InvalidGenomeError(f"NB201 op {op!r} is not one of {NB201_OPS}")


class ReLUConvBN(nn.Module):
    features: int
    kernel_size: int
    strides: int = 1
    dilation: int = 1
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = conv(self.features, self.kernel_size, self.strides, self.dilation,
                 impl=self.conv_impl)(nn.relu(x))
        return batch_norm(train)(x)


class ResNetBasicBlock(nn.Module):
    """xautodl ``ResNetBasicblock(C_in, C_out, stride=2)``: two ReLUConvBN 3x3 plus a shortcut
    of AvgPool2d(2, 2) followed by a 1x1 conv (no BN)."""

    features: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        ci = self.conv_impl
        y = ReLUConvBN(self.features, 3, 2, conv_impl=ci, name="conv_a")(x, train)
        y = ReLUConvBN(self.features, 3, 1, conv_impl=ci, name="conv_b")(y, train)
        r = Pool("avg", 2, 2, 0, name="down_pool")(x)
        r = conv(self.features, 1, name="down_conv", impl=ci)(r)
        return r + y


class NB201Cell(nn.Module):
    genome: NB201Genome
    features: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        nodes = [x]
        for target in (1, 2, 3):
            terms = []
            for e, ((src, dst), op) in enumerate(zip(NB201_EDGES, self.genome.ops)):
                if dst != target:
                    continue
                h = nodes[src]
                if op == "none":
                    # x * 0, not zeros_like: XLA spent seconds folding literal zeros
                    # (docs/performance.md)
                    terms.append(h * 0.0)
                elif op == "skip_connect":
                    terms.append(h)
                elif op == "nor_conv_1x1":
                    terms.append(ReLUConvBN(self.features, 1, conv_impl=self.conv_impl,
                                            name=f"edge{e}")(h, train))
                elif op == "nor_conv_3x3":
                    terms.append(ReLUConvBN(self.features, 3, conv_impl=self.conv_impl,
                                            name=f"edge{e}")(h, train))
                else:  # avg_pool_3x3
                    terms.append(Pool("avg", 3, 1, 1, count_include_pad=False,
                                      name=f"edge{e}")(h))
            out = terms[0]
            for t in terms[1:]:
                out = out + t
            nodes.append(out)
        return nodes[3]


class NB201Network(nn.Module):
    """Call as ``apply(variables, x, train=..., mutable=["batch_stats"])``; x is NHWC."""

    genome: NB201Genome
    num_classes: int
    channels: int = 16
    cells_per_stage: int = 5
    conv_impl: str = "auto"  # jaxnas.nn.layers.CONV_IMPLS

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_nb201_genome(self.genome)
        c = self.channels
        x = conv(c, 3, name="stem_conv", impl=self.conv_impl)(x)
        x = batch_norm(train, name="stem_bn")(x)
        for stage in range(3):
            if stage > 0:
                c *= 2
                x = ResNetBasicBlock(c, self.conv_impl, name=f"reduce{stage}")(x, train)
            for i in range(self.cells_per_stage):
                x = NB201Cell(self.genome, c, self.conv_impl,
                              name=f"stage{stage}_cell{i}")(x, train)
        x = nn.relu(batch_norm(train, name="lastact_bn")(x))
        return Dense(self.num_classes, name="classifier")(global_avg_pool(x))


def nb201_param_count(genome: NB201Genome, num_classes: int, in_channels: int = 3,
                      channels: int = 16, cells_per_stage: int = 5) -> int:
    """Closed-form trainable parameter count of :class:`NB201Network` (no tracing); for bulk
    checks. Agrees with ``count_params("nb201", ...)`` (tested)."""
    check_nb201_genome(genome)
    c = channels
    total = 9 * in_channels * c + 2 * c  # stem conv + BN
    for stage in range(3):
        if stage > 0:  # ResNet block: 2 x (conv3x3 + BN) + 1x1 shortcut conv
            total += 9 * c * 2 * c + 2 * (2 * c) + 9 * (2 * c) ** 2 + 2 * (2 * c) + c * 2 * c
            c *= 2
        per_cell = sum({"nor_conv_3x3": 9 * c * c + 2 * c, "nor_conv_1x1": c * c + 2 * c}
                       .get(op, 0) for op in genome.ops)
        total += cells_per_stage * per_cell
    return int(total + 2 * c + c * num_classes + num_classes)

"""The DARTS evaluation network ``NetworkCIFAR`` (quark0/darts ``cnn/model.py``, ``operations.py``).

stem conv3x3 (3C) + BN; ``layers`` cells with reductions (stride 2, channels doubled) at
``layers // 3`` and ``2 * layers // 3``; each cell preprocesses its two inputs (ReLU-conv1x1-BN,
or FactorizedReduce for s0 after a reduction cell), computes 4 nodes as the sum of two ops on
earlier states, and concatenates the states in its concat list; global average pool; Linear.
Ops: sep_conv (two stacked ReLU-dw-pw-BN), dil_conv (ReLU-dilated dw-pw-BN), max/avg_pool_3x3
(no BN, avg pool excludes padding), skip_connect (identity, FactorizedReduce at stride 2), none.
Optional: the auxiliary head (``auxiliary=True``: its logits are sown in train mode into the
``"intermediates"`` collection as ``aux_logits``; its parameters then count in count_params,
whereas the DARTS code's printed size excludes them) and drop-path (``drop_path_prob > 0`` in train
mode; needs a ``"dropout"`` rng).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxnas.errors import InvalidGenomeError
from jaxnas.nn.layers import (Dense, DepthwiseConv, Pool, batch_norm, conv, global_avg_pool,
                              torch_kernel_init)
from jaxnas.spaces.darts import DARTS_OPS, DartsGenome

# DARTS-V2, the genotype of the DARTS paper (quark0/darts cnn/genotypes.py), as a DartsGenome.
DARTS_V2 = DartsGenome(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    normal_concat=(2, 3, 4, 5),
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
    reduce_concat=(2, 3, 4, 5),
)

DwImpl = Literal["auto", "grouped", "shift", "native"]


def check_darts_genome(genome: DartsGenome) -> None:
    for name, cell, concat in (("normal", genome.normal, genome.normal_concat),
                               ("reduce", genome.reduce, genome.reduce_concat)):
        if len(cell) % 2 or not cell:
            raise InvalidGenomeError(f"DARTS {name} cell needs an even number (>0) of (op, input)"
                                     f" pairs, got {len(cell)}")
        steps = len(cell) // 2
        for k, (op, inp) in enumerate(cell):
            if op not in DARTS_OPS:
                raise InvalidGenomeError(f"DARTS op {op!r} in {name} cell: allowed {DARTS_OPS}")
            if not 0 <= inp < 2 + k // 2:
                raise InvalidGenomeError(
                    f"DARTS {name} cell: pair {k} takes input {inp}, allowed 0..{1 + k // 2}")
        if not concat or any(not 0 <= c < 2 + steps for c in concat):
            raise InvalidGenomeError(f"DARTS {name}_concat {concat} must name states "
                                     f"0..{1 + steps}")


class ReLUConvBN(nn.Module):
    features: int
    kernel_size: int = 1
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = conv(self.features, self.kernel_size, impl=self.conv_impl)(nn.relu(x))
        return batch_norm(train)(y)


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convs (the second shifted by one pixel), concat, BN.

    The reference crops ``x[:, :, 1:, 1:]``; for odd sizes we pad that crop by one zero
    row/column so both halves have the same size (even sizes: identical to the reference)."""

    features: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.relu(x)
        a = conv(self.features // 2, 1, 2, name="conv_1", impl=self.conv_impl)(x)
        shifted = x[:, 1:, 1:, :]
        if x.shape[1] % 2 or x.shape[2] % 2:
            shifted = jnp.pad(shifted, ((0, 0), (0, x.shape[1] % 2), (0, x.shape[2] % 2), (0, 0)))
        b = conv(self.features - self.features // 2, 1, 2, name="conv_2",
                 impl=self.conv_impl)(shifted)
        return batch_norm(train)(jnp.concatenate([a, b], axis=-1))


class SepConv(nn.Module):
    features: int
    kernel_size: int
    strides: int
    impl: DwImpl = "auto"
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        c = x.shape[-1]
        x = DepthwiseConv(c, self.kernel_size, self.strides, impl=self.impl)(nn.relu(x))
        x = batch_norm(train)(conv(c, 1, impl=self.conv_impl)(x))
        x = DepthwiseConv(c, self.kernel_size, 1, impl=self.impl)(nn.relu(x))
        return batch_norm(train)(conv(self.features, 1, impl=self.conv_impl)(x))


class DilConv(nn.Module):
    features: int
    kernel_size: int
    strides: int
    dilation: int = 2
    impl: DwImpl = "auto"
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        c = x.shape[-1]
        x = DepthwiseConv(c, self.kernel_size, self.strides, self.dilation,
                          impl=self.impl)(nn.relu(x))
        return batch_norm(train)(conv(self.features, 1, impl=self.conv_impl)(x))


def _apply_op(op: str, x: jax.Array, c: int, stride: int, train: bool,
              impl: DwImpl, name: str, conv_impl: str = "auto") -> jax.Array:
    if op == "sep_conv_3x3":
        return SepConv(c, 3, stride, impl, conv_impl, name=name)(x, train)
    if op == "sep_conv_5x5":
        return SepConv(c, 5, stride, impl, conv_impl, name=name)(x, train)
    if op == "dil_conv_3x3":
        return DilConv(c, 3, stride, 2, impl, conv_impl, name=name)(x, train)
    if op == "dil_conv_5x5":
        return DilConv(c, 5, stride, 2, impl, conv_impl, name=name)(x, train)
    if op == "max_pool_3x3":
        return Pool("max", 3, stride, 1, name=name)(x)
    if op == "avg_pool_3x3":
        return Pool("avg", 3, stride, 1, count_include_pad=False, name=name)(x)
    if op == "skip_connect":
        return x if stride == 1 else FactorizedReduce(c, conv_impl, name=name)(x, train)
    # "none": the reference's Zero(stride) = x[:, ::s, ::s] * 0
    return x[:, ::stride, ::stride, :] * 0.0


class DartsCell(nn.Module):
    genome: DartsGenome
    features: int
    reduction: bool
    reduction_prev: bool
    drop_path_prob: float = 0.0
    impl: DwImpl = "auto"
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, s0: jax.Array, s1: jax.Array, train: bool) -> jax.Array:
        c, ci = self.features, self.conv_impl
        if self.reduction_prev:
            s0 = FactorizedReduce(c, ci, name="preprocess0")(s0, train)
        else:
            s0 = ReLUConvBN(c, 1, ci, name="preprocess0")(s0, train)
        s1 = ReLUConvBN(c, 1, ci, name="preprocess1")(s1, train)
        pairs = self.genome.reduce if self.reduction else self.genome.normal
        concat = self.genome.reduce_concat if self.reduction else self.genome.normal_concat
        states = [s0, s1]
        for step in range(len(pairs) // 2):
            hs = []
            for k in (2 * step, 2 * step + 1):
                op, idx = pairs[k]
                stride = 2 if self.reduction and idx < 2 else 1
                h = _apply_op(op, states[idx], c, stride, train, self.impl, f"op{k}", ci)
                if train and self.drop_path_prob > 0.0 and not (op == "skip_connect"
                                                                and stride == 1):
                    keep = 1.0 - self.drop_path_prob
                    mask = jax.random.bernoulli(self.make_rng("dropout"), keep,
                                                (h.shape[0], 1, 1, 1))
                    h = h / keep * mask
                hs.append(h)
            states.append(hs[0] + hs[1])
        return jnp.concatenate([states[i] for i in concat], axis=-1)


class AuxiliaryHeadCIFAR(nn.Module):
    """The DARTS auxiliary head (assumes an 8x8 input)."""

    num_classes: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = Pool("avg", 5, 3, 0, count_include_pad=False)(nn.relu(x))
        x = nn.relu(batch_norm(train)(conv(128, 1, impl=self.conv_impl)(x)))
        x = nn.Conv(768, (2, 2), padding="VALID", use_bias=False, kernel_init=torch_kernel_init)(x)
        x = nn.relu(batch_norm(train)(x))
        return Dense(self.num_classes)(x.reshape(x.shape[0], -1))


class DartsNetwork(nn.Module):
    """Call as ``apply(variables, x, train=..., mutable=["batch_stats"], rngs=...)``."""

    genome: DartsGenome
    num_classes: int
    channels: int = 36
    layers: int = 20
    auxiliary: bool = False
    drop_path_prob: float = 0.0
    depthwise_impl: DwImpl = "auto"
    conv_impl: str = "auto"  # jaxnas.nn.layers.CONV_IMPLS

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_darts_genome(self.genome)
        c = self.channels
        x = conv(3 * c, 3, name="stem_conv", impl=self.conv_impl)(x)
        x = batch_norm(train, name="stem_bn")(x)
        s0 = s1 = x
        reduction_prev = False
        for i in range(self.layers):
            reduction = i in (self.layers // 3, 2 * self.layers // 3)
            if reduction:
                c *= 2
            cell = DartsCell(self.genome, c, reduction, reduction_prev, self.drop_path_prob,
                             self.depthwise_impl, self.conv_impl, name=f"cell{i}")
            s0, s1 = s1, cell(s0, s1, train)
            reduction_prev = reduction
            if self.auxiliary and i == 2 * self.layers // 3:
                # built in both modes so init(train=False) creates its params too
                aux = AuxiliaryHeadCIFAR(self.num_classes, self.conv_impl,
                                         name="auxiliary_head")(s1, train)
                if train:
                    self.sow("intermediates", "aux_logits", aux)
        return Dense(self.num_classes, name="classifier")(global_avg_pool(s1))

"""Masked supernets: one compiled program for a population of different architectures.

A population's genomes are split into a **static spec** (the union of what any member needs:
maximum width, slots per stage, which branches exist at each slot, the largest kernel) and
**dynamic arrays** per member (width, which slots are active, op and kernel choices). The
supernet is written once over both, so ``jax.vmap`` over members' parameters *and* dynamic
arrays trains different architectures in one program.

Exactness: for the same weights the masked forward pass equals the standalone network's
(:func:`jaxnas.nn.build_network`): weights are embedded with :func:`embed_variables` (zero
padding; a 3x3 kernel sits at the centre of a 5x5 one), channel masks are applied *after* batch
norm (its bias would refill masked channels), kernels are multiplied by their ring masks (so
padded taps get zero gradient and, starting at zero, stay zero under weight decay), branches
are selected with ``jnp.where`` (0 * inf would be NaN), and an unused depth slot passes its input
through. Every layer comes from :mod:`jaxnas.nn.layers`.

EG-NAS (docs/algorithms.md) slots: the chain of L layers has three stages split at the reduction
layers ``L // 3`` and ``2L // 3``; stage ``s`` has ``n_s`` slots, slot 0 of stages 1 and 2 is the
stride-2 reduction, and members with fewer layers in a stage leave the trailing slots inactive
(identity). NB201: every edge computes each op that some member uses there and selects one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn

from jaxnas.errors import ConfigError, InvalidGenomeError, check_choice
from jaxnas.nn.layers import (
    Dense, DepthwiseConv, Pool, batch_norm, global_avg_pool, same_padding, torch_kernel_init,
)
from jaxnas.spaces.egnas import SEPARABLE, STANDARD, EgnasGenome

ConvImpl = Literal["xla", "patches"]


# --------------------------------------------------------------------------------------------
# a dense conv whose kernel can be masked and whose population version XLA:CPU runs well


def conv2d(x: jax.Array, kernel: jax.Array, strides: int = 1, impl: ConvImpl = "xla") -> jax.Array:
    """Dense NHWC conv with PyTorch's symmetric padding; kernel ``(k, k, c_in, c_out)``.

    ``impl="patches"`` extracts k*k patches (``conv_general_dilated_patches``, weight-free) and
    does one matmul: under ``vmap`` over per-member kernels this becomes a batched dot instead
    of XLA's grouped convolution. 1x1 kernels are always a plain matmul.
    """
    k = kernel.shape[0]
    if k == 1:
        xs = x[:, ::strides, ::strides, :] if strides > 1 else x
        return jnp.einsum("nhwc,co->nhwo", xs, kernel[0, 0])
    pad = same_padding(k)
    if impl == "xla":
        return jax.lax.conv_general_dilated(
            x, kernel, window_strides=(strides, strides), padding=pad,
            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    patches = jax.lax.conv_general_dilated_patches(
        x, (k, k), (strides, strides), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    # patch features are ordered (c_in, kh, kw)
    w = jnp.transpose(kernel, (2, 0, 1, 3)).reshape(-1, kernel.shape[-1])
    return jnp.einsum("nhwf,fo->nhwo", patches, w)


class MaskedConv(nn.Module):
    """Dense conv (no bias) with the same kernel layout and init as ``layers.conv``;
    ``kernel_mask`` (k, k) zeroes taps (a smaller kernel embedded at the centre)."""

    features: int
    kernel_size: int
    strides: int = 1
    impl: ConvImpl = "xla"

    @nn.compact
    def __call__(self, x: jax.Array, kernel_mask: jax.Array | None = None) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", torch_kernel_init, (k, k, x.shape[-1], self.features),
                            jnp.float32)
        if kernel_mask is not None:
            kernel = kernel * kernel_mask[:, :, None, None]
        return conv2d(x, kernel, self.strides, self.impl)


def _kernel_mask(kmax: int, k: jax.Array) -> jax.Array:
    """(kmax, kmax) float mask of a centred k x k kernel (k traced)."""
    r = jnp.abs(jnp.arange(kmax) - (kmax - 1) // 2)
    inside = r <= (k - 1) // 2
    return (inside[:, None] & inside[None, :]).astype(jnp.float32)


class MaskedDepthwiseConv(nn.Module):
    """``layers.DepthwiseConv`` applied with a ring-masked kernel (same param layout)."""

    features: int
    kernel_size: int
    strides: int = 1
    impl: Literal["auto", "grouped", "shift", "native"] = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, kernel_mask: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", torch_kernel_init, (k, k, 1, self.features), jnp.float32)
        layer = DepthwiseConv(self.features, k, self.strides, impl=self.impl)
        return layer.apply({"params": {"kernel": kernel * kernel_mask[:, :, None, None]}}, x)


def _channel_mask(x: jax.Array, n: jax.Array) -> jax.Array:
    keep = jnp.arange(x.shape[-1]) < n
    return jnp.where(keep, x, 0.0)


# --------------------------------------------------------------------------------------------
# EG-NAS


@dataclass(frozen=True)
class EgnasSlot:
    """Static facts of one supernet slot: which branches exist and the largest kernel."""

    has_sep: bool
    has_std: bool
    kmax: int


@dataclass(frozen=True)
class EgnasSupernetSpec:
    """The static part of a group of EG-NAS genomes (changes the compiled program)."""

    width: int  # maximum width C
    stage_slots: tuple[int, int, int]
    slots: tuple[EgnasSlot, ...]  # flattened over stages


def egnas_stage_sizes(depth: int) -> tuple[int, int, int]:
    """Layers per stage of a depth-L chain: split at the reductions L // 3 and 2L // 3."""
    return (depth // 3, (2 * depth) // 3 - depth // 3, depth - (2 * depth) // 3)


def _egnas_slot_index(spec_or_slots: tuple[int, int, int], depth: int) -> list[int]:
    """Supernet slot index of each of a depth-L genome's layers."""
    sizes = egnas_stage_sizes(depth)
    offsets = (0, spec_or_slots[0], spec_or_slots[0] + spec_or_slots[1])
    out = []
    for s, n in enumerate(sizes):
        out.extend(offsets[s] + j for j in range(n))
    return out


def egnas_supernet_spec(genomes: Sequence[EgnasGenome]) -> EgnasSupernetSpec:
    """The smallest supernet that holds every genome of ``genomes``."""
    if not genomes:
        raise ConfigError("egnas_supernet_spec needs at least one genome")
    for g in genomes:
        if g.depth < 3 or len(g.ops) != g.depth or len(g.kernels) != g.depth:
            raise InvalidGenomeError(f"egnas genome {g!r}: needs depth >= 3 and depth ops/kernels")
    stage_slots = tuple(max(egnas_stage_sizes(g.depth)[s] for g in genomes) for s in range(3))
    n = sum(stage_slots)
    has_sep, has_std, kmax = [False] * n, [False] * n, [1] * n
    for g in genomes:
        for i, slot in enumerate(_egnas_slot_index(stage_slots, g.depth)):
            if g.ops[i] == SEPARABLE:
                has_sep[slot] = True
            elif g.ops[i] == STANDARD:
                has_std[slot] = True
            else:
                raise InvalidGenomeError(f"egnas op {g.ops[i]!r}: allowed 0 (sep) or 1 (std)")
            kmax[slot] = max(kmax[slot], int(g.kernels[i]))
    slots = tuple(
        EgnasSlot(has_sep[i], has_std[i], kmax[i] if kmax[i] > 1 else 3) for i in range(n))
    return EgnasSupernetSpec(max(g.width for g in genomes), stage_slots, slots)


def egnas_dynamic(spec: EgnasSupernetSpec, genome: EgnasGenome) -> dict[str, np.ndarray]:
    """The dynamic arrays of one member: width, and per slot active / op / kernel."""
    n = len(spec.slots)
    active = np.zeros(n, bool)
    op = np.zeros(n, np.int32)
    kernel = np.full(n, 3, np.int32)
    for i, slot in enumerate(_egnas_slot_index(spec.stage_slots, genome.depth)):
        active[slot], op[slot], kernel[slot] = True, genome.ops[i], genome.kernels[i]
        s = spec.slots[slot]
        if (op[slot] == SEPARABLE and not s.has_sep) or (op[slot] == STANDARD and not s.has_std) \
                or kernel[slot] > s.kmax:
            raise InvalidGenomeError(f"egnas genome {genome!r} does not fit supernet {spec!r}")
    if genome.width > spec.width or any(
            a > b for a, b in zip(egnas_stage_sizes(genome.depth), spec.stage_slots)):
        raise InvalidGenomeError(f"egnas genome {genome!r} does not fit supernet {spec!r}")
    return {"width": np.int32(genome.width), "active": active, "op": op, "kernel": kernel}


class EgnasSupernet(nn.Module):
    """Masked EG-NAS chain network. Call ``apply(variables, x, dyn, train=...)``."""

    spec: EgnasSupernetSpec
    num_classes: int
    conv_impl: ConvImpl = "xla"
    depthwise_impl: Literal["auto", "grouped", "shift", "native"] = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, dyn: dict[str, jax.Array], train: bool = False) -> jax.Array:
        spec, wmax = self.spec, self.spec.width
        w = dyn["width"]
        x = MaskedConv(2 * wmax, 3, impl=self.conv_impl, name="stem_conv")(x)
        x = _channel_mask(batch_norm(train, name="stem_bn")(x), 2 * w)
        slot = 0
        for stage, n_slots in enumerate(spec.stage_slots):
            c_out, mult = wmax * 2 ** stage, 2 ** stage
            for j in range(n_slots):
                s = spec.slots[slot]
                c_in = x.shape[-1]
                stride = 2 if (stage > 0 and j == 0) else 1
                name = f"slot{slot}"
                h = nn.relu(x)
                kmask = _kernel_mask(s.kmax, dyn["kernel"][slot])
                branches = []
                if s.has_sep:
                    d = MaskedDepthwiseConv(c_in, s.kmax, stride, self.depthwise_impl,
                                            name=f"{name}_dw")(h, kmask)
                    branches.append(MaskedConv(c_out, 1, impl=self.conv_impl,
                                               name=f"{name}_pw")(d))
                if s.has_std:
                    branches.append(MaskedConv(c_out, s.kmax, stride, impl=self.conv_impl,
                                               name=f"{name}_conv")(h, kmask))
                y = branches[0] if len(branches) == 1 else jnp.where(
                    dyn["op"][slot] == SEPARABLE, branches[0], branches[1])
                y = _channel_mask(batch_norm(train, name=f"{name}_bn")(y), mult * w)
                # slot 0 of every stage always exists (stage sizes >= 1 for depth >= 3)
                x = y if j == 0 else jnp.where(dyn["active"][slot], y, x)
                slot += 1
        return Dense(self.num_classes, name="classifier")(global_avg_pool(x))


def _place(dst: np.ndarray, src: np.ndarray, kernel_axes: int = 0) -> np.ndarray:
    """Copy ``src`` into the leading corner of ``dst``; the first ``kernel_axes`` axes are
    centred instead (a small kernel sits in the middle of a larger one)."""
    index = []
    for ax, (d, s) in enumerate(zip(dst.shape, src.shape)):
        off = (d - s) // 2 if ax < kernel_axes else 0
        index.append(slice(off, off + s))
    out = dst.copy()
    out[tuple(index)] = src
    return out


def _embed_egnas(spec: EgnasSupernetSpec, genome: EgnasGenome, standalone: dict,
                 template: dict) -> dict:
    params = jax.tree_util.tree_map(lambda a: np.zeros(a.shape, a.dtype), template["params"])
    stats = {k: {"mean": np.zeros(v["mean"].shape, np.float32),
                 "var": np.ones(v["var"].shape, np.float32)}
             for k, v in template["batch_stats"].items()}
    sp, sb = standalone["params"], standalone["batch_stats"]

    def bn(dst: str, src: str) -> None:
        for leaf in ("scale", "bias"):
            params[dst][leaf] = _place(params[dst][leaf], np.asarray(sp[src][leaf]))
        for leaf in ("mean", "var"):
            stats[dst][leaf] = _place(stats[dst][leaf], np.asarray(sb[src][leaf]))

    params["stem_conv"]["kernel"] = _place(params["stem_conv"]["kernel"],
                                           np.asarray(sp["stem_conv"]["kernel"]), 2)
    bn("stem_bn", "stem_bn")
    for i, slot in enumerate(_egnas_slot_index(spec.stage_slots, genome.depth)):
        name = f"slot{slot}"
        if genome.ops[i] == SEPARABLE:
            for part in ("dw", "pw"):
                params[f"{name}_{part}"]["kernel"] = _place(
                    params[f"{name}_{part}"]["kernel"], np.asarray(sp[f"layer{i}_{part}"]["kernel"]),
                    2)
        else:
            params[f"{name}_conv"]["kernel"] = _place(
                params[f"{name}_conv"]["kernel"], np.asarray(sp[f"layer{i}_conv"]["kernel"]), 2)
        bn(f"{name}_bn", f"layer{i}_bn")
    for leaf in ("kernel", "bias"):
        params["classifier"][leaf] = _place(params["classifier"][leaf],
                                            np.asarray(sp["classifier"][leaf]))
    return {"params": params, "batch_stats": stats}


# --------------------------------------------------------------------------------------------
# NAS-Bench-201


@dataclass(frozen=True)
class NB201SupernetSpec:
    """Static part of a group of NB201 cells: per edge, the ops some member uses there."""

    edge_ops: tuple[tuple[str, ...], ...]


def nb201_supernet_spec(genomes: Sequence[Any]) -> NB201SupernetSpec:
    """The smallest NB201 supernet holding every genome (ops per edge in NB201_OPS order)."""
    from jaxnas.nn.nb201 import check_nb201_genome
    from jaxnas.spaces.nb201 import NB201_EDGES, NB201_OPS
    if not genomes:
        raise ConfigError("nb201_supernet_spec needs at least one genome")
    for g in genomes:
        check_nb201_genome(g)
    return NB201SupernetSpec(tuple(
        tuple(op for op in NB201_OPS if any(g.ops[e] == op for g in genomes))
        for e in range(len(NB201_EDGES))))


def nb201_dynamic(spec: NB201SupernetSpec, genome: Any) -> dict[str, np.ndarray]:
    """Per edge, the index of the genome's op among the spec's ops at that edge."""
    from jaxnas.nn.nb201 import check_nb201_genome
    check_nb201_genome(genome)
    idx = []
    for e, op in enumerate(genome.ops):
        if op not in spec.edge_ops[e]:
            raise InvalidGenomeError(f"NB201 genome {genome!r}: op {op!r} at edge {e} is not in "
                                     f"the supernet's {spec.edge_ops[e]}")
        idx.append(spec.edge_ops[e].index(op))
    return {"op": np.asarray(idx, np.int32)}


class _ReLUConvBN(nn.Module):
    """``nb201.ReLUConvBN`` with a selectable conv implementation; same parameter names."""

    features: int
    kernel_size: int
    strides: int = 1
    impl: ConvImpl = "xla"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = MaskedConv(self.features, self.kernel_size, self.strides, self.impl,
                       name="Conv_0")(nn.relu(x))
        return batch_norm(train, name="BatchNorm_0")(x)


class _ResNetBasicBlock(nn.Module):
    features: int
    impl: ConvImpl = "xla"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = _ReLUConvBN(self.features, 3, 2, self.impl, name="conv_a")(x, train)
        y = _ReLUConvBN(self.features, 3, 1, self.impl, name="conv_b")(y, train)
        r = Pool("avg", 2, 2, 0, name="down_pool")(x)
        r = MaskedConv(self.features, 1, impl=self.impl, name="down_conv")(r)
        return r + y


_NB201_CONV = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


class _NB201SuperCell(nn.Module):
    spec: NB201SupernetSpec
    features: int
    impl: ConvImpl = "xla"

    @nn.compact
    def __call__(self, x: jax.Array, op: jax.Array, train: bool) -> jax.Array:
        from jaxnas.spaces.nb201 import NB201_EDGES
        nodes = [x]
        for target in (1, 2, 3):
            out = None
            for e, (src, dst) in enumerate(NB201_EDGES):
                if dst != target:
                    continue
                h = nodes[src]
                branches = []
                for name in self.spec.edge_ops[e]:
                    if name == "none":
                        branches.append(h * 0.0)  # not zeros_like: slow constant folding in XLA
                    elif name == "skip_connect":
                        branches.append(h)
                    elif name in _NB201_CONV:
                        branches.append(_ReLUConvBN(self.features, _NB201_CONV[name], 1,
                                                    self.impl, name=f"edge{e}_{name}")(h, train))
                    else:
                        branches.append(Pool("avg", 3, 1, 1, count_include_pad=False)(h))
                # select with where, never multiply by a one-hot (0 * inf = NaN)
                y = branches[0]
                for j, b in enumerate(branches[1:], start=1):
                    y = jnp.where(op[e] == j, b, y)
                out = y if out is None else out + y
            nodes.append(out)
        return nodes[3]


class NB201Supernet(nn.Module):
    """Masked NB201 TinyNetwork: every cell computes, per edge, each op of the spec and selects
    the member's. Call ``apply(variables, x, dyn, train=...)`` with ``dyn = {"op": (6,) int}``."""

    spec: NB201SupernetSpec
    num_classes: int
    channels: int = 16
    cells_per_stage: int = 5
    conv_impl: ConvImpl = "xla"

    @nn.compact
    def __call__(self, x: jax.Array, dyn: dict[str, jax.Array], train: bool = False) -> jax.Array:
        c = self.channels
        x = MaskedConv(c, 3, impl=self.conv_impl, name="stem_conv")(x)
        x = batch_norm(train, name="stem_bn")(x)
        for stage in range(3):
            if stage > 0:
                c *= 2
                x = _ResNetBasicBlock(c, self.conv_impl, name=f"reduce{stage}")(x, train)
            for i in range(self.cells_per_stage):
                x = _NB201SuperCell(self.spec, c, self.conv_impl,
                                    name=f"stage{stage}_cell{i}")(x, dyn["op"], train)
        x = nn.relu(batch_norm(train, name="lastact_bn")(x))
        return Dense(self.num_classes, name="classifier")(global_avg_pool(x))


def embed_nb201(spec: NB201SupernetSpec, genome: Any, standalone: dict, template: dict) -> dict:
    """Copy a standalone NB201Network's variables into supernet variables: identical names,
    except a cell's ``edge{e}`` becomes ``edge{e}_{op}``; unused branches keep the template."""
    out = {}
    for coll in ("params", "batch_stats"):
        dst = jax.tree_util.tree_map(np.asarray, template.get(coll, {}))
        dst = _unfreeze(dst)
        for path, leaf in _flatten(standalone.get(coll, {})):
            path = list(path)
            if len(path) > 1 and path[0].startswith("stage") and path[1].startswith("edge"):
                e = int(path[1][4:])
                path[1] = f"{path[1]}_{genome.ops[e]}"
            node = dst
            for p in path[:-1]:
                node = node[p]
            if node[path[-1]].shape != np.shape(leaf):
                raise ConfigError(f"embed_nb201: {'/'.join(path)} has shape {np.shape(leaf)}, "
                                  f"supernet expects {node[path[-1]].shape}")
            node[path[-1]] = np.asarray(leaf)
        out[coll] = dst
    return out


def _unfreeze(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _unfreeze(v) for k, v in tree.items()}
    return tree


def _flatten(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(tree, Mapping):
        out = []
        for k, v in tree.items():
            out.extend(_flatten(v, prefix + (str(k),)))
        return out
    return [(prefix, tree)]


# --------------------------------------------------------------------------------------------
# public entry points


def supernet_spec(space_name: str, genomes: Sequence[Any]) -> Any:
    """Static spec of the smallest supernet holding ``genomes`` (one space)."""
    check_choice("space_name", space_name, SUPERNET_SPACES)
    if space_name == "egnas":
        return egnas_supernet_spec(genomes)
    return nb201_supernet_spec(genomes)


def build_supernet(space_name: str, spec: Any, num_classes: int, **options: Any) -> nn.Module:
    """The masked supernet module for ``spec``; call ``apply(variables, x, dyn, train=...)``."""
    check_choice("space_name", space_name, SUPERNET_SPACES)
    if space_name == "egnas":
        return EgnasSupernet(spec, num_classes, **options)
    return NB201Supernet(spec, num_classes, **options)


def dynamic_arrays(space_name: str, spec: Any, genome: Any) -> dict[str, np.ndarray]:
    """One member's dynamic arrays (the genome's non-static part) for ``spec``."""
    check_choice("space_name", space_name, SUPERNET_SPACES)
    if space_name == "egnas":
        return egnas_dynamic(spec, genome)
    return nb201_dynamic(spec, genome)


def embed_variables(space_name: str, spec: Any, genome: Any, standalone: dict,
                    template: dict) -> dict:
    """Embed a standalone network's variables (``params`` and ``batch_stats``) into supernet
    variables shaped like ``template`` (zero padding; kernels centred)."""
    check_choice("space_name", space_name, SUPERNET_SPACES)
    if space_name == "egnas":
        return _embed_egnas(spec, genome, standalone, template)
    return embed_nb201(spec, genome, standalone, template)


SUPERNET_SPACES = ("egnas", "nb201")

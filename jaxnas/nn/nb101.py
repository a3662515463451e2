"""The NAS-Bench-101 network (google-research/nasbench ``lib/model_builder.py``, ``base_ops.py``).

stem conv3x3-BN-ReLU (128 channels); 3 stacks of 3 cells; 2x2 max-pool (stride 2, TF "SAME")
and channel doubling before stacks 2 and 3; global average pool; dense. In a cell, vertex
channels follow ``compute_vertex_channels`` (the output channels are split among the vertices
feeding the output; other vertices take the max of their successors); edges from the input are
1x1 conv-BN-ReLU projections, edges between interior vertices are truncated to the target's
channels and summed; the output concatenates its interior predecessors and adds a projection of
the input when the input feeds the output directly. Convs have no bias; BN (momentum 0.997,
epsilon 1e-5) has scale and bias; init follows TF 1.x (variance scaling fan-in truncated normal
for convs, Glorot-uniform for the dense layer). Cells are pruned before building.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn

from jaxnas.errors import InvalidGenomeError
from jaxnas.nn.layers import Dense, Pool, global_avg_pool, tf_conv_init
from jaxnas.spaces.nb101 import NB101_OPS, NB101Genome

BN_MOMENTUM = 0.997
BN_EPSILON = 1e-5


def _prune(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]]:
    """Remove vertices not on an input -> output path (nasbench ``ModelSpec._prune``)."""
    n = matrix.shape[0]
    fwd, frontier = {0}, [0]
    while frontier:
        v = frontier.pop()
        for w in range(v + 1, n):
            if matrix[v, w] and w not in fwd:
                fwd.add(w)
                frontier.append(w)
    bwd, frontier = {n - 1}, [n - 1]
    while frontier:
        v = frontier.pop()
        for u in range(v):
            if matrix[u, v] and u not in bwd:
                bwd.add(u)
                frontier.append(u)
    if n - 1 not in fwd:
        raise InvalidGenomeError(f"NB101 cell has no path from input to output: {matrix.tolist()}")
    keep = sorted(fwd & bwd)
    return matrix[np.ix_(keep, keep)], [ops[i] for i in keep]


def pruned_cell(genome: NB101Genome) -> tuple[np.ndarray, tuple[str, ...]]:
    """Check and prune a genome's cell; returns (matrix, ops) of the pruned cell."""
    matrix = np.asarray(genome.matrix, dtype=np.int64)
    ops = list(genome.ops)
    n = len(ops)
    if matrix.ndim != 2 or matrix.shape != (n, n) or n < 2:
        raise InvalidGenomeError(
            f"NB101 matrix shape {matrix.shape} does not match {n} ops (need n x n, n >= 2)")
    if np.any(np.tril(matrix) != 0) or not np.all((matrix == 0) | (matrix == 1)):
        raise InvalidGenomeError(f"NB101 matrix must be 0/1 upper-triangular: {matrix.tolist()}")
    if ops[0] != "input" or ops[-1] != "output":
        raise InvalidGenomeError(f"NB101 ops must start with 'input' and end with 'output': {ops}")
    for op in ops[1:-1]:
        if op not in NB101_OPS:
            raise InvalidGenomeError(f"NB101 op {op!r} is not one of {NB101_OPS}")
    m, o = _prune(matrix, ops)
    return m, tuple(o)


def compute_vertex_channels(input_channels: int, output_channels: int,
                            matrix: np.ndarray) -> list[int]:
    """Channels of every vertex (``model_builder.compute_vertex_channels``)."""
    n = matrix.shape[0]
    vc = [0] * n
    vc[0], vc[n - 1] = input_channels, output_channels
    if n == 2:
        return vc
    in_degree = np.sum(matrix[1:], axis=0)
    interior = output_channels // in_degree[n - 1]
    correction = output_channels % in_degree[n - 1]
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            vc[v] = int(interior)
            if correction:
                vc[v] += 1
                correction -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    vc[v] = max(vc[v], vc[dst])
    return vc


class ConvBNReLU(nn.Module):
    features: int
    kernel_size: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        p = (self.kernel_size - 1) // 2
        x = nn.Conv(self.features, (self.kernel_size,) * 2, padding=((p, p), (p, p)),
                    use_bias=False, kernel_init=tf_conv_init)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                         epsilon=BN_EPSILON)(x)
        return nn.relu(x)


class NB101Cell(nn.Module):
    """One module of the network; ``matrix``/``ops`` are the PRUNED cell as tuples."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        m = np.asarray(self.matrix)
        n = m.shape[0]
        vc = compute_vertex_channels(x.shape[-1], self.features, m)
        tensors = [x]
        concat = []
        for t in range(1, n - 1):
            add_in = [tensors[s][..., : vc[t]] for s in range(1, t) if m[s, t]]
            if m[0, t]:
                add_in.append(ConvBNReLU(vc[t], 1, name=f"v{t}_proj")(x, train))
            h = add_in[0]
            for a in add_in[1:]:
                h = h + a
            op = self.ops[t]
            if op == "conv3x3-bn-relu":
                h = ConvBNReLU(vc[t], 3, name=f"v{t}_conv3x3")(h, train)
            elif op == "conv1x1-bn-relu":
                h = ConvBNReLU(vc[t], 1, name=f"v{t}_conv1x1")(h, train)
            else:  # maxpool3x3, stride 1, TF "SAME"
                h = Pool("max", 3, 1, "SAME", name=f"v{t}_maxpool")(h)
            tensors.append(h)
            if m[t, n - 1]:
                concat.append(h)
        if not concat:
            return ConvBNReLU(self.features, 1, name="out_proj")(x, train)
        out = concat[0] if len(concat) == 1 else jnp.concatenate(concat, axis=-1)
        if m[0, n - 1]:
            out = out + ConvBNReLU(self.features, 1, name="out_proj")(x, train)
        return out


class NB101Network(nn.Module):
    """Call as ``apply(variables, x, train=..., mutable=["batch_stats"])``; x is NHWC."""

    genome: NB101Genome
    num_classes: int
    stem_channels: int = 128
    num_stacks: int = 3
    cells_per_stack: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        matrix, ops = pruned_cell(self.genome)
        mt = tuple(tuple(int(v) for v in row) for row in matrix)
        x = ConvBNReLU(self.stem_channels, 3, name="stem")(x, train)
        c = self.stem_channels
        for s in range(self.num_stacks):
            if s > 0:
                x = Pool("max", 2, 2, "SAME", name=f"downsample{s}")(x)
                c *= 2
            for i in range(self.cells_per_stack):
                x = NB101Cell(mt, ops, c, name=f"stack{s}_cell{i}")(x, train)
        return Dense(self.num_classes, init="tf", name="classifier")(global_avg_pool(x))


def nb101_param_count(genome: NB101Genome, num_classes: int, in_channels: int = 3,
                      stem_channels: int = 128, num_stacks: int = 3,
                      cells_per_stack: int = 3) -> int:
    """Closed-form trainable parameter count of :class:`NB101Network` (no tracing, ~50 us);
    for bulk checks. Agrees with ``count_params("nb101", ...)`` (tested)."""

    def cbr(cin: int, cout: int, k: int) -> int:  # conv (no bias) + BN scale and bias
        return k * k * cin * cout + 2 * cout

    m, ops = pruned_cell(genome)
    n = m.shape[0]
    total = cbr(in_channels, stem_channels, 3)
    c_in = c = stem_channels
    for s in range(num_stacks):
        if s > 0:
            c *= 2
        for _ in range(cells_per_stack):
            vc = compute_vertex_channels(c_in, c, m)
            for t in range(1, n - 1):
                if m[0, t]:
                    total += cbr(c_in, vc[t], 1)
                if ops[t] == "conv3x3-bn-relu":
                    total += cbr(vc[t], vc[t], 3)
                elif ops[t] == "conv1x1-bn-relu":
                    total += cbr(vc[t], vc[t], 1)
            if m[0, n - 1] or not any(m[t, n - 1] for t in range(1, n - 1)):
                total += cbr(c_in, c, 1)
            c_in = c
    return int(total + c * num_classes + num_classes)

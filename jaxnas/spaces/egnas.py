"""Efficient Global NAS chain space (docs/algorithms.md).

A network is a plain chain of ``depth`` layers of ``width`` base channels; layer i has an op
(0 = depthwise-separable conv, 1 = standard conv) and a kernel size. Canonical string:
``L10-C64-o0000000000-k3333333333`` (one digit per layer for ops and kernels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import jraph
import numpy as np

from jaxnas.errors import ConfigError, InvalidGenomeError
from jaxnas.spaces._common import (
    as_int,
    as_tuple,
    check_dense,
    check_genome_type,
    check_rng,
    check_text,
    dense_to_graph,
    dense_to_y,
    y_to_dense,
)
from jaxnas.spaces.base import GraphSpec

SEPARABLE, STANDARD = 0, 1
OP_NAMES = ("sep_conv", "conv")  # AG-Net node type prefix per op code

# ASCII digits only: \d would also take other scripts' digits ("L１0" read as 10)
_STRING = re.compile(r"L([0-9]{1,6})-C([0-9]{1,6})-o([0-9]*)-k([0-9]*)")


@dataclass(frozen=True)
class EgnasGenome:
    depth: int
    width: int
    ops: tuple[int, ...]  # per layer: 0 = depthwise-separable conv, 1 = standard conv
    kernels: tuple[int, ...]  # per layer: 3, 5 or 7

    # Unchecked functional updates (no space limits); EgnasSpace.with_* validate.
    def with_depth(self, depth: int) -> "EgnasGenome":
        """Truncate, or append layers (op 0, kernel 3), to ``depth`` layers."""
        extra = max(0, depth - self.depth)
        return EgnasGenome(
            depth=depth,
            width=self.width,
            ops=tuple(self.ops[:depth]) + (SEPARABLE,) * extra,
            kernels=tuple(self.kernels[:depth]) + (3,) * extra,
        )

    def with_width(self, width: int) -> "EgnasGenome":
        return replace(self, width=width)

    def with_op(self, i: int, op: int) -> "EgnasGenome":
        ops = list(self.ops)
        ops[i] = op
        return replace(self, ops=tuple(ops))

    def with_kernel(self, i: int, k: int) -> "EgnasGenome":
        ks = list(self.kernels)
        ks[i] = k
        return replace(self, kernels=tuple(ks))


@dataclass(frozen=True)
class EgnasSpace:
    """Depth in [min_depth, max_depth], any integer width in [min_width, max_width], per-layer
    op in {0, 1} and kernel in ``kernel_choices``. ``width_step`` (from min_width) is the width
    grid that ``sample`` and ``mutate`` use; validation accepts every width in range.

    The paper's search tries kernels 3 and 5 only (7 is supported by the model); use
    ``kernel_choices=(3, 5)`` for that. ``key`` is the canonical string.

    AG-Net encoding: a chain graph input -> layer 0 -> ... -> layer L-1 -> output, one node per
    layer typed by its (op, kernel) combination (``sep_conv_KxK`` / ``conv_KxK``);
    ``max_nodes = max_depth + 2``, shorter chains padded with 'output' nodes without edges.
    The width is not part of the graph: ``decode(y, width=...)`` takes it as an argument
    (default ``min_width``).
    """

    min_depth: int = 10
    max_depth: int = 100
    min_width: int = 16
    max_width: int = 128
    width_step: int = 2
    kernel_choices: tuple[int, ...] = (3, 5, 7)
    name: ClassVar[str] = "egnas"

    def __post_init__(self) -> None:
        for f in ("min_depth", "max_depth", "min_width", "max_width", "width_step"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{f}={v!r} is not allowed: must be a positive int")
        if self.min_depth > self.max_depth:
            raise ConfigError(f"min_depth={self.min_depth} > max_depth={self.max_depth}")
        if self.min_width > self.max_width:
            raise ConfigError(f"min_width={self.min_width} > max_width={self.max_width}")
        ks = self.kernel_choices
        if isinstance(ks, list):
            object.__setattr__(self, "kernel_choices", tuple(ks))
            ks = self.kernel_choices
        if (
            not isinstance(ks, tuple)
            or not ks
            or len(set(ks)) != len(ks)
            or not all(isinstance(k, int) and not isinstance(k, bool) and k in (1, 3, 5, 7, 9) for k in ks)
        ):
            raise ConfigError(
                f"kernel_choices={ks!r} is not allowed: a non-empty tuple of distinct odd "
                "kernel sizes from (1, 3, 5, 7, 9)"
            )

    # -- limits ---------------------------------------------------------------------------
    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(range(self.min_width, self.max_width + 1, self.width_step))

    @property
    def node_types(self) -> tuple[str, ...]:
        return ("output", "input") + tuple(
            f"{OP_NAMES[op]}_{k}x{k}" for op in (SEPARABLE, STANDARD) for k in self.kernel_choices
        )

    @property
    def graph_spec(self) -> GraphSpec:
        return GraphSpec(node_types=self.node_types, max_nodes=self.max_depth + 2)

    # -- identity -------------------------------------------------------------------------
    def validate(self, genome: EgnasGenome) -> EgnasGenome:
        check_genome_type(genome, EgnasGenome)
        depth = as_int("depth", genome.depth)
        if not self.min_depth <= depth <= self.max_depth:
            raise InvalidGenomeError(
                f"depth={depth} is not allowed: must be in [{self.min_depth}, {self.max_depth}]"
            )
        width = as_int("width", genome.width)
        # any integer width in range is valid: the EG-NAS micro phase shrinks the width one
        # channel at a time to fit its parameter budget (the authors' CIFAR-10 search ended at
        # width 43); ``width_step`` is only the grid of sample() and mutate()
        if not self.min_width <= width <= self.max_width:
            raise InvalidGenomeError(
                f"width={width} is not allowed: must be an integer in "
                f"[{self.min_width}, {self.max_width}]"
            )
        ops = as_tuple("ops", genome.ops)
        if len(ops) != depth:
            raise InvalidGenomeError(
                f"ops has {len(ops)} entries; its length must equal depth={depth}"
            )
        ops = tuple(as_int(f"ops[{i}]", o) for i, o in enumerate(ops))
        for i, o in enumerate(ops):
            if o not in (SEPARABLE, STANDARD):
                raise InvalidGenomeError(
                    f"ops[{i}]={o} is not allowed: must be 0 (separable) or 1 (standard)"
                )
        kernels = as_tuple("kernels", genome.kernels)
        if len(kernels) != depth:
            raise InvalidGenomeError(
                f"kernels has {len(kernels)} entries; its length must equal depth={depth}"
            )
        kernels = tuple(as_int(f"kernels[{i}]", k) for i, k in enumerate(kernels))
        for i, k in enumerate(kernels):
            if k not in self.kernel_choices:
                raise InvalidGenomeError(
                    f"kernels[{i}]={k} is not allowed; choose one of {list(self.kernel_choices)}"
                )
        return EgnasGenome(depth=depth, width=width, ops=ops, kernels=kernels)

    def parse(self, text: str) -> EgnasGenome:
        text = check_text(text, "EG-NAS genome").strip()
        m = _STRING.fullmatch(text)
        if m is None:
            raise InvalidGenomeError(
                f"EG-NAS genome string {text!r:.120} does not match "
                "'L<depth>-C<width>-o<op digit per layer>-k<kernel digit per layer>', "
                "e.g. 'L10-C64-o0000000000-k3333333333'"
            )
        depth, width = int(m.group(1)), int(m.group(2))
        ops = tuple(int(c) for c in m.group(3))
        kernels = tuple(int(c) for c in m.group(4))
        return self.validate(EgnasGenome(depth=depth, width=width, ops=ops, kernels=kernels))

    def to_string(self, genome: EgnasGenome) -> str:
        g = self.validate(genome)
        ops = "".join(str(o) for o in g.ops)
        ks = "".join(str(k) for k in g.kernels)
        return f"L{g.depth}-C{g.width}-o{ops}-k{ks}"

    def key(self, genome: EgnasGenome) -> str:
        return self.to_string(genome)

    # -- constructors and functional updates (validated) ----------------------------------
    def initial(self, depth: int | None = None, width: int | None = None) -> EgnasGenome:
        """All separable convs with kernel 3 (the EG-NAS starting point); defaults to
        ``min_depth`` and ``min_width``."""
        depth = self.min_depth if depth is None else depth
        width = self.min_width if width is None else width
        d = as_int("depth", depth)
        k0 = 3 if 3 in self.kernel_choices else self.kernel_choices[0]
        return self.validate(
            EgnasGenome(depth=d, width=width, ops=(SEPARABLE,) * max(d, 0), kernels=(k0,) * max(d, 0))
        )

    def with_depth(self, genome: EgnasGenome, depth: int) -> EgnasGenome:
        """Truncate or append layers (op 0, kernel 3) to ``depth`` layers."""
        return self.validate(self.validate(genome).with_depth(as_int("depth", depth)))

    def with_width(self, genome: EgnasGenome, width: int) -> EgnasGenome:
        return self.validate(self.validate(genome).with_width(width))

    def with_op(self, genome: EgnasGenome, i: int, op: int) -> EgnasGenome:
        g = self.validate(genome)
        return self.validate(g.with_op(self._layer(g, i), op))

    def with_kernel(self, genome: EgnasGenome, i: int, k: int) -> EgnasGenome:
        g = self.validate(genome)
        return self.validate(g.with_kernel(self._layer(g, i), k))

    @staticmethod
    def _layer(g: EgnasGenome, i: Any) -> int:
        i = as_int("layer", i)
        if not 0 <= i < g.depth:
            raise InvalidGenomeError(f"layer={i} is not allowed: must be in [0, {g.depth})")
        return i

    # -- random ---------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> EgnasGenome:
        """Uniform depth, width (on the grid), ops and kernels."""
        rng = check_rng(rng)
        depth = int(rng.integers(self.min_depth, self.max_depth + 1))
        widths = self.widths
        width = widths[int(rng.integers(len(widths)))]
        ops = tuple(int(o) for o in rng.integers(0, 2, size=depth))
        kernels = tuple(self.kernel_choices[int(i)] for i in rng.integers(0, len(self.kernel_choices), size=depth))
        return EgnasGenome(depth=depth, width=width, ops=ops, kernels=kernels)

    def mutate(self, genome: EgnasGenome, rng: np.random.Generator) -> EgnasGenome:
        """One change, the move chosen uniformly among those allowed by the limits: depth+1
        (insert a random layer at a random position), depth-1 (delete a random layer),
        width +/- width_step, flip one layer's op, or change one layer's kernel."""
        rng = check_rng(rng)
        g = self.validate(genome)
        moves = ["op"]
        if g.depth < self.max_depth:
            moves.append("deeper")
        if g.depth > self.min_depth:
            moves.append("shallower")
        if g.width + self.width_step <= self.max_width:
            moves.append("wider")
        if g.width - self.width_step >= self.min_width:
            moves.append("narrower")
        if len(self.kernel_choices) > 1:
            moves.append("kernel")
        move = moves[int(rng.integers(len(moves)))]
        ops, ks = list(g.ops), list(g.kernels)
        if move == "op":
            i = int(rng.integers(g.depth))
            ops[i] = 1 - ops[i]
        elif move == "kernel":
            i = int(rng.integers(g.depth))
            others = [k for k in self.kernel_choices if k != ks[i]]
            ks[i] = others[int(rng.integers(len(others)))]
        elif move == "deeper":
            i = int(rng.integers(g.depth + 1))
            ops.insert(i, int(rng.integers(2)))
            ks.insert(i, self.kernel_choices[int(rng.integers(len(self.kernel_choices)))])
        elif move == "shallower":
            i = int(rng.integers(g.depth))
            del ops[i], ks[i]
        elif move == "wider":
            return replace(g, width=g.width + self.width_step)
        else:
            return replace(g, width=g.width - self.width_step)
        return EgnasGenome(depth=len(ops), width=g.width, ops=tuple(ops), kernels=tuple(ks))

    # -- AG-Net encoding ------------------------------------------------------------------
    def to_dense(self, genome: EgnasGenome) -> tuple[np.ndarray, np.ndarray]:
        g = self.validate(genome)
        types_names = self.node_types
        n = self.max_depth + 2
        types = np.zeros(n, dtype=np.int64)
        types[0] = 1
        for i, (o, k) in enumerate(zip(g.ops, g.kernels)):
            types[i + 1] = types_names.index(f"{OP_NAMES[o]}_{k}x{k}")
        types[g.depth + 1] = 0
        adj = np.zeros((n, n), dtype=np.int64)
        idx = np.arange(g.depth + 1)
        adj[idx, idx + 1] = 1
        return types, adj

    def from_dense(
        self, node_types: np.ndarray, adjacency: np.ndarray, width: int | None = None
    ) -> EgnasGenome:
        """Inverse of ``to_dense``; the chain ends at the first 'output' node (later slots are
        ignored, as AG-Net truncates there). ``width`` defaults to ``min_width``."""
        types, adj = check_dense(node_types, adjacency, self.graph_spec)
        names = [self.node_types[t] for t in types]
        if names[0] != "input":
            raise InvalidGenomeError(f"node 0 must be 'input', got {names[0]!r}")
        if "output" not in names:
            raise InvalidGenomeError("no 'output' node")
        n = names.index("output") + 1
        layers = names[1 : n - 1]
        if "input" in layers:
            raise InvalidGenomeError(f"layer nodes must be conv types, got 'input' at {layers.index('input') + 1}")
        chain = np.zeros((n, n), dtype=np.int64)
        chain[np.arange(n - 1), np.arange(1, n)] = 1
        if not np.array_equal(adj[:n, :n], chain):
            raise InvalidGenomeError(
                f"EG-NAS graphs are chains 0->1->...->{n - 1}; got edges "
                f"{np.argwhere(adj[:n, :n]).tolist()}"
            )
        ops, ks = [], []
        for name in layers:
            prefix, size = name.rsplit("_", 1)
            ops.append(OP_NAMES.index(prefix))
            ks.append(int(size.split("x")[0]))
        width = self.min_width if width is None else width
        return self.validate(
            EgnasGenome(depth=len(layers), width=width, ops=tuple(ops), kernels=tuple(ks))
        )

    def encode(self, genome: EgnasGenome) -> np.ndarray:
        types, adj = self.to_dense(genome)
        return dense_to_y(types, adj, self.graph_spec)

    def decode(self, y: np.ndarray, width: int | None = None) -> EgnasGenome:
        types, adj = y_to_dense(y, self.graph_spec)
        return self.from_dense(types, adj, width=width)

    def to_graph(self, genome: EgnasGenome) -> jraph.GraphsTuple:
        g = self.validate(genome)
        types, adj = self.to_dense(g)
        return dense_to_graph(types, adj, g.depth + 2, self.graph_spec)

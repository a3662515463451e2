"""NAL: automating neural architecture design without search (Liang & Sun, arXiv 2204.11838).

A GAT link predictor learns from "expert" cells (the top fraction of cells by search-time
accuracy) and then *generates* cells directly, with no search-and-evaluate loop. The model,
its training, scoring, decoding and the transfer to NB201 / DARTS live in ``jaxnas.graph``
(:mod:`~jaxnas.graph.nal_model`, :mod:`~jaxnas.graph.training`,
:mod:`~jaxnas.graph.generation`, :mod:`~jaxnas.graph.transfer`); the design decisions (ours:
the paper's details are not public) are in docs/algorithms.md. This module is the ``nal``
strategy:

* **transfer** (``--queries 0``): learn from the nb101-20k table's experts (the knowledge
  source, :func:`train_nb101_experts`), ask for nothing (:meth:`NAL.done`), decode NB201
  cells directly from the model's op and link predictions
  (:func:`~jaxnas.graph.transfer.decode_nb201_transfer`; ``generation=pool`` scores all
  15,625 cells instead, an analysis tool);
* **in-space** (``--queries N``): ask N uniformly random cells, learn from the top fraction
  of them, generate in the same space.

The generated cells come back through :meth:`NAL.recommend` (the model is retrained
deterministically there from the told data) and the runner reports them at 0 / N queries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Sequence

import jax
import numpy as np

from jaxnas.benchmarks.subset import TableSubsetSpace
from jaxnas.errors import ConfigError, UnknownNameError, check_choice
from jaxnas.graph import (
    NB101_VOCAB, NB201_VOCAB, Cells, NALConfig, NALModel, decode_nb201_transfer,
    expert_indices, generate, generate_from_pool, generate_nb201_transfer, make_cells,
    nb201_cells, train_contrast,
)
from jaxnas.search.base import SearchRecord, Strategy, StrategyState, as_key, split_rng
from jaxnas.spaces.nb101 import NB101_MAX_EDGES, NB101_MAX_VERTICES
from jaxnas.spaces.nb201 import NB201_ADJACENCY, NB201_OPS, NB201Genome

SETTINGS = ("auto", "transfer", "in-space")
GENERATION = ("auto", "decode", "pool")

# ----------------------------------------------------------------------------- knowledge source


def nb101_table_cells(indices: Sequence[int] | np.ndarray | None = None
                      ) -> tuple[Cells, np.ndarray]:
    """Cells of the shipped nb101-20k table (all, or rows ``indices``) and their search-time
    accuracy (108-epoch validation %)."""
    from jaxnas.benchmarks import nb101_table

    table = nb101_table()
    rows = np.arange(len(table)) if indices is None else np.asarray(indices, np.int64)
    graphs = []
    for i in rows:
        matrix, ops = table.spec(int(i))
        graphs.append((ops, np.asarray(matrix, np.int32)))
    acc = np.asarray(table.columns["val_acc_108"], np.float64)[rows]
    return make_cells(graphs, NB101_VOCAB, slots=NB101_MAX_VERTICES), acc


@functools.lru_cache(maxsize=None)  # a pure function of the shipped (read-only) table
def nb101_pool() -> Cells:
    """All 20,001 nb101-20k cells (table order), read-only."""
    cells, _ = nb101_table_cells()
    for array in (cells.tokens, cells.adj, cells.n):
        array.setflags(write=False)
    return cells


def nb101_background_rows(key: Any, size: int) -> np.ndarray:
    """``size`` nb101-20k rows drawn uniformly without replacement (sorted), seeded by the
    jax ``key``: the ``contrast`` score's background cells (no accuracy is read)."""
    rng = np.random.default_rng(np.asarray(jax.random.fold_in(key, 2), np.uint32))
    count = len(nb101_pool())
    return np.sort(rng.choice(count, min(size, count), replace=False))


def train_nb101_experts(key: Any, config: NALConfig = NALConfig()) -> NALModel:
    """The transfer model: trained on the top ``config.top_fraction`` of nb101-20k by 108-epoch
    validation accuracy (the paper learns from NAS-Bench-101). With ``score="contrast"`` its
    background model learns from ``background_size`` table cells drawn uniformly (seeded by
    ``key``; no accuracy is read)."""
    from jaxnas.benchmarks import nb101_table

    acc = np.asarray(nb101_table().columns["val_acc_108"], np.float64)
    experts, _ = nb101_table_cells(expert_indices(acc, config.top_fraction, config.min_experts))
    background = None
    if config.score == "contrast":
        background = nb101_pool().subset(nb101_background_rows(key, config.background_size))
    return train_contrast(experts, background, NB101_VOCAB, key, config)


# ----------------------------------------------------------------------------- strategy


@dataclass(frozen=True)
class NALStrategyConfig(NALConfig):
    """NAL as a runner strategy. ``setting``: ``transfer`` (learn from nb101-20k, 0 queries),
    ``in-space`` (learn from the first ``budget`` queried random cells) or ``auto`` (transfer
    when the run's budget is 0). ``generation``: ``decode`` (build cells vertex by vertex and
    link by link), ``pool`` (Gumbel-top-k of the model's score over the space's cells:
    all 15,625 for nb201, the 20,001 table cells for nb101-20k) or ``auto`` (nb201 transfer
    and nb101-20k: pool; nb201 in-space: decode). ``num_generate`` cells are recommended per
    seed."""

    setting: str = "auto"
    generation: str = "auto"
    num_generate: int = 1
    ask_batch: int | None = None  # in-space: random cells per ask (None: all N at once)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("setting", self.setting, SETTINGS)
        check_choice("generation", self.generation, GENERATION)
        if self.num_generate < 1:
            raise ConfigError(f"num_generate={self.num_generate} must be >= 1")
        if self.ask_batch is not None and self.ask_batch < 1:
            raise ConfigError(f"ask_batch={self.ask_batch} must be >= 1 or None")


@dataclass(frozen=True)
class NALState(StrategyState):
    """``asked``: cells asked so far; ``told``: (canonical genome string, search accuracy) of
    every distinct queried cell, in order (the in-space training data)."""

    asked: int = 0
    told: tuple[tuple[str, float], ...] = ()


class NAL(Strategy):
    """NAL behind init / ask / tell / recommend (see the module docstring)."""

    name = "nal"
    Config = NALStrategyConfig
    State = NALState
    generates = True

    def setup(self) -> None:
        self.space_name = getattr(self.space, "name", self.context.space_name)
        if self.space_name not in ("nb201", "nb101", "nb101-20k"):
            raise UnknownNameError(f"NAL supports spaces nb201 and nb101(-20k), got "
                                   f"{self.space_name!r}")
        self.setting = self._setting()
        self.generation = self._generation()

    def _setting(self) -> str:
        budget = self.context.budget or 0
        setting = self.config.setting
        if setting == "auto":
            setting = "transfer" if budget == 0 else "in-space"
        if setting == "in-space" and budget < 1:
            raise ConfigError("NAL in-space needs a query budget >= 1 (the cells it learns "
                              "from); use --queries 0 for the transfer setting")
        if setting == "transfer" and budget > 0:
            raise ConfigError(f"NAL transfer spends no queries; run it with --queries 0, "
                              f"got a budget of {budget}")
        if setting == "transfer" and self.space_name != "nb201":
            raise ConfigError("NAL transfer learns from nb101-20k, so it cannot be scored on "
                              "nb101 (a cell learned from the table it is scored on is no "
                              "result); use --space nb201, or --queries N (in-space) on nb101")
        return setting

    def _generation(self) -> str:
        generation = self.config.generation
        if generation == "auto":
            # nb101-20k: the space *is* the table's cells, so generate among them (a decoded
            # cell falls outside the 20,001 cells ~95 % of the time: generation=decode)
            generation = "pool" if self.space_name == "nb101-20k" else "decode"
        return generation

    # -- init / ask / tell ------------------------------------------------------------------
    def done(self, state: NALState) -> bool:
        """Transfer asks for nothing: the runner goes straight to :meth:`recommend`."""
        return self.setting == "transfer"

    def _ask(self, state: NALState) -> tuple[NALState, list[Any]]:
        key, rng = split_rng(state.key)
        remaining = max(1, (self.context.budget or 1) - len(state.told))
        if self.config.ask_batch is not None:
            remaining = min(remaining, self.config.ask_batch)
        genomes = [self.space.sample(rng) for _ in range(remaining)]
        return replace(state, key=key, asked=state.asked + len(genomes)), genomes

    def _tell(self, state: NALState, genomes: list[Any], records: list[SearchRecord]
              ) -> NALState:
        seen = {g for g, _ in state.told}
        told = list(state.told)
        for record in records:
            if record.genome not in seen:
                told.append((record.genome, float(record.metrics["accuracy"])))
                seen.add(record.genome)
        return replace(state, told=tuple(told))

    # -- the model ---------------------------------------------------------------------------
    def model(self, state: NALState) -> NALModel:
        """The trained model for ``state`` (deterministic: seeded by the state's key)."""
        key = jax.random.fold_in(as_key(state.key), 1)
        if self.setting == "transfer":
            return train_nb101_experts(key, self.config)
        c = self.config
        acc = np.asarray([a for _, a in state.told], np.float64)
        told = [self.space.parse(g) for g, _ in state.told]  # also the contrast's background
        experts = [told[i] for i in expert_indices(acc, c.top_fraction, c.min_experts)]
        if self.space_name == "nb201":
            return train_contrast(nb201_cells([g.ops for g in experts]),
                                  nb201_cells([g.ops for g in told]), NB201_VOCAB, key, c,
                                  fixed_adjacency=NB201_ADJACENCY)
        return train_contrast(self._nb101_cells_of(experts), self._nb101_cells_of(told),
                              NB101_VOCAB, key, c)

    def _nb101_cells_of(self, genomes: list[Any]) -> Cells:
        pruned = [self.space.prune(g) for g in genomes]  # raises if a cell has no path
        return make_cells([(p.ops, np.asarray(p.matrix, np.int32)) for p in pruned],
                          NB101_VOCAB, slots=NB101_MAX_VERTICES)

    def _seed(self, state: NALState) -> int:
        """The generation seed of ``state`` (from its key, independent of training's)."""
        words = np.asarray(jax.random.fold_in(as_key(state.key), 2), np.uint32)
        return int(words[0]) * 2**32 + int(words[1])

    def recommend(self, state: NALState) -> list[Any]:
        """The generated cells (``num_generate``, most preferred first; deterministic)."""
        model = self.model(state)
        if self.space_name == "nb201":
            return self._nb201_cells(model, self._seed(state))
        return self._nb101_cells(model, self._seed(state))

    def _nb201_cells(self, model: NALModel, seed: int) -> list[Any]:
        k = self.config.num_generate
        if model.fixed_adjacency is None:  # transfer from nb101
            if self.generation == "pool":
                idx = generate_nb201_transfer(model, k, seed, mode=model.config.decode)
                return [self.space.from_index(int(i)) for i in idx]
            cells = decode_nb201_transfer(model, k, seed)
            return [self.space.validate(NB201Genome(tuple(ops))) for ops, _ in cells]
        if self.generation == "pool":
            ops_all = [[NB201_OPS[int(c)] for c in row] for row in self.space.all_op_codes()]
            idx = generate_from_pool(model, nb201_cells(ops_all), k, seed).tolist()
            return [self.space.from_index(int(i)) for i in idx]
        # the AG-Net vertex order of the 6 op vertices is the NB201 edge order
        cells = generate(model, k, seed)
        return [self.space.validate(NB201Genome(tuple(ops[1:-1]))) for ops, _ in cells]

    def _nb101_cells(self, model: NALModel, seed: int) -> list[Any]:
        k = self.config.num_generate
        if self.generation == "pool":
            if not isinstance(self.space, TableSubsetSpace):
                raise ConfigError("generation=pool on nb101 needs the nb101-20k table space")
            idx = generate_from_pool(model, nb101_pool(), k, seed)
            return [self.space.oracle.genome(int(i)) for i in idx]
        base = self.space.base if isinstance(self.space, TableSubsetSpace) else self.space
        cells = generate(model, k, seed,
                         accept=lambda ops, adj: int(adj.sum()) <= NB101_MAX_EDGES)
        return [base.genome_from(adj, ops) for ops, adj in cells]

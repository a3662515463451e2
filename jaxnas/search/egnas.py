"""Efficient Global NAS (Siddiqui et al. 2025): macro-micro greedy search, papers.md 1.4-1.5.

The authors' ``search.py`` is one sequential, data-dependent loop. Here it is an explicit
state machine behind ``init / ask / tell`` with an immutable :class:`EGNASState` (phase,
incumbent genome and accuracy, epoch counter ``E``, fail counter, layer index, reference
parameter count, pending candidates). Each asked candidate carries its own training budget;
read them with :meth:`EGNAS.budgets_for` (same order as the asked genomes).

Phases (every rule is a field of :class:`EGNASConfig`, defaults = the authors'):

1. **depth** - start at ``L = min_depth`` (10), ``C = max_width``, all ops sep-conv (0), all
   kernels 3, ``E = start_epochs`` (10). While ``acc < target_acc - target_acc_tolerance`` and
   ``L != max_depth``: stop if the incumbent's best train accuracy ``> train_acc_stop``
   (99.5); else train ``L + 1`` layers for ``E + add_epochs`` epochs (E grows for rejected
   candidates too). Accept at ``acc >= cur + dp_add_tolerance`` (0.10, fail counter reset);
   ``acc >= cur - ch_drop_tolerance`` (0.05) is neutral; otherwise a fail, and the
   ``dp_break_tolerance + 1``-th (3rd) consecutive fail stops. The depth kept is the
   incumbent's, not the last one tried.
2. **width** - ``C -= width_resolution`` (2), ``E += add_epochs_w`` (2) per candidate; accept
   when ``acc >= cur - width_accept_margin`` (0: not worse), else a fail; the 3rd fail in a
   row, or ``C <= min_width``, stops. ``C`` keeps shrinking after a fail (authors' loop).
3. **ops** - ``E = micro_epochs`` (2). Retrain the macro result once (baseline accuracy, its
   parameter count ``P0``). For each layer in order: set op 1 (standard conv), shrink the width
   one channel at a time from the macro width until ``params <= P0 + param_slack`` (0.01 M),
   train, accept when ``acc > cur + micro_accept_margin`` (strictly better), else revert.
   Flips accumulate (layer i's candidate carries every accepted earlier flip).
4. **kernels** - reference params = the ops result; for each layer try kernel 5 (``micro_kernels``),
   shrinking from the ops-phase width to ``ref + param_slack``; same acceptance.
5. Output ``(L, width, ops, kernels)``; ``final_width="macro"`` gives the macro-phase width
   instead (what the authors' final-training commands used, papers.md 1.5 note).

``mode="batched"`` trains several candidates as one population (see :data:`BATCHED_NOTES`
and docs/results.md for exactly where decisions can differ from ``mode="faithful"``).

Decisions use ``metrics["accuracy"]``: the best per-epoch accuracy on the validation split
carved from the training set. ``selection="test"`` makes :class:`TrainerEvaluator` put the best
per-epoch *test* accuracy there instead, which reproduces the authors' selection on the test set
(for comparison only; numbers selected that way are not honest test estimates).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence


from jaxnas.errors import ConfigError, check_choice
from jaxnas.search.base import (
    ACCURACY,
    EvalRecord,
    SearchContext,
    SearchRecord,
    as_key,
)
from jaxnas.spaces.egnas import SEPARABLE, STANDARD, EgnasGenome
from jaxnas.train.budget import EgnasBudgetSchedule, TrainBudget

TRAIN_ACCURACY = "train_accuracy"
MODES = ("faithful", "batched")
SELECTIONS = ("val", "test")
FINAL_WIDTHS = ("micro", "macro")
PHASES = ("start", "depth", "width", "ops", "kernels", "done")

BATCHED_NOTES = """\
Batched mode trains each phase's candidates as one population; where it can decide
differently from faithful mode:
* depth and width: a candidate's genome and epoch budget do not depend on earlier decisions
  (depth d always gets start_epochs + (d - min_depth) * add_epochs; the k-th width step always
  gets E_depth_end + k * add_epochs_w, and C shrinks after fails too), so batched mode trains
  the next ``batch_depth`` / ``batch_width`` candidates together and replays the faithful
  rules over their accuracies in order. The decisions are identical for identical
  accuracies; the only difference is extra candidates trained past the stopping point (they
  are logged and counted, but unused). The first batch also holds the 10-layer start net.
* ops and kernels: faithful flips accumulate (layer i's candidate carries every earlier
  accepted flip, shrunk to the budget), so each depends on all earlier decisions. Batched
  mode trains the baseline and every single-layer flip *from the same incumbent* in one
  population, keeps the flips that beat the incumbent, then trains up to ``batch_combos``
  combinations (the best 2, best 3, ... improving flips together, shrunk to the same
  parameter budget) as a second population and takes the best of all (ties: the earlier,
  simpler one). So batched mode can pick a flip that faithful mode would have judged against
  an already-changed network, and judges combinations by one training instead of a chain of
  strict improvements; the parameter budget rule is the same."""


# ------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class EGNASConfig:
    """Every rule and limit of the search (defaults: the authors' code, -T runs, max_width 64).

    Search rules: see the module docstring. Run-size knobs (not in the authors' code):
    ``epoch_scale`` multiplies every nominal epoch count (rounded, at least 1);
    ``max_depth_candidates`` / ``max_width_candidates`` cap the trainings of the depth and
    width phases (after the start net); ``micro_layers`` tries ops/kernels on that many layers
    spread evenly over the net (None: all). Training/data fields are read by
    :class:`TrainerEvaluator`: ``n_train`` / ``n_val`` subsample the train / val parts of the
    seeded split of the training set (None: all), ``n_test`` the test set.
    """

    mode: str = "faithful"
    # space limits (papers.md 1.2)
    min_depth: int = 10
    max_depth: int = 100
    min_width: int = 16
    max_width: int = 64
    width_resolution: int = 2
    # architecture-aware epoch budgets (papers.md 1.4)
    start_epochs: int = 10
    add_epochs: int = 1
    add_epochs_w: int = 2
    micro_epochs: int = 2
    epoch_scale: float = 1.0
    # decision rules (papers.md 1.5)
    target_acc: float = 100.0
    target_acc_tolerance: float = 0.10
    dp_add_tolerance: float = 0.10
    ch_drop_tolerance: float = 0.05
    dp_break_tolerance: int = 2
    ch_break_tolerance: int = 2
    train_acc_stop: float = 99.5
    width_accept_margin: float = 0.0
    micro_accept_margin: float = 0.0
    param_slack: int = 10_000
    micro_kernels: tuple[int, ...] = (5,)
    search_ops: bool = True
    search_kernels: bool = True
    final_width: str = "micro"
    # caps for small runs (None: the authors' unbounded loops)
    max_depth_candidates: int | None = None
    max_width_candidates: int | None = None
    micro_layers: int | None = None
    # batched mode
    batch_depth: int = 4
    batch_width: int = 4
    batch_combos: int = 3
    # selection split and training recipe (read by TrainerEvaluator)
    selection: str = "val"
    val_fraction: float = 0.1
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    data_seed: int = 0
    seed: int = 0
    batch_size: int = 64
    learning_rate: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip_norm: float | None = 5.0
    schedule: str = "cosine"
    cutout_size: int = 16
    executor: str = "auto"

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("selection", self.selection, SELECTIONS)
        check_choice("final_width", self.final_width, FINAL_WIDTHS)
        if not 1 <= self.min_depth <= self.max_depth:
            raise ConfigError(f"need 1 <= min_depth={self.min_depth} <= max_depth={self.max_depth}")
        if not 1 <= self.min_width <= self.max_width:
            raise ConfigError(f"need 1 <= min_width={self.min_width} <= max_width={self.max_width}")
        for name in ("width_resolution", "start_epochs", "micro_epochs", "batch_depth",
                     "batch_width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 1")
        for name in ("add_epochs", "add_epochs_w", "dp_break_tolerance", "ch_break_tolerance",
                     "param_slack", "batch_combos"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 0")
        if not self.epoch_scale > 0:
            raise ConfigError(f"epoch_scale={self.epoch_scale!r} must be > 0")
        for k in self.micro_kernels:
            if k not in (3, 5, 7):
                raise ConfigError(f"micro_kernels contains {k!r}; allowed 3, 5, 7")
        for name in ("max_depth_candidates", "max_width_candidates", "micro_layers",
                     "n_train", "n_val", "n_test"):
            v = getattr(self, name)
            if v is not None and v < (0 if name.startswith("max_") else 1):
                raise ConfigError(f"{name}={v!r} must be None or positive")

    def scaled(self, nominal_epochs: int) -> int:
        """Epochs actually trained for a nominal count (``epoch_scale``; at least 1)."""
        return max(1, int(round(nominal_epochs * self.epoch_scale)))

    def epoch_counter(self, phase: str = "depth", epochs: int | None = None
                      ) -> EgnasBudgetSchedule:
        """The authors' epoch counter E (:class:`jaxnas.train.EgnasBudgetSchedule`) with this
        config's increments and recipe, standing at nominal ``epochs`` (default: the start
        net's). The search keeps only E in its state and steps it with this counter."""
        return EgnasBudgetSchedule(
            phase=phase, epochs=self.start_epochs if epochs is None else epochs,
            start_epochs=self.start_epochs, add_epochs=self.add_epochs,
            add_epochs_w=self.add_epochs_w, micro_epochs=self.micro_epochs,
            base=budget_of(self, 1))


#: run-size presets; each changes only the fields listed (docs/_sections/egnas.md explains them)
PRESETS: Mapping[str, EGNASConfig] = {
    # the authors' limits (Fashion-MNIST -T run: max_width 64), full data, 10 % validation
    "paper": EGNASConfig(),
    # ~15-25 min faithful on 2 shared CPU cores, where compiling each new architecture
    # (30-70 s under load) dominates: depth from 6, width 16 down to 8, 2,000 train / 1,000
    # val images, every epoch budget x0.2 (start net 2 epochs, micro candidates 1), at most
    # 3 depth and 2 width steps, micro phase on 3 layers (first, middle, last)
    "small": EGNASConfig(min_depth=6, max_width=16, min_width=8, epoch_scale=0.2,
                         max_depth_candidates=3, max_width_candidates=2, micro_layers=3,
                         n_train=2000, n_val=1000, n_test=1000, batch_size=64,
                         batch_depth=3, batch_width=2, batch_combos=2),
    # a few minutes: depth from 4, width 12 down to 8, 1-epoch budgets, 512/256 images,
    # 1 depth + 1 width step, micro phase on 1 layer
    "smoke": EGNASConfig(min_depth=4, max_width=12, min_width=8, epoch_scale=0.1,
                         max_depth_candidates=1, max_width_candidates=1, micro_layers=1,
                         n_train=512, n_val=256, n_test=256, batch_size=64, batch_depth=1,
                         batch_width=1, batch_combos=1),
}


# -------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Candidate:
    """One asked training: genome string, nominal and trained epochs, and why it was asked."""

    genome: str
    nominal_epochs: int
    epochs: int
    role: str  # start | depth | width | op_base | op | op_combo | kernel | kernel_combo
    layer: int = -1  # flipped layer (op / kernel), -1 otherwise
    width: int = 0


@dataclass(frozen=True)
class Outcome:
    """A told result: the candidate and its search-visible accuracies."""

    candidate: Candidate
    accuracy: float
    train_accuracy: float


@dataclass(frozen=True)
class EGNASState:
    """Everything that changes during the search (immutable; checkpoint after any tell).

    ``incumbent`` is the current genome string (``genome_string`` format), ``acc`` /
    ``train_acc`` its search accuracies, ``epochs`` the nominal counter E, ``fails`` the
    phase's fail counter, ``depth_tried`` / ``width_tried`` the last depth / width tried,
    ``macro_width`` / ``macro_epochs`` the accepted width and its E (authors' ``f_channels`` /
    ``f_epochs``), ``micro_width`` the width micro candidates shrink from (the macro width in
    the ops phase, ``channels_ops`` in the kernels phase), ``ref_params`` the budget
    reference, ``layer_pos`` the position in :meth:`EGNAS.micro_layer_order`.
    """

    key: Any
    phase: str = "start"
    incumbent: str = ""
    acc: float = -math.inf
    train_acc: float = 0.0
    epochs: int = 0
    fails: int = 0
    depth_tried: int = 0
    width_tried: int = 0
    macro_depth: int = 0
    macro_width: int = 0
    macro_epochs: int = 0
    micro_width: int = 0
    ref_params: int = 0
    layer_pos: int = 0
    round_base: str = ""
    pending: tuple[Candidate, ...] = ()
    received: tuple[Outcome, ...] = ()
    history: tuple[Outcome, ...] = ()
    events: tuple[str, ...] = ()
    result: str | None = None

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def num_trained(self) -> int:
        """Candidates told so far (each one training)."""
        return len(self.history)

    @property
    def candidate_epochs(self) -> int:
        """Epochs trained over all told candidates."""
        return sum(o.candidate.epochs for o in self.history)


# ------------------------------------------------------------------------------ genome helpers


def genome_string(g: EgnasGenome) -> str:
    """Canonical ``L10-C64-o0000000000-k3333333333`` (the space's string form)."""
    return (f"L{g.depth}-C{g.width}-o{''.join(str(int(o)) for o in g.ops)}"
            f"-k{''.join(str(int(k)) for k in g.kernels)}")


def parse_genome(text: str) -> EgnasGenome:
    """Inverse of :func:`genome_string` (no space limits checked: micro widths may be odd)."""
    from jaxnas.errors import InvalidGenomeError

    try:
        ls, cs, os_, ks = text.strip().split("-")
        if ls[0] != "L" or cs[0] != "C" or os_[0] != "o" or ks[0] != "k":
            raise ValueError(text)
        depth, width = int(ls[1:]), int(cs[1:])
        ops, kernels = tuple(int(c) for c in os_[1:]), tuple(int(c) for c in ks[1:])
    except (ValueError, IndexError) as error:
        raise InvalidGenomeError(
            f"egnas genome {text!r} must look like L10-C64-o0000000000-k3333333333") from error
    if len(ops) != depth or len(kernels) != depth:
        raise InvalidGenomeError(f"egnas genome {text!r}: depth {depth} needs {depth} ops/kernels")
    return EgnasGenome(depth, width, ops, kernels)


def plain_genome(depth: int, width: int) -> EgnasGenome:
    """All sep-conv (op 0), all kernel 3: the macro-phase candidates."""
    return EgnasGenome(depth, width, (SEPARABLE,) * depth, (3,) * depth)


@dataclass(frozen=True)
class EgnasCandidate(EgnasGenome):
    """An asked genome with its training budget attached, so evaluators that only receive
    genomes (the generic runner) still know how long to train: ``epochs`` trained and the
    search config holding the recipe and data settings (not part of equality)."""

    epochs: int = 0
    config: Any = field(default=None, compare=False, repr=False)

    def genome(self) -> EgnasGenome:
        return EgnasGenome(self.depth, self.width, tuple(self.ops), tuple(self.kernels))


class EgnasSearchView:
    """The space as the search sees it: the same string format, but widths on a 1-channel
    grid down to 1 (the micro phase shrinks one channel at a time, papers.md 1.4), and keys
    that include the trained epochs (one genome may be trained at several budgets)."""

    name = "egnas"

    def __init__(self, space: Any = None) -> None:
        self.base = space

    def validate(self, genome: EgnasGenome) -> EgnasGenome:
        return parse_genome(genome_string(genome))

    def parse(self, text: str) -> EgnasGenome:
        return parse_genome(text)

    def to_string(self, genome: EgnasGenome) -> str:
        return genome_string(genome)

    def key(self, genome: EgnasGenome) -> str:
        epochs = getattr(genome, "epochs", None)
        return genome_string(genome) if not epochs else candidate_key(genome_string(genome),
                                                                      epochs)

    def __getattr__(self, name: str) -> Any:  # everything else: the real space
        if self.base is None:
            raise AttributeError(name)
        return getattr(self.base, name)


def _to_str(space: Any, g: EgnasGenome) -> str:
    # the space's own to_string validates widths on its 2-channel grid, but the micro phase
    # shrinks one channel at a time (the authors' CIFAR-10 search ended at width 43), so the
    # search writes the same canonical format without that check
    del space
    return genome_string(g)


def _parse(space: Any, text: str) -> EgnasGenome:
    del space
    return parse_genome(text)


# ---------------------------------------------------------------------------------- strategy


ParamCounter = Callable[[EgnasGenome], int]


def analytic_param_count(genome: EgnasGenome, num_classes: int, in_channels: int) -> int:
    """Trainable parameters of the EG-NAS chain net in closed form (PyTorch convention, as
    :func:`jaxnas.nn.count_params`; a test checks they agree). Used by the width-shrinking
    rule, which needs many counts: tracing the Flax module takes about a second each."""
    from jaxnas.nn.egnas import egnas_layer_plan

    c2 = 2 * genome.width
    total = in_channels * c2 * 9 + 2 * c2  # stem conv3x3 (no bias) + BN
    c_last = c2
    for op, k, _stride, c_in, c_out in egnas_layer_plan(genome):
        if op == SEPARABLE:
            total += c_in * k * k + c_in * c_out  # depthwise kxk + pointwise 1x1
        else:
            total += c_in * c_out * k * k
        total += 2 * c_out  # BN scale + bias
        c_last = c_out
    return total + c_last * num_classes + num_classes  # linear classifier


def default_param_counter(dataset: str) -> ParamCounter:
    """Parameter count of a genome on ``dataset`` (classes and input channels from
    :func:`jaxnas.data.dataset_info`)."""
    from jaxnas.data import dataset_info

    info = dataset_info(dataset)

    def count(g: EgnasGenome) -> int:
        return analytic_param_count(g, info.num_classes, info.channels)

    return count


class EGNAS:
    """The greedy macro-micro search as ``init / ask / tell`` (module docstring)."""

    name: ClassVar[str] = "egnas"
    Config: ClassVar[type] = EGNASConfig
    PRESETS: ClassVar[Mapping[str, EGNASConfig]] = PRESETS
    evaluator: ClassVar[str] = "egnas"

    def __init__(self, space: Any = None, config: EGNASConfig | None = None,
                 context: SearchContext | None = None, *,
                 param_counter: ParamCounter | None = None) -> None:
        self.space = space if isinstance(space, EgnasSearchView) else EgnasSearchView(space)
        self.context = context or SearchContext(space_name="egnas", dataset="fashion_mnist")
        config = config or EGNASConfig()
        if self.context.batched and config.mode != "batched":
            config = dataclasses.replace(config, mode="batched")
        self.config = config
        self._count = param_counter or default_param_counter(self.context.dataset)

    # ------------------------------------------------------------------ public helpers

    @classmethod
    def preset(cls, name: str) -> EGNASConfig:
        from jaxnas.errors import UnknownNameError

        if name not in PRESETS:
            raise UnknownNameError(f"unknown egnas preset {name!r}; known: {sorted(PRESETS)}")
        return PRESETS[name]

    def count_params(self, genome: EgnasGenome) -> int:
        return self._count(genome)

    def fit_width(self, genome: EgnasGenome, start_width: int, limit: int) -> int | None:
        """Largest width <= ``start_width`` whose params are <= ``limit`` (None if even width 1
        is over). Params grow with width, so bisection gives exactly the authors' result of
        shrinking one channel at a time."""
        def params(w: int) -> int:
            return self._count(dataclasses.replace(genome, width=w))

        if params(start_width) <= limit:
            return start_width
        if params(1) > limit:
            return None
        lo, hi = 1, start_width  # params(lo) <= limit < params(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if params(mid) <= limit:
                lo = mid
            else:
                hi = mid
        return lo

    def micro_layer_order(self, depth: int) -> tuple[int, ...]:
        """Layers the micro phases visit, in order (all, or ``micro_layers`` spread evenly)."""
        n = self.config.micro_layers
        if n is None or n >= depth:
            return tuple(range(depth))
        if n == 1:
            return (0,)
        return tuple(sorted({int(round(j * (depth - 1) / (n - 1))) for j in range(n)}))

    def budgets_for(self, state: EGNASState, genomes: Sequence[Any] | None = None) -> list[Any]:
        """TrainBudget of each asked genome (the pending candidates, in order)."""
        cands = self._open(state)
        if genomes is not None:
            cands = cands[: len(genomes)]
        out = [budget_of(self.config, cand.epochs) for cand in cands]
        return out

    def epochs_for(self, state: EGNASState) -> list[int]:
        """Trained epochs of each open (asked, not yet told) candidate."""
        return [cand.epochs for cand in self._open(state)]

    def done(self, state: EGNASState) -> bool:
        return state.done

    def result(self, state: EGNASState) -> EgnasGenome | None:
        """The output genome once the search is done (``final_width`` applied)."""
        return None if state.result is None else _parse(self.space, state.result)

    # ---------------------------------------------------------------- init / ask / tell

    def init(self, key: Any) -> EGNASState:
        c = self.config
        g = plain_genome(c.min_depth, c.max_width)
        start = c.epoch_counter()
        state = EGNASState(key=as_key(key), phase="start", epochs=start.epochs,
                           depth_tried=c.min_depth, width_tried=c.max_width,
                           incumbent=self._s(g))
        first = self._cand(g, start.epochs, "start")
        pending = (first,)
        if c.mode == "batched":  # deeper nets' budgets do not depend on the start net's result
            pending += self._depth_batch(state, c.min_depth, start.epochs)
        return dataclasses.replace(state, pending=pending)

    def ask(self, state: EGNASState) -> tuple[EGNASState, list[EgnasGenome]]:
        """The open candidates (one in faithful mode, a population in batched mode); an empty
        list once the search is done."""
        out = []
        for cand in self._open(state):
            g = _parse(self.space, cand.genome)
            out.append(EgnasCandidate(g.depth, g.width, g.ops, g.kernels, epochs=cand.epochs,
                                      config=self.config))
        return state, out

    def tell(self, state: EGNASState, genomes: Sequence[Any],
             records: Sequence[SearchRecord | Mapping[str, float]]) -> EGNASState:
        open_ = self._open(state)
        if len(genomes) != len(records) or len(genomes) > len(open_):
            raise ConfigError(f"tell got {len(genomes)} genomes and {len(records)} records for "
                              f"{len(open_)} open candidates")
        outcomes = list(state.received)
        for cand, genome, rec in zip(open_, genomes, records):
            text = genome if isinstance(genome, str) else genome_string(genome)
            if genome_string(_parse(self.space, text)) != \
                    genome_string(_parse(self.space, cand.genome)):
                raise ConfigError(f"told genome {text!r} but the open candidate is {cand.genome!r}")
            metrics = rec.metrics if isinstance(rec, SearchRecord) else rec
            acc = float(metrics[ACCURACY])
            tacc = float(metrics.get(TRAIN_ACCURACY, 0.0))
            if not math.isfinite(acc):  # a diverged / failed training loses every comparison
                acc = -math.inf
            outcomes.append(Outcome(cand, acc, tacc))
        state = dataclasses.replace(state, received=tuple(outcomes))
        if len(outcomes) < len(state.pending):  # wait for the rest of the population
            return state
        state = dataclasses.replace(state, pending=(), received=(),
                                    history=state.history + tuple(outcomes))
        return self._advance(state, outcomes)

    # ----------------------------------------------------------------------- internals

    def _s(self, g: EgnasGenome) -> str:
        return _to_str(self.space, g)

    def _cand(self, g: EgnasGenome, nominal: int, role: str, layer: int = -1) -> Candidate:
        return Candidate(self._s(g), nominal, self.config.scaled(nominal), role, layer, g.width)

    @staticmethod
    def _open(state: EGNASState) -> tuple[Candidate, ...]:
        return state.pending[len(state.received):]

    @staticmethod
    def _log(state: EGNASState, msg: str) -> EGNASState:
        return dataclasses.replace(state, events=state.events + (msg,))

    def _advance(self, state: EGNASState, outcomes: list[Outcome]) -> EGNASState:
        """Apply the phase's rules to the finished candidates, then queue the next ones."""
        roles = {o.candidate.role for o in outcomes}
        if roles & {"start", "depth"}:
            state = self._replay_depth(state, outcomes)
        elif "width" in roles:
            state = self._replay_width(state, outcomes)
        elif roles & {"op_base", "op", "op_combo"}:
            state = self._decide_micro(state, outcomes, "op")
        elif roles & {"kernel", "kernel_combo"}:
            state = self._decide_micro(state, outcomes, "kernel")
        return self._queue(state)

    # -- macro phase

    def _depth_may_continue(self, state: EGNASState) -> bool:
        """The authors' while-condition plus the train-accuracy stop and the cap."""
        c = self.config
        if not (state.acc < c.target_acc - c.target_acc_tolerance):
            return False
        if state.depth_tried >= c.max_depth:
            return False
        if state.train_acc > c.train_acc_stop:
            return False
        if c.max_depth_candidates is not None and \
                state.depth_tried - c.min_depth >= c.max_depth_candidates:
            return False
        return True

    def _depth_batch(self, state: EGNASState, depth_from: int, epochs_from: int
                     ) -> tuple[Candidate, ...]:
        """The next deeper plain nets, ``batch_depth`` of them in batched mode and one in
        faithful mode (within max_depth and the cap)."""
        c = self.config
        out = []
        counter = c.epoch_counter("depth", epochs_from)
        n = c.batch_depth if c.mode == "batched" else 1
        for j in range(1, n + 1):
            d = depth_from + j
            if d > c.max_depth:
                break
            if c.max_depth_candidates is not None and d - c.min_depth > c.max_depth_candidates:
                break
            counter = counter.next_depth()
            out.append(self._cand(plain_genome(d, c.max_width), counter.epochs, "depth"))
        return tuple(out)

    def _replay_depth(self, state: EGNASState, outcomes: list[Outcome]) -> EGNASState:
        """Faithful depth rules applied to ``outcomes`` in order (unused tail ignored)."""
        c = self.config
        for o in outcomes:
            cand = o.candidate
            if cand.role == "start":
                state = dataclasses.replace(state, phase="depth", acc=o.accuracy,
                                            train_acc=o.train_accuracy,
                                            incumbent=cand.genome, macro_depth=c.min_depth)
                state = self._log(state, f"start {cand.genome} acc={o.accuracy:.2f}")
                continue
            if state.phase != "depth":
                state = self._log(state, f"unused {cand.genome} (depth phase already over)")
                continue
            if not self._depth_may_continue(state):
                state = self._end_depth(state)
                state = self._log(state, f"unused {cand.genome} (depth phase already over)")
                continue
            depth = _parse(self.space, cand.genome).depth
            state = dataclasses.replace(
                state, depth_tried=depth,
                epochs=c.epoch_counter("depth", state.epochs).next_depth().epochs)
            if o.accuracy >= state.acc + c.dp_add_tolerance:
                state = dataclasses.replace(state, incumbent=cand.genome, acc=o.accuracy,
                                            train_acc=o.train_accuracy, fails=0,
                                            macro_depth=depth)
                state = self._log(state, f"depth accept L={depth} acc={o.accuracy:.2f}")
            elif o.accuracy >= state.acc - c.ch_drop_tolerance:
                state = self._log(state, f"depth neutral L={depth} acc={o.accuracy:.2f}")
            elif state.fails != c.dp_break_tolerance:
                state = dataclasses.replace(state, fails=state.fails + 1)
                state = self._log(state, f"depth fail {state.fails} L={depth} "
                                         f"acc={o.accuracy:.2f}")
            else:
                state = self._log(state, f"depth stop L={depth} acc={o.accuracy:.2f}")
                state = self._end_depth(state)
        if state.phase == "depth" and not self._depth_may_continue(state):
            state = self._end_depth(state)
        return state

    def _end_depth(self, state: EGNASState) -> EGNASState:
        c = self.config
        state = dataclasses.replace(state, phase="width", fails=0, width_tried=c.max_width,
                                    macro_width=c.max_width, macro_epochs=state.epochs)
        return self._log(state, f"depth phase done: L={state.macro_depth}, E={state.epochs}")

    def _width_may_continue(self, state: EGNASState) -> bool:
        c = self.config
        if state.width_tried <= c.min_width or state.width_tried - c.width_resolution < 1:
            return False
        steps = (c.max_width - state.width_tried) // c.width_resolution
        if c.max_width_candidates is not None and steps >= c.max_width_candidates:
            return False
        return True

    def _width_batch(self, state: EGNASState) -> tuple[Candidate, ...]:
        c = self.config
        out = []
        w, counter = state.width_tried, c.epoch_counter("width", state.epochs)
        n = c.batch_width if c.mode == "batched" else 1
        probe = state
        for _ in range(n):
            if not self._width_may_continue(probe):
                break
            w, counter = w - c.width_resolution, counter.next_width()
            out.append(self._cand(plain_genome(state.macro_depth, w), counter.epochs, "width"))
            probe = dataclasses.replace(probe, width_tried=w)
        return tuple(out)

    def _replay_width(self, state: EGNASState, outcomes: list[Outcome]) -> EGNASState:
        c = self.config
        for o in outcomes:
            cand = o.candidate
            if state.phase != "width":
                state = self._log(state, f"unused {cand.genome} (width phase already over)")
                continue
            w = cand.width
            state = dataclasses.replace(
                state, width_tried=w,
                epochs=c.epoch_counter("width", state.epochs).next_width().epochs)
            if o.accuracy >= state.acc - c.width_accept_margin:
                state = dataclasses.replace(state, incumbent=cand.genome, acc=o.accuracy,
                                            train_acc=o.train_accuracy, fails=0,
                                            macro_width=w, macro_epochs=state.epochs)
                state = self._log(state, f"width accept C={w} acc={o.accuracy:.2f}")
            elif state.fails != c.ch_break_tolerance:
                state = dataclasses.replace(state, fails=state.fails + 1)
                state = self._log(state, f"width fail {state.fails} C={w} acc={o.accuracy:.2f}")
            else:
                state = self._log(state, f"width stop C={w} acc={o.accuracy:.2f}")
                state = self._end_width(state)
            if state.phase == "width" and not self._width_may_continue(state):
                state = self._end_width(state)
        return state

    def _end_width(self, state: EGNASState) -> EGNASState:
        state = dataclasses.replace(state, phase="ops", layer_pos=0, fails=0, ref_params=0,
                                    micro_width=state.macro_width)
        return self._log(state, f"macro phase done: L={state.macro_depth} C={state.macro_width}"
                                f" E_final={state.macro_epochs}")

    # -- micro phase

    def _micro_steps(self, depth: int, kind: str) -> tuple[tuple[int, int], ...]:
        """(layer, value) pairs the micro phase tries, in the authors' order."""
        values = (STANDARD,) if kind == "op" else tuple(self.config.micro_kernels)
        return tuple((i, v) for i in self.micro_layer_order(depth) for v in values)

    @staticmethod
    def _flip(base: EgnasGenome, kind: str, changes: Mapping[int, int]) -> EgnasGenome:
        ops, ks = list(base.ops), list(base.kernels)
        for i, v in changes.items():
            if kind == "op":
                ops[i] = v
            else:
                ks[i] = v
        return dataclasses.replace(base, ops=tuple(ops), kernels=tuple(ks))

    def _fitted(self, g: EgnasGenome, start_width: int, limit: int, role: str,
                layer: int = -1) -> Candidate | None:
        """``g`` shrunk from ``start_width`` until params <= ``limit`` (None if impossible)."""
        w = self.fit_width(g, start_width, limit)
        if w is None:
            return None
        return self._cand(dataclasses.replace(g, width=w),
                          self.config.epoch_counter().micro().epochs, role, layer)

    def _single(self, state: EGNASState, kind: str, step: tuple[int, int]) -> Candidate | None:
        """Faithful: flip one layer of the incumbent (every accepted flip kept), shrunk from
        the phase's start width to the parameter budget; None when it changes nothing."""
        base = _parse(self.space, state.incumbent)
        layer, value = step
        if (base.ops[layer] if kind == "op" else base.kernels[layer]) == value:
            return None
        g = self._flip(base, kind, {layer: value})
        return self._fitted(g, state.micro_width, state.ref_params + self.config.param_slack,
                            kind, layer)

    def _micro_round(self, state: EGNASState, base: EgnasGenome, kind: str
                     ) -> tuple[Candidate, ...]:
        """Batched: every single flip of ``base`` at once, each shrunk to the budget."""
        out = []
        limit = state.ref_params + self.config.param_slack
        for layer, value in self._micro_steps(base.depth, kind):
            if (base.ops[layer] if kind == "op" else base.kernels[layer]) == value:
                continue
            cand = self._fitted(self._flip(base, kind, {layer: value}), state.micro_width,
                                limit, kind, layer)
            if cand is not None:
                out.append(cand)
        return tuple(out)

    def _decide_micro(self, state: EGNASState, outcomes: list[Outcome], kind: str) -> EGNASState:
        c = self.config
        for o in outcomes:
            if o.candidate.role == "op_base":
                state = dataclasses.replace(state, acc=o.accuracy, train_acc=o.train_accuracy,
                                            incumbent=o.candidate.genome)
                state = self._log(state, f"ops baseline {o.candidate.genome} "
                                         f"acc={o.accuracy:.2f} P0={state.ref_params}")
        singles = [o for o in outcomes if o.candidate.role == kind]
        combos = [o for o in outcomes if o.candidate.role == f"{kind}_combo"]
        if c.mode == "faithful":
            for o in singles:
                state = self._judge(state, o, kind)
                state = dataclasses.replace(state, layer_pos=state.layer_pos + 1)
            return self._maybe_end_micro(state, kind)
        n_steps = len(self._micro_steps(state.macro_depth, kind))
        state = dataclasses.replace(state, layer_pos=n_steps)
        if singles:
            cur = state.acc
            for o in singles:
                state = self._log(state, f"{kind} single layer={o.candidate.layer} "
                                         f"acc={o.accuracy:.2f} (incumbent {cur:.2f})")
            better = sorted((o for o in singles if o.accuracy > cur + c.micro_accept_margin),
                            key=lambda o: -o.accuracy)  # stable sort: ties keep layer order
            if not better:
                return self._maybe_end_micro(state, kind)
            state = self._adopt(state, better[0], kind)  # combos must beat the best single
            best_per_layer: dict[int, int] = {}
            for o in better:
                g = _parse(self.space, o.candidate.genome)
                layer = o.candidate.layer
                if layer not in best_per_layer:
                    best_per_layer[layer] = g.ops[layer] if kind == "op" else g.kernels[layer]
            layers = list(best_per_layer)
            if len(layers) >= 2 and c.batch_combos > 0:
                base = self._round_base(state, kind)
                limit = state.ref_params + c.param_slack
                cands = []
                for m in range(2, min(len(layers), c.batch_combos + 1) + 1):
                    g = self._flip(base, kind, {i: best_per_layer[i] for i in layers[:m]})
                    cand = self._fitted(g, state.micro_width, limit, f"{kind}_combo")
                    if cand is not None:
                        cands.append(cand)
                if cands:
                    state = self._log(state, f"{kind} combos queued: {len(cands)}")
                    return dataclasses.replace(state, pending=tuple(cands))
            return self._maybe_end_micro(state, kind)
        if combos:
            best = max(combos, key=lambda o: o.accuracy)  # first of equals
            for o in combos:
                state = self._log(state, f"{kind} combo {o.candidate.genome} "
                                         f"acc={o.accuracy:.2f}")
            if best.accuracy > state.acc:
                state = self._adopt(state, best, kind)
        return self._maybe_end_micro(state, kind)

    def _round_base(self, state: EGNASState, kind: str) -> EgnasGenome:
        """The genome the batched round flipped: the macro net (ops) or the ops result."""
        if kind == "op":
            return plain_genome(state.macro_depth, state.macro_width)
        return _parse(self.space, state.round_base)

    def _adopt(self, state: EGNASState, o: Outcome, kind: str) -> EGNASState:
        state = dataclasses.replace(state, incumbent=o.candidate.genome, acc=o.accuracy,
                                    train_acc=o.train_accuracy)
        return self._log(state, f"{kind} accept {o.candidate.genome} acc={o.accuracy:.2f}")

    def _judge(self, state: EGNASState, o: Outcome, kind: str) -> EGNASState:
        if o.accuracy > state.acc + self.config.micro_accept_margin:
            return self._adopt(state, o, kind)
        return self._log(state, f"{kind} reject layer={o.candidate.layer} acc={o.accuracy:.2f}"
                                f" (incumbent {state.acc:.2f})")

    def _maybe_end_micro(self, state: EGNASState, kind: str) -> EGNASState:
        if state.layer_pos < len(self._micro_steps(state.macro_depth, kind)):
            return state
        if kind == "op":
            return self._enter_kernels(state)
        return self._finish(state)

    def _enter_kernels(self, state: EGNASState) -> EGNASState:
        g = _parse(self.space, state.incumbent)
        state = dataclasses.replace(state, phase="kernels", layer_pos=0, micro_width=g.width,
                                    ref_params=self._count(g), round_base=state.incumbent)
        return self._log(state, f"ops phase done: {state.incumbent}; kernel budget reference "
                                f"{state.ref_params} params")

    def _finish(self, state: EGNASState) -> EGNASState:
        g = _parse(self.space, state.incumbent)
        if self.config.final_width == "macro":
            g = dataclasses.replace(g, width=state.macro_width)
        state = dataclasses.replace(state, phase="done", result=self._s(g))
        return self._log(state, f"search done: {state.result}")

    def _queue(self, state: EGNASState) -> EGNASState:
        """Queue the next candidate(s) of the current phase (skipping phases switched off)."""
        c = self.config
        while not state.pending:
            if state.phase == "depth":
                if not self._depth_may_continue(state):
                    state = self._end_depth(state)
                    continue
                pend = self._depth_batch(state, state.depth_tried, state.epochs)
                state = dataclasses.replace(state, pending=pend)
            elif state.phase == "width":
                pend = self._width_batch(state)
                if not pend:
                    state = self._end_width(state)
                    continue
                state = dataclasses.replace(state, pending=pend)
            elif state.phase == "ops":
                if state.ref_params == 0:  # retrain the macro net at micro epochs first
                    macro = plain_genome(state.macro_depth, state.macro_width)
                    state = dataclasses.replace(state, ref_params=self._count(macro))
                    pend = (self._cand(macro, c.epoch_counter().micro().epochs, "op_base"),)
                    if c.mode == "batched" and c.search_ops:
                        pend += self._micro_round(state, macro, "op")
                    state = dataclasses.replace(state, pending=pend)
                    continue
                steps = self._micro_steps(state.macro_depth, "op")
                if c.search_ops and c.mode == "faithful" and state.layer_pos < len(steps):
                    cand = self._single(state, "op", steps[state.layer_pos])
                    if cand is None:
                        state = dataclasses.replace(state, layer_pos=state.layer_pos + 1)
                        continue
                    state = dataclasses.replace(state, pending=(cand,))
                    continue
                state = self._enter_kernels(state)
            elif state.phase == "kernels":
                steps = self._micro_steps(state.macro_depth, "kernel")
                if not c.search_kernels or state.layer_pos >= len(steps):
                    return self._finish(state)
                if c.mode == "batched":
                    pend = self._micro_round(state, _parse(self.space, state.incumbent),
                                             "kernel")
                    if not pend:
                        return self._finish(state)
                    state = dataclasses.replace(state, pending=pend)
                    continue
                cand = self._single(state, "kernel", steps[state.layer_pos])
                if cand is None:
                    state = dataclasses.replace(state, layer_pos=state.layer_pos + 1)
                    continue
                state = dataclasses.replace(state, pending=(cand,))
            else:
                return state  # start (never reached) or done
        return state


# ----------------------------------------------------------------------------- evaluator


def budget_of(config: EGNASConfig, epochs: int) -> TrainBudget:
    """The TrainBudget of a candidate trained ``epochs`` epochs with the config's recipe."""
    c = config
    return TrainBudget(epochs=int(epochs), batch_size=c.batch_size,
                       learning_rate=c.learning_rate, momentum=c.momentum,
                       weight_decay=c.weight_decay, grad_clip_norm=c.grad_clip_norm,
                       schedule=c.schedule, cutout_size=c.cutout_size)


def candidate_key(genome: str, epochs: int) -> str:
    """Cache / log key of one training: the genome string and its trained epochs."""
    return f"{genome}@e{int(epochs)}"


def member_seed(seed: int, genome: str, epochs: int) -> int:
    """A per-candidate seed that does not depend on which population it was trained in, so a
    candidate gets the same result in faithful and batched mode and on resume."""
    digest = hashlib.sha256(f"{seed}|{candidate_key(genome, epochs)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class TrainerEvaluator:
    """Trains EG-NAS candidates with :func:`jaxnas.train.train_population`, one population per
    call, caching by (canonical genome string, epochs) so a resumed search never retrains.

    ``metrics`` (what the strategy sees): ``accuracy`` = best per-epoch validation accuracy
    (%) - or best per-epoch test accuracy with ``selection="test"`` (the authors' choice, for
    comparison only) - and ``train_accuracy`` = best per-epoch training accuracy (%).
    ``report`` holds the other curve ends. With ``log_path`` every finished candidate is
    appended (fsynced) to that JSONL file; ``resume=True`` re-reads it first.
    """

    #: what the generic runner's curves report (there is no test accuracy during a search)
    report_metric: ClassVar[str] = "best_val_acc"

    def __init__(self, space: Any = None, context: SearchContext | None = None, *,
                 config: EGNASConfig | None = None, data: Any = None,
                 log_path: str | os.PathLike | None = None, resume: bool = True,
                 train_fn: Callable[..., Any] | None = None, **options: Any) -> None:
        from jaxnas.search.registry import make_config

        self.space = space
        self.context = context or SearchContext(space_name="egnas", dataset="fashion_mnist")
        self._configured = config is not None or bool(options)
        self.config = config or make_config(EGNASConfig, options)
        self._data = data
        self._train_fn = train_fn
        self._cache: dict[str, EvalRecord] = {}
        self.trainings = 0  # candidates actually trained by this object (not cache hits)
        self.trained_epochs = 0
        self.populations = 0
        self.log_path = Path(log_path) if log_path is not None else None
        if self.log_path is not None and resume and self.log_path.exists():
            self.restore(read_log(self.log_path))

    # -- data

    def data(self) -> tuple[Any, Any, Any]:
        """(train, val, test) ArrayDatasets per the config (loaded once)."""
        if self._data is None:
            self._data = load_search_data(self.context.dataset, self.config,
                                          self.context.data_dir)
        return self._data

    # -- protocol

    def costs(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None) -> list[float]:
        budgets = self._budgets(genomes, budgets)
        seen = set(self._cache)
        out = []
        for g, b in zip(genomes, budgets):
            k = candidate_key(self._str(g), b.epochs)
            out.append(0.0 if k in seen else float(b.epochs))
            seen.add(k)
        return out

    def restore(self, records: Sequence[EvalRecord | Mapping[str, Any]]) -> None:
        for rec in records:
            if not isinstance(rec, EvalRecord):
                rec = EvalRecord.from_json(rec)
            self._cache.setdefault(rec.key, rec)

    def evaluate(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None
                 ) -> list[EvalRecord]:
        """Records of ``genomes`` trained with ``budgets`` (a TrainBudget each)."""
        budgets = self._budgets(genomes, budgets)
        names = [self._str(g) for g in genomes]
        keys = [candidate_key(n, b.epochs) for n, b in zip(names, budgets)]
        todo: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in self._cache and k not in todo:
                todo[k] = i
        if todo:
            idx = list(todo.values())
            fresh = self._train([names[i] for i in idx], [budgets[i] for i in idx])
            for i, rec in zip(idx, fresh):
                self._cache[keys[i]] = rec
                if self.log_path is not None:
                    append_log(self.log_path, rec)
        out = []
        for i, k in enumerate(keys):
            rec = self._cache[k]
            first = todo.get(k) == i
            out.append(rec if first else dataclasses.replace(rec, cost=0.0, wall_time=0.0))
        return out

    # -- internals

    def _str(self, g: Any) -> str:
        return g if isinstance(g, str) else genome_string(g)

    def _budgets(self, genomes: Sequence[Any], budgets: Sequence[Any] | None) -> list[Any]:
        if not genomes:  # a finished search asks for nothing
            return []
        if budgets is None and genomes and all(getattr(g, "epochs", 0) for g in genomes):
            cfg = getattr(genomes[0], "config", None)
            if cfg is not None and not self._configured:
                self.config, self._configured = cfg, True  # the run's preset and recipe
            return [budget_of(self.config, g.epochs) for g in genomes]
        if budgets is None:
            raise ConfigError("the EG-NAS evaluator needs one TrainBudget per genome "
                              "(EGNAS.budgets_for(state, genomes))")
        if len(budgets) != len(genomes):
            raise ConfigError(f"{len(genomes)} genomes but {len(budgets)} budgets")
        return list(budgets)

    def _train(self, names: list[str], budgets: list[Any]) -> list[EvalRecord]:
        import jax

        train_fn = self._train_fn
        if train_fn is None:
            from jaxnas.train import train_population as train_fn
        train, val, test = self.data()
        c = self.config
        genomes = [parse_genome(n) for n in names]
        keys = [jax.random.PRNGKey(member_seed(c.seed, n, b.epochs))
                for n, b in zip(names, budgets)]
        start = time.perf_counter()
        results = _call_train(train_fn, genomes, budgets, train, val, keys,
                              test if c.selection == "test" else None, c.executor)
        wall = time.perf_counter() - start
        self.populations += 1
        records = []
        for name, budget, res in zip(names, budgets, results):
            records.append(_record(name, budget, res, c.selection, wall / max(1, len(names))))
            self.trainings += 1
            self.trained_epochs += budget.epochs
        return records


def _get(res: Any, name: str, default: Any = None) -> Any:
    if isinstance(res, Mapping):
        return res.get(name, default)
    return getattr(res, name, default)


def _best(values: Any) -> float:
    vals = [float(v) for v in (values or ()) if v is not None and math.isfinite(float(v))]
    return max(vals) if vals else 0.0


def _record(name: str, budget: Any, res: Any, selection: str, wall_share: float) -> EvalRecord:
    status = _get(res, "status", "ok")
    val_curve = list(_get(res, "val_acc_per_epoch", ()) or ())
    test_curve = list(_get(res, "test_acc_per_epoch", ()) or ())
    train_curve = list(_get(res, "train_acc_per_epoch", ()) or ())
    best_val = _best(val_curve) if val_curve else float(_get(res, "best_val_acc", 0.0) or 0.0)
    best_test = _best(test_curve)
    ok = status == "ok"
    acc = (best_test if selection == "test" else best_val) if ok else 0.0
    metrics = {ACCURACY: acc, TRAIN_ACCURACY: _best(train_curve) if ok else 0.0}
    report = {"best_val_acc": best_val, "final_val_acc": float(val_curve[-1]) if val_curve
              else float(_get(res, "final_val_acc", 0.0) or 0.0)}
    if test_curve:
        report["best_test_acc"] = best_test
        report["final_test_acc"] = float(test_curve[-1])
    wall = _get(res, "wall_time_s", None)
    info = {"epochs": int(budget.epochs), "status": str(status),
            "params": int(_get(res, "params", 0) or 0),
            "val_acc_per_epoch": [float(v) for v in val_curve],
            "train_acc_per_epoch": [float(v) for v in train_curve]}
    if test_curve:
        info["test_acc_per_epoch"] = [float(v) for v in test_curve]
    return EvalRecord(genome=name, key=candidate_key(name, budget.epochs), metrics=metrics,
                      report=report, cost=float(budget.epochs),
                      wall_time=float(wall) if wall is not None else wall_share, info=info)


def _call_train(train_fn: Callable[..., Any], genomes: list[EgnasGenome], budgets: list[Any],
                train: Any, val: Any, keys: list[Any], test: Any, executor: str) -> list[Any]:
    """One population through the trainer, with per-member keys when it accepts them."""
    import inspect

    import jax

    params = inspect.signature(train_fn).parameters
    kwargs: dict[str, Any] = {}
    if "executor" in params:
        kwargs["executor"] = executor
    if test is not None and "test_data" in params:
        kwargs["test_data"] = test
    if "member_keys" in params:
        kwargs["member_keys"] = keys
        return list(train_fn("egnas", genomes, budgets, train, val, key=keys[0], **kwargs))
    # without per-member keys a member's result may depend on its population; derive the
    # population key from its members so the same population always trains the same way
    key = keys[0] if len(keys) == 1 else jax.random.fold_in(keys[0], len(keys))
    return list(train_fn("egnas", genomes, budgets, train, val, key=key, **kwargs))


def load_search_data(dataset: str, config: EGNASConfig, data_dir: str | None = None
                     ) -> tuple[Any, Any, Any]:
    """(train, val, test): a seeded split of the training set, subsampled per the config."""
    from jaxnas.data import load_dataset, subset, train_val_split

    full = load_dataset(dataset, "train", data_dir)
    train, val = train_val_split(full, config.val_fraction, config.data_seed)
    if config.n_train is not None and config.n_train < len(train):
        train = subset(train, config.n_train, config.data_seed)
    if config.n_val is not None and config.n_val < len(val):
        val = subset(val, config.n_val, config.data_seed + 1)
    test = load_dataset(dataset, "test", data_dir)
    if config.n_test is not None and config.n_test < len(test):
        test = subset(test, config.n_test, config.data_seed + 2)
    return train, val, test


# ------------------------------------------------------------------------------ results log


def append_log(path: str | os.PathLike, record: EvalRecord) -> None:
    """Append one record as a JSON line and fsync (crash-safe: a torn last line is skipped)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record.to_json(), allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_log(path: str | os.PathLike) -> list[EvalRecord]:
    """Records of a JSONL log (a torn last line from a kill is dropped)."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(EvalRecord.from_json(json.loads(line)))
            except (json.JSONDecodeError, KeyError):
                continue
    return out


# ---------------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class SearchSummary:
    """What one search did: the output genome and its cost."""

    mode: str
    genome: str
    params: int
    proxy_accuracy: float  # search metric of the final incumbent (2-epoch micro proxy)
    macro_genome: str
    candidates: int  # told trainings (incl. cache hits on resume)
    candidate_epochs: int
    trained_now: int  # trained by this process (0 for a fully cached resume)
    populations: int
    wall_time_s: float
    events: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["events"] = list(self.events)
        return out


def run_search(strategy: EGNAS, evaluator: TrainerEvaluator, *, seed: int = 0,
               max_steps: int | None = None,
               on_step: Callable[[EGNASState, list[EvalRecord]], None] | None = None
               ) -> tuple[EGNASState, SearchSummary]:
    """Drive ``strategy`` to the end with ``evaluator`` (budgets from ``budgets_for``).

    Resume = run again with an evaluator whose log holds the earlier records: the state
    machine is deterministic, so it replays through cached results without training them.
    """
    start = time.perf_counter()
    state = strategy.init(seed)
    steps = 0
    while not state.done:
        state, genomes = strategy.ask(state)
        budgets = strategy.budgets_for(state, genomes)
        records = evaluator.evaluate(genomes, budgets)
        state = strategy.tell(state, genomes, [r.visible() for r in records])
        if on_step is not None:
            on_step(state, records)
        steps += 1
        if max_steps is not None and steps >= max_steps:
            break
    wall = time.perf_counter() - start
    genome = state.result or state.incumbent
    g = parse_genome(genome)
    summary = SearchSummary(
        mode=strategy.config.mode, genome=genome, params=strategy.count_params(g),
        proxy_accuracy=float(state.acc),
        macro_genome=genome_string(plain_genome(state.macro_depth or g.depth,
                                                state.macro_width or g.width)),
        candidates=state.num_trained, candidate_epochs=state.candidate_epochs,
        trained_now=evaluator.trainings, populations=evaluator.populations,
        wall_time_s=wall, events=state.events)
    return state, summary

"""The EG-NAS strategy (:class:`EGNAS`): the authors' sequential search loop as an explicit
state machine behind the common ``init / ask / tell`` contract.

Phases: depth and width (:mod:`.macro`), then ops and kernels (:mod:`.micro`); the output is
``(L, width, ops, kernels)`` of the last phase's incumbent, or with ``final_width="macro"`` the
macro-phase width instead (what the authors' final-training commands used). Each asked genome
has its own training recipe: :meth:`EGNAS.budgets` (the architecture-aware epoch counter and
the config's SGD recipe). Decisions use ``metrics["accuracy"]`` (and ``train_accuracy`` for
the depth phase's stop).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

from jaxnas.search.base import ACCURACY, SearchRecord, Strategy
from jaxnas.search.egnas.config import PRESETS, TRAIN_ACCURACY, EGNASConfig, searched_space
from jaxnas.search.egnas.macro import MacroPhases, plain_genome
from jaxnas.search.egnas.micro import MicroPhases
from jaxnas.search.egnas.state import Candidate, EGNASState, Outcome, outcome, plain
from jaxnas.spaces.egnas import EgnasGenome
from jaxnas.train.recipe import TrainRecipe


class EGNAS(MacroPhases, MicroPhases, Strategy):
    """Efficient Global NAS: greedy macro (depth, width) then micro (ops, kernels) search."""

    name = "egnas"
    Config = EGNASConfig
    State = EGNASState
    PRESETS = PRESETS
    evaluator = "egnas"

    def setup(self) -> None:
        if self.context.batched and self.config.mode != "batched":
            self.config = replace(self.config, mode="batched")
        # genomes below the space's minimum width and depth are part of the search
        self.space = searched_space(self.space, self.config)
        from jaxnas.data import dataset_info

        info = dataset_info(self.context.dataset)
        self._classes = info.num_classes
        self._input_shape = (info.image_size, info.image_size, info.channels)

    # ------------------------------------------------------------------ public helpers

    def count_params(self, genome: EgnasGenome) -> int:
        """Trainable parameters of ``genome`` on the run's dataset
        (:func:`jaxnas.nn.count_params`; the width rule counts many genomes, it caches)."""
        from jaxnas.nn import count_params

        return count_params("egnas", genome, self._classes, self._input_shape)

    def fit_width(self, genome: EgnasGenome, start_width: int, limit: int) -> int | None:
        """Largest width <= ``start_width`` whose params are <= ``limit`` (None if even width 1
        is over). Params grow with width, so bisection gives exactly the authors' result of
        shrinking one channel at a time, with far fewer counts."""
        def params(w: int) -> int:
            return self.count_params(replace(genome, width=w))

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

    # ------------------------------------------------------------------ contract hooks

    def done(self, state: EGNASState) -> bool:
        return state.done

    def result(self, state: EGNASState) -> EgnasGenome | None:
        """The output genome once the search is done (``final_width`` applied)."""
        return None if state.result is None else self.space.parse(state.result)

    def budgets(self, state: EGNASState, genomes: Sequence[Any]) -> list[TrainRecipe]:
        """The :class:`TrainRecipe` of each asked genome, in order (its epochs from the
        architecture-aware counter, the rest from the config)."""
        return [self.config.recipe(cand.epochs) for cand in state.open[:len(genomes)]]

    def _init(self, key: Any) -> EGNASState:
        c = self.config
        g = plain_genome(c.min_depth, c.max_width)
        start = c.epoch_counter()
        queue: tuple[Candidate, ...] = (self._cand(g, start.epochs, "start"),)
        if c.mode == "batched":  # deeper nets' budgets do not depend on the start net's result
            queue += self._depth_batch(c.min_depth, start.epochs)
        return EGNASState(key=key, phase="start", epochs=start.epochs,
                          depth_tried=c.min_depth, width_tried=c.max_width,
                          incumbent=self.space.to_string(g),
                          queue=tuple(plain(x) for x in queue))

    def _ask(self, state: EGNASState) -> tuple[EGNASState, list[EgnasGenome]]:
        """The open candidates: one in faithful mode, a population in batched mode."""
        return state, [self.space.parse(cand.genome) for cand in state.open]

    def _tell(self, state: EGNASState, genomes: list[Any], records: list[SearchRecord]
              ) -> EGNASState:
        received = list(state.received)
        for cand, record in zip(state.open, records):
            acc = float(record.metrics[ACCURACY])
            train_acc = float(record.metrics.get(TRAIN_ACCURACY, 0.0))
            if not math.isfinite(acc):  # a diverged / failed training loses every comparison
                acc = -math.inf
            received.append(plain(Outcome(cand, acc, train_acc)))
        if len(received) < len(state.queue):  # wait for the rest of the population
            return replace(state, received=tuple(received))
        state = replace(state, queue=(), received=(), history=state.history + tuple(received))
        return self._advance(state, [outcome(row) for row in received])

    # ----------------------------------------------------------------------- internals

    def _cand(self, g: EgnasGenome, nominal: int, role: str, layer: int = -1) -> Candidate:
        return Candidate(self.space.to_string(g), nominal, self.config.scaled(nominal), role,
                         layer, g.width)

    @staticmethod
    def _log(state: EGNASState, msg: str) -> EGNASState:
        return replace(state, events=state.events + (msg,))

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
        return self._fill_queue(state)

    def _fill_queue(self, state: EGNASState) -> EGNASState:
        """Queue the next candidate(s) of the current phase (skipping phases switched off)."""
        while not state.queue and not state.done:
            if state.phase == "depth":
                if not self._depth_may_continue(state):
                    state = self._end_depth(state)
                    continue
                state = self._queued(state, self._depth_batch(state.depth_tried, state.epochs))
            elif state.phase == "width":
                pend = self._width_batch(state)
                state = self._queued(state, pend) if pend else self._end_width(state)
            elif state.phase == "ops":
                state = self._next_ops(state)
            elif state.phase == "kernels":
                state = self._next_kernels(state)
            else:
                break  # start (never reached)
        return state

    def _queued(self, state: EGNASState, cands: Sequence[Candidate]) -> EGNASState:
        return replace(state, queue=tuple(plain(x) for x in cands))

    def _next_ops(self, state: EGNASState) -> EGNASState:
        """The ops phase's next step: the macro net's retraining (with every single flip in
        batched mode), the next layer's flip, or on to the kernels phase."""
        c = self.config
        if state.ref_params == 0:  # retrain the macro net at micro epochs first
            macro = plain_genome(state.macro_depth, state.macro_width)
            state = replace(state, ref_params=self.count_params(macro))
            pend = (self._cand(macro, c.epoch_counter().micro().epochs, "op_base"),)
            if c.mode == "batched" and c.search_ops:
                pend += self._micro_round(state, macro, "op")
            return self._queued(state, pend)
        steps = self._micro_steps(state.macro_depth, "op")
        if c.search_ops and c.mode == "faithful" and state.layer_pos < len(steps):
            cand = self._single(state, "op", steps[state.layer_pos])
            if cand is None:
                return replace(state, layer_pos=state.layer_pos + 1)
            return self._queued(state, (cand,))
        return self._enter_kernels(state)

    def _next_kernels(self, state: EGNASState) -> EGNASState:
        """The kernels phase's next step: every single flip (batched), the next layer's flip
        (faithful), or the end of the search."""
        c = self.config
        steps = self._micro_steps(state.macro_depth, "kernel")
        if not c.search_kernels or state.layer_pos >= len(steps):
            return self._finish(state)
        if c.mode == "batched":
            pend = self._micro_round(state, self.space.parse(state.incumbent), "kernel")
            return self._queued(state, pend) if pend else self._finish(state)
        cand = self._single(state, "kernel", steps[state.layer_pos])
        if cand is None:
            return replace(state, layer_pos=state.layer_pos + 1)
        return self._queued(state, (cand,))

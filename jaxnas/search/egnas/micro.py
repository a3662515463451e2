"""The micro phases of EG-NAS: operations, then kernels, within a parameter budget.

* ops: ``E = micro_epochs``. The macro result is retrained once (baseline accuracy, its
  parameter count ``P0``). For each layer in order: set op 1 (standard conv), shrink the width
  one channel at a time from the macro width until ``params <= P0 + param_slack``, train, and
  accept when ``acc > cur + micro_accept_margin`` (strictly better), else revert. Flips
  accumulate: layer i's candidate carries every accepted earlier flip.
* kernels: the reference parameter count is the ops result's; for each layer try each of
  ``micro_kernels``, shrinking from the ops result's width to ``ref + param_slack``; same
  acceptance.

Batched mode trains every single flip of the same incumbent as one population, then the best
few improving flips combined (:data:`~jaxnas.search.egnas.config.BATCHED_NOTES`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from jaxnas.search.egnas.macro import plain_genome
from jaxnas.search.egnas.state import Candidate, EGNASState, Outcome, plain
from jaxnas.spaces.egnas import STANDARD, EgnasGenome


def flip(base: EgnasGenome, kind: str, changes: Mapping[int, int]) -> EgnasGenome:
    """``base`` with the ops (``kind="op"``) or kernels of some layers changed."""
    ops, ks = list(base.ops), list(base.kernels)
    for i, v in changes.items():
        if kind == "op":
            ops[i] = v
        else:
            ks[i] = v
    return replace(base, ops=tuple(ops), kernels=tuple(ks))


class MicroPhases:
    """Ops and kernels rules of :class:`~jaxnas.search.egnas.EGNAS` (a mixin: it uses the
    strategy's ``config``, ``space``, ``count_params``, ``fit_width``, ``micro_layer_order``,
    ``_cand`` and ``_log``)."""

    config: Any
    space: Any

    def _micro_steps(self, depth: int, kind: str) -> tuple[tuple[int, int], ...]:
        """(layer, value) pairs the micro phase tries, in the authors' order."""
        values = (STANDARD,) if kind == "op" else tuple(self.config.micro_kernels)
        return tuple((i, v) for i in self.micro_layer_order(depth) for v in values)

    def _fitted(self, g: EgnasGenome, start_width: int, limit: int, role: str,
                layer: int = -1) -> Candidate | None:
        """``g`` shrunk from ``start_width`` until params <= ``limit`` (None if impossible)."""
        w = self.fit_width(g, start_width, limit)
        if w is None:
            return None
        return self._cand(replace(g, width=w), self.config.epoch_counter().micro().epochs,
                          role, layer)

    def _single(self, state: EGNASState, kind: str, step: tuple[int, int]) -> Candidate | None:
        """Faithful: flip one layer of the incumbent (every accepted flip kept), shrunk from
        the phase's start width to the parameter budget; None when it changes nothing."""
        base = self.space.parse(state.incumbent)
        layer, value = step
        if (base.ops[layer] if kind == "op" else base.kernels[layer]) == value:
            return None
        return self._fitted(flip(base, kind, {layer: value}), state.micro_width,
                            state.ref_params + self.config.param_slack, kind, layer)

    def _micro_round(self, state: EGNASState, base: EgnasGenome, kind: str
                     ) -> tuple[Candidate, ...]:
        """Batched: every single flip of ``base`` at once, each shrunk to the budget."""
        out = []
        limit = state.ref_params + self.config.param_slack
        for layer, value in self._micro_steps(base.depth, kind):
            if (base.ops[layer] if kind == "op" else base.kernels[layer]) == value:
                continue
            cand = self._fitted(flip(base, kind, {layer: value}), state.micro_width, limit,
                                kind, layer)
            if cand is not None:
                out.append(cand)
        return tuple(out)

    def _decide_micro(self, state: EGNASState, outcomes: list[Outcome], kind: str
                      ) -> EGNASState:
        """Apply the ops / kernels rules to a finished population."""
        for o in outcomes:
            if o.candidate.role == "op_base":
                state = replace(state, acc=o.accuracy, train_acc=o.train_accuracy,
                                incumbent=o.candidate.genome)
                state = self._log(state, f"ops baseline {o.candidate.genome} "
                                         f"acc={o.accuracy:.2f} P0={state.ref_params}")
        singles = [o for o in outcomes if o.candidate.role == kind]
        combos = [o for o in outcomes if o.candidate.role == f"{kind}_combo"]
        if self.config.mode == "faithful":
            for o in singles:
                state = self._judge(state, o, kind)
                state = replace(state, layer_pos=state.layer_pos + 1)
            return self._maybe_end_micro(state, kind)
        state = replace(state, layer_pos=len(self._micro_steps(state.macro_depth, kind)))
        if singles:
            return self._decide_singles(state, singles, kind)
        if combos:
            best = max(combos, key=lambda o: o.accuracy)  # first of equals
            for o in combos:
                state = self._log(state, f"{kind} combo {o.candidate.genome} "
                                         f"acc={o.accuracy:.2f}")
            if best.accuracy > state.acc:
                state = self._adopt(state, best, kind)
        return self._maybe_end_micro(state, kind)

    def _decide_singles(self, state: EGNASState, singles: list[Outcome], kind: str
                        ) -> EGNASState:
        """Batched: adopt the best improving single flip, then queue combinations of the
        improving flips (the best 2, best 3, ...), which must beat it."""
        c = self.config
        cur = state.acc
        for o in singles:
            state = self._log(state, f"{kind} single layer={o.candidate.layer} "
                                     f"acc={o.accuracy:.2f} (incumbent {cur:.2f})")
        better = sorted((o for o in singles if o.accuracy > cur + c.micro_accept_margin),
                        key=lambda o: -o.accuracy)  # stable sort: ties keep layer order
        if not better:
            return self._maybe_end_micro(state, kind)
        state = self._adopt(state, better[0], kind)
        best_per_layer: dict[int, int] = {}
        for o in better:
            g = self.space.parse(o.candidate.genome)
            layer = o.candidate.layer
            if layer not in best_per_layer:
                best_per_layer[layer] = g.ops[layer] if kind == "op" else g.kernels[layer]
        layers = list(best_per_layer)
        if len(layers) >= 2 and c.batch_combos > 0:
            base = self._round_base(state, kind)
            limit = state.ref_params + c.param_slack
            cands = []
            for m in range(2, min(len(layers), c.batch_combos + 1) + 1):
                g = flip(base, kind, {i: best_per_layer[i] for i in layers[:m]})
                cand = self._fitted(g, state.micro_width, limit, f"{kind}_combo")
                if cand is not None:
                    cands.append(cand)
            if cands:
                state = self._log(state, f"{kind} combos queued: {len(cands)}")
                return replace(state, queue=tuple(plain(x) for x in cands))
        return self._maybe_end_micro(state, kind)

    def _round_base(self, state: EGNASState, kind: str) -> EgnasGenome:
        """The genome the batched round flipped: the macro net (ops) or the ops result."""
        if kind == "op":
            return plain_genome(state.macro_depth, state.macro_width)
        return self.space.parse(state.round_base)

    def _adopt(self, state: EGNASState, o: Outcome, kind: str) -> EGNASState:
        state = replace(state, incumbent=o.candidate.genome, acc=o.accuracy,
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
        g = self.space.parse(state.incumbent)
        state = replace(state, phase="kernels", layer_pos=0, micro_width=g.width,
                        ref_params=self.count_params(g), round_base=state.incumbent)
        return self._log(state, f"ops phase done: {state.incumbent}; kernel budget reference "
                                f"{state.ref_params} params")

    def _finish(self, state: EGNASState) -> EGNASState:
        g = self.space.parse(state.incumbent)
        if self.config.final_width == "macro":
            g = replace(g, width=state.macro_width)
        state = replace(state, phase="done", result=self.space.to_string(g))
        return self._log(state, f"search done: {state.result}")

    # provided by the strategy
    def micro_layer_order(self, depth: int) -> tuple[int, ...]:
        raise NotImplementedError

    def count_params(self, genome: EgnasGenome) -> int:
        raise NotImplementedError

    def fit_width(self, genome: EgnasGenome, start_width: int, limit: int) -> int | None:
        raise NotImplementedError

    def _cand(self, g: EgnasGenome, nominal: int, role: str, layer: int = -1) -> Candidate:
        raise NotImplementedError

    def _log(self, state: EGNASState, msg: str) -> EGNASState:
        raise NotImplementedError

"""The macro phases of EG-NAS: depth, then width (rules of the authors' ``search.py``).

* depth: start at ``L = min_depth``, ``C = max_width``, all ops sep-conv, all kernels 3,
  ``E = start_epochs``. While ``acc < target_acc - target_acc_tolerance`` and
  ``L != max_depth``: stop if the incumbent's best train accuracy is above ``train_acc_stop``;
  else train ``L + 1`` layers for ``E + add_epochs`` epochs (E grows for rejected candidates
  too). Accept at ``acc >= cur + dp_add_tolerance`` (fail counter reset);
  ``acc >= cur - ch_drop_tolerance`` is neutral; otherwise a fail, and the
  ``dp_break_tolerance + 1``-th consecutive fail stops. The depth kept is the incumbent's,
  not the last one tried.
* width: ``C -= width_resolution``, ``E += add_epochs_w`` per candidate; accept when
  ``acc >= cur - width_accept_margin`` (not worse), else a fail; the
  ``ch_break_tolerance + 1``-th fail in a row, or ``C <= min_width``, stops. ``C`` keeps
  shrinking after a fail (the authors' loop).

In batched mode a phase's next candidates do not depend on earlier results, so several are
queued at once and the faithful rules are replayed over their accuracies in order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jaxnas.search.egnas.state import Candidate, EGNASState, Outcome
from jaxnas.spaces.egnas import SEPARABLE, EgnasGenome


def plain_genome(depth: int, width: int) -> EgnasGenome:
    """All sep-conv (op 0), all kernel 3: the macro-phase candidates."""
    return EgnasGenome(depth, width, (SEPARABLE,) * depth, (3,) * depth)


class MacroPhases:
    """Depth and width rules of :class:`~jaxnas.search.egnas.EGNAS` (a mixin: it uses the
    strategy's ``config``, ``space``, ``_cand`` and ``_log``)."""

    config: Any
    space: Any

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

    def _depth_batch(self, depth_from: int, epochs_from: int) -> tuple[Candidate, ...]:
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
        for o in outcomes:
            cand = o.candidate
            if cand.role == "start":
                state = replace(state, phase="depth", acc=o.accuracy,
                                train_acc=o.train_accuracy, incumbent=cand.genome,
                                macro_depth=self.config.min_depth)
                state = self._log(state, f"start {cand.genome} acc={o.accuracy:.2f}")
                continue
            if state.phase != "depth":
                state = self._log(state, f"unused {cand.genome} (depth phase already over)")
                continue
            if not self._depth_may_continue(state):
                state = self._end_depth(state)
                state = self._log(state, f"unused {cand.genome} (depth phase already over)")
                continue
            state = self._judge_depth(state, o)
        if state.phase == "depth" and not self._depth_may_continue(state):
            state = self._end_depth(state)
        return state

    def _judge_depth(self, state: EGNASState, o: Outcome) -> EGNASState:
        """One deeper candidate: accept, neutral, fail, or the fail that stops the phase."""
        c = self.config
        cand = o.candidate
        depth = self.space.parse(cand.genome).depth
        state = replace(state, depth_tried=depth,
                        epochs=c.epoch_counter("depth", state.epochs).next_depth().epochs)
        if o.accuracy >= state.acc + c.dp_add_tolerance:
            state = replace(state, incumbent=cand.genome, acc=o.accuracy,
                            train_acc=o.train_accuracy, fails=0, macro_depth=depth)
            return self._log(state, f"depth accept L={depth} acc={o.accuracy:.2f}")
        if o.accuracy >= state.acc - c.ch_drop_tolerance:
            return self._log(state, f"depth neutral L={depth} acc={o.accuracy:.2f}")
        if state.fails != c.dp_break_tolerance:
            state = replace(state, fails=state.fails + 1)
            return self._log(state, f"depth fail {state.fails} L={depth} acc={o.accuracy:.2f}")
        state = self._log(state, f"depth stop L={depth} acc={o.accuracy:.2f}")
        return self._end_depth(state)

    def _end_depth(self, state: EGNASState) -> EGNASState:
        c = self.config
        state = replace(state, phase="width", fails=0, width_tried=c.max_width,
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
            probe = replace(probe, width_tried=w)
        return tuple(out)

    def _replay_width(self, state: EGNASState, outcomes: list[Outcome]) -> EGNASState:
        """Faithful width rules applied to ``outcomes`` in order (unused tail ignored)."""
        c = self.config
        for o in outcomes:
            cand = o.candidate
            if state.phase != "width":
                state = self._log(state, f"unused {cand.genome} (width phase already over)")
                continue
            w = cand.width
            state = replace(state, width_tried=w,
                            epochs=c.epoch_counter("width", state.epochs).next_width().epochs)
            if o.accuracy >= state.acc - c.width_accept_margin:
                state = replace(state, incumbent=cand.genome, acc=o.accuracy,
                                train_acc=o.train_accuracy, fails=0, macro_width=w,
                                macro_epochs=state.epochs)
                state = self._log(state, f"width accept C={w} acc={o.accuracy:.2f}")
            elif state.fails != c.ch_break_tolerance:
                state = replace(state, fails=state.fails + 1)
                state = self._log(state, f"width fail {state.fails} C={w} acc={o.accuracy:.2f}")
            else:
                state = self._log(state, f"width stop C={w} acc={o.accuracy:.2f}")
                state = self._end_width(state)
            if state.phase == "width" and not self._width_may_continue(state):
                state = self._end_width(state)
        return state

    def _end_width(self, state: EGNASState) -> EGNASState:
        state = replace(state, phase="ops", layer_pos=0, fails=0, ref_params=0,
                        micro_width=state.macro_width)
        return self._log(state, f"macro phase done: L={state.macro_depth} C={state.macro_width}"
                                f" E_final={state.macro_epochs}")

    # provided by the strategy
    def _cand(self, g: EgnasGenome, nominal: int, role: str, layer: int = -1) -> Candidate:
        raise NotImplementedError

    def _log(self, state: EGNASState, msg: str) -> EGNASState:
        raise NotImplementedError

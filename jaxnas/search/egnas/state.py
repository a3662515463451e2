"""The EG-NAS search state (:class:`EGNASState`) and the records it keeps.

States hold plain data only (:mod:`jaxnas.search.codec` checkpoints them): a queued training
is a plain tuple read through :class:`Candidate`, a told result a plain tuple read through
:class:`Outcome`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from jaxnas.search.base import StrategyState


class Candidate(NamedTuple):
    """One queued training: genome string, nominal and trained epochs, and why it was asked."""

    genome: str
    nominal_epochs: int
    epochs: int
    role: str  # start | depth | width | op_base | op | op_combo | kernel | kernel_combo
    layer: int = -1  # flipped layer (op / kernel), -1 otherwise
    width: int = 0


class Outcome(NamedTuple):
    """A told result: the candidate and its search-visible accuracies."""

    candidate: Candidate
    accuracy: float
    train_accuracy: float


def plain(item: Candidate | Outcome) -> tuple:
    """The plain-tuple form a state stores (the codec writes named tuples as pytrees)."""
    if isinstance(item, Outcome):
        return (tuple(item.candidate), item.accuracy, item.train_accuracy)
    return tuple(item)


def candidate(row: tuple) -> Candidate:
    return Candidate(*row)


def outcome(row: tuple) -> Outcome:
    return Outcome(Candidate(*row[0]), float(row[1]), float(row[2]))


@dataclass(frozen=True)
class EGNASState(StrategyState):
    """Everything that changes during the search (immutable; checkpointed after any tell).

    ``incumbent`` is the current genome string, ``acc`` / ``train_acc`` its search
    accuracies, ``epochs`` the nominal counter E, ``fails`` the phase's fail counter,
    ``depth_tried`` / ``width_tried`` the last depth / width tried, ``macro_width`` /
    ``macro_epochs`` the accepted width and its E (authors' ``f_channels`` / ``f_epochs``),
    ``micro_width`` the width micro candidates shrink from (the macro width in the ops phase,
    the ops result's in the kernels phase), ``ref_params`` the parameter budget reference,
    ``layer_pos`` the position in :meth:`EGNAS.micro_layer_order`, ``round_base`` the genome a
    batched kernel round flipped. ``queue`` holds the current population's candidates and
    ``received`` the outcomes told so far (the runner may tell a prefix); ``history`` every
    outcome, ``events`` a readable log of the decisions, ``result`` the output genome.
    """

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
    queue: tuple[tuple, ...] = ()
    received: tuple[tuple, ...] = ()
    history: tuple[tuple, ...] = ()
    events: tuple[str, ...] = ()
    result: str | None = None

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def open(self) -> tuple[Candidate, ...]:
        """Queued candidates not told yet, in order (what the next ask returns)."""
        return tuple(candidate(row) for row in self.queue[len(self.received):])

    @property
    def num_trained(self) -> int:
        """Candidates told so far (each one training)."""
        return len(self.history)

    @property
    def candidate_epochs(self) -> int:
        """Epochs trained over all told candidates."""
        return sum(outcome(row).candidate.epochs for row in self.history)

"""Budget policies: how many epochs each candidate trains (the EG-NAS "architecture-aware
approximation", docs/algorithms.md "Training recipe and architecture-aware budgets").

A *policy* maps a genome (and, for EG-NAS, the search phase) to a :class:`TrainRecipe`.
Policies are small pure objects: the EG-NAS search (:mod:`jaxnas.search.egnas`) keeps the
counter value E in its own immutable state and steps it with :class:`EgnasBudgetSchedule`
(``EGNASConfig.epoch_counter``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from jaxnas.errors import ConfigError, check_choice
from jaxnas.train.recipe import TrainRecipe


def fixed_policy(epochs: int, **kw: Any):
    """A policy that gives every genome the same recipe: ``policy(genome) -> TrainRecipe``."""
    recipe = TrainRecipe(epochs=epochs, **kw)

    def policy(genome: Any = None, phase: str | None = None) -> TrainRecipe:
        del genome, phase
        return recipe

    return policy


PHASES = ("depth", "width", "micro")


@dataclass(frozen=True)
class EgnasBudgetSchedule:
    """The EG-NAS epoch counter (docs/algorithms.md), as a pure value.

    * depth phase: the first candidate trains ``start_epochs`` (10); every further (deeper)
      candidate adds ``add_epochs`` (1), accepted or not, so depth d gets 10 + (d - 10) epochs
      when the search steps one layer at a time;
    * width phase: keeps counting from where the depth phase stopped; every narrower candidate
      (one 2-channel reduction) adds ``add_epochs_w`` (2);
    * micro phase (ops, kernels): a fixed ``micro_epochs`` (2) for every candidate.

    Use it as a counter: ``s = EgnasBudgetSchedule(); b = s.budget()`` for the first net, then
    ``s = s.next_depth(); s.budget()`` for each deeper one, ``s = s.next_width()`` per width step,
    ``s = s.micro()`` for the micro phase. Or ask directly with :func:`epochs_for_depth_step`,
    :func:`epochs_for_width_step`.
    """

    phase: str = "depth"
    epochs: int = 10
    start_epochs: int = 10
    add_epochs: int = 1
    add_epochs_w: int = 2
    micro_epochs: int = 2
    base: TrainRecipe = TrainRecipe(epochs=1)

    def __post_init__(self) -> None:
        check_choice("phase", self.phase, PHASES)
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs!r} must be >= 1")

    def budget(self) -> TrainRecipe:
        """The recipe of the current candidate (``base`` with the counter's epochs)."""
        return self.base.with_(epochs=self.epochs)

    def next_depth(self) -> EgnasBudgetSchedule:
        """Counter after one more (deeper) depth-phase candidate."""
        if self.phase != "depth":
            raise ConfigError(f"next_depth() called in phase {self.phase!r}; allowed in 'depth'")
        return replace(self, epochs=self.epochs + self.add_epochs)

    def width_phase(self) -> EgnasBudgetSchedule:
        """Enter the width phase; the epoch count carries over from the depth phase."""
        return replace(self, phase="width")

    def next_width(self) -> EgnasBudgetSchedule:
        """Counter after one more (2 channels narrower) width-phase candidate."""
        if self.phase not in ("depth", "width"):
            raise ConfigError(f"next_width() called in phase {self.phase!r}; allowed in 'width'")
        return replace(self, phase="width", epochs=self.epochs + self.add_epochs_w)

    def micro(self) -> EgnasBudgetSchedule:
        """Enter the micro phase: a fixed ``micro_epochs`` per candidate."""
        return replace(self, phase="micro", epochs=self.micro_epochs)


def epochs_for_depth_step(step: int, start_epochs: int = 10, add_epochs: int = 1) -> int:
    """Epochs of the ``step``-th depth-phase candidate (step 0 = the first, 10-layer net)."""
    if step < 0:
        raise ConfigError(f"step={step!r} must be >= 0")
    return start_epochs + add_epochs * step


def epochs_for_width_step(
    depth_phase_epochs: int, step: int, add_epochs_w: int = 2
) -> int:
    """Epochs of the ``step``-th width-phase candidate (step 1 = first narrower net).

    ``depth_phase_epochs`` is the counter value the depth phase ended with.
    """
    if step < 0:
        raise ConfigError(f"step={step!r} must be >= 0")
    return depth_phase_epochs + add_epochs_w * step


def egnas_policy(
    start_epochs: int = 10,
    add_epochs: int = 1,
    add_epochs_w: int = 2,
    micro_epochs: int = 2,
    **budget_kw: Any,
) -> EgnasBudgetSchedule:
    """The Efficient Global NAS policy: a fresh :class:`EgnasBudgetSchedule` whose recipe is
    :class:`TrainRecipe`'s defaults (the authors'); ``budget_kw`` overrides any of them.
    """
    return EgnasBudgetSchedule(
        phase="depth",
        epochs=start_epochs,
        start_epochs=start_epochs,
        add_epochs=add_epochs,
        add_epochs_w=add_epochs_w,
        micro_epochs=micro_epochs,
        base=TrainRecipe(epochs=1, **budget_kw),
    )


__all__ = ["PHASES", "EgnasBudgetSchedule", "egnas_policy", "epochs_for_depth_step",
           "epochs_for_width_step", "fixed_policy"]

"""Training budgets and budget policies (papers.md 1.4, the "architecture-aware approximation").

A :class:`TrainBudget` is everything one member's training needs besides its genome: epochs,
batch size, optimiser settings and augmentation. A *policy* maps a genome (and, for EG-NAS, the
search phase) to a budget. Policies are small pure objects: the EG-NAS search
(:mod:`jaxnas.search.egnas`) keeps the counter value E in its own immutable state and steps it
with :class:`EgnasBudgetSchedule` (``EGNASConfig.epoch_counter``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from jaxnas.errors import ConfigError, check_choice

SCHEDULES = ("cosine", "cosine_torch_legacy", "cosine_per_step", "constant")


@dataclass(frozen=True)
class TrainBudget:
    """One member's training recipe. Defaults are the EG-NAS authors' (papers.md 1.4).

    ``schedule``: ``"cosine"`` anneals the learning rate per epoch from ``learning_rate`` at epoch
    0 to 0 at epoch ``epochs`` (optax cosine decay evaluated at the epoch index);
    ``"cosine_torch_legacy"`` reproduces the authors' code run on PyTorch >= 1.1, which calls
    ``scheduler.step()`` at the *start* of each epoch, so epoch e uses the cosine value of e + 1
    (and the last epoch trains at lr 0); ``"cosine_per_step"`` anneals every optimisation step
    from ``learning_rate`` to 0 over the member's whole training (``epochs`` x steps per epoch),
    as NAS-Bench-201's trainer updates its schedule every iteration; it matters for short proxies (in a 1-epoch run the
    per-epoch schedules train at a constant rate); ``"constant"`` keeps ``learning_rate``.
    ``flip=None`` takes the dataset's default (``DatasetInfo.allow_flip``). ``crop_size=None``
    takes the dataset's training crop (``DatasetInfo.train_crop_size``, 32 px everywhere, like
    the default); the authors crop 32 px from every dataset (28 px MNIST-family images padded
    by 4) and test at the stored size. Pass ``crop_size=28`` to train MNIST-family images at the
    resolution they are tested at.
    """

    epochs: int
    batch_size: int = 64
    learning_rate: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip_norm: float | None = 5.0
    schedule: str = "cosine"
    cutout_size: int = 16
    crop_padding: int = 4
    crop_size: int | None = 32
    flip: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs!r} must be a positive integer")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size!r} must be a positive integer")
        if not self.learning_rate >= 0:
            raise ConfigError(f"learning_rate={self.learning_rate!r} must be >= 0")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum={self.momentum!r} must be in [0, 1)")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay={self.weight_decay!r} must be >= 0")
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise ConfigError(f"grad_clip_norm={self.grad_clip_norm!r} must be > 0 or None")
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.cutout_size < 0 or self.crop_padding < 0:
            raise ConfigError(
                f"cutout_size={self.cutout_size!r} and crop_padding={self.crop_padding!r} "
                "must be >= 0"
            )
        if self.crop_size is not None and self.crop_size < 1:
            raise ConfigError(f"crop_size={self.crop_size!r} must be positive or None")

    def with_(self, **changes: Any) -> TrainBudget:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


def fixed_policy(epochs: int, **kw: Any):
    """A policy that gives every genome the same budget: ``policy(genome) -> TrainBudget``."""
    budget = TrainBudget(epochs=epochs, **kw)

    def policy(genome: Any = None, phase: str | None = None) -> TrainBudget:
        del genome, phase
        return budget

    return policy


PHASES = ("depth", "width", "micro")


@dataclass(frozen=True)
class EgnasBudgetSchedule:
    """The EG-NAS epoch counter (papers.md 1.4), as a pure value.

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
    base: TrainBudget = TrainBudget(epochs=1)

    def __post_init__(self) -> None:
        check_choice("phase", self.phase, PHASES)
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs!r} must be >= 1")

    def budget(self) -> TrainBudget:
        """The budget of the current candidate."""
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
    """The Efficient Global NAS policy (papers.md 1.4): a fresh :class:`EgnasBudgetSchedule`.

    The training recipe is the authors': SGD lr 0.025, momentum 0.9, weight decay 3e-4, cosine
    to 0 per epoch, grad-norm clip 5, batch 64, cutout 16, crop 32 with padding 4
    (``budget_kw`` overrides any of these).
    """
    return EgnasBudgetSchedule(
        phase="depth",
        epochs=start_epochs,
        start_epochs=start_epochs,
        add_epochs=add_epochs,
        add_epochs_w=add_epochs_w,
        micro_epochs=micro_epochs,
        base=TrainBudget(epochs=1, **budget_kw),
    )

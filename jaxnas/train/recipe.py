"""The training recipe of one population member (:class:`TrainRecipe`).

Everything a member's training needs besides its genome and key. Budget policies
(:mod:`jaxnas.train.budget`) choose the epochs of a recipe per genome.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from jaxnas.errors import ConfigError, check_choice

SCHEDULES = ("cosine", "cosine_torch_legacy", "cosine_per_step", "constant")


@dataclass(frozen=True)
class TrainRecipe:
    """One member's full training recipe: epochs, batch size, SGD (learning rate, momentum,
    weight decay, grad-norm clip), learning-rate schedule and augmentation. This class is the
    one definition of the defaults, which are the EG-NAS authors' final training (SGD with
    momentum and weight decay, cosine to 0, grad-norm clip, batch 64, cutout, 32 px crops after
    4 px padding; docs/algorithms.md, "Training recipe"); the values are the fields' below.

    ``schedule``: ``"cosine"`` anneals the learning rate per epoch from ``learning_rate`` at epoch
    0 to 0 at epoch ``epochs`` (optax cosine decay evaluated at the epoch index);
    ``"cosine_torch_legacy"`` reproduces the authors' code run on PyTorch >= 1.1, which calls
    ``scheduler.step()`` at the *start* of each epoch, so epoch e uses the cosine value of e + 1
    (and the last epoch trains at lr 0); ``"cosine_per_step"`` anneals every optimisation step
    from ``learning_rate`` to 0 over the member's whole training (``epochs`` x steps per epoch),
    as NAS-Bench-201's trainer updates its schedule every iteration; it matters for short
    proxies (in a 1-epoch run the per-epoch schedules train at a constant rate);
    ``"constant"`` keeps ``learning_rate``.
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

    def with_(self, **changes: Any) -> TrainRecipe:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


__all__ = ["SCHEDULES", "TrainRecipe"]

"""What the population trainer returns (:class:`MemberResult`) and how it may compute it
(:class:`TrainOptions`: implementation choices that change only speed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jaxnas.errors import ConfigError, check_choice
from jaxnas.nn.layers import CONV_IMPLS, DEPTHWISE_IMPLS

EXECUTORS = ("auto", "loop", "bucketed", "vmap")
STATUSES = ("ok", "diverged", "failed")
SUPERNET_CONV_IMPLS = ("auto", "xla", "patches")


@dataclass(frozen=True)
class MemberResult:
    """One member's training outcome. Accuracies are in percent; curves have one value per
    completed epoch (a diverged member's curves stop at its last finite epoch)."""

    genome: str
    status: str
    reason: str = ""
    val_acc_per_epoch: tuple[float, ...] = ()
    test_acc_per_epoch: tuple[float, ...] = ()
    train_loss_per_epoch: tuple[float, ...] = ()
    train_acc_per_epoch: tuple[float, ...] = ()
    best_val_acc: float = 0.0
    final_val_acc: float = 0.0
    params: int = 0
    flops: int = 0
    steps: int = 0
    wall_time: float = 0.0  # seconds, compile included
    executor: str = ""
    compile_time: float = 0.0  # seconds of wall_time spent compiling (first calls' excess)

    @property
    def wall_time_s(self) -> float:
        """Alias of ``wall_time`` (seconds)."""
        return self.wall_time

    @property
    def best_test_acc(self) -> float:
        return max(self.test_acc_per_epoch) if self.test_acc_per_epoch else 0.0


@dataclass(frozen=True)
class EpochMetrics:
    """One member's numbers after one of its epochs (what ``train_population`` passes to
    ``on_member_epoch``): ``index`` is the member's position in the population, ``epoch``
    counts from 0, accuracies are in percent, ``test_acc`` is None without ``test_data``."""

    index: int
    epoch: int
    train_loss: float
    train_acc: float
    val_acc: float
    test_acc: float | None = None


@dataclass(frozen=True)
class TrainOptions:
    """Implementation choices that do not change what is computed (only how fast).

    ``conv_impl``: dense convs of the masked supernet (``vmap`` executor), ``"xla"``
    (``lax.conv``) or ``"patches"`` (patch extraction + one matmul; under ``vmap`` a batched
    dot instead of a grouped conv); ``"auto"`` = ``"patches"`` on CPU, ``"xla"`` elsewhere.
    ``network_conv_impl``: dense convs of the standalone networks (``loop`` and ``bucketed``
    executors), the ``conv_impl`` option of :func:`jaxnas.nn.build_network`, one of
    :data:`jaxnas.nn.layers.CONV_IMPLS`: ``"auto"`` suits XLA:CPU with the ``jaxnas``
    command's flags, ``"auto_ynnpack"`` XLA's default flags
    (:func:`jaxnas.cpu_tuning.conv_impl_for_flags` picks by the flags; entry points pass it).
    ``depthwise_impl``: ``"grouped"`` / ``"shift"`` / ``"native"`` / ``"auto"`` (native C++
    kernels on CPU when they build, else shift; grouped on GPU/TPU), used by the egnas and darts
    networks and the egnas supernet.
    ``eval_batch_size``: images per evaluation chunk.
    ``network_options``: extra ``build_network`` options as ``(name, value)`` pairs (e.g.
    ``(("channels", 8),)`` for a small nb201 net); a ``conv_impl`` or ``depthwise_impl`` here
    wins over the fields above.
    ``concurrent_groups``: how many compiled groups (members, for ``loop``) train at once in
    threads; each member's result is the same as when trained alone. ``"auto"``: 2 for
    ``loop`` on the CPU backend (small convs do not keep two cores busy: 1.33x more images/s
    measured, docs/performance.md), else 1.
    """

    conv_impl: str = "auto"
    depthwise_impl: str = "auto"
    eval_batch_size: int = 1000
    network_options: tuple[tuple[str, Any], ...] = ()
    concurrent_groups: int | str = "auto"
    network_conv_impl: str = "auto"

    def __post_init__(self) -> None:
        check_choice("conv_impl", self.conv_impl, SUPERNET_CONV_IMPLS)
        check_choice("network_conv_impl", self.network_conv_impl, CONV_IMPLS)
        check_choice("depthwise_impl", self.depthwise_impl, DEPTHWISE_IMPLS)
        if self.eval_batch_size < 1:
            raise ConfigError(f"eval_batch_size={self.eval_batch_size!r} must be >= 1")
        if self.concurrent_groups != "auto" and (
                not isinstance(self.concurrent_groups, int) or self.concurrent_groups < 1):
            raise ConfigError(f"concurrent_groups={self.concurrent_groups!r} must be 'auto' or "
                              "an int >= 1")


__all__ = ["EXECUTORS", "STATUSES", "EpochMetrics", "MemberResult", "TrainOptions"]

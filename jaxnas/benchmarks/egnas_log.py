"""Parser of the EG-NAS authors' search logs (``Searchlog.txt`` of their ``search.py``).

The authors published the complete logs of their searches (MIT licence). Two Fashion-MNIST
logs ship with jaxnas (:func:`shipped_logs`; ``data/egnas_logs/README.md`` says where they
come from). :func:`parse_log` reads any of them (Fashion-MNIST, KMNIST, EMNIST balanced,
CIFAR-10, CIFAR-100; any ``max_width``) into an :class:`EgnasLog`:

* ``arguments``: every option of the ``Arguments = Namespace(...)`` line, as Python values;
* ``candidates``: every trained candidate in order (:class:`LogCandidate`: role, genome,
  epoch budget, logged parameter count, per-epoch lr / train / validation accuracy, the
  best-of values and the printed fail counter);
* ``summaries``: the blocks that train nothing (end of the macro phase, the ops phase's
  ``RETURNING Model``, ``END OF MICRO SEARCH``, the final architecture), with what they print.

Log format facts (the authors' code, read from their logs and scripts):

* every message line starts with a ``YYYY-MM-DD HH:MM:SS,mmm`` timestamp; numpy prints long
  per-layer lists over several lines, and some messages start with a newline, so lines
  without a timestamp continue the previous message;
* ``Model Parameters = X MB`` is X * 10^6 trainable parameters, printed with 6 decimals
  (so exact to the parameter);
* the "validation" accuracy of a run with ``valid_size=0.0`` is the test-set accuracy (the
  authors select on the test set);
* the printed lr at epoch e is PyTorch's chained-form ``get_lr()`` of CosineAnnealingLR,
  not the lr that epoch trained with (:func:`torch_printed_lr`);
* micro-phase summary blocks print the incumbent's per-layer lists beside the parameter
  count of the last model built (the last candidate), not the incumbent's count; only the
  final block (``FINAL DISCOVERED ARCHITECTURE DETAILS``) counts the final genome.

This module imports only :mod:`jaxnas.spaces` (benchmarks may not depend on search or train).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from jaxnas.errors import ConfigError
from jaxnas.spaces.egnas import EgnasGenome

#: the authors' ``--dataset`` names -> (jaxnas dataset name, input channels, classes, image
#: size); EMNIST is the ``balanced`` split (their ``split='balanced'``)
LOG_DATASETS: Mapping[str, tuple[str, int, int, int]] = {
    "FashionMNIST": ("fashion_mnist", 1, 10, 28),
    "KMNIST": ("kmnist", 1, 10, 28),
    "EMNIST": ("emnist_balanced", 1, 47, 28),
    "CIFAR10": ("cifar10", 3, 10, 32),
    "CIFAR100": ("cifar100", 3, 100, 32),
}

#: roles of trained candidates, in the order the phases run
ROLES = ("start", "depth", "width", "op_base", "op", "kernel")
#: kinds of summary blocks (nothing trained)
SUMMARIES = ("macro_end", "ops_end", "micro_end", "final")

_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
_FLOAT = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"


@dataclass(frozen=True)
class LogCandidate:
    """One trained candidate of the log, in search order (``index`` from 0)."""

    index: int
    role: str
    depth: int
    width: int
    ops: tuple[int, ...]
    kernels: tuple[int, ...]
    epochs: int
    params: int
    lr: tuple[float, ...]
    train_acc: tuple[float, ...]
    valid_acc: tuple[float, ...]
    best_train: float
    best_valid: float
    fail_count: int | None = None
    line: int = 0  # 1-based line of the block's "Model Depth" message

    @property
    def genome(self) -> str:
        return genome_string(self.depth, self.width, self.ops, self.kernels)


@dataclass(frozen=True)
class LogSummary:
    """A block that trains nothing: what it prints (``params`` as printed, see the module
    docstring for which count that is)."""

    kind: str
    depth: int
    width: int
    ops: tuple[int, ...]
    kernels: tuple[int, ...]
    params: int | None
    epochs: int | None
    line: int = 0

    @property
    def genome(self) -> str:
        return genome_string(self.depth, self.width, self.ops, self.kernels)


@dataclass(frozen=True)
class EgnasLog:
    """A parsed search log (:func:`parse_log`)."""

    path: str
    arguments: Mapping[str, Any]
    candidates: tuple[LogCandidate, ...]
    summaries: tuple[LogSummary, ...]
    final_depth: int | None = None
    final_width: int | None = None
    final_epochs: int | None = None
    search_time_s: float | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def log_dataset(self) -> str:
        return str(self.arguments["dataset"])

    @property
    def dataset(self) -> str:
        """The jaxnas dataset name (``fashion_mnist``, ``kmnist``, ``emnist_balanced``,
        ``cifar10``, ``cifar100``)."""
        return LOG_DATASETS[self.log_dataset][0]

    @property
    def channels(self) -> int:
        return LOG_DATASETS[self.log_dataset][1]

    @property
    def num_classes(self) -> int:
        return LOG_DATASETS[self.log_dataset][2]

    @property
    def image_size(self) -> int:
        return LOG_DATASETS[self.log_dataset][3]

    @property
    def final(self) -> LogSummary | None:
        for s in self.summaries:
            if s.kind == "final":
                return s
        return None

    @property
    def total_epochs(self) -> int:
        """Epochs trained over all candidates (candidate-epochs)."""
        return sum(c.epochs for c in self.candidates)


def genome_string(depth: int, width: int, ops: tuple[int, ...], kernels: tuple[int, ...]) -> str:
    """The canonical egnas genome string (``L10-C64-o0000000000-k3333333333``)."""
    g = EgnasGenome(int(depth), int(width), tuple(ops), tuple(kernels))
    return (f"L{g.depth}-C{g.width}-o{''.join(str(o) for o in g.ops)}"
            f"-k{''.join(str(k) for k in g.kernels)}")


def torch_printed_lr(epoch: int, epochs: int, lr: float) -> float:
    """The lr the authors' log prints at ``epoch`` (0-based) of a ``epochs``-epoch run: their
    loop steps CosineAnnealingLR(T_max=epochs) before training an epoch and prints
    ``get_lr()``, PyTorch's chained form, which is the lr actually used,
    ``lr * (1 + cos(pi * (e + 1) / T)) / 2``, times ``(1 + cos(pi*(e+1)/T)) /
    (1 + cos(pi*e/T))``. Hence 2.379138e-02 printed at epoch 0 of 10 while 2.4388e-02 is
    trained."""
    t = float(epochs)
    used = lr * (1 + math.cos(math.pi * (epoch + 1) / t)) / 2
    den = 1 + math.cos(math.pi * epoch / t)
    return used * (1 + math.cos(math.pi * (epoch + 1) / t)) / den if den else 0.0


def parse_arguments(text: str) -> dict[str, Any]:
    """``Namespace(a=1, b='x', ...)`` -> ``{"a": 1, "b": "x", ...}`` (literal values only)."""
    text = text.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as error:
        raise ConfigError(f"cannot read the log's Arguments line {text[:80]!r}...") from error
    if not isinstance(node, ast.Call) or getattr(node.func, "id", None) != "Namespace":
        raise ConfigError(f"the log's Arguments line is not a Namespace(...): {text[:80]!r}")
    out = {}
    for kw in node.keywords:
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except ValueError as error:
            raise ConfigError(f"log argument {kw.arg} is not a literal") from error
    return out


def _messages(text: str) -> list[tuple[int, str]]:
    """(line number, message) with the timestamps cut and continuation lines joined."""
    out: list[tuple[int, str]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        m = _STAMP.match(raw)
        if m:
            out.append((n, raw[m.end():].strip()))
        elif out:
            out[-1] = (out[-1][0], (out[-1][1] + " " + raw.strip()).strip())
    return out


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.replace(",", " ").split())


class _Block:
    def __init__(self, mode: str, line: int, depth: int, width: int) -> None:
        self.mode, self.line, self.depth, self.width = mode, line, depth, width
        self.ops: tuple[int, ...] = ()
        self.kernels: tuple[int, ...] = ()
        self.epochs: int | None = None
        self.params: int | None = None
        self.fail: int | None = None
        self.lr: list[float] = []
        self.train: list[float] = []
        self.valid: list[float] = []
        self.best_train: float | None = None
        self.best_valid: float | None = None


# phase markers: a line starting with the key switches the parser to that mode
_PHASES = (("RUNNING DEPTH SEARCH", "depth"), ("RUNNING WIDTH SEARCH", "width"),
           ("RUNNING OPERATION SEARCH", "ops"), ("RETURNING Model", "ops_end"),
           ("RUNNING KERNEL SEARCH", "kernels"), ("END OF MICRO SEARCH", "micro_end"),
           ("FINAL DISCOVERED ARCHITECTURE", "final"))
_SUMMARY_MODES = ("macro_end", "ops_end", "micro_end", "final")


def _set_block_field(block: _Block, msg: str) -> bool:
    """Fill one field of the current candidate block from ``msg``; False if none matched."""
    m = re.match(r"Model Layers \[([\d\s,]*)\]\s*Model Kernels \[([\d\s,]*)\]", msg)
    if m:
        block.ops, block.kernels = _ints(m.group(1)), _ints(m.group(2))
        return True
    scalars = ((r"(?:Training epochs|Total number of epochs) " + _FLOAT, "epochs",
                lambda v: int(round(float(v)))),
               (r"Model Parameters = " + _FLOAT + r"\s*MB", "params",
                lambda v: int(round(float(v) * 1e6))),
               (r"Best Training Accuracy " + _FLOAT + "$", "best_train", float),
               (r"Best Validation Accuracy " + _FLOAT + "$", "best_valid", float))
    for pattern, name, convert in scalars:
        m = re.match(pattern, msg)
        if m:
            setattr(block, name, convert(m.group(1)))
            return True
    m = re.match(r"(Depth|Width) Fail Count (\d+)", msg)
    if m:
        block.fail = int(m.group(2))
        return True
    series = ((r"epoch (\d+) lr " + _FLOAT, block.lr, 2),
              (r"train_acc " + _FLOAT + "$", block.train, 1),
              (r"valid_acc " + _FLOAT + "$", block.valid, 1))
    for pattern, values, group in series:
        m = re.match(pattern, msg)
        if m:
            values.append(float(m.group(group)))
            return True
    return False


def _scan(text: str) -> tuple[dict[str, Any] | None, list[_Block], dict[str, Any]]:
    """(arguments, candidate blocks with their phase, the closing totals) of a log's text."""
    arguments, blocks, totals = None, [], {}
    mode, seen_macro_end, current = "pre", False, None
    for line, msg in _messages(text):
        if msg.startswith("Arguments = "):
            arguments = parse_arguments(msg[len("Arguments = "):])
            continue
        if msg.startswith("END OF MACRO SEARCH"):  # printed twice: the second closes it
            mode, seen_macro_end = ("pre" if seen_macro_end else "macro_end"), True
        for marker, phase in _PHASES:
            if msg.startswith(marker):
                mode = phase
        m = re.match(r"Model Depth (\d+) Model Width (\d+)", msg)
        if m:
            current = _Block(mode, line, int(m.group(1)), int(m.group(2)))
            blocks.append(current)
        elif current is not None and _set_block_field(current, msg):
            pass
        elif m := re.match(r"Discovered Final (Depth|Width|Epochs) (\d+)", msg):
            totals[f"final_{m.group(1).lower()}"] = int(m.group(2))
        elif m := re.match(r"Total Search Time: " + _FLOAT, msg):
            totals["search_time_s"] = float(m.group(1))
    return arguments, blocks, totals


def _candidate(name: str, block: _Block, earlier: list[LogCandidate]) -> LogCandidate:
    if block.mode == "depth":
        role = "start" if not earlier else "depth"
    elif block.mode == "ops":
        role = "op_base" if not any(c.role == "op_base" for c in earlier) else "op"
    else:
        role = {"width": "width", "kernels": "kernel"}[block.mode]
    if block.epochs is None or block.params is None:
        raise ConfigError(f"{name}:{block.line}: a candidate without its epochs or parameters")
    best_train = block.best_train if block.best_train is not None else max(block.train)
    return LogCandidate(
        index=len(earlier), role=role, depth=block.depth, width=block.width, ops=block.ops,
        kernels=block.kernels, epochs=block.epochs, params=block.params, lr=tuple(block.lr),
        train_acc=tuple(block.train), valid_acc=tuple(block.valid),
        best_train=float(best_train), best_valid=float(block.best_valid),
        fail_count=block.fail, line=block.line)


def parse_log(path: str | Path | None = None, *, text: str | None = None) -> EgnasLog:
    """Parse a search log from ``path`` (or its ``text``); a ConfigError says what is wrong."""
    if text is None:
        if path is None:
            raise ConfigError("parse_log needs a path or text")
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read the EG-NAS log {path}: {error}") from None
    name = str(path) if path is not None else "<text>"
    arguments, blocks, totals = _scan(text)
    if arguments is None:
        raise ConfigError(f"{name}: no 'Arguments = Namespace(...)' line; is this an EG-NAS "
                          f"search log?")
    dataset = arguments.get("dataset")
    if dataset not in LOG_DATASETS:
        raise ConfigError(f"{name}: dataset {dataset!r} is not one of {sorted(LOG_DATASETS)}")
    candidates: list[LogCandidate] = []
    summaries: list[LogSummary] = []
    for b in blocks:
        if len(b.ops) != b.depth or len(b.kernels) != b.depth:
            raise ConfigError(f"{name}:{b.line}: depth {b.depth} but {len(b.ops)} ops and "
                              f"{len(b.kernels)} kernels")
        if b.mode in _SUMMARY_MODES:
            summaries.append(LogSummary(b.mode, b.depth, b.width, b.ops, b.kernels, b.params,
                                        b.epochs, b.line))
        elif b.mode == "pre":
            raise ConfigError(f"{name}:{b.line}: a model block outside any search phase")
        elif b.best_valid is not None and b.valid:  # else cut off before training finished
            candidates.append(_candidate(name, b, candidates))
    return EgnasLog(path=name, arguments=arguments, candidates=tuple(candidates),
                    summaries=tuple(summaries), final_depth=totals.get("final_depth"),
                    final_width=totals.get("final_width"),
                    final_epochs=totals.get("final_epochs"),
                    search_time_s=totals.get("search_time_s"))


def shipped_logs() -> dict[str, Path]:
    """The logs shipped with jaxnas: ``{"FashionMNIST-20240213-114828": path, ...}``."""
    folder = resources.files("jaxnas.benchmarks") / "data" / "egnas_logs"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".txt") and not entry.name.startswith("LICENSE"):
            out[entry.name[:-len(".txt")]] = Path(str(entry))
    return out


def shipped_log(name: str) -> Path:
    """Path of a shipped log by name (e.g. ``FashionMNIST-20240213-114828``)."""
    logs = shipped_logs()
    if name not in logs:
        raise ConfigError(f"no shipped EG-NAS log {name!r}; shipped: {sorted(logs)}")
    return logs[name]

"""Replaying the EG-NAS authors' search logs (:class:`ReplayEvaluator`).

The evaluator answers every candidate the search asks for with the accuracies the authors'
log recorded for it, in order, and trains nothing. With the log's configuration
(:func:`log_options`: its ``Arguments`` line mapped onto :class:`EGNASConfig`) and dataset, a
faithful EG-NAS search must then ask exactly the log's candidates and end with the log's final
architecture; an asked candidate the log does not have at that point stops the run with
:class:`ReplayMismatch`, which names both. ``jaxnas search --strategy egnas --evaluator replay
--replay-log PATH`` sets all of that up (:func:`replay_run_config` for the Python API).

Search metrics: ``accuracy`` = the log's ``Best Validation Accuracy`` (the test set, since the
authors ran with ``valid_size=0.0``), ``train_accuracy`` = its ``Best Training Accuracy``.
Cost = the logged epoch budget (candidate-epochs, the trainer evaluator's unit).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

from jaxnas.benchmarks.egnas_log import (
    EgnasLog,
    LogCandidate,
    genome_string,
    parse_log,
    shipped_logs,
)
from jaxnas.errors import ConfigError
from jaxnas.search.base import ACCURACY, EvalRecord, Evaluator, SearchContext
from jaxnas.search.egnas.config import TRAIN_ACCURACY

#: log arguments -> EGNASConfig fields with the same meaning
DIRECT = ("min_depth", "max_depth", "min_width", "max_width", "width_resolution",
          "add_epochs", "add_epochs_w", "target_acc", "target_acc_tolerance",
          "dp_add_tolerance", "ch_drop_tolerance", "dp_break_tolerance", "ch_break_tolerance",
          "batch_size", "learning_rate", "momentum", "weight_decay", "seed")
#: log arguments that only say where the run ran (no effect on the search)
IGNORED = ("datapath", "gpu", "model_path", "save", "report_freq")
#: log arguments mapped by hand in :func:`log_options`
MAPPED = ("dataset", "epochs", "valid_size", "grad_clip", "cutout", "cutout_length")
#: the authors stop the depth phase only at exactly 100 % train accuracy (``== 100``);
#: ``train_acc > 99.999`` is the same for any training set under 100,000 images
AUTHORS_TRAIN_ACC_STOP = 99.999


class ReplayMismatch(ConfigError):
    """The search asked for a candidate the log does not have at that point."""


def resolve_log(log: str | Path) -> Path:
    """A log path, or the name of a shipped log (``FashionMNIST-20240213-114828``)."""
    path = Path(log)
    if path.is_file():
        return path
    shipped = shipped_logs()
    if str(log) in shipped:
        return shipped[str(log)]
    raise ConfigError(f"EG-NAS log {log!r} is neither a file nor a shipped log "
                      f"({', '.join(sorted(shipped))})")


def log_options(log: EgnasLog) -> dict[str, Any]:
    """The :class:`EGNASConfig` overrides that reproduce the log's search configuration
    (every argument of its ``Arguments`` line is mapped or known to be irrelevant; an unknown
    one is a ConfigError, so no rule is dropped silently)."""
    args = dict(log.arguments)
    unknown = sorted(set(args) - set(DIRECT) - set(IGNORED) - set(MAPPED))
    if unknown:
        raise ConfigError(f"{log.path}: log argument(s) {unknown} have no EG-NAS config field; "
                          f"replaying would ignore them")
    out: dict[str, Any] = {name: args[name] for name in DIRECT if name in args}
    if "epochs" in args:
        out["start_epochs"] = int(args["epochs"])
    valid = float(args.get("valid_size", 0.0))
    out["selection"] = "test" if valid == 0.0 else "val"
    if valid:
        out["val_fraction"] = valid
    if "grad_clip" in args:
        out["grad_clip_norm"] = float(args["grad_clip"]) if args["grad_clip"] else None
    if "cutout" in args:
        out["cutout_size"] = int(args.get("cutout_length", 16)) if args["cutout"] else 0
    if "seed" in args:
        out["data_seed"] = int(args["seed"])
    for name in ("target_acc", "target_acc_tolerance", "dp_add_tolerance", "ch_drop_tolerance",
                 "learning_rate", "momentum", "weight_decay"):
        if name in out:
            out[name] = float(out[name])
    # not on the Arguments line, fixed in the authors' code (docs/algorithms.md)
    out.update(mode="faithful", micro_epochs=2, param_slack=10_000, micro_kernels=(5,),
               width_accept_margin=0.0, micro_accept_margin=0.0,
               train_acc_stop=AUTHORS_TRAIN_ACC_STOP, final_width="micro",
               schedule="cosine_torch_legacy")
    return out


def replay_run_config(log: str | Path, **overrides: Any) -> Any:
    """A :class:`~jaxnas.search.runner.RunConfig` replaying ``log`` (a path or a shipped log's
    name): egnas space and strategy, the log's dataset and search configuration, the replay
    evaluator, and a budget of exactly the log's candidate-epochs. ``overrides`` replace
    RunConfig fields."""
    from jaxnas.search.runner import RunConfig

    path = resolve_log(log)
    parsed = parse_log(path)
    options = {k: _option_text(v) for k, v in log_options(parsed).items()}
    fields = dict(space="egnas", dataset=parsed.dataset, strategy="egnas",
                  queries=parsed.total_epochs, seeds=(0,),
                  options=tuple(sorted(options.items())), evaluator="replay",
                  evaluator_options=(("log", str(path)),))
    fields.update(overrides)
    return RunConfig(**fields)


def _option_text(value: Any) -> str:
    """A config value as the ``--option KEY=VALUE`` text the runner converts back."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if value is None:
        return "none"
    return str(value)


class ReplayEvaluator(Evaluator):
    """Answers asked EG-NAS candidates from a search log (module docstring).

    ``log``: a log path or a shipped log's name. The run's dataset must be the log's.
    """

    report_metric = "best_val_acc"

    def __init__(self, space: Any = None, context: SearchContext | None = None, *,
                 log: str | None = None, progress: bool = False) -> None:
        if log is None:
            raise ConfigError("the replay evaluator needs a log: --replay-log PATH "
                              "(evaluator option log=PATH)")
        super().__init__(space, context or SearchContext(space_name="egnas",
                                                          dataset="fashion_mnist"), progress)
        self.path = resolve_log(log)
        self.log = parse_log(self.path)
        if self.context.dataset != self.log.dataset:
            raise ConfigError(f"the log {self.path.name} searched {self.log.log_dataset} "
                              f"(jaxnas dataset {self.log.dataset!r}) but the run's dataset is "
                              f"{self.context.dataset!r}; use --dataset {self.log.dataset}")
        self.position = 0  # index of the log's next candidate

    # ------------------------------------------------------------------ the interface

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return {"replay_log": self.path.name, "sha256": digest}

    def costs(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None
              ) -> list[float]:
        out = []
        for i, _ in enumerate(genomes):
            b = budgets[i] if budgets is not None and i < len(budgets) else None
            if b is not None:
                out.append(float(b.epochs))
            else:
                j = self.position + i
                out.append(float(self.log.candidates[j].epochs)
                           if j < len(self.log.candidates) else 1.0)
        return out

    def restore(self, records: Sequence[EvalRecord]) -> None:
        for rec in records:
            self._expect(rec.genome, int(rec.info.get("epochs", 0)) or None)
            self.position += 1

    def evaluate(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None,
                 on_record: Callable[[int, EvalRecord], None] | None = None
                 ) -> list[EvalRecord]:
        out = []
        for i, g in enumerate(genomes):
            name = g if isinstance(g, str) else genome_string(g.depth, g.width, g.ops,
                                                              g.kernels)
            b = budgets[i] if budgets is not None and i < len(budgets) else None
            cand = self._expect(name, None if b is None else int(b.epochs))
            self.position += 1
            rec = _record(cand)
            out.append(rec)
            if on_record is not None:
                on_record(i, rec)
        return out

    # ------------------------------------------------------------------ parts

    def _expect(self, genome: str, epochs: int | None) -> LogCandidate:
        """The log's next candidate if it is ``genome`` at ``epochs``; else ReplayMismatch."""
        asked = f"{genome} for {epochs} epochs" if epochs is not None else genome
        if self.position >= len(self.log.candidates):
            raise ReplayMismatch(
                f"replay of {self.path.name}: the search asked for {asked} (candidate "
                f"{self.position + 1}) but the log ends after {len(self.log.candidates)} "
                f"candidates")
        cand = self.log.candidates[self.position]
        if genome != cand.genome or (epochs is not None and epochs != cand.epochs):
            raise ReplayMismatch(
                f"replay of {self.path.name}: the search asked for {asked} (candidate "
                f"{self.position + 1}) but the log's next candidate is {cand.genome} for "
                f"{cand.epochs} epochs ({cand.role}, line {cand.line})")
        return cand


def _record(cand: LogCandidate) -> EvalRecord:
    metrics = {ACCURACY: cand.best_valid, TRAIN_ACCURACY: cand.best_train}
    report = {"best_val_acc": cand.best_valid,
              "final_val_acc": cand.valid_acc[-1] if cand.valid_acc else cand.best_valid}
    info = {"epochs": cand.epochs, "params": cand.params, "status": "ok",
            "log_index": cand.index, "log_line": cand.line, "role": cand.role,
            "val_acc_per_epoch": list(cand.valid_acc),
            "train_acc_per_epoch": list(cand.train_acc)}
    return EvalRecord(genome=cand.genome, key=cand.genome, metrics=metrics, report=report,
                      cost=float(cand.epochs), wall_time=0.0, info=info)


def replay_cli_fields(log: str | Path, *, space: str | None, dataset: str | None,
                      strategy: str, queries: int | None, evaluator: str | None,
                      options: dict[str, str], evaluator_options: dict[str, str]
                      ) -> dict[str, Any]:
    """RunConfig fields of ``jaxnas search --replay-log PATH``: the replay evaluator with
    option ``log=PATH``, the log's dataset and search configuration (``--option`` values
    given on the command line win), egnas space, and a budget of the log's candidate-epochs.
    ``space`` / ``dataset`` / ``queries`` are None when not given on the command line."""
    if strategy != "egnas":
        raise ConfigError(f"--replay-log replays EG-NAS logs: use --strategy egnas "
                          f"(not {strategy!r})")
    if evaluator not in (None, "replay"):
        raise ConfigError(f"--replay-log needs --evaluator replay (got {evaluator!r})")
    if space not in (None, "egnas"):
        raise ConfigError(f"--replay-log needs --space egnas (got {space!r})")
    if "log" in evaluator_options:
        raise ConfigError("give the log once: --replay-log or --evaluator-option log=...")
    path = resolve_log(log)
    parsed = parse_log(path)
    if dataset is not None and dataset != parsed.dataset:
        raise ConfigError(f"--dataset {dataset} but the log {path.name} searched "
                          f"{parsed.log_dataset} ({parsed.dataset}); drop --dataset")
    merged = {k: _option_text(v) for k, v in log_options(parsed).items()}
    merged.update(options)
    return dict(space="egnas", dataset=parsed.dataset, evaluator="replay",
                queries=parsed.total_epochs if queries is None else queries,
                options=tuple(sorted(merged.items())),
                evaluator_options=tuple(sorted({**evaluator_options,
                                                "log": str(path)}.items())))

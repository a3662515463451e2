"""The EG-NAS evaluator (:class:`TrainerEvaluator`): trains the asked candidates with
:func:`jaxnas.train.train_population`, one population per call, each with the recipe the
strategy gave it (:meth:`~jaxnas.search.egnas.EGNAS.budgets`).

Search metrics (what the strategy sees): ``accuracy`` = best per-epoch validation accuracy (%)
on the validation split carved from the training set - or the best per-epoch test accuracy
with ``selection="test"`` (the authors' choice, for comparison only) - and
``train_accuracy`` = best per-epoch training accuracy (%). ``report`` holds the other curve
ends. Cost = the candidate's trained epochs (candidate-epochs); a (genome, epochs) pair
trained before costs 0 and returns the same record, so a resumed search never retrains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from typing import Any, Callable, Sequence

from jaxnas.errors import ConfigError
from jaxnas.search.base import ACCURACY, EvalRecord, Evaluator, SearchContext
from jaxnas.search.egnas.config import (
    DATA_FIELDS,
    PRESETS,
    TRAIN_ACCURACY,
    EGNASConfig,
    searched_space,
)
from jaxnas.train.options import MemberResult
from jaxnas.train.recipe import TrainRecipe


def candidate_key(genome: str, epochs: int) -> str:
    """Cache key of one training: the genome string and its trained epochs (the search
    trains some genomes at several budgets, e.g. the macro net again at micro epochs)."""
    return f"{genome}@e{int(epochs)}"


def member_seed(seed: int, genome: str, epochs: int) -> int:
    """A per-candidate seed that does not depend on which population it was trained in, so a
    candidate gets the same result in faithful and batched mode and on resume."""
    digest = hashlib.sha256(f"{seed}|{candidate_key(genome, epochs)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def load_search_data(dataset: str, config: EGNASConfig, data_dir: str | None = None
                     ) -> tuple[Any, Any, Any]:
    """(train, val, test): the seeded split of the training set and the test set
    (:func:`jaxnas.train.single.load_split_data`), with the validation part subsampled to
    ``n_val`` images (seed ``data_seed + 1``)."""
    from jaxnas.data import subset
    from jaxnas.train.single import load_split_data

    train, val, test = load_split_data(dataset, data_dir, config.val_fraction, config.n_train,
                                       config.n_test, config.data_seed)
    if config.n_val is not None and config.n_val < len(val):
        val = subset(val, config.n_val, config.data_seed + 1)
    return train, val, test


class TrainerEvaluator(Evaluator):
    """Trains EG-NAS candidates (module docstring), caching by (genome string, epochs).

    Its settings are its own ``config`` (an :class:`EGNASConfig`; only the data fields
    :data:`~jaxnas.search.egnas.config.DATA_FIELDS` are read), or ``preset`` (a name in
    :data:`PRESETS`) with those fields as keyword overrides (the runner passes the run's
    ``evaluator_options``). ``data`` gives (train, val, test) directly and ``train_fn``
    replaces :func:`jaxnas.train.train_population` (tests).
    """

    #: what the runner's curves report (there is no test accuracy during a search)
    report_metric = "best_val_acc"

    def __init__(self, space: Any = None, context: SearchContext | None = None,
                 config: EGNASConfig | None = None, *, preset: str | None = None,
                 selection: str | None = None, val_fraction: Any = None,
                 n_train: Any = None, n_val: Any = None, n_test: Any = None,
                 data_seed: Any = None, seed: Any = None, executor: str | None = None,
                 data: Any = None, train_fn: Callable[..., Any] | None = None,
                 progress: bool = False) -> None:
        from jaxnas.search.registry import make_config

        # the data fields are named one by one: the runner checks evaluator options against
        # this signature; None leaves the preset's value ("none" sets a field to None)
        given = dict(selection=selection, val_fraction=val_fraction, n_train=n_train,
                     n_val=n_val, n_test=n_test, data_seed=data_seed, seed=seed,
                     executor=executor)
        options = {k: v for k, v in given.items() if v is not None}
        if config is not None and (preset is not None or options):
            raise ConfigError("give the EG-NAS evaluator a config, or a preset and options")
        super().__init__(space, context or SearchContext(space_name="egnas",
                                                          dataset="fashion_mnist"), progress)
        self.config = config or make_config(EGNASConfig, options, preset, owner=_Presets)
        self.space = searched_space(space, self.config)
        self._data = data
        self._train_fn = train_fn
        self._cache: dict[str, EvalRecord] = {}
        self.trainings = 0  # candidates actually trained by this object (not cache hits)
        self.trained_epochs = 0
        self.populations = 0

    def data(self) -> tuple[Any, Any, Any]:
        """(train, val, test) ArrayDatasets per the config (loaded once)."""
        if self._data is None:
            self._data = load_search_data(self.context.dataset, self.config,
                                          self.context.data_dir)
        return self._data

    # ------------------------------------------------------------------ the interface

    def identity(self) -> dict[str, Any]:
        """The data fields this evaluator trains with (checked on resume: a changed preset
        or option must not continue an old run)."""
        return {"dataset": self.context.dataset,
                "data": {name: getattr(self.config, name) for name in DATA_FIELDS}}

    def costs(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None
              ) -> list[float]:
        budgets = self._recipes(genomes, budgets)
        seen = set(self._cache)
        out = []
        for g, b in zip(genomes, budgets):
            k = candidate_key(self.space.to_string(g), b.epochs)
            out.append(0.0 if k in seen else float(b.epochs))
            seen.add(k)
        return out

    def restore(self, records: Sequence[EvalRecord]) -> None:
        for rec in records:
            self._cache.setdefault(candidate_key(rec.genome, rec.info["epochs"]), rec)

    def evaluate(self, genomes: Sequence[Any], budgets: Sequence[Any] | None = None,
                 on_record: Callable[[int, EvalRecord], None] | None = None
                 ) -> list[EvalRecord]:
        """Records of ``genomes`` trained with ``budgets`` (one TrainRecipe each), as one
        population; ``on_record(i, record)`` is called for each once the population is
        trained."""
        budgets = self._recipes(genomes, budgets)
        names = [self.space.to_string(g) for g in genomes]
        keys = [candidate_key(n, b.epochs) for n, b in zip(names, budgets)]
        todo: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in self._cache and k not in todo:
                todo[k] = i
        if todo:
            idx = list(todo.values())
            fresh = self._train([names[i] for i in idx], [budgets[i] for i in idx])
            for i, rec in zip(idx, fresh):
                self._cache[keys[i]] = rec
        out = []
        for i, k in enumerate(keys):
            rec = self._cache[k]
            first = todo.get(k) == i
            out.append(rec if first else dataclasses.replace(rec, cost=0.0, wall_time=0.0))
            if on_record is not None:
                on_record(i, out[-1])
        return out

    # ------------------------------------------------------------------ parts

    @staticmethod
    def _recipes(genomes: Sequence[Any], budgets: Sequence[Any] | None) -> list[TrainRecipe]:
        if not genomes:  # a finished search asks for nothing
            return []
        if budgets is None or not all(isinstance(b, TrainRecipe) for b in budgets):
            raise ConfigError("the EG-NAS evaluator needs one TrainRecipe per genome "
                              "(EGNAS.budgets(state, genomes))")
        if len(budgets) != len(genomes):
            raise ConfigError(f"{len(genomes)} genomes but {len(budgets)} budgets")
        return list(budgets)

    def _train(self, names: list[str], budgets: list[TrainRecipe]) -> list[EvalRecord]:
        import jax

        train_fn = self._train_fn
        if train_fn is None:
            from jaxnas.train import train_population as train_fn
        train, val, test = self.data()
        c = self.config
        genomes = [self.space.parse(n) for n in names]
        keys = [jax.random.PRNGKey(member_seed(c.seed, n, b.epochs))
                for n, b in zip(names, budgets)]
        start = time.perf_counter()
        results = _call_train(train_fn, genomes, budgets, train, val, keys,
                              test if c.selection == "test" else None, c.executor)
        wall = time.perf_counter() - start
        self.populations += 1
        records = []
        for name, budget, res in zip(names, budgets, results):
            records.append(_record(name, budget, res, c.selection, wall / max(1, len(names))))
            self.trainings += 1
            self.trained_epochs += budget.epochs
        return records


class _Presets:
    """The owner :func:`~jaxnas.search.registry.make_config` reads presets from."""

    PRESETS = PRESETS


def _best(values: Any) -> float:
    vals = [float(v) for v in (values or ()) if v is not None and math.isfinite(float(v))]
    return max(vals) if vals else 0.0


def _record(name: str, budget: TrainRecipe, res: MemberResult, selection: str,
            wall_share: float) -> EvalRecord:
    """The record of one trained candidate (a failed or diverged one scores 0)."""
    val_curve, test_curve = list(res.val_acc_per_epoch), list(res.test_acc_per_epoch)
    train_curve = list(res.train_acc_per_epoch)
    best_val, best_test = _best(val_curve), _best(test_curve)
    ok = res.status == "ok"
    acc = (best_test if selection == "test" else best_val) if ok else 0.0
    metrics = {ACCURACY: acc, TRAIN_ACCURACY: _best(train_curve) if ok else 0.0}
    report = {"best_val_acc": best_val,
              "final_val_acc": float(val_curve[-1]) if val_curve else 0.0}
    if test_curve:
        report["best_test_acc"] = best_test
        report["final_test_acc"] = float(test_curve[-1])
    info = {"epochs": int(budget.epochs), "status": res.status, "reason": res.reason,
            "params": int(res.params), "val_acc_per_epoch": [float(v) for v in val_curve],
            "train_acc_per_epoch": [float(v) for v in train_curve]}
    if test_curve:
        info["test_acc_per_epoch"] = [float(v) for v in test_curve]
    # the key is the genome string (what the runner checks on resume); the epochs are in info
    return EvalRecord(genome=name, key=name, metrics=metrics, report=report,
                      cost=float(budget.epochs),
                      wall_time=float(res.wall_time) if res.wall_time else wall_share,
                      info=info)


def _call_train(train_fn: Callable[..., Any], genomes: list[Any], budgets: list[TrainRecipe],
                train: Any, val: Any, keys: list[Any], test: Any, executor: str
                ) -> list[MemberResult]:
    """One population through ``train_fn`` (``train_population``'s signature), each member
    with its own key, so a candidate trains the same way in any population."""
    return list(train_fn("egnas", genomes, budgets, train, val, key=keys[0], member_keys=keys,
                         executor=executor, test_data=test))
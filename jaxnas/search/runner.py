"""Run any registered strategy for several seeds, with a results store and exact resume.

One seed is the loop ``ask -> (truncate to the budget) -> evaluate -> log -> tell ->
checkpoint``. The budget is in evaluator cost units (oracle: queries = distinct cells looked
up); the runner stops at exactly ``queries``: an ask batch that would overrun it is cut to the
longest prefix that fits, and the strategy is told only that prefix. Cells seen before cost
nothing and add no curve entry, so every curve has exactly one entry per query.

Curves record, after every query, the incumbent (best search metric so far, ties keep the
earlier cell; with ``max_latency`` only cells within the limit count), its search metric and its
report metric (NB201: 200-epoch test accuracy), which the strategy never sees.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from jaxnas.errors import ConfigError
from jaxnas.search.base import LATENCY, EvalRecord, Evaluator, score
from jaxnas.search.registry import make_config, make_evaluator, strategy_class
from jaxnas.search.run_config import MAX_SEED, RunConfig, config_from_options
from jaxnas.search.summary import (
    VOLATILE_FIELDS,
    comparable,
    default_checkpoints,
    environment,
    format_summary,
    summarize,
    value_at,
)
from jaxnas.search.store import SeedStore, load_run_config, locked_run_dir, write_json_atomic

RESULTS_FORMAT = "jaxnas.search.results/1"
# an ask that yields only already-seen cells spends nothing; give up after this many in a row
MAX_STALE_STEPS = 10_000


# ------------------------------------------------------------------------------ building


def evaluator_name(config: RunConfig) -> str:
    if config.evaluator is not None:
        return config.evaluator
    return strategy_class(config.strategy).evaluator


def build_space(config: RunConfig) -> tuple[Any, str]:
    """(space object, label for reports). With the oracle, nb101 is the nb101-20k subset."""
    if evaluator_name(config) == "oracle":
        from jaxnas.benchmarks import get_oracle, oracle_space

        oracle = get_oracle(config.space, config.dataset, config.device)
        return oracle_space(config.space, oracle), oracle.space_name
    from jaxnas.spaces import get_space

    return get_space(config.space), config.space


def build(config: RunConfig, show_progress: bool = False,
          evaluator: Evaluator | None = None) -> tuple[Any, Any, str]:
    """(strategy, evaluator, space label) for one seed (a fresh evaluator per seed, unless
    ``evaluator``, one that ``build`` made for this config and nothing has used yet, is
    given: its data are loaded already)."""
    space, label = build_space(config)
    context = config.context(label)
    cls = strategy_class(config.strategy)
    strategy = cls(space, make_config(cls.Config, dict(config.options), config.preset, cls),
                   context)
    if evaluator is not None:
        return strategy, evaluator, label
    options = dict(config.evaluator_options)
    if evaluator_name(config) == "egnas" and config.preset is not None:
        options.setdefault("preset", config.preset)  # an EG-NAS preset sizes data and search
    evaluator = make_evaluator(evaluator_name(config), space, context,
                               progress=show_progress, **options)
    return strategy, evaluator, label


# ------------------------------------------------------------------------------ curve


@dataclass
class CurveTracker:
    """Best-so-far bookkeeping (the runner's, never the strategy's)."""

    objective: str
    max_latency: float | None
    report_metric: str
    queries: float = 0.0
    best: EvalRecord | None = None
    best_score: float = -math.inf
    curve: list[dict[str, Any]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # every evaluated genome, repeats included

    def add(self, record: EvalRecord) -> None:
        self.asked.append(record.genome)
        if record.cost <= 0:
            return  # a repeated cell: no query spent, nothing new learned
        self.queries += record.cost
        value = score(record.metrics, self.objective, self.max_latency)
        if value > self.best_score:
            self.best, self.best_score = record, value
        best = self.best
        self.curve.append({
            "queries": _num(self.queries),
            "arch": best.genome if best is not None else None,
            "search_metric": float(best.metrics[self.objective]) if best is not None else None,
            "report_metric": (float(best.report[self.report_metric])
                              if best is not None and self.report_metric in best.report
                              else None),
        })


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


# ------------------------------------------------------------------------------ one seed


def run_seed(config: RunConfig, seed: int, run_dir: Path | None = None,
             progress: Callable[[int], None] | None = None,
             stop_after_steps: int | None = None,
             on_best: Callable[[Mapping[str, Any]], None] | None = None,
             show_progress: bool = False,
             evaluator: Evaluator | None = None) -> dict[str, Any]:
    """Run (or resume, when ``run_dir`` holds a checkpoint) one seed; returns its result.

    ``progress(n)`` is called with the queries each tell spent; ``on_best(entry)`` with the
    newest curve entry (``queries``, ``arch``, ``search_metric``, ``report_metric``) whenever
    the incumbent changes (for progress displays; the strategy never sees it).
    ``stop_after_steps`` ends the loop after that many tells in this call (used to simulate an
    interruption in tests); the result then has ``"finished": False``. ``evaluator``: an
    unused one from :func:`build` for this config (saves loading the data again).
    """
    start = time.perf_counter()
    strategy, evaluator, _ = build(config, show_progress, evaluator)
    store = SeedStore(run_dir, seed) if run_dir is not None else None
    if store is not None:
        done_result = store.load_result(seed, config.queries)
        if done_result is not None:
            return done_result
    step, state, done, later, elapsed_before = _resume_point(store, strategy, seed)

    def elapsed() -> float | None:  # this seed's wall seconds over all its processes
        return None if elapsed_before is None else elapsed_before + time.perf_counter() - start
    tracker = CurveTracker(config.objective, config.max_latency, evaluator.report_metric)
    evaluator.restore(done)
    for record in done:
        tracker.add(record)
    if progress is not None and tracker.queries:
        progress(int(tracker.queries))
    if on_best is not None and tracker.curve:
        on_best(tracker.curve[-1])

    stale, steps_now = 0, 0
    while tracker.queries < config.queries:
        if stop_after_steps is not None and steps_now >= stop_after_steps:
            break
        state_asked, genomes = strategy.ask(state)
        budgets = strategy.budgets(state_asked, genomes)
        take = _affordable(evaluator.costs(genomes, budgets), config.queries - tracker.queries)
        genomes, budgets = list(genomes[:take]), list(budgets[:take])
        if not genomes:
            break
        append = (lambda pos, r, s=step + 1: store.append_eval(s, pos, r)) if store else None
        records = _evaluate_step(strategy.space, evaluator, genomes, budgets,
                                 later.pop(step + 1, {}), append, step + 1)
        before, best_before = tracker.queries, tracker.best
        for record in records:
            tracker.add(record)
        if on_best is not None and tracker.best is not best_before:
            on_best(tracker.curve[-1])
        state = strategy.tell(state_asked, genomes, [r.visible() for r in records])
        step += 1
        steps_now += 1
        if store is not None:
            store.save_checkpoint(step, state, {"queries": _num(tracker.queries),
                                                "elapsed_s": elapsed()})
        if progress is not None and tracker.queries > before:
            progress(int(tracker.queries - before))
        stale = stale + 1 if tracker.queries == before else 0
        if stale >= MAX_STALE_STEPS:
            print(f"warning: seed {seed}: {stale} asks in a row gave only seen cells; "
                  f"stopping at {tracker.queries} queries", file=sys.stderr)
            break
    finished = stop_after_steps is None or tracker.queries >= config.queries
    result = _seed_result(config, seed, strategy, evaluator, state, tracker, step, finished)
    if store is not None and finished:
        store.save_result(result, elapsed())
    return result


def _affordable(costs: Sequence[float], budget_left: float) -> int:
    """How many genomes of an ask fit the budget left (the runner stops at exactly it)."""
    take, planned = 0, 0.0
    for cost in costs:
        if planned + cost > budget_left:
            break
        planned += cost
        take += 1
    return take


def _resume_point(store: SeedStore | None, strategy: Any, seed: int
                  ) -> tuple[int, Any, list[EvalRecord], dict[int, dict[int, EvalRecord]],
                             float | None]:
    """(step, state, records told before it, records logged after it by step and position,
    wall seconds the seed had run until that state: 0 for a fresh start, None if unknown).

    Records logged after the checkpoint (a kill between log and checkpoint, or a checkpoint
    lost in a crash) are replayed: the strategy re-asks deterministically from its state and
    is told the logged records instead of evaluating again. A checkpoint the log does not
    support (fewer logged queries than it counted: a lost or truncated log) is not trusted:
    the whole log is replayed from ``init`` instead, and what the log lacks is evaluated again.
    """
    import jax

    fresh = strategy.init(jax.random.PRNGKey(seed))
    if store is None:
        return 0, fresh, [], {}, 0.0
    logged = store.load_evals()
    checkpoint = store.load_checkpoint(fresh)
    step, state = 0, fresh
    # the seconds of a replayed log are not known (no checkpoint to carry them)
    elapsed: float | None = None if logged else 0.0
    if checkpoint is not None:
        counted = sum(r.cost for s, _, r in logged if s <= checkpoint.step)
        if math.isclose(counted, float(checkpoint.queries)):
            step, state, elapsed = checkpoint.step, checkpoint.state, checkpoint.elapsed_s
        else:
            print(f"warning: {store.dir}: the log holds {_num(counted)} queries up to step "
                  f"{checkpoint.step} but the checkpoint counted {checkpoint.queries}; "
                  f"replaying the log from the start", file=sys.stderr)
    done = [r for s, _, r in logged if s <= step]
    later: dict[int, dict[int, EvalRecord]] = {}
    for s, p, r in logged:
        if s > step:
            if p in later.setdefault(s, {}):
                raise ConfigError(f"{store.evals_path}: step {s} position {p} is logged twice "
                                  f"(two processes wrote this run?); the run cannot be resumed")
            later[s][p] = r
    return step, state, done, later, elapsed


def _evaluate_step(space: Any, evaluator: Any, genomes: list[Any], budgets: list[Any],
                   logged: dict[int, EvalRecord], append: Callable | None, step: int
                   ) -> list[EvalRecord]:
    """Records of one asked batch: those logged before a kill are reused (never evaluated
    again), the rest are evaluated and each is logged as soon as it is finished."""
    if any(pos >= len(genomes) for pos in logged):
        raise ConfigError(f"resume mismatch at step {step}: the log has position "
                          f"{max(logged)} but the strategy asked {len(genomes)} genomes")
    for pos, record in logged.items():
        if record.key != space.key(genomes[pos]):
            raise ConfigError(f"resume mismatch at step {step}, position {pos}: the log has "
                              f"{record.genome!r} but the strategy asked "
                              f"{space.to_string(genomes[pos])!r}")
    evaluator.restore(list(logged.values()))
    records = dict(logged)
    missing = [i for i in range(len(genomes)) if i not in logged]

    def finished(j: int, record: EvalRecord) -> None:
        records[missing[j]] = record
        if append is not None:
            append(missing[j], record)

    if missing:
        returned = evaluator.evaluate([genomes[i] for i in missing],
                                      [budgets[i] for i in missing], on_record=finished)
        for j, record in enumerate(returned):  # evaluators that report only at the end
            if missing[j] not in records:
                finished(j, record)
    return [records[i] for i in range(len(genomes))]


def _seed_result(config: RunConfig, seed: int, strategy: Any, evaluator: Any, state: Any,
                 tracker: CurveTracker, step: int, finished: bool) -> dict[str, Any]:
    recommended = _recommend(strategy, evaluator, state, tracker) if finished else []
    best = tracker.best
    result = {
        "seed": int(seed),
        "budget": config.queries,
        "finished": bool(finished),
        "queries": _num(tracker.queries),
        "steps": step,
        "curve": tracker.curve,
        "best": None if best is None else {
            "arch": best.genome, "key": best.key, "metrics": dict(best.metrics),
            "report": dict(best.report)},
    }
    if recommended:
        result["recommended"] = recommended
    output = strategy.result(state) if finished else None
    if output is not None:
        # the strategy's answer when it is not simply the best record (EG-NAS returns the
        # genome its last phase kept)
        result["result"] = {"genome": strategy.space.to_string(output)}
    result["asked"] = list(tracker.asked)
    return result


def _recommend(strategy: Any, evaluator: Any, state: Any,
               tracker: CurveTracker) -> list[dict[str, Any]]:
    """Zero-query recommendations of a strategy that generates cells (``recommend(state)``,
    e.g. NAL): each is looked up for the report only (no query is charged and the strategy
    never sees the result); a cell the table lacks (nb101-20k) is reported as such, never
    guessed. The first recommendation becomes the curve's last entry, at the query count
    already spent (0 in NAL's transfer setting): it is what the strategy returns."""
    from jaxnas.errors import InvalidGenomeError

    out: list[dict[str, Any]] = []
    for genome in strategy.recommend(state):
        entry: dict[str, Any] = {"arch": strategy.space.to_string(genome),
                                 "key": strategy.space.key(genome), "in_table": True,
                                 "metrics": None, "report": None}
        try:
            record = evaluator.evaluate([genome])[0]
        except InvalidGenomeError as error:
            entry.update(in_table=False, reason=str(error))
        else:
            entry.update(metrics=dict(record.metrics), report=dict(record.report))
        out.append(entry)
    if out:
        first = out[0]
        tracker.curve.append({
            "queries": _num(tracker.queries),
            "arch": first["arch"],
            "search_metric": (float(first["metrics"][tracker.objective])
                              if first["metrics"] else None),
            "report_metric": (float(first["report"][tracker.report_metric])
                              if first["report"] and tracker.report_metric in first["report"]
                              else None),
        })
    return out


def _run_seed_job(args: tuple[dict[str, Any], int, str]) -> tuple[dict[str, Any], float | None]:
    config_json, seed, run_dir = args
    result = run_seed(RunConfig.from_json(config_json), seed, Path(run_dir))
    return result, SeedStore(Path(run_dir), seed).load_wall()


# ------------------------------------------------------------------------------ many seeds


def new_run_dir(config: RunConfig, root: Path | str = "jaxnas-runs") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{config.space}-{config.dataset}-{config.strategy}-{stamp}"
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


def run_search(config: RunConfig, run_dir: Path | str, *, workers: int = 1,
               show_progress: bool = False, command: Sequence[str] | None = None,
               json_path: Path | str | None = None, extend: bool = False) -> dict[str, Any]:
    """Run (or resume) every seed of ``config`` in ``run_dir``; returns the results dict.

    ``extend=True`` lets a resumed run take more queries than it was started with: the
    stored config is updated and every seed goes on from its checkpoint to the new budget.

    Names, options and data are checked (and the data loaded) before anything is written; the
    run directory is locked for this process; one this call created is removed again if the
    search fails before logging anything. ``workers > 1`` runs seeds in that many processes
    (spawned, so JAX is never forked).
    """
    run_dir = Path(run_dir)
    started = _dt.datetime.now().isoformat(timespec="seconds")
    strategy, evaluator, label = build(config, show_progress)  # fail early: names, options, data
    capacity = evaluator.capacity()
    if capacity is not None and config.queries > capacity:
        raise ConfigError(f"queries={config.queries} exceeds the {capacity:,} distinct cells "
                          f"{label} has; choose at most {capacity}")
    with locked_run_dir(run_dir):
        env, resumed = _config_file(run_dir, config, label, evaluator.identity(),
                                    strategy_settings(strategy), command, json_path, started,
                                    extend)
        start_all = time.perf_counter()
        runs, wall = _run_seeds(config, run_dir, workers, show_progress, label, evaluator)
        results = {
            "format": RESULTS_FORMAT,
            "config": config.to_json(),
            "space_label": label,
            "environment": env,
            "summary": summarize(runs, config.queries),
            "runs": runs,
            "run_dir": str(run_dir),
            "timing": {"wall_time_s": time.perf_counter() - start_all,
                       "seed_wall_time_s": wall, "started": started, "resumed": resumed,
                       "finished": _dt.datetime.now().isoformat(timespec="seconds"),
                       "command": list(command) if command is not None else list(sys.argv)},
        }
        write_json_atomic(run_dir / "results.json", results)
    if json_path is not None:
        write_json_atomic(Path(json_path), results)
    return results


def strategy_settings(strategy: Any) -> dict[str, Any]:
    """Every field of the strategy's resolved config, as JSON: a preset's values as they were
    when the run started (a preset's name alone would not notice the preset changing)."""
    return json.loads(json.dumps(dataclasses.asdict(strategy.config)))


def _config_file(run_dir: Path, config: RunConfig, label: str, identity: Mapping[str, Any],
                 settings: Mapping[str, Any], command: Sequence[str] | None,
                 json_path: Path | str | None, started: str, extend: bool = False
                 ) -> tuple[dict[str, Any], bool]:
    """(recorded environment, resumed?): write ``config.json`` for a new run, or check that
    the stored one is this run (same config, strategy settings and evaluation data)."""
    config_path = run_dir / "config.json"
    if config_path.is_file():
        stored = load_run_config(run_dir)
        old = RunConfig.from_json(stored["config"])
        if extend and config.queries > old.queries and dataclasses.replace(
                old, queries=config.queries).identity() == config.identity():
            stored = dict(stored, config=dataclasses.replace(
                old, queries=config.queries).to_json())
            write_json_atomic(config_path, stored)  # the extension, recorded
            old = config
        if old.identity() != config.identity():
            raise ConfigError(f"{run_dir} holds a different run ({stored['config']}); use "
                              f"--resume {run_dir} to continue it or pick a new --run-dir")
        if stored.get("evaluator_identity", {}) != dict(identity):
            raise ConfigError(f"{run_dir} was evaluated on other data or settings "
                              f"({stored.get('evaluator_identity')}); now "
                              f"{dict(identity)}")
        _check_settings(run_dir, stored, config, settings)
        if "strategy_settings" not in stored:  # a run from before settings were recorded
            write_json_atomic(config_path, dict(stored, strategy_settings=dict(settings)))
        return stored["environment"], True
    env = environment(command)
    write_json_atomic(config_path, {"format": RESULTS_FORMAT, "config": config.to_json(),
                                    "space_label": label, "environment": env,
                                    "evaluator_identity": dict(identity),
                                    "strategy_settings": dict(settings),
                                    "json_path": str(json_path) if json_path else None,
                                    "created": started})
    return env, False


def _check_settings(run_dir: Path, stored: Mapping[str, Any], config: RunConfig,
                    settings: Mapping[str, Any]) -> None:
    """A resumed run's strategy settings must be the stored ones, field by field."""
    old = stored.get("strategy_settings")
    if old is None:
        if config.preset is not None:  # the preset may have changed since; nothing to compare
            raise ConfigError(f"{run_dir} names preset {config.preset!r} but not its values "
                              f"(it predates their recording), so a changed preset cannot be "
                              f"told apart; pick a new --run-dir")
        return
    changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    if changed:
        diffs = ", ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in changed)
        raise ConfigError(f"{run_dir} was searched with other strategy settings ({diffs}); "
                          f"pick a new --run-dir")


class _Progress:
    """A tqdm bar of queries over all seeds, with the best search metric so far."""

    def __init__(self, config: RunConfig, label: str) -> None:
        from tqdm.auto import tqdm

        self.objective = config.objective
        self.best: dict[str, float] = {}
        self.bar = tqdm(total=config.queries * len(config.seeds), unit="q", mininterval=0.2,
                        desc=f"{config.strategy} {label} {config.dataset}",
                        dynamic_ncols=True)

    def show_best(self, entry: Mapping[str, Any], seed: int | None = None) -> None:
        if entry.get("search_metric") is None:
            return
        value = float(entry["search_metric"])
        old = self.best.get("search")
        if old is None or (value < old if self.objective == LATENCY else value > old):
            self.best["search"] = value
            if entry.get("report_metric") is not None:
                self.best["report"] = float(entry["report_metric"])
        postfix = {"seed": seed, "best": f"{self.best['search']:.4g}"}
        if "report" in self.best:
            postfix["its report"] = f"{self.best['report']:.4g}"
        self.bar.set_postfix(postfix, refresh=False)


def _run_seeds(config: RunConfig, run_dir: Path, workers: int, show_progress: bool,
               label: str, unused: Evaluator | None = None
               ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Every seed's result (in ``config.seeds`` order) and wall seconds (summed over every
    process that ran the seed, so a resumed run reports its whole cost). ``unused``: an
    evaluator nothing has used yet; the first seed run here takes it (each seed needs its own
    fresh one, so later seeds build theirs)."""
    progress = _Progress(config, label) if show_progress else None
    wall: dict[str, float | None] = {}
    runs: dict[int, dict[str, Any]] = {}
    if workers > 1 and len(config.seeds) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_run_seed_job, (config.to_json(), s, str(run_dir))): s
                       for s in config.seeds}
            for future in as_completed(futures):
                seed = futures[future]
                runs[seed], wall[str(seed)] = future.result()
                if progress is not None:
                    if runs[seed]["curve"]:
                        progress.show_best(runs[seed]["curve"][-1], seed)
                    progress.bar.update(config.queries)
    else:
        for seed in config.seeds:
            runs[seed] = run_seed(
                config, seed, run_dir, show_progress=show_progress, evaluator=unused,
                progress=progress.bar.update if progress is not None else None,
                on_best=(lambda e, s=seed: progress.show_best(e, s))
                if progress is not None else None)
            wall[str(seed)] = SeedStore(run_dir, seed).load_wall()
            unused = None
    if progress is not None:
        progress.bar.close()
    return [runs[s] for s in config.seeds], wall


# the runner is where users meet these: one import for the whole search API
__all__ = ["MAX_SEED", "MAX_STALE_STEPS", "RESULTS_FORMAT", "VOLATILE_FIELDS", "CurveTracker",
           "RunConfig", "build", "build_space", "comparable", "config_from_options",
           "default_checkpoints", "environment", "evaluator_name", "format_summary",
           "new_run_dir", "run_search", "run_seed", "summarize", "value_at"]

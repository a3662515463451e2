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
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jaxnas.cpu_tuning import process_env
from jaxnas.errors import ConfigError
from jaxnas.search.base import ACCURACY, LATENCY, EvalRecord, SearchContext, score
from jaxnas.search.registry import (
    canonical_strategy_name,
    make_config,
    make_evaluator,
    strategy_class,
)
from jaxnas.search.store import SeedStore, load_run_config, write_json_atomic

RESULTS_FORMAT = "jaxnas.search.results/1"
# an ask that yields only already-seen cells spends nothing; give up after this many in a row
MAX_STALE_STEPS = 10_000


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a search run (the ``config`` block of a results file)."""

    space: str = "nb201"
    dataset: str = "cifar10"
    strategy: str = "re"
    queries: int = 200
    seeds: tuple[int, ...] = (0,)
    options: tuple[tuple[str, str], ...] = ()
    preset: str | None = None
    evaluator: str | None = None  # None: the strategy's default (oracle)
    objective: str = ACCURACY
    device: str | None = None
    max_latency: float | None = None
    batched: bool = False
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.queries < 0 or (self.queries == 0 and not hasattr(
                strategy_class(self.strategy), "recommend")):
            raise ConfigError(f"queries={self.queries} must be >= 1 (0 only for strategies "
                              f"that generate without search, i.e. have recommend(): nal)")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        if self.objective not in (ACCURACY, LATENCY):
            raise ConfigError(f"objective={self.objective!r}; choose one of "
                              f"{[ACCURACY, LATENCY]}")
        if self.objective == LATENCY and self.device is None:
            raise ConfigError("objective='latency' needs --device")
        if self.max_latency is not None and self.device is None:
            raise ConfigError("--max-latency needs --device")

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seeds"] = list(self.seeds)
        data["options"] = dict(self.options)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunConfig":
        data = dict(data)
        data["seeds"] = tuple(int(s) for s in data["seeds"])
        data["options"] = tuple(sorted(dict(data.get("options") or {}).items()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def context(self, space_label: str) -> SearchContext:
        return SearchContext(space_name=space_label, dataset=self.dataset,
                             objective=self.objective, device=self.device,
                             max_latency=self.max_latency, budget=self.queries,
                             batched=self.batched, data_dir=self.data_dir)


# ------------------------------------------------------------------------------ building


def evaluator_name(config: RunConfig) -> str:
    if config.evaluator is not None:
        return config.evaluator
    return getattr(strategy_class(config.strategy), "evaluator", "oracle")


def build_space(config: RunConfig) -> tuple[Any, str]:
    """(space object, label for reports). With the oracle, nb101 is the nb101-20k subset."""
    if evaluator_name(config) == "oracle":
        from jaxnas.benchmarks import get_oracle, oracle_space

        oracle = get_oracle(config.space, config.dataset, config.device)
        return oracle_space(config.space, oracle), oracle.space_name
    from jaxnas.spaces import get_space

    return get_space(config.space), config.space


def build(config: RunConfig) -> tuple[Any, Any, str]:
    """(strategy, evaluator, space label) for one seed (a fresh evaluator per seed)."""
    space, label = build_space(config)
    context = config.context(label)
    cls = strategy_class(config.strategy)
    strategy = cls(space, make_config(cls.Config, dict(config.options), config.preset, cls),
                   context)
    evaluator = make_evaluator(evaluator_name(config), space, context)
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

    def add(self, record: EvalRecord) -> None:
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
             on_best: Callable[[Mapping[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run (or resume, when ``run_dir`` holds a checkpoint) one seed; returns its result.

    ``progress(n)`` is called with the queries each tell spent; ``on_best(entry)`` with the
    newest curve entry (``queries``, ``arch``, ``search_metric``, ``report_metric``) whenever
    the incumbent changes (for progress displays; the strategy never sees it).
    ``stop_after_steps`` ends the loop after that many tells in this call (used to simulate an
    interruption in tests); the result then has ``"finished": False``.
    """
    import jax

    strategy, evaluator, label = build(config)
    store = SeedStore(run_dir, seed) if run_dir is not None else None
    if store is not None:
        done_result = store.load_result()
        if done_result is not None:
            return done_result
    logged = store.load_evals() if store is not None else []
    checkpoint = store.load_checkpoint() if store is not None else None
    if checkpoint is not None:
        step, state = checkpoint
    else:
        step, state = 0, strategy.init(jax.random.PRNGKey(seed))
    # records logged after the checkpoint (a kill between log and checkpoint, or a checkpoint
    # lost in a crash) are replayed: the strategy re-asks deterministically from its state
    # and is told the logged records instead of evaluating again
    done = [r for s, _, r in logged if s <= step]
    later: dict[int, list[EvalRecord]] = {}
    for s, p, r in logged:
        if s > step:
            if p != len(later.setdefault(s, [])):
                raise ConfigError(f"{store.dir}: evaluation log out of order at step {s}")
            later[s].append(r)

    report_metric = getattr(evaluator, "report_metric", None) or "test_accuracy"
    tracker = CurveTracker(config.objective, config.max_latency, report_metric)
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
        costs = evaluator.costs(genomes)
        take, planned = 0, 0.0
        for cost in costs:
            if tracker.queries + planned + cost > config.queries:
                break  # stop at exactly the budget: tell only the prefix that fits
            planned += cost
            take += 1
        genomes = list(genomes[:take])
        if not genomes:
            break
        records: list[EvalRecord] = []
        pending = list(enumerate(later.pop(step + 1, [])))
        if len(pending) > take:
            raise ConfigError(f"resume mismatch at step {step + 1}: the log has {len(pending)} "
                              f"evaluations, the strategy asked {take}")
        for pos, record in pending:  # evaluated before a kill: reuse, never redo
            if record.key != strategy.space.key(genomes[pos]):
                raise ConfigError(f"resume mismatch at step {step + 1}, position {pos}: the "
                                  f"log has {record.genome!r} but the strategy asked "
                                  f"{strategy.space.to_string(genomes[pos])!r}")
            evaluator.restore([record])
            records.append(record)
        fresh = evaluator.evaluate(genomes[len(records):]) if len(records) < take else []
        for pos, record in enumerate(fresh, start=len(records)):
            if store is not None:
                store.append_eval(step + 1, pos, record)
        records.extend(fresh)
        before, best_before = tracker.queries, tracker.best
        for record in records:
            tracker.add(record)
        if on_best is not None and tracker.best is not best_before:
            on_best(tracker.curve[-1])
        state = strategy.tell(state_asked, genomes, [r.visible() for r in records])
        step += 1
        steps_now += 1
        if store is not None:
            store.save_checkpoint(step, state, {"queries": _num(tracker.queries)})
        if progress is not None and tracker.queries > before:
            progress(int(tracker.queries - before))
        stale = stale + 1 if tracker.queries == before else 0
        if stale >= MAX_STALE_STEPS:
            print(f"warning: seed {seed}: {stale} asks in a row gave only seen cells; "
                  f"stopping at {tracker.queries} queries", file=sys.stderr)
            break

    finished = tracker.queries >= config.queries or stale >= MAX_STALE_STEPS or (
        stop_after_steps is None)
    recommended = (_recommend(strategy, evaluator, state, tracker)
                   if finished and hasattr(strategy, "recommend") else None)
    best = tracker.best
    result = {
        "seed": int(seed),
        "finished": bool(finished),
        "queries": _num(tracker.queries),
        "steps": step,
        "curve": tracker.curve,
        "best": None if best is None else {
            "arch": best.genome, "key": best.key, "metrics": dict(best.metrics),
            "report": dict(best.report)},
    }
    if recommended is not None:
        result["recommended"] = recommended
    if finished and hasattr(strategy, "result"):
        # strategies whose answer is not simply the best record (EG-NAS returns the genome
        # its last phase kept) state it explicitly
        output = strategy.result(state)
        result["output"] = None if output is None else strategy.space.to_string(output)
    if store is not None and finished:
        store.save_result(result)
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


def _run_seed_job(args: tuple[dict[str, Any], int, str | None]) -> tuple[dict[str, Any], float]:
    config_json, seed, run_dir = args
    start = time.perf_counter()
    result = run_seed(RunConfig.from_json(config_json), seed,
                      Path(run_dir) if run_dir else None)
    return result, time.perf_counter() - start


# ------------------------------------------------------------------------------ many seeds


def environment(command: Sequence[str] | None = None) -> dict[str, Any]:
    """Versions, backend, devices and command line, recorded in every results file."""
    import jax

    import jaxnas

    try:
        import jaxlib

        jaxlib_version = jaxlib.__version__
    except Exception:  # noqa: BLE001
        jaxlib_version = None
    return {
        "versions": {"jaxnas": jaxnas.__version__, "jax": jax.__version__,
                     "jaxlib": jaxlib_version, "numpy": np.__version__,
                     "python": platform.python_version()},
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "platform": platform.platform(),
        # speed-only process settings (jaxnas.cpu_tuning), so timings can be compared
        "process_env": process_env(),
        "command": list(command) if command is not None else list(sys.argv),
    }


def default_checkpoints(budget: int) -> list[int]:
    points = [q for q in (10, 25, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000) if q < budget]
    return points + [budget]


def value_at(curve: Sequence[Mapping[str, Any]], queries: float, key: str = "report_metric"):
    """The curve's ``key`` after ``queries`` queries (last entry at or before it), or None."""
    out = None
    for entry in curve:
        if entry["queries"] > queries:
            break
        out = entry[key]
    return out


def summarize(runs: Sequence[Mapping[str, Any]], budget: int,
              checkpoints: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Mean, std (population, ddof=0), median, min, max of the report metric across seeds."""
    rows = []
    for q in checkpoints or default_checkpoints(budget):
        values = [value_at(run["curve"], q) for run in runs]
        values = np.array([v for v in values if v is not None], dtype=np.float64)
        search = [value_at(run["curve"], q, "search_metric") for run in runs]
        search = np.array([v for v in search if v is not None], dtype=np.float64)
        if len(values) == 0:
            rows.append({"queries": q, "n": 0})
            continue
        rows.append({"queries": q, "n": int(len(values)),
                     "mean": float(values.mean()), "std": float(values.std()),
                     "median": float(np.median(values)), "min": float(values.min()),
                     "max": float(values.max()),
                     "search_mean": float(search.mean()) if len(search) else None})
    return rows


def format_summary(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'queries':>8} {'n':>3} {'mean':>9} {'std':>7} {'median':>9} {'min':>9} "
                 f"{'max':>9}")
    for row in rows:
        if not row.get("n"):
            lines.append(f"{row['queries']:>8} {0:>3}")
            continue
        lines.append(f"{row['queries']:>8} {row['n']:>3} {row['mean']:9.4f} {row['std']:7.4f} "
                     f"{row['median']:9.4f} {row['min']:9.4f} {row['max']:9.4f}")
    return "\n".join(lines)


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
               json_path: Path | str | None = None) -> dict[str, Any]:
    """Run (or resume) every seed of ``config`` in ``run_dir``; returns the results dict.

    ``workers > 1`` runs seeds in that many processes (spawned, so JAX is never forked).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    started = _dt.datetime.now().isoformat(timespec="seconds")
    _, _, label = build(config)  # fail early on bad names / options
    if config_path.is_file():
        stored = load_run_config(run_dir)
        if RunConfig.from_json(stored["config"]) != config:
            raise ConfigError(f"{run_dir} holds a different run ({stored['config']}); use "
                              f"--resume {run_dir} to continue it or pick a new --run-dir")
        env = stored["environment"]
        resumed = True
    else:
        env = environment(command)
        write_json_atomic(config_path, {"format": RESULTS_FORMAT, "config": config.to_json(),
                                        "space_label": label, "environment": env,
                                        "json_path": str(json_path) if json_path else None,
                                        "created": started})
        resumed = False

    bar = None
    best_of_run: dict[str, float] = {}
    if show_progress:
        from tqdm.auto import tqdm

        # queries done / total over all seeds, rate and ETA (tqdm), best so far as postfix
        bar = tqdm(total=config.queries * len(config.seeds), unit="q", mininterval=0.2,
                   desc=f"{config.strategy} {label} {config.dataset}", dynamic_ncols=True)

    def show_best(entry: Mapping[str, Any], seed: int | None = None) -> None:
        if bar is None or entry.get("search_metric") is None:
            return
        value = float(entry["search_metric"])
        better = (value < best_of_run["search"]) if config.objective == LATENCY \
            else (value > best_of_run.get("search", -math.inf))
        if "search" not in best_of_run or better:
            best_of_run["search"] = value
            if entry.get("report_metric") is not None:
                best_of_run["report"] = float(entry["report_metric"])
        postfix = {"seed": seed, "best": f"{best_of_run['search']:.4g}"}
        if "report" in best_of_run:
            postfix["its report"] = f"{best_of_run['report']:.4g}"
        bar.set_postfix(postfix, refresh=False)
    wall: dict[str, float] = {}
    runs: dict[int, dict[str, Any]] = {}
    start_all = time.perf_counter()
    if workers > 1 and len(config.seeds) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_run_seed_job, (config.to_json(), s, str(run_dir))): s
                       for s in config.seeds}
            for future in as_completed(futures):
                result, seconds = future.result()
                runs[futures[future]] = result
                wall[str(futures[future])] = seconds
                if bar is not None:
                    if result["curve"]:
                        show_best(result["curve"][-1], futures[future])
                    bar.update(config.queries)
    else:
        for seed in config.seeds:
            start = time.perf_counter()
            runs[seed] = run_seed(config, seed, run_dir,
                                  progress=bar.update if bar is not None else None,
                                  on_best=(lambda e, s=seed: show_best(e, s))
                                  if bar is not None else None)
            wall[str(seed)] = time.perf_counter() - start
    if bar is not None:
        bar.close()

    ordered = [runs[s] for s in config.seeds]
    results = {
        "format": RESULTS_FORMAT,
        "config": config.to_json(),
        "space_label": label,
        "environment": env,
        "summary": summarize(ordered, config.queries),
        "runs": ordered,
        "run_dir": str(run_dir),
        "timing": {"wall_time_s": time.perf_counter() - start_all, "seed_wall_time_s": wall,
                   "started": started, "resumed": resumed,
                   "finished": _dt.datetime.now().isoformat(timespec="seconds"),
                   "command": list(command) if command is not None else list(sys.argv)},
    }
    write_json_atomic(run_dir / "results.json", results)
    if json_path is not None:
        write_json_atomic(Path(json_path), results)
    return results


#: fields of a results file allowed to differ between two runs of the same command and seeds:
#: ``timing`` (wall times, start / finish timestamps, whether it was resumed, the command of
#: this invocation), ``run_dir`` (where it was written) and ``environment.command`` (the command
#: line names the output paths). Everything else - config, space label, versions, backend,
#: devices, platform, summary and every curve entry - must be identical.
VOLATILE_FIELDS = ("timing", "run_dir", "environment.command")


def comparable(results: Mapping[str, Any]) -> dict[str, Any]:
    """A results dict without the :data:`VOLATILE_FIELDS` (allowed to differ between
    identical runs)."""
    out = {k: v for k, v in results.items() if k not in ("timing", "run_dir")}
    env = dict(out.get("environment", {}))
    env.pop("command", None)
    out["environment"] = env
    return out


def config_from_options(strategy: str, **kwargs: Any) -> RunConfig:
    """Convenience: RunConfig with a canonical strategy name."""
    return RunConfig(strategy=canonical_strategy_name(strategy), **kwargs)

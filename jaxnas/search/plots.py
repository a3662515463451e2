"""Figures from search results (matplotlib ``Figure`` objects saved straight to PNG, SVG or PDF
by file suffix: no pyplot, no backend selection, no display needed).

* :func:`plot_curves` - mean best-so-far curve of each results file with a std / IQR band
  over its seeds (``jaxnas plot --kind curves``, also ``jaxnas search --plot``).
* :func:`plot_compare` - several strategies on one axis (curves with bands) next to the
  distribution over seeds of the final report metric (``--kind compare``).
* :func:`plot_pareto` - accuracy-latency scatter and Pareto front of the evaluated cells of each
  run, over the front of the whole NB201 table for that device (``--kind pareto``).
* :func:`plot_egnas_trace` - EG-NAS phase traces: depth, width and accuracy of every trained
  candidate in order, coloured by phase (``--kind egnas-trace``).

Inputs are results dicts (``--json`` files or ``RUN_DIR/results.json``, see
:mod:`jaxnas.search.runner`) or, for the EG-NAS trace, evaluation logs (JSON lines).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from jaxnas.errors import ConfigError, DataNotFoundError
from jaxnas.search.pareto import pareto_front as _pareto_front

KINDS = ("curves", "compare", "pareto", "egnas-trace")
_SUFFIXES = (".png", ".svg", ".pdf")
EGNAS_PHASES = ("depth", "width", "ops", "kernels")


# ------------------------------------------------------------------------------ helpers


def _figure(**kwargs: Any) -> Any:
    """A standalone ``matplotlib.figure.Figure`` (``fig.savefig`` renders it with the Agg
    canvas; pyplot's global state and backend are never touched)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig: Any, path: Path | str) -> Path:
    path = Path(path)
    if path.suffix.lower() not in _SUFFIXES:
        raise ConfigError(f"plot file {str(path)!r}: the suffix must be one of "
                          f"{list(_SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # no creation date in SVG/PDF metadata: the same data gives the same file
    metadata = {"Date": None} if path.suffix.lower() in (".svg", ".pdf") else None
    fig.savefig(path, dpi=120, metadata=metadata)
    return path


def curve_matrix(results: Mapping[str, Any], key: str = "report_metric") -> tuple[np.ndarray, np.ndarray]:
    """(queries (Q,), values (seeds, Q)) with NaN before a seed's first feasible incumbent."""
    budget = int(results["config"]["queries"])
    queries = np.arange(1, budget + 1)
    values = np.full((len(results["runs"]), budget), np.nan)
    for i, run in enumerate(results["runs"]):
        last = np.nan
        entries = {int(round(e["queries"])): e[key] for e in run["curve"]}
        for j, q in enumerate(queries):
            if q in entries:
                last = np.nan if entries[q] is None else entries[q]
            values[i, j] = last
    return queries, values


def label_of(results: Mapping[str, Any]) -> str:
    cfg = results["config"]
    return f"{cfg['strategy']} ({results.get('space_label', cfg['space'])}, {cfg['dataset']})"


def _band(values: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN early columns
        mean = np.nanmean(values, axis=0)
        if band == "std":
            sd = np.nanstd(values, axis=0)
            return mean, mean - sd, mean + sd
        if band == "iqr":
            low, high = np.nanpercentile(values, [25, 75], axis=0)
            return mean, low, high
    return mean, mean, mean


def _check_band(band: str) -> None:
    if band not in ("std", "iqr", "none"):
        raise ConfigError(f"band={band!r}; choose one of ['std', 'iqr', 'none']")


_YLABELS = {"report_metric": "incumbent's report metric\n(NB201: 200-epoch test acc %)",
            "search_metric": "incumbent's search metric\n(NB201: 12-epoch val acc %)"}
# runs scored by training (--evaluator train) report what their own proxy measured
_TRAINED_YLABELS = {"report_metric": "incumbent's test accuracy %\n(after its proxy training)",
                    "search_metric": "incumbent's validation accuracy %\n(proxy training)"}


def _ylabel(results_list: Sequence[Mapping[str, Any]], key: str) -> str:
    trained = {r.get("config", {}).get("evaluator") == "train" for r in results_list}
    labels = _TRAINED_YLABELS if trained == {True} else _YLABELS
    return labels.get(key, key)


def _draw_curves(ax: Any, results_list: Sequence[Mapping[str, Any]], key: str, band: str,
                 labels: Sequence[str] | None, log_x: bool = False) -> None:
    for i, results in enumerate(results_list):
        queries, values = curve_matrix(results, key)
        mean, low, high = _band(values, band)
        label = labels[i] if labels else label_of(results)
        line, = ax.plot(queries, mean, label=f"{label}, n={values.shape[0]}")
        if band != "none" and values.shape[0] > 1:
            ax.fill_between(queries, low, high, alpha=0.2, color=line.get_color(), linewidth=0)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("queries")
    ax.set_ylabel(_ylabel(results_list, key))
    ax.grid(alpha=0.3)


def _band_title(band: str) -> str:
    return {"std": "mean ± std over seeds", "iqr": "mean, IQR band over seeds",
            "none": "mean over seeds"}[band]


# ------------------------------------------------------------------------------ curves


def plot_curves(results_list: Sequence[Mapping[str, Any]], path: Path | str, *,
                key: str = "report_metric", band: str = "std", title: str | None = None,
                labels: Sequence[str] | None = None, optimum: float | None = None,
                log_x: bool = False) -> Path:
    """Draw mean best-so-far curves (one per results dict) with a band; save to ``path``."""
    _check_band(band)
    if not results_list:
        raise ConfigError("plot_curves needs at least one results file")
    fig = _figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    _draw_curves(ax, results_list, key, band, labels, log_x)
    if optimum is not None:
        ax.axhline(optimum, color="k", linestyle=":", linewidth=1, label=f"optimum {optimum:.4f}")
    ax.set_title(title or f"best-so-far ({_band_title(band)})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_compare(results_list: Sequence[Mapping[str, Any]], path: Path | str, *,
                 key: str = "report_metric", band: str = "std", title: str | None = None,
                 labels: Sequence[str] | None = None, optimum: float | None = None,
                 log_x: bool = False) -> Path:
    """Strategies side by side: curves on one axis (left) and, per results file, a box plot of
    the final value over its seeds (right)."""
    _check_band(band)
    if not results_list:
        raise ConfigError("plot_compare needs at least one results file")
    fig = _figure(figsize=(10.0, 4.2))
    ax, box = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    _draw_curves(ax, results_list, key, band, labels, log_x)
    if optimum is not None:
        for a in (ax, box):
            a.axhline(optimum, color="k", linestyle=":", linewidth=1,
                      label=f"optimum {optimum:.4f}")
    ax.legend(fontsize=8)
    ax.set_title(title or f"best-so-far ({_band_title(band)})")
    finals, names = [], []
    for i, results in enumerate(results_list):
        _, values = curve_matrix(results, key)
        last = values[:, -1]
        finals.append(last[np.isfinite(last)])
        names.append(labels[i] if labels else results["config"]["strategy"])
    box.boxplot(finals, showmeans=True)
    box.set_xticks(range(1, len(names) + 1), names, rotation=20, fontsize=8)
    budgets = sorted({int(r["config"]["queries"]) for r in results_list})
    box.set_title(f"at the budget ({', '.join(map(str, budgets))} queries)")
    box.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------------ Pareto


def evaluated_records(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every logged evaluation of a run (from its run directory), else the incumbents named
    in the curves; each a ``{"genome": ..., "seed": ...}`` dict (plus metrics when logged)."""
    run_dir = results.get("run_dir")
    out: list[dict[str, Any]] = []
    if run_dir and Path(run_dir).is_dir():
        from jaxnas.search.store import read_evals

        for run in results["runs"]:
            for entry in read_evals(Path(run_dir) / f"seed_{run['seed']}" / "evals.jsonl"):
                rec = entry["record"]
                out.append({"genome": rec["genome"], "seed": run["seed"],
                            "metrics": rec.get("metrics", {}), "report": rec.get("report", {})})
    if not out:
        for run in results["runs"]:
            for genome in dict.fromkeys(e["arch"] for e in run["curve"] if e.get("arch")):
                out.append({"genome": genome, "seed": run["seed"]})
    return out


def plot_pareto(results_list: Sequence[Mapping[str, Any]], path: Path | str, *,
                device: str | None = None, dataset: str | None = None,
                metric: str = "test_acc_200", title: str | None = None,
                labels: Sequence[str] | None = None, background: bool = True) -> Path:
    """Accuracy (NB201 ``metric``, default 200-epoch test) against latency on ``device`` (the
    runs' own ``--device`` unless given) of every cell the runs evaluated, with each run's
    Pareto front and, with ``background``, all 15,625 cells and the table's true front."""
    from jaxnas.benchmarks import get_oracle

    if not results_list:
        raise ConfigError("plot_pareto needs at least one results file")
    first = results_list[0]["config"]
    device = device or first.get("device")
    if device is None:
        raise ConfigError("a Pareto plot needs a latency device: the results have none, so "
                          "pass --device (e.g. pixel3, fpga, 1080ti_1)")
    dataset = dataset or first["dataset"]
    spaces = {r.get("space_label", r["config"]["space"]) for r in results_list}
    if spaces != {"nb201"}:
        raise ConfigError(f"Pareto plots need nb201 results (latency table); got {sorted(spaces)}")
    oracle = get_oracle("nb201", dataset, device)
    lat_all = np.asarray(oracle.column("latency"), dtype=np.float64)
    acc_all = np.asarray(oracle.column(metric), dtype=np.float64)
    fig = _figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    if background:
        ax.scatter(lat_all, acc_all, s=2, color="0.8", label=f"all {len(lat_all)} cells",
                   rasterized=True)
        front = _pareto_front(acc_all, lat_all)
        ax.step(lat_all[front], acc_all[front], where="post", color="k", linewidth=1,
                label="table Pareto front")
    for i, results in enumerate(results_list):
        idx = sorted({oracle.index(r["genome"]) for r in evaluated_records(results)})
        if not idx:
            continue
        lat, acc = lat_all[idx], acc_all[idx]
        label = labels[i] if labels else label_of(results)
        points = ax.scatter(lat, acc, s=10, alpha=0.6, label=f"{label}: {len(idx)} cells")
        front = _pareto_front(acc, lat)
        ax.step(lat[front], acc[front], where="post", color=points.get_facecolor()[0],
                linewidth=1.5, label=f"{label}: front")
    ax.set_xscale("log")
    # degenerate cells (no path from input to output: ~10 % accuracy, near-zero latency)
    # would squash the interesting region; keep them out of the view, say so in the label
    low_acc = float(np.percentile(acc_all, 10))
    ax.set_ylim(low_acc - 1.0, float(acc_all.max()) + 1.0)
    ax.set_xlim(float(np.percentile(lat_all, 2)) * 0.8, float(lat_all.max()) * 1.25)
    ax.set_xlabel(f"latency on {device} (ms); cells below {low_acc:.0f} % not shown")
    ax.set_ylabel(f"{metric} on {oracle.dataset} (%)")
    ax.set_title(title or f"accuracy-latency Pareto front, nb201 {oracle.dataset} / {device}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------------ EG-NAS


def read_egnas_log(source: Path | str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """EG-NAS evaluation records in training order, from any of: the evaluator's JSON-lines log
    (``TrainerEvaluator(log_path=...)``, one :class:`EvalRecord` per line), a runner log
    (``seed_<s>/evals.jsonl``: ``{"step", "pos", "record"}`` lines), a run directory (its
    first seed), or a results dict / file whose ``run_dir`` holds such a directory."""
    if isinstance(source, Mapping):
        run_dir = source.get("run_dir")
        if not run_dir:
            raise DataNotFoundError("these results name no run directory; pass the EG-NAS "
                                    "log (.jsonl) or the run directory instead")
        return read_egnas_log(Path(run_dir))
    path = Path(source)
    if path.is_dir():
        logs = sorted(path.glob("seed_*/evals.jsonl")) or sorted(path.glob("*.jsonl"))
        if not logs:
            raise DataNotFoundError(f"{path} holds no EG-NAS log (seed_*/evals.jsonl or *.jsonl)")
        path = logs[0]
    if not path.is_file():
        raise DataNotFoundError(f"EG-NAS log {str(path)!r} not found")
    if path.suffix == ".json":
        return read_egnas_log(json.loads(path.read_text()))
    from jaxnas.search.store import read_evals

    records = []
    for entry in read_evals(path):
        records.append(entry["record"] if "record" in entry and "step" in entry else entry)
    return records


def egnas_trace(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per trained candidate: step, genome, depth, width, epochs, accuracy, phase.

    The log does not store phases, so they are inferred from the genomes with the search's
    phase order (depth -> width -> ops -> kernels, never backwards): a plain net (all
    sep-conv, kernel 3) is a depth candidate until the width first shrinks below the start
    width; an op or kernel change, or a plain net retrained with fewer epochs (the ops-phase
    baseline), moves to the micro phases (kernels once a kernel differs from 3)."""
    from jaxnas.train.single import parse_searched_genome

    rows: list[dict[str, Any]] = []
    phase, start_width, last_epochs = "depth", None, None
    for record in records:
        g, _ = parse_searched_genome("egnas", record["genome"])
        epochs = int((record.get("info") or {}).get("epochs", 0) or 0)
        plain = all(int(o) == 0 for o in g.ops) and all(int(k) == 3 for k in g.kernels)
        if start_width is None:
            start_width = g.width
        rank = EGNAS_PHASES.index(phase)
        if any(int(k) != 3 for k in g.kernels):
            new = "kernels"
        elif not plain or (rank >= 1 and last_epochs is not None and epochs < last_epochs):
            new = "ops"
        elif g.width < start_width:
            new = "width"
        else:
            new = "depth"
        phase = EGNAS_PHASES[max(rank, EGNAS_PHASES.index(new))]
        last_epochs = epochs if plain else last_epochs
        rows.append({"step": len(rows) + 1, "genome": record["genome"], "depth": g.depth,
                     "width": g.width, "epochs": epochs,
                     "accuracy": float(record["metrics"]["accuracy"]), "phase": phase})
    return rows


def plot_egnas_trace(source: Any, path: Path | str, *, title: str | None = None) -> Path:
    """Depth, width and accuracy of every EG-NAS candidate in training order (three panels,
    points coloured by phase); ``source`` as in :func:`read_egnas_log` or a list of records."""
    records = source if isinstance(source, (list, tuple)) else read_egnas_log(source)
    rows = egnas_trace(records)
    if not rows:
        raise DataNotFoundError("the EG-NAS log holds no evaluations yet")
    fig = _figure(figsize=(6.4, 6.4))
    axes = fig.subplots(3, 1, sharex=True)
    steps = np.array([r["step"] for r in rows])
    colors = {p: f"C{i}" for i, p in enumerate(EGNAS_PHASES)}
    for ax, field, label in zip(axes, ("depth", "width", "accuracy"),
                                ("depth L (layers)", "width C (channels)", "accuracy (%)")):
        values = np.array([r[field] for r in rows], dtype=np.float64)
        ax.plot(steps, values, color="0.6", linewidth=0.8, zorder=1)
        for phase in EGNAS_PHASES:
            mask = np.array([r["phase"] == phase for r in rows])
            if mask.any():
                ax.scatter(steps[mask], values[mask], s=14, color=colors[phase], label=phase,
                           zorder=2)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    # no best-so-far line: micro-phase proxies train far fewer epochs than macro candidates,
    # so accuracies of different phases are not comparable
    axes[0].legend(fontsize=7, ncol=5, loc="best")
    axes[-1].set_xlabel("trained candidate (in order)")
    axes[0].set_title(title or f"EG-NAS phase trace ({len(rows)} trainings)")
    fig.tight_layout()
    return _save(fig, path)

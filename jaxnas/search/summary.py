"""Results files: the recorded environment, summaries across seeds, and what may differ
between two runs of the same command."""

from __future__ import annotations

import platform
import sys
from typing import Any, Mapping, Sequence

import numpy as np

from jaxnas.cpu_tuning import process_env

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


#: fields of a results file allowed to differ between two runs of the same command and seeds:
#: ``timing`` (wall times, start / finish timestamps, whether it was resumed, the command of
#: this invocation), ``run_dir`` (where it was written), ``environment.command`` (the command
#: line names the output paths) and ``environment.process_env`` (jaxnas.cpu_tuning's speed
#: settings: ``JAXNAS_CPU_TUNING=0`` must not make a run "different"). Everything else -
#: config, space label, versions, backend, devices, platform, summary and every curve entry -
#: must be identical.
VOLATILE_FIELDS = ("timing", "run_dir", "environment.command", "environment.process_env")


def comparable(results: Mapping[str, Any]) -> dict[str, Any]:
    """A results dict without the :data:`VOLATILE_FIELDS` (allowed to differ between
    identical runs)."""
    out = {k: v for k, v in results.items() if k not in VOLATILE_FIELDS}
    env = {k: v for k, v in dict(out.get("environment", {})).items()
           if f"environment.{k}" not in VOLATILE_FIELDS}
    out["environment"] = env
    return out


__all__ = ["VOLATILE_FIELDS", "comparable", "default_checkpoints", "environment",
           "format_summary", "summarize", "value_at"]

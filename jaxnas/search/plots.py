"""Best-so-far curves of one or more results files: mean per strategy with a std or IQR band."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from jaxnas.errors import ConfigError


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


def plot_curves(results_list: Sequence[Mapping[str, Any]], path: Path | str, *,
                key: str = "report_metric", band: str = "std", title: str | None = None,
                labels: Sequence[str] | None = None, optimum: float | None = None) -> Path:
    """Draw mean best-so-far curves (one per results dict) with a band; save to ``path``."""
    if band not in ("std", "iqr", "none"):
        raise ConfigError(f"band={band!r}; choose one of ['std', 'iqr', 'none']")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, results in enumerate(results_list):
        queries, values = curve_matrix(results, key)
        with np.errstate(invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN early columns
                mean = np.nanmean(values, axis=0)
                if band == "std":
                    sd = np.nanstd(values, axis=0)
                    low, high = mean - sd, mean + sd
                elif band == "iqr":
                    low, high = np.nanpercentile(values, [25, 75], axis=0)
        label = labels[i] if labels else label_of(results)
        line, = ax.plot(queries, mean, label=f"{label}, n={values.shape[0]}")
        if band != "none":
            ax.fill_between(queries, low, high, alpha=0.2, color=line.get_color(), linewidth=0)
    if optimum is not None:
        ax.axhline(optimum, color="k", linestyle=":", linewidth=1, label=f"optimum {optimum:.4f}")
    ax.set_xlabel("queries")
    ax.set_ylabel({"report_metric": "report metric of incumbent (e.g. 200-ep test acc %)",
                   "search_metric": "search metric of incumbent"}.get(key, key))
    ax.set_title(title or f"best-so-far ({'mean ± std' if band == 'std' else 'mean, IQR band'})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

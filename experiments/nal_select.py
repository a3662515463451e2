"""NAL settings, chosen on nb101-20k alone (no NB201 number is read here).

For each split seed r and expert threshold f: the experts are the top f of nb101-20k by
108-epoch validation accuracy; a random half A of them (numpy Generator seeded by r) is the
training set, and the *held-out pool* is every other table cell (the other half B of the
experts plus all non-experts). The model (each GAT size) learns from A only and scores the
held-out pool; a decoder restricted to the held-out pool is judged by the table's percentile
(within all 20,001 cells) of what it picks:

* ``top1``: percentile of the best-scored held-out cell: what ``argmax`` / ``beam`` decoding
  generates (the selection criterion for the deterministic modes);
* ``sample T``: expected percentile of one draw from softmax(score / T), exact (the criterion
  for ``sample`` at T);
* ``top10``: mean percentile of the 10 best-scored held-out cells (reported; it was the first
  criterion written down, dropped because a mean of ten hides a useless top-1 cell);
* ``top1_in_top1pct`` / ``sample0.1_p_top1pct``: probability that the pick is in the table's
  top 1 %;
* ``auc_top1pct``: AUC of the score for held-out top-1 % cells against the other held-out
  cells; ``spearman``: rank correlation of score and accuracy on the held-out pool.

Rule: the setting (score, threshold, GAT size, mode / T) with the highest mean criterion over
the splits; ties go to the smaller GAT, and the ``legacy`` score is excluded for transfer (a
size prior learned in another space).

Four scores are computed from the same model: ``transfer`` (op + link terms), ``legacy``
(+ the experts' vertex-count prior), ``target-prior`` (+ log of the fraction of the target
space's cells with that vertex count: structure only, no accuracy) and ``contrast`` (the
``transfer`` score minus that of a background model trained the same way on 1,000 uniformly
drawn table cells, no accuracy read: ``jaxnas.graph.train_contrast``, as the strategy does).
Run:

    python experiments/nal_select.py --splits 3

writes experiments/results/nal_select.json and prints the per-setting means.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from itertools import product
from pathlib import Path

import jax
import numpy as np
from scipy.stats import spearmanr

from jaxnas.compile_cache import enable_compile_cache
from jaxnas.graph import (
    NB101_VOCAB, NALConfig, roc_auc, score_cells, train_contrast, vertex_count_log_prior,
)
from jaxnas.search.nal import nb101_background_rows, nb101_pool

THRESHOLDS = (0.01, 0.05, 0.1, 0.2)
GAT_SIZES = {"2x4x8": dict(num_layers=2, num_heads=4, head_dim=8),
             "3x4x16": dict(num_layers=3, num_heads=4, head_dim=16)}
TEMPERATURES = (0.05, 0.1, 0.25, 0.5)


def table() -> tuple[np.ndarray, np.ndarray]:
    """nb101-20k 108-epoch validation accuracy and each cell's percentile (100 = best)."""
    from jaxnas.benchmarks import nb101_table

    acc = np.asarray(nb101_table().columns["val_acc_108"], np.float64)
    order = np.sort(acc)
    pct = 100.0 * np.searchsorted(order, acc, side="right") / len(acc)
    return acc, pct


def pick_metrics(score: np.ndarray, pct: np.ndarray, acc: np.ndarray) -> dict:
    """What a decoder restricted to this pool would pick, judged by the table's percentile."""
    order = np.argsort(-score, kind="stable")
    top = pct >= 99.0
    out = {"top1": float(pct[order[0]]), "top10": float(pct[order[:10]].mean()),
           "top1_in_top1pct": bool(top[order[0]]),
           "auc_top1pct": float(roc_auc(score, top)),
           "spearman": float(spearmanr(score, acc).statistic)}
    for t in TEMPERATURES:
        z = (score - score.max()) / t
        w = np.exp(z) / np.exp(z).sum()
        out[f"sample{t}"] = float(w @ pct)
        out[f"sample{t}_p_top1pct"] = float(w[top].sum())
    return out


def run(splits: int) -> list[dict]:
    acc, pct = table()
    pool = nb101_pool()
    # the target space's own vertex-count distribution (all its cells, no accuracy)
    counts = np.bincount(pool.n, minlength=pool.slots + 1).astype(np.float64)
    with np.errstate(divide="ignore"):
        target_prior = np.log(counts / counts.sum())
    rows = []
    for r, f, (gname, gat) in product(range(splits), THRESHOLDS, GAT_SIZES.items()):
        k = int(np.ceil(f * len(acc)))
        experts = np.argsort(-acc, kind="stable")[:k]
        perm = np.random.default_rng(r).permutation(experts)
        half_a = np.sort(perm[: k // 2])
        held = np.setdiff1d(np.arange(len(acc)), half_a)
        t0 = time.perf_counter()
        key = jax.random.PRNGKey(r)
        config = NALConfig(**gat, score="contrast")
        # the background rows as train_nb101_experts draws them (no accuracy read)
        background = pool.subset(nb101_background_rows(key, config.background_size))
        model = train_contrast(pool.subset(half_a), background, NB101_VOCAB, key, config)
        cells = pool.subset(held)
        base = score_cells(model, cells, score="transfer")
        scores = {"transfer": base, "legacy": base + vertex_count_log_prior(model, cells.n),
                  "target-prior": base + target_prior[cells.n],
                  "contrast": score_cells(model, cells, score="contrast")}
        for name, score in scores.items():
            row = {"split": r, "threshold": f, "gat": gname, "score": name,
                   "train_experts": int(len(half_a)), "held_out": int(len(held)),
                   **pick_metrics(score, pct[held], acc[held]),
                   "mean_vertices_top10": float(cells.n[np.argsort(-score)[:10]].mean())}
            rows.append(row)
        print(f"split {r} f={f} gat={gname}: "
              + " | ".join(f"{x['score']} top1 {x['top1']:.2f} top10 {x['top10']:.2f}"
                           for x in rows[-len(scores):])
              + f" ({time.perf_counter() - t0:.1f} s)", flush=True)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    keys = sorted({(r["score"], r["threshold"], r["gat"]) for r in rows})
    metrics = [m for m in rows[0] if m not in ("split", "threshold", "gat", "score")]
    out = []
    for score, f, g in keys:
        sel = [r for r in rows if (r["score"], r["threshold"], r["gat"]) == (score, f, g)]
        out.append({"score": score, "threshold": f, "gat": g, "n": len(sel),
                    **{m: float(np.mean([r[m] for r in sel])) for m in metrics}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--compile-cache", default="none")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/nal_select.json"))
    args = parser.parse_args()
    enable_compile_cache(args.compile_cache)
    t0 = time.perf_counter()
    rows = run(args.splits)
    summary = summarize(rows)
    cols = ["top10", "top1", "top1_in_top1pct"] + [f"sample{t}" for t in TEMPERATURES] + [
        "sample0.1_p_top1pct", "auc_top1pct", "spearman", "mean_vertices_top10"]
    print("score     f     gat     " + " ".join(f"{c[:12]:>12}" for c in cols))
    for s in summary:
        print(f"{s['score']:<9} {s['threshold']:<5} {s['gat']:<7} "
              + " ".join(f"{s[c]:>12.3f}" for c in cols))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": f"python experiments/nal_select.py --splits {args.splits}",
        "machine": platform.platform(), "seconds": time.perf_counter() - t0,
        "thresholds": THRESHOLDS, "gat_sizes": GAT_SIZES, "temperatures": TEMPERATURES,
        "rows": rows, "summary": summary}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from jaxnas.cpu_tuning import tune_xla_flags

    tune_xla_flags()
    main()

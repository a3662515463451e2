"""Proxy fidelity: does a short proxy rank networks as longer training does, and does the
architecture-aware budget rank them better than the uniform one at the same cost?

    python experiments/proxy_fidelity.py --data-dir DATA_DIR --space nb201
    python experiments/proxy_fidelity.py --data-dir DATA_DIR --space egnas

For one space, ``--genomes`` genomes are drawn once (numpy ``Generator`` seeded with
``--seed``; distinct cells) and trained three times on the same Fashion-MNIST split by the
``train`` evaluator (``jaxnas.search.train_evaluator.TrainEvaluator``, preset ``--preset``):

* ``uniform`` proxy: ``--epochs`` E epochs each;
* ``aware`` proxy: the same total, E x n candidate-epochs, shared by the architecture-aware
  rule (``jaxnas.train.allocation``: the EG-NAS epoch counter for egnas, log FLOPs for the
  cell spaces);
* reference: ``--reference-factor`` x E epochs each (so at least 4x the proxy's
  candidate-epochs), with a different training seed, so the proxy and the reference share no
  initialisation or data order.

For each proxy it prints Kendall's tau (tau-b) between the proxy's validation accuracy (what a
search sees) and the reference's test accuracy (held out from both), with a 95 % percentile
bootstrap interval over genomes (``--bootstrap`` resamples, seeded), and the paired bootstrap
interval of tau(aware) - tau(uniform). The ``egnas`` sample comes from a bounded egnas space
(``--depth``, ``--width``; the paper's space, depth 10-100 and width 16-128, is too big to
train 48 times on a CPU); the aware rule is taken relative to that space's bounds.
Writes everything, with the per-genome accuracies and wall times, to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.stats import bootstrap, kendalltau

from jaxnas.search.base import ACCURACY, SearchContext
from jaxnas.search.summary import environment
from jaxnas.search.train_evaluator import TrainEvaluator
from jaxnas.spaces import get_space
from jaxnas.spaces.egnas import EgnasSpace

HERE = Path(__file__).resolve().parent


def draw_genomes(space: Any, count: int, seed: int) -> list[Any]:
    """``count`` distinct genomes drawn uniformly from ``space``."""
    rng = np.random.default_rng(seed)
    genomes, keys = [], set()
    while len(genomes) < count:
        genome = space.sample(rng)
        if space.key(genome) not in keys:
            keys.add(space.key(genome))
            genomes.append(genome)
    return genomes


def train_once(space: Any, context: SearchContext, genomes: Sequence[Any], label: str,
               **options: Any) -> dict[str, Any]:
    """Train ``genomes`` as one population; per-genome validation, test, epochs and costs."""
    start = time.perf_counter()
    evaluator = TrainEvaluator(space, context, **options)
    records = evaluator.evaluate(genomes)
    wall = time.perf_counter() - start
    costs = [r.info["cost"] for r in records]
    out = {"label": label, "options": {k: v for k, v in options.items()},
           "val": [r.metrics[ACCURACY] for r in records],
           "test": [r.report.get("test_accuracy") for r in records],
           "epochs": [r.info["epochs"] for r in records],
           "status": [r.info["status"] for r in records],
           "params": [r.info["params"] for r in records],
           "candidate_epochs": int(sum(c["candidate_epochs"] for c in costs)),
           "compile_s": float(sum(c["compile_s"] for c in costs)),
           "train_s": float(sum(c["train_s"] for c in costs)), "wall_s": wall}
    print(f"  {label}: {out['candidate_epochs']} candidate-epochs, {wall:.0f} s "
          f"(compile {out['compile_s']:.0f} s, train {out['train_s']:.0f} s)", flush=True)
    return out


def earlier_runs(path: Path, genomes: list[str]) -> dict[str, Any]:
    """The runs of an earlier result of this script for the same genomes."""
    if not path.is_file():
        sys.exit(f"--only needs the earlier result {path}; it does not exist")
    earlier = json.loads(path.read_text())
    if earlier["genomes"] != genomes:
        sys.exit(f"{path} holds other genomes; rerun without --only")
    return dict(earlier["runs"])


def tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (0.0 where one side is constant)."""
    value = kendalltau(x, y).statistic
    return 0.0 if not np.isfinite(value) else float(value)


def bootstrap_taus(proxies: dict[str, Sequence[float]], reference: Sequence[float],
                   resamples: int, seed: int) -> dict[str, Any]:
    """Tau of each proxy against ``reference``, their 95 % percentile bootstrap intervals over
    genomes, and the paired interval of tau(aware) - tau(uniform) (``scipy.stats.bootstrap``,
    paired; the same seed gives every call the same resampled genomes)."""
    ref = np.asarray(reference, float)
    uniform, aware = (np.asarray(proxies[k], float) for k in ("uniform", "aware"))

    def interval(statistic: Any, *samples: np.ndarray) -> tuple[list[float], np.ndarray]:
        res = bootstrap(samples, statistic, paired=True, vectorized=False,
                        n_resamples=resamples, method="percentile",
                        random_state=np.random.default_rng(seed))
        ci = res.confidence_interval
        return [float(ci.low), float(ci.high)], res.bootstrap_distribution

    out: dict[str, Any] = {}
    for name, values in (("uniform", uniform), ("aware", aware)):
        ci, _ = interval(tau, values, ref)
        out[name] = {"tau": tau(values, ref), "ci95": ci}
    ci, draws = interval(lambda u, a, r: tau(a, r) - tau(u, r), uniform, aware, ref)
    out["aware_minus_uniform"] = {"tau": out["aware"]["tau"] - out["uniform"]["tau"],
                                  "ci95": ci, "share_above_zero": float(np.mean(draws > 0))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--space", choices=("nb201", "egnas", "nb101", "darts"), default="nb201")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--genomes", type=int, default=16)
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--epochs", type=int, default=3, help="E, the uniform proxy's epochs")
    ap.add_argument("--reference-factor", type=int, default=4)
    ap.add_argument("--depth", type=int, nargs=2, default=(4, 12), metavar=("MIN", "MAX"))
    ap.add_argument("--width", type=int, nargs=2, default=(8, 24), metavar=("MIN", "MAX"))
    ap.add_argument("--width-step", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", nargs="*", choices=("uniform", "aware", "reference"),
                    default=None, help="train only these runs (none: only recompute the taus) "
                                       "and take the others from --out (same genomes), e.g. "
                                       "after a change of the aware rule")
    args = ap.parse_args()
    if args.reference_factor < 4:
        sys.exit(f"--reference-factor={args.reference_factor}: must be >= 4")
    if args.space == "egnas":
        space = EgnasSpace(min_depth=args.depth[0], max_depth=args.depth[1],
                           min_width=args.width[0], max_width=args.width[1],
                           width_step=args.width_step, kernel_choices=(3, 5))
    else:
        space = get_space(args.space)
    context = SearchContext(space_name=args.space, dataset=args.dataset, data_dir=args.data_dir)
    genomes = draw_genomes(space, args.genomes, args.seed)
    out = args.out or HERE / "results" / f"proxy_fidelity_{args.space}.json"
    print(f"{args.space}: {len(genomes)} genomes, preset {args.preset}, E={args.epochs}, "
          f"reference {args.reference_factor * args.epochs} epochs", flush=True)
    settings = {"uniform": dict(policy="uniform", epochs=args.epochs),
                "aware": dict(policy="aware", epochs=args.epochs),
                "reference": dict(policy="uniform", seed=1,
                                  epochs=args.reference_factor * args.epochs)}
    runs = ({} if args.only is None else
            earlier_runs(out, [space.to_string(g) for g in genomes]))
    for name, options in settings.items():
        if args.only is None or name in args.only:
            runs[name] = train_once(space, context, genomes, name, preset=args.preset,
                                    **options)
    taus = bootstrap_taus({k: runs[k]["val"] for k in ("uniform", "aware")},
                          runs["reference"]["test"], args.bootstrap, args.seed)
    print(f"\n{'proxy':<10}{'cand-epochs':>12}{'tau':>8}{'95% CI':>18}")
    for name in ("uniform", "aware"):
        lo, hi = taus[name]["ci95"]
        print(f"{name:<10}{runs[name]['candidate_epochs']:>12}{taus[name]['tau']:>8.3f}"
              f"{f'[{lo:.3f}, {hi:.3f}]':>18}")
    d = taus["aware_minus_uniform"]
    interval = f"[{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}]"
    print(f"{'aware-unif':<10}{'':>12}{d['tau']:>8.3f}{interval:>18}"
          f"   P(boot diff > 0) = {d['share_above_zero']:.2f}")
    print(f"reference: {runs['reference']['candidate_epochs']} candidate-epochs")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "space": args.space, "space_bounds": repr(space) if args.space == "egnas" else None,
        "genomes": [space.to_string(g) for g in genomes], "runs": runs, "taus": taus,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                 if k != "data_dir"},
        "environment": environment(sys.argv)}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

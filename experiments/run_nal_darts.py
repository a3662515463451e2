"""NAL DARTS transfer with a rank test: NAL genotypes (one per NAL seed, learned from nb101-20k)
against random DARTS genotypes, every one trained by ``train_population`` with the same recipe,
data, network size and member key.

    python experiments/run_nal_darts.py --data-dir DATA      # 3 NAL seeds, 20 random, 5 epochs

DATA is the folder holding ``fashion_mnist/``. Train on ``--train-size`` images of a seeded
90/10 split of the 60k training set, select nothing (every genotype is trained once), report
the final validation accuracy (the 10 % split) and the test accuracy (``--test-size`` images of
the test split), the parameter count, a one-sided Mann-Whitney U test of "NAL above random"
(test accuracy; validation alongside), and the same test against the random genotypes whose
parameter count is within ``--match`` (15 %) of a NAL genotype's. An interrupted run resumes
(rows of the same command are kept). ``--reuse EARLIER.json`` takes the row of any genotype
that a finished earlier run trained with the same recipe, network and data sizes instead of
training it again (training is deterministic for a genotype, recipe and member key). Writes
experiments/results/nal_darts.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np
from scipy.stats import mannwhitneyu

from jaxnas.data import load_dataset, subset, train_val_split
from jaxnas.graph import generate_darts
from jaxnas.nn import count_params
from jaxnas.search import nal
from jaxnas.spaces import get_space
from jaxnas.train import TrainOptions, TrainRecipe, train_population


# the NAL settings of the documented run (the defaults then: the GAT size decides the DARTS
# genotypes, the score plays no part in DARTS generation); --current-defaults uses today's
MEASURED_CONFIG = dict(num_layers=2, num_heads=4, head_dim=8, score="target-prior")


def nal_config(args: argparse.Namespace) -> nal.NALStrategyConfig:
    return nal.NALStrategyConfig(**({} if args.current_defaults else MEASURED_CONFIG))


def genotypes(args: argparse.Namespace) -> list[tuple[str, object, float]]:
    """(name, genome, seconds to learn + generate) for the NAL seeds, then the randoms."""
    space = get_space("darts")
    out = []
    for seed in args.nal_seeds:
        t0 = time.perf_counter()
        model = nal.train_nb101_experts(jax.random.PRNGKey(seed), nal_config(args))
        genome = generate_darts(model, seed=seed)
        out.append((f"nal-{seed}", genome, time.perf_counter() - t0))
    rng = np.random.default_rng(args.random_seed)
    out += [(f"random-{i}", space.sample(rng), 0.0) for i in range(args.randoms)]
    return out


def mwu(nal_values: list[float], random_values: list[float]) -> dict:
    """One-sided Mann-Whitney U: are NAL values stochastically larger than random ones?"""
    if not nal_values or not random_values:
        return {"n_nal": len(nal_values), "n_random": len(random_values), "p": None}
    res = mannwhitneyu(nal_values, random_values, alternative="greater")
    return {"n_nal": len(nal_values), "n_random": len(random_values), "U": float(res.statistic),
            "p": float(res.pvalue),
            "mean_rank_of_nal": float(np.mean([1 + sum(r > v for r in random_values)
                                               for v in nal_values]))}


def summarize(rows: list[dict], match: float) -> dict:
    nal_rows = [r for r in rows if r["name"].startswith("nal")]
    rand = [r for r in rows if r["name"].startswith("random")]
    matched = [r for r in rand if any(abs(r["params"] - n["params"]) <= match * n["params"]
                                      for n in nal_rows)]
    out = {}
    for metric in ("test_acc", "val_acc"):
        out[metric] = {
            "nal_mean": float(np.mean([r[metric] for r in nal_rows])),
            "random_mean": float(np.mean([r[metric] for r in rand])),
            "random_std": float(np.std([r[metric] for r in rand])),
            "all_random": mwu([r[metric] for r in nal_rows], [r[metric] for r in rand]),
            "params_matched": mwu([r[metric] for r in nal_rows], [r[metric] for r in matched]),
        }
    out["matched_randoms"] = [r["name"] for r in matched]
    out["params"] = {"nal": [r["params"] for r in nal_rows],
                     "random_median": float(np.median([r["params"] for r in rand]))}
    return out


def load_data(args: argparse.Namespace) -> tuple:
    """Train / validation subsets of a seeded 90/10 split of the 60k training images, and a
    test subset of the test split."""
    full = load_dataset("fashion_mnist", "train", data_dir=args.data_dir)
    train_all, val_all = train_val_split(full, val_fraction=0.1, seed=0)
    train = subset(train_all, args.train_size, seed=0)
    val = subset(val_all, args.val_size, seed=1)
    test = subset(load_dataset("fashion_mnist", "test", data_dir=args.data_dir),
                  args.test_size, seed=2)
    return train, val, test


def reusable_rows(path: Path | None, recipe_json: dict, net: dict, data: dict) -> dict:
    """Genotype text -> row of a finished earlier run trained with the same recipe, network and
    data sizes ({} without ``path``); any other earlier run is refused with one line."""
    if path is None:
        return {}
    earlier = json.loads(path.read_text())
    same = {"recipe": recipe_json, "network": net, "data": data}
    for field, value in same.items():
        if earlier.get(field) != value:
            raise SystemExit(f"--reuse {path}: its {field} {earlier.get(field)} differs from "
                             f"this run's {value}; only an identical setting can be reused")
    return {r["genotype"]: r for r in earlier["rows"] if "copied_from" not in r}


def print_summary(summary: dict) -> None:
    for metric in ("test_acc", "val_acc"):
        s = summary[metric]
        print(f"{metric}: NAL mean {s['nal_mean']:.2f}, random {s['random_mean']:.2f} ± "
              f"{s['random_std']:.2f}; MWU one-sided p = {s['all_random']['p']:.3f} (all "
              f"{s['all_random']['n_random']}), p = {s['params_matched']['p']} (params-matched "
              f"{s['params_matched']['n_random']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--nal-seeds", type=lambda s: [int(x) for x in s.split(",")],
                        default=[0, 1, 2])
    parser.add_argument("--randoms", type=int, default=20)
    parser.add_argument("--current-defaults", action="store_true",
                        help="NAL with today's NALStrategyConfig() instead of the documented "
                             "run's settings (MEASURED_CONFIG)")
    parser.add_argument("--random-seed", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.025)
    parser.add_argument("--cutout", type=int, default=0, help="cutout size (0: none)")
    parser.add_argument("--crop-size", type=int, default=28)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--match", type=float, default=0.15)
    parser.add_argument("--reuse", type=Path, default=None,
                        help="a finished earlier run's JSON whose rows of the same genotypes "
                             "are taken instead of retrained (same recipe, network, data)")
    parser.add_argument("--dry-run", action="store_true", help="list genotypes and params only")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/nal_darts.json"))
    args = parser.parse_args()

    space = get_space("darts")
    net = {"channels": args.channels, "layers": args.layers}
    todo = genotypes(args)
    params = {name: count_params("darts", g, 10, (28, 28, 1), **net) for name, g, _ in todo}
    for name, g, seconds in todo:
        print(f"{name:<10} params {params[name]:>7}  {space.to_string(g)}  ({seconds:.1f} s)")
    if args.dry_run:
        return
    train, val, test = load_data(args)
    recipe = TrainRecipe(epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, cutout_size=args.cutout,
                         crop_size=args.crop_size)
    options = TrainOptions(network_options=tuple(sorted(net.items())))
    key = jax.random.PRNGKey(0)
    command = "python experiments/run_nal_darts.py " + " ".join(
        f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if k not in ("out", "dry_run", "data_dir", "reuse"))
    recipe_json = {k: getattr(recipe, k) for k in recipe.__dataclass_fields__}
    data = {"train": args.train_size, "val": args.val_size, "test": args.test_size}
    earlier = reusable_rows(args.reuse, recipe_json, net, data)
    done = {}
    if args.out.exists():  # resume: keep rows of an interrupted run of the same command
        previous = json.loads(args.out.read_text())
        if previous.get("command") == command:
            done = {(r["name"], r["genotype"]): r for r in previous["rows"]}
    rows = []
    for name, genome, nal_seconds in todo:
        text = space.to_string(genome)
        if (name, text) in done:
            rows.append(done[(name, text)])
            continue
        twin = next((r for r in rows if r["genotype"] == text), None)
        if twin is not None:  # the same genotype, recipe and key: the same run
            rows.append({**twin, "name": name, "copied_from": twin["name"],
                         "nal_seconds": nal_seconds})
            continue
        if text in earlier:
            rows.append({**earlier[text], "name": name, "nal_seconds": nal_seconds,
                         "reused_from": f"{args.reuse}:{earlier[text]['name']}"})
            continue
        start = time.perf_counter()
        (result,) = train_population("darts", [genome], recipe, train, val, key=key,
                                     member_keys=[key], executor="loop", test_data=test,
                                     options=options)
        row = {"name": name, "genotype": text, "status": result.status,
               "val_acc": result.final_val_acc,
               "test_acc": result.test_acc_per_epoch[-1] if result.test_acc_per_epoch else None,
               "params": params[name], "wall_s": time.perf_counter() - start,
               "nal_seconds": nal_seconds}
        rows.append(row)
        print(f"{name:<10} val {row['val_acc']:6.2f}  test {row['test_acc']:6.2f}  "
              f"params {row['params']:>7}  {row['wall_s']:6.1f} s  {row['status']}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": command, "rows": rows, "partial": True},
                                       indent=1))  # survive an interrupted run
    summary = summarize(rows, args.match)
    print_summary(summary)
    out = {"command": command, "machine": platform.platform(), "recipe": recipe_json,
           "network": net, "data": data,
           "reused_from": str(args.reuse) if args.reuse else None,
           "nal_config": nal_config(args).__dict__, "rows": rows, "summary": summary}
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from jaxnas.cli import reexec_with_hugepages
    from jaxnas.cpu_tuning import tune_xla_flags

    reexec_with_hugepages([__file__, *sys.argv[1:]])  # the jaxnas command's CPU settings
    tune_xla_flags()
    main()

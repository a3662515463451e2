"""Population trainer benchmark: jaxnas executors vs a plain PyTorch loop, same networks.

For each space (egnas genomes drawn around the paper's networks, depth 10-20 and width 16-64;
nb201 cells) and population size P, every jaxnas executor trains the first P genomes of one
seeded draw through ``jaxnas.train.train_population`` on synthetic 32x32 CIFAR-shaped data,
batch 64 per member (full EG-NAS step: crop, flip, cutout, SGD momentum, clip), and the
PyTorch reference (``experiments/torch_reference.py``) trains the same genomes one by one.
Each measurement runs in its own subprocess (clean compile caches and peak RSS; ``--devices``
sets ``XLA_FLAGS=--xla_force_host_platform_device_count`` before JAX starts). jaxnas workers
run with ``jaxnas.cpu_tuning`` as the ``jaxnas`` command does (``--no-cpu-tuning``: XLA's
defaults), the PyTorch worker with the environment unchanged.

Reported per executor: compile time, steady-state images/s (overall, per member, per device),
seconds per candidate-epoch (one member, one 50,000-image epoch, compile and init included),
peak RSS, and ``speedup_vs_torch`` = candidate-epochs per hour of jaxnas / of PyTorch on the
same networks (``speedup_vs_torch_steady``: the same ratio without compile/init).

    python experiments/bench_population.py --quick            # < 5 min on 2 cores
    python experiments/bench_population.py --sizes 1,4,16 --devices 1,4
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXECUTORS = ("loop", "bucketed", "vmap")


def _ranges(args) -> dict:
    return {"depth": tuple(args.depth), "width": tuple(args.width)}


# --------------------------------------------------------------------------- workers


def worker_jax(spec: dict) -> dict:
    from jaxnas.cpu_tuning import conv_impl_for_flags, force_host_device_count, tune_xla_flags

    if spec["devices"] > 1:
        force_host_device_count(spec["devices"], os.environ)
    tune_xla_flags()  # no-op when JAXNAS_CPU_TUNING=0 (--no-cpu-tuning)
    import jax

    from jaxnas.train import TrainOptions
    from jaxnas.train.bench import bench_genomes, measure_executor

    genomes = bench_genomes(spec["space"], spec["max_p"], spec["seed"], **spec["ranges"])
    genomes = genomes[: spec["population"]]
    assert len(jax.devices()) == spec["devices"], jax.devices()
    return measure_executor(spec["space"], genomes, spec["executor"], steps=spec["steps"],
                            seed=spec["seed"], time_limit_s=spec["time_limit"],
                            warm_calls=spec["warm_calls"], epoch_images=spec["epoch_images"],
                            options=TrainOptions(eval_batch_size=64, concurrent_groups=spec.get(
                                "concurrent_groups", 1),
                                network_conv_impl=conv_impl_for_flags(os.environ)))


def worker_torch(spec: dict) -> dict:
    import resource

    import torch

    sys.path.insert(0, str(HERE))
    from torch_reference import build, count_params, time_training

    from jaxnas.spaces import get_space
    from jaxnas.train.bench import bench_genomes

    torch.manual_seed(spec["seed"])
    genomes = bench_genomes(spec["space"], spec["max_p"], spec["seed"], **spec["ranges"])
    gen = torch.Generator().manual_seed(spec["seed"])
    images = torch.randint(0, 256, (spec["steps"] * 64, 3, 32, 32), dtype=torch.uint8,
                           generator=gen)
    labels = torch.randint(0, 10, (spec["steps"] * 64,), generator=gen)
    rows = []
    for g in genomes:
        t0 = time.perf_counter()
        model = build(spec["space"], g, 3, 10)
        build_s = time.perf_counter() - t0
        first, step, _ = time_training(model, images, labels, steps=max(2, spec["steps"]),
                                       seed=spec["seed"])
        rows.append({"genome": get_space(spec["space"]).to_string(g),
                     "params": count_params(model), "build_s": build_s, "first_step_s": first,
                     "step_s": step})
        print(f"torch {spec['space']} {rows[-1]['genome'][:40]}: step {step:.2f} s",
              file=sys.stderr, flush=True)
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "genomes": rows,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def worker_env(kind: str, cpu_tuning: bool = True) -> dict[str, str]:
    """A worker's environment: jaxnas workers run with the settings the ``jaxnas`` command
    line applies (jaxnas.cpu_tuning: glibc huge pages here, the XLA flag in the worker), the
    PyTorch reference with the environment as it is (the normal way)."""
    env = dict(os.environ)
    if kind != "torch" and cpu_tuning:
        from jaxnas.cpu_tuning import hugepages_env
        env = hugepages_env(env) or env
    else:
        env["JAXNAS_CPU_TUNING"] = "0"
    return env


def spawn(script: Path, kind: str, spec: dict, timeout: float, cpu_tuning: bool = True) -> dict:
    """Run ``script --worker kind spec`` in a fresh process; its ``RESULT {json}`` line."""
    cmd = [sys.executable, str(script), "--worker", kind, json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=worker_env(kind, cpu_tuning))
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": f"worker failed (rc {proc.returncode}): {proc.stderr[-800:]}"}


def _spawn(kind: str, spec: dict, timeout: float, cpu_tuning: bool = True) -> dict:
    return spawn(Path(__file__).resolve(), kind, spec, timeout, cpu_tuning)


# --------------------------------------------------------------------------- comparison


def torch_side(trows: list[dict], p: int, epoch_images: int, batch: int = 64) -> dict:
    """One-by-one PyTorch training of the first ``p`` genomes."""
    sel = trows[:p]
    spe = math.ceil(epoch_images / batch)
    step_sum = sum(r["step_s"] for r in sel)
    cand = sum(r["build_s"] + r["first_step_s"] + (spe - 1) * r["step_s"] for r in sel) / p
    return {"images_per_s": p * batch / step_sum, "candidate_epoch_s": cand}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="egnas only, P=4, smaller nets (depth 10-12, width 16-24), 1 step, "
                         "steady-state step from two warm calls: a smoke run (< 5 min on 2 cores)")
    ap.add_argument("--sizes", default="1,4,16", help="population sizes")
    ap.add_argument("--spaces", default="egnas,nb201")
    ap.add_argument("--executors", default=",".join(EXECUTORS))
    ap.add_argument("--devices", default="1",
                    help="comma list of XLA host device counts, e.g. 1,4 (CPU)")
    ap.add_argument("--concurrent", default="1",
                    help="comma list of TrainOptions.concurrent_groups values (groups trained "
                         "at once in threads), e.g. 1,2")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per member")
    ap.add_argument("--warm-calls", type=int, default=2, choices=(1, 2))
    ap.add_argument("--depth", type=int, nargs=2, default=(10, 20))
    ap.add_argument("--width", type=int, nargs=2, default=(16, 64))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch-images", type=int, default=50_000,
                    help="images per candidate-epoch for the candidate-epochs/hour ratio")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="an executor whose cold call exceeds this many seconds is reported "
                         "partial (warm calls skipped); default: no limit")
    ap.add_argument("--worker-timeout", type=float, default=3000.0)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-cpu-tuning", action="store_true",
                    help="run the jaxnas workers without jaxnas.cpu_tuning (XLA's defaults)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_population.json")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, spec = args.worker[0], json.loads(args.worker[1])
        res = worker_jax(spec) if kind == "jax" else worker_torch(spec)
        from jaxnas.cpu_tuning import process_env
        res["process_env"] = process_env()
        print("RESULT " + json.dumps(res), flush=True)
        return
    if not args.no_torch and importlib.util.find_spec("torch") is None:
        sys.exit("bench_population.py: the PyTorch reference needs the bench extra: "
                 "pip install -e '.[bench]' (or pass --no-torch)")
    if args.quick:
        args.sizes, args.spaces, args.steps, args.warm_calls = "4", "egnas", 1, 2
        args.depth, args.width = (10, 12), (16, 24)
    sizes = [int(v) for v in args.sizes.split(",")]
    spaces = args.spaces.split(",")
    executors = args.executors.split(",")
    devices = [int(v) for v in args.devices.split(",")]
    concurrent = [int(v) for v in args.concurrent.split(",")]
    max_p = max(sizes)
    base = {"seed": args.seed, "max_p": max_p, "ranges": _ranges(args), "steps": args.steps}
    started = time.perf_counter()
    torch_res = {}
    if not args.no_torch:
        for space in spaces:
            torch_res[space] = _spawn("torch", dict(base, space=space), args.worker_timeout)
            print(f"torch {space}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    rows = []

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "command": " ".join(["python", "experiments/bench_population.py"] + sys.argv[1:]),
            "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "gpu": None,
                        "note": "shared with other jobs: timings are noisy"},
            "settings": {"sizes": sizes, "spaces": spaces, "executors": executors,
                         "devices": devices, "concurrent": concurrent, "steps": args.steps,
                         "warm_calls": args.warm_calls,
                         "depth": list(args.depth), "width": list(args.width),
                         "seed": args.seed, "epoch_images": args.epoch_images,
                         "batch_size": 64, "cpu_tuning": not args.no_cpu_tuning},
            "torch": torch_res, "rows": rows,
            "wall_s": time.perf_counter() - started}, indent=1))

    save()
    for space in spaces:
        for n_dev in devices:
            for p in sizes:
                for exe, conc in [(e, c) for e in executors for c in concurrent]:
                    spec = dict(base, space=space, population=p, executor=exe, devices=n_dev,
                                time_limit=args.time_limit, warm_calls=args.warm_calls,
                                concurrent_groups=conc,
                                epoch_images=args.epoch_images)
                    r = _spawn("jax", spec, args.worker_timeout, not args.no_cpu_tuning)
                    r.update(space=space, executor=exe, population=p, devices=n_dev,
                             concurrent_groups=conc)
                    t = torch_res.get(space, {})
                    if "genomes" in t and "images_per_s" in r:
                        ts = torch_side(t["genomes"], p, args.epoch_images)
                        r["torch_images_per_s"] = ts["images_per_s"]
                        r["torch_candidate_epoch_s"] = ts["candidate_epoch_s"]
                        if r.get("candidate_epoch_s"):  # not for partial rows
                            r["speedup_vs_torch"] = (ts["candidate_epoch_s"]
                                                     / r["candidate_epoch_s"])
                            r["speedup_vs_torch_steady"] = (r["images_per_s"]
                                                            / ts["images_per_s"])
                    rows.append(r)
                    save()
                    print(f"{space} P={p} {exe} dev={n_dev} threads={conc}: "
                          f"{r.get('images_per_s', float('nan')):.1f} img/s "
                          f"{r.get('error', '')[:200]} ({time.perf_counter() - started:.0f} s)",
                          flush=True)
    # table
    print(f"\nbackend=cpu machine={platform.machine()} cores={os.cpu_count()} "
          f"batch=64/member steps={args.steps} epoch_images={args.epoch_images}")
    print(f"{'space':<7}{'executor':>9}{'thr':>4}{'P':>4}{'dev':>4}{'compile s':>10}"
          f"{'img/s':>8}"
          f"{'img/s/mem':>10}{'img/s/dev':>10}{'RSS MB':>8}{'torch img/s':>12}"
          f"{'speedup':>9}{'steady':>8}")
    for r in rows:
        if "images_per_s" not in r:
            print(f"{r['space']:<7}{r['executor']:>9}{r['concurrent_groups']:>4}"
                  f"{r['population']:>4}{r['devices']:>4}  "
                  f"error: {r.get('error', '')[:120]}")
            continue
        comp = "-" if r.get("compile_s") is None else f"{r['compile_s']:.1f}"
        print(f"{r['space']:<7}{r['executor']:>9}{r['concurrent_groups']:>4}"
              f"{r['population']:>4}{r['devices']:>4}{comp:>10}{r['images_per_s']:>8.1f}"
              f"{r['images_per_s_per_member']:>10.1f}"
              f"{r['images_per_s_per_device']:>10.1f}{r['peak_rss_mb']:>8.0f}"
              f"{r.get('torch_images_per_s', float('nan')):>12.1f}"
              f"{r.get('speedup_vs_torch', float('nan')):>9.2f}"
              f"{r.get('speedup_vs_torch_steady', float('nan')):>8.2f}"
              f"{'  partial' if r.get('partial') else ''}")
    save()
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

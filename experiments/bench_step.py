"""One member's full train step, jaxnas (`loop` executor) against PyTorch, same network.

    python experiments/bench_step.py                       # the two genomes of docs/performance.md
    python experiments/bench_step.py --genome L10-C16-o0000000000-k3333333333 --dataset cifar10

jaxnas is timed through ``train_population`` (``jaxnas.train.bench.measure_executor``, P=1,
``concurrent_groups=1``): step = (2-epoch call - 1-epoch call) / steps, so compilation, member
initialisation and evaluation are excluded. PyTorch (``experiments/torch_reference.py``, 2
threads) trains the same genome on the same-shaped random uint8 batches with the same
augmentation, optimiser and batch 64; its step is the median of ``--steps`` timed steps after
one warm-up step. Each side runs in its own process (``bench_population.spawn``): jaxnas with
``jaxnas.cpu_tuning`` as the ``jaxnas`` command applies it (``--no-cpu-tuning``: XLA's
defaults; ``--depthwise-impl shift``: without the native kernels), PyTorch with the
environment unchanged. ``--repeats R`` alternates the two sides R times and reports each
side's fastest run (this machine's speed drifts by 10-20 % within minutes). Prints a table and
writes JSON (``--out``).

To compare against an older jaxnas, run the script with ``PYTHONPATH`` pointing at a
``git worktree`` of that commit.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_GENOMES = (
    ("L19-C46-o0110000000101000000-k5333333333333333333", "cifar10"),  # paper-size
    ("L9-C12-o000000000-k333333333", "fashion_mnist"),  # the EG-NAS small-preset result
)


def jax_step(genome_text: str, dataset: str, steps: int, depthwise_impl: str = "auto") -> dict:
    conv_impl = None
    try:
        from jaxnas.cpu_tuning import tune_xla_flags
        tune_xla_flags()  # no-op under JAXNAS_CPU_TUNING=0
        from jaxnas.cpu_tuning import conv_impl_for_flags
        conv_impl = conv_impl_for_flags(os.environ)  # what the flags in effect need
    except ImportError:  # an older jaxnas
        pass
    try:
        from jaxnas.train.bench import measure_executor
    except ImportError:  # an older jaxnas
        from jaxnas.train.bench import measure_executor
    from jaxnas.spaces import get_space
    from jaxnas.train import TrainOptions

    space = get_space("egnas", min_depth=1, min_width=2)
    try:
        extra = {} if conv_impl is None else {"network_conv_impl": conv_impl}
        options = TrainOptions(eval_batch_size=64, concurrent_groups=1,
                               depthwise_impl=depthwise_impl, **extra)
    except TypeError:  # an older jaxnas without concurrent_groups / network_conv_impl
        options = TrainOptions(eval_batch_size=64)
    r = measure_executor("egnas", [space.parse(genome_text)], "loop", steps=steps,
                         dataset=dataset, options=options, warm_calls=2)
    return {"jax_step_ms": 1000.0 * 64 / r["images_per_s"], "jax_compile_s": r["compile_s"]}


def torch_step(genome_text: str, dataset: str, steps: int) -> dict:
    import torch

    sys.path.insert(0, str(HERE))
    from torch_reference import build, time_training

    from jaxnas.data import dataset_info
    from jaxnas.spaces import get_space

    torch.set_num_threads(2)
    info = dataset_info(dataset)
    h, w, c = info.shape
    genome = get_space("egnas", min_depth=1, min_width=2).parse(genome_text)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64 * (steps + 1), c, h, w), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, info.num_classes, (64 * (steps + 1),), generator=gen)
    model = build("egnas", genome, c, info.num_classes)
    _, step_s, _ = time_training(model, images, labels, steps=steps, flip=bool(info.allow_flip))
    return {"torch_step_ms": 1000.0 * step_s, "torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genome", action="append", default=None, help="egnas genome string")
    ap.add_argument("--dataset", action="append", default=None,
                    help="dataset shape per --genome (cifar10, fashion_mnist, ...)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1,
                    help="alternate jaxnas and PyTorch runs this many times; keep each fastest")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-cpu-tuning", action="store_true")
    ap.add_argument("--depthwise-impl", default="auto", help="TrainOptions.depthwise_impl")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_step.json")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec = json.loads(args.worker[1])
        if args.worker[0] == "jax":
            res = jax_step(spec["genome"], spec["dataset"], spec["steps"], spec["depthwise_impl"])
        else:
            res = torch_step(spec["genome"], spec["dataset"], spec["steps"])
        # written out, not jaxnas.cpu_tuning.process_env: the worker may run an older jaxnas
        res["process_env"] = {k: os.environ.get(k, "") for k in ("XLA_FLAGS", "GLIBC_TUNABLES")}
        print("RESULT " + json.dumps(res), flush=True)
        return
    if not args.no_torch and importlib.util.find_spec("torch") is None:
        sys.exit("bench_step.py: the PyTorch reference needs the bench extra: "
                 "pip install -e '.[bench]' (or pass --no-torch)")
    if args.genome:
        datasets = args.dataset or ["cifar10"] * len(args.genome)
        if len(datasets) != len(args.genome):
            ap.error("give one --dataset per --genome (or none: cifar10 for all)")
        cases = list(zip(args.genome, datasets))
    else:
        cases = list(DEFAULT_GENOMES)
    sys.path.insert(0, str(HERE))
    from bench_population import spawn

    import jaxnas

    me = Path(__file__).resolve()
    rows = []
    for genome, dataset in cases:
        row = {"genome": genome, "dataset": dataset, "batch_size": 64, "steps": args.steps,
               "depthwise_impl": args.depthwise_impl, "cpu_tuning": not args.no_cpu_tuning,
               "jax_runs_ms": [], "torch_runs_ms": []}
        spec = {"genome": genome, "dataset": dataset, "steps": args.steps,
                "depthwise_impl": args.depthwise_impl}
        for _ in range(args.repeats):
            res = spawn(me, "jax", spec, 3000, not args.no_cpu_tuning)
            if "error" in res:
                raise SystemExit(f"jaxnas worker: {res['error']}")
            row["jax_runs_ms"].append(res["jax_step_ms"])
            row.update(jax_compile_s=res["jax_compile_s"], jax_env=res["process_env"])
            if not args.no_torch:
                res = spawn(me, "torch", spec, 3000)
                if "error" in res:
                    raise SystemExit(f"torch worker: {res['error']}")
                row["torch_runs_ms"].append(res["torch_step_ms"])
                row["torch"] = res["torch"]
        row["jax_step_ms"] = min(row["jax_runs_ms"])
        if row["torch_runs_ms"]:
            row["torch_step_ms"] = min(row["torch_runs_ms"])
            row["jax_over_torch"] = row["jax_step_ms"] / row["torch_step_ms"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'genome':<52}{'dataset':>15}{'jaxnas ms':>11}{'torch ms':>10}{'ratio':>7}")
    for r in rows:
        print(f"{r['genome']:<52}{r['dataset']:>15}{r['jax_step_ms']:>11.0f}"
              f"{r.get('torch_step_ms', float('nan')):>10.0f}"
              f"{r.get('jax_over_torch', float('nan')):>7.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join(["python", "experiments/bench_step.py"] + sys.argv[1:]),
        "jaxnas_path": str(Path(jaxnas.__file__).parent), "machine": platform.platform(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

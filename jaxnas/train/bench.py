"""Timing the population trainer's executors on synthetic data (``jaxnas bench``).

Measures, through :func:`jaxnas.train.train_population` itself (not a re-implementation),
for a population of genomes drawn around the EG-NAS papers' networks: compile time,
steady-state images/s (overall, per member, per device), time per candidate-epoch and peak
RSS. ``experiments/bench_population.py`` adds the PyTorch reference side by side.
"""

from __future__ import annotations

import math
import resource
import time
from typing import Any, Sequence

import numpy as np

from jaxnas.errors import ConfigError, check_choice
from jaxnas.train.options import TrainOptions
from jaxnas.train.population import train_population
from jaxnas.train.recipe import TrainRecipe

BENCH_EXECUTORS = ("loop", "bucketed", "vmap")
# EG-NAS trains every candidate on the full CIFAR-10 train set: 50,000 images an epoch
DEFAULT_EPOCH_IMAGES = 50_000


def bench_genomes(space_name: str, n: int, seed: int = 0, depth: tuple[int, int] = (10, 20),
                  width: tuple[int, int] = (16, 64)) -> list[Any]:
    """``n`` seeded genomes of ``space_name``. egnas: depth and width uniform in the given
    ranges (width on the paper's step-2 grid), each layer a standard conv with probability 0.15
    and a 5x5 kernel with probability 0.1 (the authors' logged final networks have 0-6
    standard convs and 0-2 5x5 kernels, docs/algorithms.md); other spaces: ``space.sample``."""
    from jaxnas.spaces import get_space
    from jaxnas.spaces.egnas import EgnasGenome

    if n < 1:
        raise ConfigError(f"population size n={n!r} must be >= 1")
    rng = np.random.default_rng(seed)
    if space_name != "egnas":
        space = get_space(space_name)
        return [space.sample(rng) for _ in range(n)]
    if not (1 <= depth[0] <= depth[1] and 1 <= width[0] <= width[1]):
        raise ConfigError(f"depth range {depth} / width range {width} must be increasing >= 1")
    out = []
    for _ in range(n):
        d = int(rng.integers(depth[0], depth[1] + 1))
        w = int(width[0] + 2 * rng.integers(0, (width[1] - width[0]) // 2 + 1))
        ops = tuple(int(v) for v in (rng.random(d) < 0.15))
        ks = tuple(5 if v else 3 for v in (rng.random(d) < 0.1))
        out.append(EgnasGenome(d, w, ops, ks))
    return out


def synthetic_dataset(n: int, dataset: str = "cifar10", seed: int = 0):
    """``n`` random uint8 images with random labels shaped like ``dataset`` (timing only)."""
    from jaxnas.data import ArrayDataset, dataset_info

    info = dataset_info(dataset)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n,) + info.shape, dtype=np.uint8)
    labels = rng.integers(0, info.num_classes, n).astype(np.int32)
    return ArrayDataset(images, labels, info)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_executor(space_name: str, genomes: Sequence[Any], executor: str, *,
                     steps: int = 2, batch_size: int = 64, dataset: str = "cifar10",
                     devices: Sequence[Any] | None = None, options: Any = None,
                     epoch_images: int = DEFAULT_EPOCH_IMAGES, seed: int = 0,
                     time_limit_s: float | None = None, warm_calls: int = 2) -> dict:
    """Time ``train_population`` on a synthetic ``dataset`` of ``steps`` batches per member.

    Three calls: 1 epoch (cold: compiles), 1 epoch (warm), 2 epochs (warm). Compile time =
    cold - warm; one population step = (2-epoch - 1-epoch) / steps; the rest of the warm call
    (member init, weight embedding, a 64-image evaluation) is ``overhead_s``. When the cold
    call alone exceeds ``time_limit_s`` the warm calls are skipped and the result is marked
    ``partial`` (its images/s then includes compilation: a lower bound). ``warm_calls=1``
    skips the 2-epoch call (cheaper; the step time then includes the warm call's overhead).
    """
    import jax


    check_choice("executor", executor, BENCH_EXECUTORS + ("auto",))
    if steps < 1 or warm_calls not in (1, 2):
        raise ConfigError(f"steps={steps!r} must be >= 1 and warm_calls={warm_calls!r} 1 or 2")
    p = len(genomes)
    train = synthetic_dataset(steps * batch_size, dataset, seed)
    val = synthetic_dataset(batch_size, dataset, seed + 1)
    opts = options or TrainOptions(eval_batch_size=batch_size)
    key = jax.random.PRNGKey(seed)
    n_dev = len(devices) if devices is not None else len(jax.devices())

    def call(epochs: int) -> tuple[float, list]:
        recipe = TrainRecipe(epochs=epochs, batch_size=batch_size)
        t0 = time.perf_counter()
        res = train_population(space_name, genomes, recipe, train, val, key=key,
                               executor=executor, devices=devices, options=opts)
        return time.perf_counter() - t0, res

    out: dict[str, Any] = {"space": space_name, "executor": executor, "population": p,
                           "steps": steps, "batch_size": batch_size, "devices": n_dev,
                           "backend": jax.default_backend()}
    t_cold, res = call(1)
    bad = [r for r in res if r.status != "ok"]
    out["statuses"] = sorted({r.status for r in res})
    out["executor_used"] = sorted({r.executor for r in res})
    if bad:
        out["error"] = bad[0].reason
    if time_limit_s is not None and t_cold > time_limit_s:
        out.update(partial=True, cold_s=t_cold, compile_s=None,
                   images_per_s=p * batch_size * steps / t_cold,
                   peak_rss_mb=peak_rss_mb())
        out["images_per_s_per_member"] = out["images_per_s"] / p
        out["images_per_s_per_device"] = out["images_per_s"] / n_dev
        # compile and steady state are not separated: no per-epoch extrapolation
        out["candidate_epoch_s"] = None
        return out
    t1, _ = call(1)
    if warm_calls >= 2:
        t2, _ = call(2)
        step_s = (t2 - t1) / steps
        if step_s <= 0:  # noise on a loaded machine: fall back to the warm call (upper bound)
            step_s = t1 / steps
    else:  # one warm call: its init + evaluation overhead is counted in the step time
        t2, step_s = None, t1 / steps
    steps_per_epoch = math.ceil(epoch_images / batch_size)
    compile_s = max(0.0, t_cold - t1)
    overhead_s = max(0.0, t1 - steps * step_s)
    ips = p * batch_size / step_s
    out.update(
        partial=False, cold_s=t_cold, warm_1epoch_s=t1, warm_2epoch_s=t2,
        compile_s=compile_s, overhead_s=overhead_s, population_step_s=step_s,
        images_per_s=ips, images_per_s_per_member=ips / p, images_per_s_per_device=ips / n_dev,
        # one candidate trained for one epoch of epoch_images, compile and init included
        candidate_epoch_s=(compile_s + overhead_s + steps_per_epoch * step_s) / p,
        peak_rss_mb=peak_rss_mb())
    return out


def format_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`measure_executor` as the table ``jaxnas bench`` prints."""
    head = (f"{'space':<7}{'executor':>9}{'P':>4}{'dev':>4}{'compile s':>10}{'step s':>8}"
            f"{'img/s':>8}{'img/s/mem':>10}{'img/s/dev':>10}{'cand-ep s':>10}{'RSS MB':>8}")
    lines = [head]
    for r in rows:
        comp = "-" if r.get("compile_s") is None else f"{r['compile_s']:.1f}"
        step = "-" if "population_step_s" not in r else f"{r['population_step_s']:.2f}"
        note = " (partial: includes compile)" if r.get("partial") else ""
        if r.get("error"):
            note += f" [{r['error'][:60]}]"
        lines.append(
            f"{r['space']:<7}{r['executor']:>9}{r['population']:>4}{r['devices']:>4}{comp:>10}"
            f"{step:>8}{r['images_per_s']:>8.1f}{r['images_per_s_per_member']:>10.1f}"
            f"{r['images_per_s_per_device']:>10.1f}"
            f"{'-' if r['candidate_epoch_s'] is None else format(r['candidate_epoch_s'], '.0f'):>10}"
            f"{r['peak_rss_mb']:>8.0f}{note}")
    return "\n".join(lines)


__all__ = ["BENCH_EXECUTORS", "DEFAULT_EPOCH_IMAGES", "bench_genomes", "format_table",
           "measure_executor", "peak_rss_mb", "synthetic_dataset"]

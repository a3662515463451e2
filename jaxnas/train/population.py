"""Population training: many genomes of one space, each with its own recipe, one call.

Everything a member's result depends on is its genome, its :class:`TrainRecipe` and its key
(``member_keys`` given, or ``fold_in(key, i)``): initial weights (``fold_in(k, 0)``), the
per-epoch data order (``fold_in(fold_in(k, 2), epoch)``) and the augmentation of every step
(``fold_in(fold_in(k, 1), step)``). So a member trains the same way alone, in any population
and under any executor (up to float round-off between differently batched programs).

The pieces (see docs/training.md): :mod:`jaxnas.train.options` (results and implementation
options), :mod:`jaxnas.train.step` (one member's SGD step and evaluation),
:mod:`jaxnas.train.executors` (``loop`` / ``bucketed`` / ``vmap`` / ``auto``: how members are
grouped into compiled programs and sharded over devices). A member whose loss or gradient norm
goes non-finite is frozen at its last finite state and reported ``"diverged"``; the other
members are unaffected.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import jax

from jaxnas.data import ArrayDataset, data_fingerprint
from jaxnas.errors import ConfigError
from jaxnas.train.checkpoint import GroupCheckpoint, group_identity
from jaxnas.train.executors import (
    Group,
    Member,
    make_groups,
    put_eval,
    put_train,
    resolve_executor,
    run_group,
)
from jaxnas.train.options import EXECUTORS, EpochMetrics, MemberResult, TrainOptions
from jaxnas.train.recipe import TrainRecipe

log = logging.getLogger(__name__)


def _genome_name(space_name: str, genome: Any) -> str:
    try:
        from jaxnas.spaces import get_space
        return str(get_space(space_name).key(genome))
    except Exception:  # a key is for reporting only; never fail training over it
        return repr(genome)


def _check_members(space_name: Any, genomes: list, key: Any, member_keys: Any) -> None:
    """The space exists, every genome is one of its genome objects, every key is a jax key."""
    from jaxnas.errors import UnknownNameError
    from jaxnas.nn import NETWORKS

    if not isinstance(space_name, str) or space_name not in NETWORKS:
        raise UnknownNameError(f"space {space_name!r} is not one of {sorted(NETWORKS)}")
    genome_cls = NETWORKS[space_name][1]
    for i, genome in enumerate(genomes):
        if not isinstance(genome, genome_cls):
            raise ConfigError(f"genome {i} is a {type(genome).__name__}, not a "
                              f"{genome_cls.__name__} of space {space_name!r} (parse strings "
                              f"with jaxnas.spaces.parse_genome)")
    for name, value in [("key", key), *(("member_keys", k) for k in member_keys or ())]:
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise ConfigError(f"{name}={value!r} is not a jax key; use "
                              f"jax.random.PRNGKey(seed) or jax.random.key(seed)")


def _check_inputs(genomes: list, recipes: Sequence[TrainRecipe] | TrainRecipe,
                  member_keys, datasets: dict[str, Any]) -> list[TrainRecipe]:
    """The per-member recipes, after checking every argument's type and length."""
    if isinstance(recipes, TrainRecipe):
        recipes = [recipes] * len(genomes)
    recipes = list(recipes)
    if len(recipes) != len(genomes):
        raise ConfigError(f"got {len(recipes)} recipes for {len(genomes)} genomes; "
                          "pass one TrainRecipe per genome")
    for r in recipes:
        if not isinstance(r, TrainRecipe):
            raise ConfigError(f"recipe {r!r} is not a TrainRecipe")
    if member_keys is not None and len(member_keys) != len(genomes):
        raise ConfigError(f"got {len(member_keys)} member_keys for {len(genomes)} genomes")
    for name, ds in datasets.items():
        if ds is not None and not isinstance(ds, ArrayDataset):
            raise ConfigError(f"{name} must be a jaxnas.data.ArrayDataset, got {type(ds)}")
    return recipes


def _run_groups(groups: list[Group], run, workers: int) -> None:
    """Train every group; ``workers`` > 1 trains that many at once in threads."""
    workers = min(workers, len(groups))
    if workers <= 1:
        for g in groups:
            run(g)
        return
    # groups share nothing mutable; XLA releases the GIL while compiling and running, so
    # small networks that cannot use every core alone overlap (docs/performance.md)
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run, g) for g in groups]:
            future.result()


def train_population(
    space_name: str,
    genomes: Sequence[Any],
    recipes: Sequence[TrainRecipe] | TrainRecipe,
    train_data: ArrayDataset,
    val_data: ArrayDataset,
    *,
    key: jax.Array,
    member_keys: Sequence[jax.Array] | None = None,
    executor: str = "auto",
    test_data: ArrayDataset | None = None,
    devices: Sequence[Any] | None = None,
    progress: bool = False,
    options: TrainOptions | None = None,
    on_member: Callable[[int, MemberResult], None] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
    on_member_epoch: Callable[[EpochMetrics], None] | None = None,
    checkpoint_dir: str | Path | None = None,
) -> list[MemberResult]:
    """Train every genome of ``genomes`` (one space) on ``train_data`` with its own recipe and
    return one :class:`MemberResult` per genome, in order.

    ``recipes``: one :class:`TrainRecipe` per genome (or one for all). ``key``: the population
    key; member i uses ``member_keys[i]`` when given, else ``fold_in(key, i)``. ``executor``:
    ``"auto"``, ``"loop"``, ``"bucketed"`` or ``"vmap"`` (:mod:`jaxnas.train.executors`).
    ``devices``: the devices the population axis is sharded over in ``bucketed``/``vmap``
    (default: all). Validation (and ``test_data``, when given) accuracy is measured after every
    epoch. ``options``: :class:`TrainOptions` (speed only). ``on_member(i, result)`` is called
    as soon as member i has finished (one call at a time, in finishing order), so a caller can
    store each result before the rest of the population is done. ``on_epoch(done, of)`` is
    called after every epoch of a group of members (for progress bars; groups that train in
    threads call it from their thread, unsynchronised). ``on_member_epoch(metrics)`` gets an
    :class:`EpochMetrics` per member and epoch, as soon as the epoch is evaluated (per-epoch
    curves while training; same threading as ``on_epoch``; before the epoch's checkpoint is
    saved). ``checkpoint_dir``: each group saves its state there after every epoch, and a
    later call with the same members, recipes, keys, network options and data continues from
    the last saved epoch with the same results as an uninterrupted training
    (:mod:`jaxnas.train.checkpoint`; wall and compile seconds are summed over the calls).
    """
    genomes = list(genomes)
    if not genomes:
        return []
    _check_members(space_name, genomes, key, member_keys)
    recipes = _check_inputs(genomes, recipes, member_keys, {
        "train_data": train_data, "val_data": val_data, "test_data": test_data})
    opts = options or TrainOptions()
    info = train_data.info
    exe = resolve_executor(executor, space_name)
    keys = list(member_keys) if member_keys is not None else [
        jax.random.fold_in(key, i) for i in range(len(genomes))]
    members = [Member(i, g, r, k, _genome_name(space_name, g))
               for i, (g, r, k) in enumerate(zip(genomes, recipes, keys))]
    mesh = replicated = None
    if exe in ("bucketed", "vmap"):
        from jaxnas.train.sharding import population_mesh, replicated_sharding
        mesh = population_mesh(devices)
        replicated = replicated_sharding(mesh) if mesh is not None else None
    train = put_train(train_data, replicated)
    evals = {"val": put_eval(val_data, opts.eval_batch_size, replicated)}
    if test_data is not None:
        evals["test"] = put_eval(test_data, opts.eval_batch_size, replicated)
    input_shape = tuple(train_data.images.shape[1:])
    groups = make_groups(space_name, members, exe, info, opts, info.num_classes)

    checkpoint_of = _checkpoints(checkpoint_dir, space_name, opts,
                                 [train_data, val_data, test_data])

    results: dict[int, MemberResult] = {}
    lock = threading.Lock()  # groups may finish in threads; report one member at a time

    def run(g: Group) -> None:
        shape = input_shape if g.sd.crop_size is None else (
            g.sd.crop_size, g.sd.crop_size, input_shape[-1])
        try:
            run_group(g, train, evals, shape, mesh, progress, on_epoch, checkpoint_of(g),
                      on_member_epoch)
        except ConfigError:
            raise
        except Exception as exc:  # one broken group must not lose the population's results
            log.exception("training group failed")
            for m in g.members:
                m.status, m.reason = "failed", f"{type(exc).__name__}: {exc}"
        with lock:
            for m in g.members:
                results[m.index] = _result(space_name, m, info, info.num_classes, opts)
                if on_member is not None:
                    on_member(m.index, results[m.index])

    workers = opts.concurrent_groups
    if workers == "auto":
        workers = 2 if exe == "loop" and jax.default_backend() == "cpu" else 1
    _run_groups(groups, run, workers)
    return [results[m.index] for m in members]


def _checkpoints(directory: str | Path | None, space_name: str, opts: TrainOptions,
                 data: list[ArrayDataset | None]) -> Callable[[Group], GroupCheckpoint | None]:
    """Group -> its checkpoint in ``directory`` (None without one), named by everything its
    training depends on; speed-only options are left out, so they may change on a resume."""
    if directory is None:
        return lambda group: None
    fingerprint = data_fingerprint(*[d for d in data if d is not None])
    has_test = data[-1] is not None

    def of(group: Group) -> GroupCheckpoint:
        members = [(m.name, repr(m.recipe), m.key) for m in group.members]
        return GroupCheckpoint(Path(directory), group_identity(
            [space_name, group.executor, group.batched, members, opts.network_options,
             fingerprint, has_test]))

    return of


def _result(space_name: str, m: Member, info, num_classes: int,
            opts: TrainOptions) -> MemberResult:
    from jaxnas.nn import count_flops, count_params
    try:
        net_opts = {k: v for k, v in opts.network_options}
        params = count_params(space_name, m.genome, num_classes, info.shape, **net_opts)
        flops = count_flops(space_name, m.genome, num_classes, info.shape, **net_opts)
    except Exception:  # counting is reporting only
        params, flops = 0, 0
    val = tuple(m.val)
    return MemberResult(
        genome=m.name, status=m.status, reason=m.reason, val_acc_per_epoch=val,
        test_acc_per_epoch=tuple(m.test), train_loss_per_epoch=tuple(m.loss),
        train_acc_per_epoch=tuple(m.train_acc), best_val_acc=max(val) if val else 0.0,
        final_val_acc=val[-1] if val else 0.0, params=int(params), flops=int(flops),
        steps=int(m.steps), wall_time=float(m.wall), executor=m.executor,
        compile_time=float(m.compile))


__all__ = ["EXECUTORS", "MemberResult", "TrainOptions", "train_population"]

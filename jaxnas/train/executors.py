"""Executors: how the population trainer groups members into compiled programs and runs them.

* ``"loop"``: one jitted step per architecture, members one after another. Compiled steps are
  cached by static structure and reused across calls.
* ``"bucketed"``: members with identical static structure (same genome, same static recipe
  fields) are stacked and ``vmap``-ed in one program per bucket.
* ``"vmap"``: egnas / nb201 members share one masked supernet (:mod:`jaxnas.nn.supernet`) and
  one program; other spaces fall back to ``"bucketed"`` (logged).
* ``"auto"``: ``"loop"`` on the CPU backend (XLA:CPU runs batched per-member convs as slow
  grouped convolutions, 9-37x slower than a loop; docs/performance.md), ``"vmap"`` for
  egnas/nb201 and ``"bucketed"`` otherwise on GPU/TPU.

In ``vmap``/``bucketed`` the population axis is placed on a ``jax.sharding.Mesh`` over the
devices; populations are padded to a multiple of the device count with inactive copies that
never reach the results.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.data import ArrayDataset
from jaxnas.errors import ConfigError, check_choice
from jaxnas.train.checkpoint import RECORD_FIELDS, GroupCheckpoint
from jaxnas.train.distributed import host_get
from jaxnas.train.options import EXECUTORS, EpochMetrics, TrainOptions
from jaxnas.train.recipe import TrainRecipe
from jaxnas.train.step import (
    ModelDef,
    StepDef,
    hyper,
    init_program,
    net_options,
    perm_program,
    programs,
    sgd,
    supernet_options,
)

log = logging.getLogger("jaxnas.train.population")


# ------------------------------------------------------------------------------ members


@dataclass
class Member:
    """One member's inputs and the records its training fills in."""

    index: int
    genome: Any
    recipe: TrainRecipe
    key: Any
    name: str
    val: list = field(default_factory=list)
    test: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    steps: int = 0
    status: str = "ok"
    reason: str = ""
    wall: float = 0.0
    compile: float = 0.0
    executor: str = ""


def _static_recipe(r: TrainRecipe) -> tuple:
    return (r.batch_size, r.crop_size, r.crop_padding, r.flip, r.cutout_size)


def _hashable(genome: Any) -> Any:
    try:
        hash(genome)
        return genome
    except TypeError:
        return repr(genome)


# ------------------------------------------------------------------------------ data on device


@dataclass
class DeviceData:
    images: jax.Array
    labels: jax.Array
    n: int


@dataclass
class EvalData:
    images: jax.Array  # (chunks, chunk, H, W, C) uint8
    labels: jax.Array  # (chunks, chunk)
    valid: jax.Array  # (chunks, chunk) bool
    n: int


def put_train(ds: ArrayDataset, sharding=None) -> DeviceData:
    put = (lambda a: jax.device_put(a, sharding)) if sharding is not None else jnp.asarray
    return DeviceData(put(ds.images), put(ds.labels), len(ds))


def put_eval(ds: ArrayDataset, chunk: int, sharding=None) -> EvalData:
    n = len(ds)
    chunk = min(chunk, n)
    num = -(-n // chunk)
    pad = num * chunk - n
    imgs = np.concatenate([ds.images, np.zeros((pad,) + ds.images.shape[1:], np.uint8)])
    labs = np.concatenate([ds.labels, np.zeros(pad, np.int32)])
    valid = np.arange(num * chunk) < n
    put = (lambda a: jax.device_put(a, sharding)) if sharding is not None else jnp.asarray
    return EvalData(put(imgs.reshape((num, chunk) + ds.images.shape[1:])),
                    put(labs.reshape(num, chunk)), put(valid.reshape(num, chunk)), n)


# ------------------------------------------------------------------------------ groups


@dataclass
class Group:
    """Members that share one compiled program (size 1 and unbatched for ``loop``)."""

    sd: StepDef
    members: list[Member]
    batched: bool
    executor: str
    models: list[ModelDef]  # per member: the standalone net (for init / embedding)
    dyn: list[Any]  # per member dynamic arrays (None for standalone nets)


def _init_member(model: ModelDef, key, input_shape) -> dict:
    variables = init_program(model, tuple(input_shape))(jax.random.fold_in(key, 0))
    variables = jax.device_get(variables)
    return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


def _initial_state(group: Group, input_shape) -> list[dict]:
    """Per-member initial state. Supernet members get their standalone network's initial
    weights embedded (so every executor starts a member from identical weights)."""
    out = []
    template = None
    if group.sd.model.kind == "supernet":
        from jaxnas.nn.supernet import embed_variables
        smod = group.sd.model.module()
        dyn0 = jax.tree_util.tree_map(jnp.asarray, group.dyn[0])
        template = jax.eval_shape(
            lambda: smod.init(jax.random.PRNGKey(0), jnp.zeros((1,) + tuple(input_shape)),
                              dyn0, train=False))
    for m, model in zip(group.members, group.models):
        v = _init_member(model, m.key, input_shape)
        if template is not None:
            v = embed_variables(group.sd.model.space, group.sd.model.arch, m.genome, v,
                                jax.tree_util.tree_map(
                                    lambda s: np.zeros(s.shape, s.dtype), template))
            v = {"params": v["params"], "batch_stats": v["batch_stats"]}
        params = jax.tree_util.tree_map(jnp.asarray, v["params"])
        opt = sgd(0.9, 0.0, 1.0).init(params)
        out.append({
            "params": params,
            "batch_stats": jax.tree_util.tree_map(jnp.asarray, v["batch_stats"]),
            "opt": opt,
            "alive": jnp.asarray(True),
            "metrics": _zero_metrics(),
        })
    return out


def _zero_metrics():
    return {"loss": jnp.zeros((), jnp.float32), "correct": jnp.zeros((), jnp.int32),
            "steps": jnp.zeros((), jnp.int32)}


def _stack(trees: Sequence[Any]):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


# ------------------------------------------------------------------------------ running a group


def _place(group: Group, input_shape, mesh) -> tuple[Any, Any, Any, Any, int]:
    """(state, dynamic arrays, member keys, augmentation keys, padded population size) of a
    group on its devices: stacked, padded with inactive copies of member 0 to a multiple of
    the device count and sharded when batched; member 0's alone for ``loop``."""
    states = _initial_state(group, input_shape)
    keys = [m.key for m in group.members]
    if not group.batched:
        return (states[0], group.dyn[0], keys[0], jax.random.fold_in(keys[0], 1),
                len(group.members))
    n_real = len(group.members)
    n_dev = 1 if mesh is None else mesh.devices.size
    pad = (-n_real) % n_dev
    states = states + [states[0]] * pad
    dyn = list(group.dyn) + [group.dyn[0]] * pad
    keys = keys + [keys[0]] * pad
    state = _stack(states)
    dyn_arr = _stack([jax.tree_util.tree_map(jnp.asarray, d) for d in dyn]) \
        if dyn[0] is not None else jnp.zeros((n_real + pad,))
    key_arr = jnp.stack(keys)
    if mesh is not None:
        from jaxnas.train.sharding import shard_population
        state, dyn_arr, key_arr = shard_population(mesh, (state, dyn_arr, key_arr))
    aug_keys = jnp.stack([jax.random.fold_in(k, 1) for k in keys])
    return state, dyn_arr, key_arr, aug_keys, n_real + pad


def _record_epoch(group: Group, training: list[bool], metrics, alive, accs: dict,
                  epoch: int) -> None:
    """Append one finished epoch to the records of the group's members that trained in it."""
    bsz = group.sd.batch_size
    steps_all = np.asarray(metrics["steps"]).reshape(-1)
    for i, m in enumerate(group.members):
        if not training[i]:
            continue
        steps = int(steps_all[i])
        m.steps += steps
        if not alive[i]:
            m.status = "diverged"
            m.reason = f"non-finite loss or gradient in epoch {epoch + 1}"
            continue
        m.loss.append(float(np.asarray(metrics["loss"]).reshape(-1)[i]) / max(1, steps))
        m.train_acc.append(100.0 * float(np.asarray(metrics["correct"]).reshape(-1)[i])
                           / max(1, steps * bsz))
        m.val.append(accs["val"][i])
        if "test" in accs:
            m.test.append(accs["test"][i])


def _report_epoch(group: Group, training: list[bool], epoch: int,
                  on_member_epoch: Callable[[EpochMetrics], None]) -> None:
    """Pass the epoch just recorded of every member that trained in it and is still alive."""
    for m, trained in zip(group.members, training):
        if trained and m.status == "ok":
            on_member_epoch(EpochMetrics(m.index, epoch, m.loss[-1], m.train_acc[-1], m.val[-1],
                                         m.test[-1] if m.test else None))


def run_group(group: Group, train: DeviceData, evals: dict[str, EvalData],
              input_shape, mesh, progress: bool,
              on_epoch: Callable[[int, int], None] | None = None,
              checkpoint: GroupCheckpoint | None = None,
              on_member_epoch: Callable[[EpochMetrics], None] | None = None) -> None:
    """Train one group to completion, filling its members' records; ``on_epoch(done, of)``
    after each of its epochs, and ``on_member_epoch`` with each live member's numbers of it
    (before ``on_epoch``). With a ``checkpoint``, the group continues from the epoch it
    last saved and saves after every epoch (:mod:`jaxnas.train.checkpoint`)."""
    start = time.perf_counter()
    sd, members = group.sd, group.members
    progs = programs(sd, group.batched)
    steps_per_epoch = train.n // sd.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"batch_size={sd.batch_size} exceeds the {train.n} training examples")
    state, dyn_arr, key_arr, aug_keys, n_pop = _place(group, input_shape, mesh)
    recipes = [m.recipe for m in members]
    max_epochs = max(r.epochs for r in recipes)
    perm_fn = perm_program(train.n, sd.batch_size, group.batched)
    first_epoch, wall_before, compile_before = 0, 0.0, 0.0
    restored = checkpoint.load(state) if checkpoint is not None else None
    if restored is not None:
        state, first_epoch = restored.state, restored.epochs_done
        wall_before, compile_before = restored.wall_s, restored.compile_s
        for m, record in zip(members, restored.records):
            for name in RECORD_FIELDS:
                setattr(m, name, record[name])
    step_count = first_epoch * steps_per_epoch
    timer = _FirstCallTimer()
    for epoch in range(first_epoch, max_epochs):
        training = [epoch < r.epochs and m.status == "ok" for m, r in zip(members, recipes)]
        if not any(training):
            break
        hp = hyper(recipes, epoch, training, n_pop, group.batched, steps_per_epoch)
        if group.batched and mesh is not None:
            from jaxnas.train.sharding import shard_population
            hp = shard_population(mesh, hp)
        perms = perm_fn(key_arr, epoch)
        for b in range(steps_per_epoch):
            if group.batched:
                idx = perms[:, b]
                skeys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(aug_keys, step_count)
            else:
                idx = perms[b]
                skeys = jax.random.fold_in(aug_keys, step_count)
            with timer.call("step", step_count) as blocked:
                state = blocked(progs["step"](state, hp, train.images, train.labels, idx,
                                              skeys, dyn_arr))
            step_count += 1
        metrics = host_get(state["metrics"])
        alive = np.asarray(host_get(state["alive"])).reshape(-1)
        with timer.call("eval", epoch):
            accs = {name: _evaluate(progs["eval"], state, dyn_arr, ev)
                    for name, ev in evals.items()}
        state = dict(state, metrics=jax.tree_util.tree_map(jnp.zeros_like, state["metrics"]))
        _record_epoch(group, training, metrics, alive, accs, epoch)
        if on_member_epoch is not None:
            _report_epoch(group, training, epoch, on_member_epoch)
        if checkpoint is not None:
            checkpoint.save(epoch + 1, state, members, wall_before + time.perf_counter() - start,
                            compile_before + timer.compile_seconds())
        if on_epoch is not None:
            on_epoch(epoch + 1, max_epochs)
        if progress:
            log.info("%s group of %d: epoch %d/%d done (%.1f s)", group.executor, len(members),
                     epoch + 1, max_epochs, time.perf_counter() - start)
    jax.block_until_ready(state)
    # seconds over every process that trained the group (a resumed one recompiles: counted)
    wall = (wall_before + time.perf_counter() - start) / len(members)
    compile_s = (compile_before + timer.compile_seconds()) / len(members)
    for m in members:
        m.wall, m.compile, m.executor = wall, compile_s, group.executor


class _FirstCallTimer:
    """Compile time of a group's programs, measured as the excess of the first call of each
    program over its second (the first call compiles; later calls only run). Only those two
    calls wait for the device, so the timing costs two synchronisations per program."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def call(self, name: str, index: int):
        timed = index < 2
        start = time.perf_counter()
        yield (jax.block_until_ready if timed else (lambda x: x))
        if timed:
            self.seconds.setdefault(name, []).append(time.perf_counter() - start)

    def compile_seconds(self) -> float:
        return sum(max(0.0, t[0] - t[1]) if len(t) > 1 else 0.0 for t in self.seconds.values())


def _evaluate(eval_fn, state, dyn, ev: EvalData) -> list[float]:
    total = None
    for c in range(ev.images.shape[0]):
        got = eval_fn(state["params"], state["batch_stats"], ev.images[c], ev.labels[c],
                      ev.valid[c], dyn)
        total = got if total is None else total + got
    counts = np.asarray(host_get(total)).reshape(-1)
    return [100.0 * float(c) / ev.n for c in counts]


# ------------------------------------------------------------------------------ grouping


def resolve_executor(executor: str, space_name: str) -> str:
    check_choice("executor", executor, EXECUTORS)
    if executor == "auto":
        if jax.default_backend() == "cpu":
            return "loop"
        from jaxnas.nn.supernet import SUPERNET_SPACES
        return "vmap" if space_name in SUPERNET_SPACES else "bucketed"
    return executor


def make_groups(space_name: str, members: list[Member], executor: str, info,
                opts: TrainOptions, num_classes: int) -> list[Group]:
    net_opts = net_options(space_name, opts)

    def sdef(model, recipe):
        return StepDef(model, info, recipe.batch_size, recipe.crop_size, recipe.crop_padding,
                       recipe.flip, recipe.cutout_size)

    def net(m):
        return ModelDef(space_name, "net", _hashable(m.genome), num_classes, net_opts)

    groups: list[Group] = []
    if executor == "loop":
        for m in members:
            model = net(m)
            groups.append(Group(sdef(model, m.recipe), [m], False, "loop", [model], [None]))
        return groups
    if executor == "vmap":
        from jaxnas.nn.supernet import SUPERNET_SPACES, dynamic_arrays, supernet_spec
        if space_name in SUPERNET_SPACES:
            by_recipe: dict[tuple, list[Member]] = {}
            for m in members:
                by_recipe.setdefault(_static_recipe(m.recipe), []).append(m)
            for ms in by_recipe.values():
                spec = supernet_spec(space_name, [m.genome for m in ms])
                smodel = ModelDef(space_name, "supernet", spec, num_classes,
                                  supernet_options(space_name, opts))
                groups.append(Group(sdef(smodel, ms[0].recipe), ms, True, "vmap",
                                    [net(m) for m in ms],
                                    [dynamic_arrays(space_name, spec, m.genome) for m in ms]))
            return groups
        log.info("executor 'vmap' has no masked supernet for space %r (only %s); "
                 "using 'bucketed'", space_name, SUPERNET_SPACES)
    buckets: dict[tuple, list[Member]] = {}
    for m in members:
        buckets.setdefault((_hashable(m.genome), _static_recipe(m.recipe)), []).append(m)
    for ms in buckets.values():
        model = net(ms[0])
        groups.append(Group(sdef(model, ms[0].recipe), ms, True, "bucketed",
                            [model] * len(ms), [None] * len(ms)))
    return groups

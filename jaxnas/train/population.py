"""Population training: many genomes of one space, each with its own budget, one call.

Everything a member's result depends on is its genome, its budget and its key (``member_keys``
given, or ``fold_in(key, i)``): initial weights (``fold_in(k, 0)``), the per-epoch data order
(``fold_in(fold_in(k, 2), epoch)``) and the augmentation of every step (``fold_in(fold_in(k, 1),
step)``). So a member trains the same way alone, in any population and under any executor (up to
float round-off between differently batched programs).

Executors (see docs/training.md):

* ``"loop"``: one jitted step per architecture, members one after another. Compiled steps are
  cached by static structure and reused across calls.
* ``"bucketed"``: members with identical static structure (same genome, same static budget
  fields) are stacked and ``vmap``-ed in one program per bucket.
* ``"vmap"``: egnas / nb201 members share one masked supernet (:mod:`jaxnas.nn.supernet`) and
  one program; other spaces fall back to ``"bucketed"`` (logged).
* ``"auto"``: ``"loop"`` on the CPU backend (findings.md: XLA:CPU runs batched per-member convs
  as slow grouped convolutions, 9-37x slower than a loop), ``"vmap"`` for egnas/nb201 and
  ``"bucketed"`` otherwise on GPU/TPU.

In ``vmap``/``bucketed`` the population axis is placed on a ``jax.sharding.Mesh`` over
``devices`` (default: all visible devices); populations are padded to a multiple of the device
count with inactive copies that never reach the results.

Per member: SGD with momentum, weight decay (added to the gradient after clipping, as PyTorch's
``SGD(weight_decay=...)``), grad-norm clip (each member's own norm), a per-epoch or per-step
learning-rate schedule, cross-entropy. A member whose loss or gradient norm goes non-finite is frozen at its
last finite state and reported ``"diverged"``; the other members are unaffected.
"""

from __future__ import annotations

import functools
import logging

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.data import ArrayDataset, augment_batch
from jaxnas.errors import ConfigError, check_choice
from jaxnas.nn.layers import DEPTHWISE_IMPLS
from jaxnas.train.budget import TrainBudget

log = logging.getLogger(__name__)

EXECUTORS = ("auto", "loop", "bucketed", "vmap")
STATUSES = ("ok", "diverged", "failed")


@dataclass(frozen=True)
class MemberResult:
    """One member's training outcome. Accuracies are in percent; curves have one value per
    completed epoch (a diverged member's curves stop at its last finite epoch)."""

    genome: str
    status: str
    reason: str = ""
    val_acc_per_epoch: tuple[float, ...] = ()
    test_acc_per_epoch: tuple[float, ...] = ()
    train_loss_per_epoch: tuple[float, ...] = ()
    train_acc_per_epoch: tuple[float, ...] = ()
    best_val_acc: float = 0.0
    final_val_acc: float = 0.0
    params: int = 0
    flops: int = 0
    steps: int = 0
    wall_time: float = 0.0
    executor: str = ""

    @property
    def wall_time_s(self) -> float:
        """Alias of ``wall_time`` (seconds)."""
        return self.wall_time

    @property
    def best_test_acc(self) -> float:
        return max(self.test_acc_per_epoch) if self.test_acc_per_epoch else 0.0


@dataclass(frozen=True)
class TrainOptions:
    """Implementation choices that do not change what is computed (only how fast).

    ``conv_impl``: dense convs of the masked supernet, ``"xla"`` (``lax.conv``) or
    ``"patches"`` (patch extraction + one matmul; under ``vmap`` a batched dot instead of a
    grouped conv); ``"auto"`` = ``"patches"`` on CPU, ``"xla"`` elsewhere.
    ``depthwise_impl``: ``"grouped"`` / ``"shift"`` / ``"native"`` / ``"auto"`` (native C++
    kernels on CPU when they build, else shift; grouped on GPU/TPU), used by the egnas and darts
    networks and the egnas supernet.
    ``eval_batch_size``: images per evaluation chunk.
    ``network_options``: extra ``build_network`` options as ``(name, value)`` pairs (e.g.
    ``(("channels", 8),)`` for a small nb201 net).
    ``concurrent_groups``: how many compiled groups (members, for ``loop``) train at once in
    threads; each member's result is the same as when trained alone. ``"auto"``: 2 for
    ``loop`` on the CPU backend (small convs do not keep two cores busy: 1.33x more images/s
    measured, docs/performance.md), else 1.
    """

    conv_impl: str = "auto"
    depthwise_impl: str = "auto"
    eval_batch_size: int = 1000
    network_options: tuple[tuple[str, Any], ...] = ()
    concurrent_groups: int | str = "auto"

    def __post_init__(self) -> None:
        check_choice("conv_impl", self.conv_impl, ("auto", "xla", "patches"))
        check_choice("depthwise_impl", self.depthwise_impl, DEPTHWISE_IMPLS)
        if self.eval_batch_size < 1:
            raise ConfigError(f"eval_batch_size={self.eval_batch_size!r} must be >= 1")
        if self.concurrent_groups != "auto" and (
                not isinstance(self.concurrent_groups, int) or self.concurrent_groups < 1):
            raise ConfigError(f"concurrent_groups={self.concurrent_groups!r} must be 'auto' or "
                              "an int >= 1")


# ------------------------------------------------------------------------------ model defs


@dataclass(frozen=True)
class _ModelDef:
    """Hashable static description of one compiled model: a standalone network of one genome,
    or a masked supernet of a spec."""

    space: str
    kind: str  # "net" | "supernet"
    arch: Any  # genome (net) or supernet spec
    num_classes: int
    options: tuple[tuple[str, Any], ...]

    def module(self):
        if self.kind == "net":
            from jaxnas.nn import build_network
            return build_network(self.space, self.arch, self.num_classes, **dict(self.options))
        from jaxnas.nn.supernet import build_supernet
        return build_supernet(self.space, self.arch, self.num_classes, **dict(self.options))

    def apply(self, variables, x, dyn, train: bool):
        m = self.module()
        if self.kind == "net":
            if train:
                return m.apply(variables, x, train=True, mutable=["batch_stats"])
            return m.apply(variables, x, train=False), None
        if train:
            return m.apply(variables, x, dyn, train=True, mutable=["batch_stats"])
        return m.apply(variables, x, dyn, train=False), None


def _net_options(space: str, opts: TrainOptions) -> tuple[tuple[str, Any], ...]:
    extra = dict(opts.network_options)
    if space in ("egnas", "darts") and "depthwise_impl" not in extra:
        extra["depthwise_impl"] = opts.depthwise_impl
    return tuple(sorted(extra.items()))


def _supernet_options(space: str, opts: TrainOptions) -> tuple[tuple[str, Any], ...]:
    conv_impl = opts.conv_impl
    if conv_impl == "auto":
        conv_impl = "patches" if jax.default_backend() == "cpu" else "xla"
    extra = {k: v for k, v in opts.network_options
             if space == "nb201" and k in ("channels", "cells_per_stage")}
    extra["conv_impl"] = conv_impl
    if space == "egnas":
        extra["depthwise_impl"] = opts.depthwise_impl
    return tuple(sorted(extra.items()))


# ------------------------------------------------------------------------------ step programs


@dataclass(frozen=True)
class _StepDef:
    """Everything static about a compiled train/eval program."""

    model: _ModelDef
    info: Any  # DatasetInfo (hashable)
    batch_size: int
    crop_size: int | None
    crop_padding: int
    flip: bool | None
    cutout_size: int


def _sgd(momentum, weight_decay, clip) -> optax.GradientTransformation:
    """torch.optim.SGD(momentum, weight_decay) after clip_grad_norm_; values may be traced
    (each vmapped member has its own). The learning rate is applied by the caller."""
    return optax.chain(optax.clip_by_global_norm(clip), optax.add_decayed_weights(weight_decay),
                       optax.trace(decay=momentum))


def _member_step(sd: _StepDef, state, hp, images, labels, idx, key, dyn):
    """One SGD step of one member (unbatched). ``hp``: lr, momentum, wd, clip, active and the
    per-step schedule's per_step, t0, dt (see :func:`_hyper`)."""
    x = augment_batch(key, images[idx], sd.info, crop_size=sd.crop_size,
                      padding=sd.crop_padding, flip=sd.flip, cutout_size=sd.cutout_size)
    y = labels[idx]

    def loss_fn(params):
        logits, upd = sd.model.apply({"params": params, "batch_stats": state["batch_stats"]},
                                     x, dyn, True)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (logits, upd["batch_stats"])

    (loss, (logits, new_bs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    tx = _sgd(hp["momentum"], hp["wd"], hp["clip"])
    updates, new_opt = tx.update(grads, state["opt"], state["params"])
    lr = _step_lr(hp, state["metrics"]["steps"])  # metrics are reset every epoch
    new_params = jax.tree_util.tree_map(lambda p, u: p - lr * u, state["params"], updates)
    finite = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads))
    run = hp["active"] & state["alive"]
    do = run & finite

    def pick(new, old):
        return jax.tree_util.tree_map(lambda n, o: jnp.where(do, n, o), new, old)

    correct = jnp.sum(jnp.argmax(logits, -1) == y)
    m = state["metrics"]
    return {
        "params": pick(new_params, state["params"]),
        "batch_stats": pick(new_bs, state["batch_stats"]),
        "opt": pick(new_opt, state["opt"]),
        "alive": state["alive"] & (finite | ~run),
        "metrics": {"loss": m["loss"] + jnp.where(do, loss, 0.0),
                    "correct": m["correct"] + jnp.where(do, correct, 0),
                    "steps": m["steps"] + do.astype(jnp.int32)},
    }


def _step_lr(hp, steps_this_epoch):
    """The learning rate of a member's next step. Per-step cosine: progress t = t0 + dt x steps
    taken this epoch, lr x (1 + cos(pi t)) / 2 (optax's cosine decay, written out because the
    total step count differs per vmapped member). Per-epoch schedules pass per_step = 0, so the
    factor is exactly 1 and the epoch's rate is used as is."""
    t = jnp.minimum(hp["t0"] + hp["dt"] * steps_this_epoch, 1.0)
    factor = 1.0 - hp["per_step"] + hp["per_step"] * 0.5 * (1.0 + jnp.cos(jnp.pi * t))
    return hp["lr"] * factor


def _member_eval(sd: _StepDef, params, batch_stats, images, labels, valid, dyn):
    """Correct predictions of one member on one padded chunk."""
    from jaxnas.data import preprocess_eval
    x = preprocess_eval(images, sd.info)
    logits, _ = sd.model.apply({"params": params, "batch_stats": batch_stats}, x, dyn, False)
    return jnp.sum((jnp.argmax(logits, -1) == labels) & valid)


def _member_perm(n: int, batch_size: int, key, epoch):
    """(steps, batch) indices of one member's epoch (drop last, as PyTorch's loader would not;
    the remainder is re-drawn next epoch)."""
    k = jax.random.fold_in(jax.random.fold_in(key, 2), epoch)
    perm = jax.random.permutation(k, n)
    steps = n // batch_size
    return perm[: steps * batch_size].reshape(steps, batch_size)


@functools.lru_cache(maxsize=256)
def _programs(sd: _StepDef, batched: bool) -> dict[str, Callable]:
    """Jitted step / eval for ``sd``; cached by static structure so later calls (a search's next
    population) reuse the compiled programs."""
    step = functools.partial(_member_step, sd)
    ev = functools.partial(_member_eval, sd)
    if batched:
        step = jax.vmap(step, in_axes=(0, 0, None, None, 0, 0, 0))
        ev = jax.vmap(ev, in_axes=(0, 0, None, None, None, 0))
    return {"step": jax.jit(step, donate_argnums=(0,)), "eval": jax.jit(ev)}


@functools.lru_cache(maxsize=64)
def _perm_program(n: int, batch_size: int, batched: bool):
    fn = functools.partial(_member_perm, n, batch_size)
    return jax.jit(jax.vmap(fn, in_axes=(0, None)) if batched else fn)


@functools.lru_cache(maxsize=1024)
def _init_program(model: _ModelDef, input_shape: tuple[int, ...]):
    module = model.module()

    def init(key):
        x = jnp.zeros((1,) + input_shape, jnp.float32)
        return module.init(key, x, train=False)

    return jax.jit(init)


# ------------------------------------------------------------------------------ members


@dataclass
class _Member:
    index: int
    genome: Any
    budget: TrainBudget
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
    executor: str = ""


def _lr_at(budget: TrainBudget, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based) under the budget's per-epoch schedule (the base
    rate for ``"cosine_per_step"``, which the step anneals itself)."""
    if budget.schedule in ("constant", "cosine_per_step"):
        return float(budget.learning_rate)
    sched = optax.cosine_decay_schedule(budget.learning_rate, decay_steps=budget.epochs)
    e = epoch + 1 if budget.schedule == "cosine_torch_legacy" else epoch
    return float(sched(min(e, budget.epochs)))


def _static_budget(b: TrainBudget) -> tuple:
    return (b.batch_size, b.crop_size, b.crop_padding, b.flip, b.cutout_size)


def _genome_name(space_name: str, genome: Any) -> str:
    try:
        from jaxnas.spaces import get_space
        return str(get_space(space_name).key(genome))
    except Exception:  # a key is for reporting only; never fail training over it
        return repr(genome)


def _hashable(genome: Any) -> Any:
    try:
        hash(genome)
        return genome
    except TypeError:
        return repr(genome)


# ------------------------------------------------------------------------------ data on device


@dataclass
class _DeviceData:
    images: jax.Array
    labels: jax.Array
    n: int


@dataclass
class _EvalData:
    images: jax.Array  # (chunks, chunk, H, W, C) uint8
    labels: jax.Array  # (chunks, chunk)
    valid: jax.Array  # (chunks, chunk) bool
    n: int


def _put_train(ds: ArrayDataset, sharding=None) -> _DeviceData:
    put = (lambda a: jax.device_put(a, sharding)) if sharding is not None else jnp.asarray
    return _DeviceData(put(ds.images), put(ds.labels), len(ds))


def _put_eval(ds: ArrayDataset, chunk: int, sharding=None) -> _EvalData:
    n = len(ds)
    chunk = min(chunk, n)
    num = -(-n // chunk)
    pad = num * chunk - n
    imgs = np.concatenate([ds.images, np.zeros((pad,) + ds.images.shape[1:], np.uint8)])
    labs = np.concatenate([ds.labels, np.zeros(pad, np.int32)])
    valid = np.arange(num * chunk) < n
    put = (lambda a: jax.device_put(a, sharding)) if sharding is not None else jnp.asarray
    return _EvalData(put(imgs.reshape((num, chunk) + ds.images.shape[1:])),
                     put(labs.reshape(num, chunk)), put(valid.reshape(num, chunk)), n)


# ------------------------------------------------------------------------------ groups


@dataclass
class _Group:
    """Members that share one compiled program (size 1 and unbatched for ``loop``)."""

    sd: _StepDef
    members: list[_Member]
    batched: bool
    executor: str
    models: list[_ModelDef]  # per member: the standalone net (for init / embedding)
    dyn: list[Any]  # per member dynamic arrays (None for standalone nets)


def _init_member(model: _ModelDef, key, input_shape) -> dict:
    variables = _init_program(model, tuple(input_shape))(jax.random.fold_in(key, 0))
    variables = jax.device_get(variables)
    return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


def _initial_state(group: _Group, input_shape) -> list[dict]:
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
        opt = _sgd(0.9, 0.0, 1.0).init(params)
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


def _run_group(group: _Group, train: _DeviceData, evals: dict[str, _EvalData],
               input_shape, mesh, progress: bool) -> None:
    """Train one group to completion, filling its members' records."""
    start = time.perf_counter()
    sd, members = group.sd, group.members
    progs = _programs(sd, group.batched)
    bsz = sd.batch_size
    steps_per_epoch = train.n // bsz
    if steps_per_epoch < 1:
        raise ConfigError(f"batch_size={bsz} exceeds the {train.n} training examples")
    states = _initial_state(group, input_shape)
    dyn = group.dyn
    n_real = len(members)
    n_dev = 1 if mesh is None else mesh.devices.size
    keys = [m.key for m in members]
    budgets = [m.budget for m in members]
    if group.batched:
        # pad with inactive copies of member 0 to a multiple of the device count
        pad = (-n_real) % n_dev
        states = states + [states[0]] * pad
        dyn = list(dyn) + [dyn[0]] * pad
        keys = keys + [keys[0]] * pad
        state = _stack(states)
        dyn_arr = _stack([jax.tree_util.tree_map(jnp.asarray, d) for d in dyn]) \
            if dyn[0] is not None else jnp.zeros((n_real + pad,))
        key_arr = jnp.stack(keys)
        if mesh is not None:
            from jaxnas.train.sharding import shard_population
            state, dyn_arr, key_arr = shard_population(mesh, (state, dyn_arr, key_arr))
    else:
        state, dyn_arr, key_arr = states[0], dyn[0], keys[0]
    n_pop = n_real + ((-n_real) % n_dev if group.batched else 0)
    max_epochs = max(b.epochs for b in budgets)
    perm_fn = _perm_program(train.n, bsz, group.batched)
    aug_keys = ([jax.random.fold_in(k, 1) for k in keys] if group.batched
                else jax.random.fold_in(keys[0], 1))
    if group.batched:
        aug_keys = jnp.stack(aug_keys)
    step_count = 0
    for epoch in range(max_epochs):
        training = [epoch < b.epochs and m.status == "ok" for m, b in zip(members, budgets)]
        if not any(training):
            break
        hp = _hyper(budgets, epoch, training, n_pop, group.batched, steps_per_epoch)
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
            state = progs["step"](state, hp, train.images, train.labels, idx, skeys, dyn_arr)
            step_count += 1
        metrics = jax.device_get(state["metrics"])
        alive = np.asarray(jax.device_get(state["alive"])).reshape(-1)
        accs = {name: _evaluate(progs["eval"], state, dyn_arr, ev, group.batched)
                for name, ev in evals.items()}
        state = dict(state, metrics=jax.tree_util.tree_map(jnp.zeros_like, state["metrics"]))
        for i, m in enumerate(members):
            if not training[i]:
                continue
            if not alive[i]:
                m.status = "diverged"
                m.reason = f"non-finite loss or gradient in epoch {epoch + 1}"
                m.steps += int(np.asarray(metrics["steps"]).reshape(-1)[i])
                continue
            steps = int(np.asarray(metrics["steps"]).reshape(-1)[i])
            m.steps += steps
            m.loss.append(float(np.asarray(metrics["loss"]).reshape(-1)[i]) / max(1, steps))
            m.train_acc.append(100.0 * float(np.asarray(metrics["correct"]).reshape(-1)[i])
                               / max(1, steps * bsz))
            m.val.append(accs["val"][i])
            if "test" in accs:
                m.test.append(accs["test"][i])
        if progress:
            log.info("%s group of %d: epoch %d/%d done (%.1f s)", group.executor, n_real,
                     epoch + 1, max_epochs, time.perf_counter() - start)
    jax.block_until_ready(state)
    wall = (time.perf_counter() - start) / n_real
    for m in members:
        m.wall, m.executor = wall, group.executor


def _hyper(budgets, epoch, training, n_pop, batched, steps_per_epoch):
    """The epoch's per-member hyperparameters. ``cosine_per_step`` members anneal inside the
    step: progress t0 = epoch / epochs at the epoch's first step, dt = 1 / (epochs x steps)."""
    rows = []
    for i in range(n_pop):
        b = budgets[i] if i < len(budgets) else budgets[0]
        active = i < len(budgets) and training[i]
        clip = b.grad_clip_norm if b.grad_clip_norm is not None else float("inf")
        per_step = b.schedule == "cosine_per_step"
        rows.append((_lr_at(b, epoch) if active else 0.0, b.momentum, b.weight_decay, clip,
                     active, float(per_step), epoch / b.epochs if per_step else 0.0,
                     1.0 / (b.epochs * steps_per_epoch) if per_step else 0.0))
    cols = list(zip(*rows))
    f32 = lambda v: np.asarray(v, np.float32)  # noqa: E731
    hp = {"lr": f32(cols[0]), "momentum": f32(cols[1]), "wd": f32(cols[2]), "clip": f32(cols[3]),
          "active": np.asarray(cols[4], bool), "per_step": f32(cols[5]), "t0": f32(cols[6]),
          "dt": f32(cols[7])}
    if not batched:
        hp = {k: v[0] for k, v in hp.items()}
    return jax.tree_util.tree_map(jnp.asarray, hp)


def _evaluate(eval_fn, state, dyn, ev: _EvalData, batched: bool) -> list[float]:
    total = None
    for c in range(ev.images.shape[0]):
        got = eval_fn(state["params"], state["batch_stats"], ev.images[c], ev.labels[c],
                      ev.valid[c], dyn)
        total = got if total is None else total + got
    counts = np.asarray(jax.device_get(total)).reshape(-1)
    return [100.0 * float(c) / ev.n for c in counts]


# ------------------------------------------------------------------------------ grouping


def _resolve_executor(executor: str, space_name: str) -> str:
    check_choice("executor", executor, EXECUTORS)
    if executor == "auto":
        if jax.default_backend() == "cpu":
            return "loop"
        from jaxnas.nn.supernet import SUPERNET_SPACES
        return "vmap" if space_name in SUPERNET_SPACES else "bucketed"
    return executor


def _make_groups(space_name: str, members: list[_Member], executor: str, info,
                 opts: TrainOptions, num_classes: int) -> list[_Group]:
    net_opts = _net_options(space_name, opts)

    def sdef(model, budget):
        return _StepDef(model, info, budget.batch_size, budget.crop_size, budget.crop_padding,
                        budget.flip, budget.cutout_size)

    def net(m):
        return _ModelDef(space_name, "net", _hashable(m.genome), num_classes, net_opts)

    groups: list[_Group] = []
    if executor == "loop":
        for m in members:
            model = net(m)
            groups.append(_Group(sdef(model, m.budget), [m], False, "loop", [model], [None]))
        return groups
    if executor == "vmap":
        from jaxnas.nn.supernet import SUPERNET_SPACES, dynamic_arrays, supernet_spec
        if space_name in SUPERNET_SPACES:
            by_budget: dict[tuple, list[_Member]] = {}
            for m in members:
                by_budget.setdefault(_static_budget(m.budget), []).append(m)
            for ms in by_budget.values():
                spec = supernet_spec(space_name, [m.genome for m in ms])
                smodel = _ModelDef(space_name, "supernet", spec, num_classes,
                                   _supernet_options(space_name, opts))
                groups.append(_Group(sdef(smodel, ms[0].budget), ms, True, "vmap",
                                     [net(m) for m in ms],
                                     [dynamic_arrays(space_name, spec, m.genome) for m in ms]))
            return groups
        log.info("executor 'vmap' has no masked supernet for space %r (only %s); "
                 "using 'bucketed'", space_name, SUPERNET_SPACES)
    buckets: dict[tuple, list[_Member]] = {}
    for m in members:
        buckets.setdefault((_hashable(m.genome), _static_budget(m.budget)), []).append(m)
    for ms in buckets.values():
        model = net(ms[0])
        groups.append(_Group(sdef(model, ms[0].budget), ms, True, "bucketed",
                             [model] * len(ms), [None] * len(ms)))
    return groups


# ------------------------------------------------------------------------------ entry point


def train_population(
    space_name: str,
    genomes: Sequence[Any],
    budgets: Sequence[TrainBudget] | TrainBudget,
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
) -> list[MemberResult]:
    """Train every genome of ``genomes`` (one space) on ``train_data`` with its own budget and
    return one :class:`MemberResult` per genome, in order.

    ``budgets``: one :class:`TrainBudget` per genome (or one for all). ``key``: the population
    key; member i uses ``member_keys[i]`` when given, else ``fold_in(key, i)``. ``executor``:
    ``"auto"``, ``"loop"``, ``"bucketed"`` or ``"vmap"`` (module docstring). ``devices``: the
    devices the population axis is sharded over in ``bucketed``/``vmap`` (default: all).
    Validation (and ``test_data``, when given) accuracy is measured after every epoch.
    """
    genomes = list(genomes)
    if not genomes:
        return []
    if isinstance(budgets, TrainBudget):
        budgets = [budgets] * len(genomes)
    budgets = list(budgets)
    if len(budgets) != len(genomes):
        raise ConfigError(f"got {len(budgets)} budgets for {len(genomes)} genomes; "
                          "pass one TrainBudget per genome")
    for b in budgets:
        if not isinstance(b, TrainBudget):
            raise ConfigError(f"budget {b!r} is not a TrainBudget")
    if member_keys is not None and len(member_keys) != len(genomes):
        raise ConfigError(f"got {len(member_keys)} member_keys for {len(genomes)} genomes")
    for name, ds in (("train_data", train_data), ("val_data", val_data),
                     ("test_data", test_data)):
        if ds is not None and not isinstance(ds, ArrayDataset):
            raise ConfigError(f"{name} must be a jaxnas.data.ArrayDataset, got {type(ds)}")
    opts = options or TrainOptions()
    info = train_data.info
    exe = _resolve_executor(executor, space_name)
    keys = list(member_keys) if member_keys is not None else [
        jax.random.fold_in(key, i) for i in range(len(genomes))]
    members = [_Member(i, g, b, k, _genome_name(space_name, g))
               for i, (g, b, k) in enumerate(zip(genomes, budgets, keys))]
    mesh = None
    if exe in ("bucketed", "vmap"):
        from jaxnas.train.sharding import population_mesh
        mesh = population_mesh(devices)
    replicated = None
    if mesh is not None:
        from jaxnas.train.sharding import replicated_sharding
        replicated = replicated_sharding(mesh)
    train = _put_train(train_data, replicated)
    evals = {"val": _put_eval(val_data, opts.eval_batch_size, replicated)}
    if test_data is not None:
        evals["test"] = _put_eval(test_data, opts.eval_batch_size, replicated)
    input_shape = tuple(train_data.images.shape[1:])
    num_classes = info.num_classes
    groups = _make_groups(space_name, members, exe, info, opts, num_classes)

    def run(g: _Group) -> None:
        shape = input_shape if g.sd.crop_size is None else (
            g.sd.crop_size, g.sd.crop_size, input_shape[-1])
        try:
            _run_group(g, train, evals, shape, mesh, progress)
        except ConfigError:
            raise
        except Exception as exc:  # one broken group must not lose the population's results
            log.exception("training group failed")
            for m in g.members:
                m.status, m.reason = "failed", f"{type(exc).__name__}: {exc}"

    workers = opts.concurrent_groups
    if workers == "auto":
        workers = 2 if exe == "loop" and jax.default_backend() == "cpu" else 1
    workers = min(workers, len(groups))
    if workers <= 1:
        for g in groups:
            run(g)
    else:
        # groups share nothing mutable; XLA releases the GIL while compiling and running, so
        # small networks that cannot use every core alone overlap (docs/performance.md)
        with ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(run, g) for g in groups]:
                future.result()
    return [_result(space_name, m, info, num_classes, opts) for m in members]


def _result(space_name: str, m: _Member, info, num_classes: int,
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
        steps=int(m.steps), wall_time=float(m.wall), executor=m.executor)


__all__ = ["MemberResult", "TrainOptions", "train_population", "EXECUTORS"]


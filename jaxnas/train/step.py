"""The per-member train step: the static description of a compiled model (:class:`ModelDef`,
:class:`StepDef`), one SGD step and one evaluation of one member (unbatched; the executors
``vmap`` them), the per-epoch and per-step learning rates, and the caches of jitted programs.

Per member: SGD with momentum, weight decay (added to the gradient after clipping, as PyTorch's
``SGD(weight_decay=...)``), grad-norm clip (each member's own norm), a per-epoch or per-step
learning-rate schedule, cross-entropy. A member whose loss or gradient norm goes non-finite is
frozen at its last finite state (``alive`` false); the other members are unaffected.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.data import augment_batch
from jaxnas.train.options import TrainOptions
from jaxnas.train.recipe import TrainRecipe


@dataclass(frozen=True)
class ModelDef:
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


def net_options(space: str, opts: TrainOptions) -> tuple[tuple[str, Any], ...]:
    """``build_network`` options of a standalone net: ``opts.network_options`` plus the
    implementation choices of ``opts`` the space's network takes."""
    extra = dict(opts.network_options)
    if space in ("egnas", "darts") and "depthwise_impl" not in extra:
        extra["depthwise_impl"] = opts.depthwise_impl
    if space in ("egnas", "nb201", "darts") and "conv_impl" not in extra:
        extra["conv_impl"] = opts.network_conv_impl
    return tuple(sorted(extra.items()))


def supernet_options(space: str, opts: TrainOptions) -> tuple[tuple[str, Any], ...]:
    conv_impl = opts.conv_impl
    if conv_impl == "auto":
        conv_impl = "patches" if jax.default_backend() == "cpu" else "xla"
    extra = {k: v for k, v in opts.network_options
             if space == "nb201" and k in ("channels", "cells_per_stage")}
    extra["conv_impl"] = conv_impl
    if space == "egnas":
        extra["depthwise_impl"] = opts.depthwise_impl
    return tuple(sorted(extra.items()))


@dataclass(frozen=True)
class StepDef:
    """Everything static about a compiled train/eval program."""

    model: ModelDef
    info: Any  # DatasetInfo (hashable)
    batch_size: int
    crop_size: int | None
    crop_padding: int
    flip: bool | None
    cutout_size: int


def sgd(momentum, weight_decay, clip) -> optax.GradientTransformation:
    """torch.optim.SGD(momentum, weight_decay) after clip_grad_norm_; values may be traced
    (each vmapped member has its own). The learning rate is applied by the caller."""
    return optax.chain(optax.clip_by_global_norm(clip), optax.add_decayed_weights(weight_decay),
                       optax.trace(decay=momentum))


def _member_step(sd: StepDef, state, hp, images, labels, idx, key, dyn):
    """One SGD step of one member (unbatched). ``hp``: lr, momentum, wd, clip, active and the
    per-step schedule's per_step, t0, dt (see :func:`hyper`)."""
    x = augment_batch(key, images[idx], sd.info, crop_size=sd.crop_size,
                      padding=sd.crop_padding, flip=sd.flip, cutout_size=sd.cutout_size)
    y = labels[idx]

    def loss_fn(params):
        logits, upd = sd.model.apply({"params": params, "batch_stats": state["batch_stats"]},
                                     x, dyn, True)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (logits, upd["batch_stats"])

    (loss, (logits, new_bs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    tx = sgd(hp["momentum"], hp["wd"], hp["clip"])
    updates, new_opt = tx.update(grads, state["opt"], state["params"])
    lr = step_lr(hp, state["metrics"]["steps"])  # metrics are reset every epoch
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


def step_lr(hp, steps_this_epoch):
    """The learning rate of a member's next step. Per-step cosine: progress t = t0 + dt x steps
    taken this epoch, lr x (1 + cos(pi t)) / 2 (optax's cosine decay, written out because the
    total step count differs per vmapped member). Per-epoch schedules pass per_step = 0, so the
    factor is exactly 1 and the epoch's rate is used as is."""
    t = jnp.minimum(hp["t0"] + hp["dt"] * steps_this_epoch, 1.0)
    factor = 1.0 - hp["per_step"] + hp["per_step"] * 0.5 * (1.0 + jnp.cos(jnp.pi * t))
    return hp["lr"] * factor


def _member_eval(sd: StepDef, params, batch_stats, images, labels, valid, dyn):
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
def programs(sd: StepDef, batched: bool) -> dict[str, Callable]:
    """Jitted step / eval for ``sd``; cached by static structure so later calls (a search's next
    population) reuse the compiled programs."""
    step = functools.partial(_member_step, sd)
    ev = functools.partial(_member_eval, sd)
    if batched:
        step = jax.vmap(step, in_axes=(0, 0, None, None, 0, 0, 0))
        ev = jax.vmap(ev, in_axes=(0, 0, None, None, None, 0))
    return {"step": jax.jit(step, donate_argnums=(0,)), "eval": jax.jit(ev)}


@functools.lru_cache(maxsize=64)
def perm_program(n: int, batch_size: int, batched: bool):
    fn = functools.partial(_member_perm, n, batch_size)
    return jax.jit(jax.vmap(fn, in_axes=(0, None)) if batched else fn)


@functools.lru_cache(maxsize=1024)
def init_program(model: ModelDef, input_shape: tuple[int, ...]):
    module = model.module()

    def init(key):
        x = jnp.zeros((1,) + input_shape, jnp.float32)
        return module.init(key, x, train=False)

    return jax.jit(init)


def lr_at(recipe: TrainRecipe, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based) under the recipe's per-epoch schedule (the base
    rate for ``"cosine_per_step"``, which the step anneals itself)."""
    if recipe.schedule in ("constant", "cosine_per_step"):
        return float(recipe.learning_rate)
    sched = optax.cosine_decay_schedule(recipe.learning_rate, decay_steps=recipe.epochs)
    e = epoch + 1 if recipe.schedule == "cosine_torch_legacy" else epoch
    return float(sched(min(e, recipe.epochs)))


def hyper(recipes, epoch, training, n_pop, batched, steps_per_epoch):
    """The epoch's per-member hyperparameters. ``cosine_per_step`` members anneal inside the
    step: progress t0 = epoch / epochs at the epoch's first step, dt = 1 / (epochs x steps)."""
    rows = []
    for i in range(n_pop):
        b = recipes[i] if i < len(recipes) else recipes[0]
        active = i < len(recipes) and training[i]
        clip = b.grad_clip_norm if b.grad_clip_norm is not None else float("inf")
        per_step = b.schedule == "cosine_per_step"
        rows.append((lr_at(b, epoch) if active else 0.0, b.momentum, b.weight_decay, clip,
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


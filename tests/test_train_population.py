"""Population trainer: NaN isolation, executor equivalence, supernet exactness, sharding."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnas.data import load_dataset, subset, train_val_split
from jaxnas.errors import ConfigError
from jaxnas.nn import build_network
from jaxnas.nn.supernet import (build_supernet, conv2d, dynamic_arrays, embed_variables,
                                supernet_spec)
from jaxnas.spaces.egnas import EgnasGenome, EgnasSpace
from jaxnas.spaces.nb201 import NB201_OPS, NB201Genome
from jaxnas.train import MemberResult, TrainRecipe, TrainOptions, train_population

TINY = EgnasGenome(3, 4, (0, 1, 0), (3, 5, 3))


def _fmnist(shared_data, n_train, n_val):
    full = load_dataset("fashion_mnist", "train", data_dir=shared_data)
    tr, va = train_val_split(full, 0.1, 0)
    return subset(tr, n_train, 0), subset(va, n_val, 1)


def _random_egnas(rng, n):
    out = []
    for _ in range(n):
        d = int(rng.integers(3, 8))
        out.append(EgnasGenome(d, int(rng.integers(2, 6)),
                               tuple(int(v) for v in rng.integers(0, 2, d)),
                               tuple(int(v) for v in rng.choice([3, 5], d))))
    return out


@pytest.mark.parametrize("k,stride", [(3, 1), (5, 2), (1, 2)])
def test_population_conv_impls_agree(k, stride):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 9, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (k, k, 3, 4))
    a = conv2d(x, w, stride, impl="xla")
    b = conv2d(x, w, stride, impl="patches")
    assert a.shape == b.shape and float(jnp.max(jnp.abs(a - b))) < 1e-5


def _random_variables(net, x, rng):
    """Variables of ``net``'s shapes, every leaf random (BN statistics and biases included, so
    none is trivially equal), variances positive. Drawn with numpy: compiling ``net.init``
    took ~10 s a genome on CPU, and eager per-leaf jax noise ~15 s."""
    shapes = jax.eval_shape(partial(net.init, train=False), jax.random.PRNGKey(2), x)

    def draw(path, leaf):
        values = rng.standard_normal(leaf.shape)
        if path[-1].key == "var":  # BN variances stay positive
            return (1.0 + 0.1 * np.abs(values)).astype(leaf.dtype)
        return (0.3 * values).astype(leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.mark.parametrize("space,impls", [
    ("egnas", ("patches",)), ("nb201", ("patches",)),
    pytest.param("egnas", ("xla",), marks=pytest.mark.slow),
    pytest.param("nb201", ("xla",), marks=pytest.mark.slow),
])
def test_supernet_forward_equals_standalone(space, impls):
    rng = np.random.default_rng(7)
    if space == "egnas":
        genomes, opts = _random_egnas(rng, 2), {}
    else:
        genomes = [NB201Genome(tuple(str(o) for o in rng.choice(NB201_OPS, 6))) for _ in range(2)]
        opts = {"channels": 4, "cells_per_stage": 1}
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3))
    spec = supernet_spec(space, genomes)
    # the conv implementations agree with each other (test above); the default run checks the
    # masking with the CPU default only, to keep the suite fast
    for impl in impls:
        sn = build_supernet(space, spec, 10, conv_impl=impl, **opts)
        for g in genomes:
            net = build_network(space, g, 10, **opts)
            v = _random_variables(net, x, np.random.default_rng(3))
            dyn = dynamic_arrays(space, spec, g)
            tmpl = jax.eval_shape(lambda: sn.init(jax.random.PRNGKey(0), x, dyn, train=False))
            tmpl = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), tmpl)
            ev = embed_variables(space, spec, g, jax.device_get(v), tmpl)
            for train in (False, True):
                mut = ["batch_stats"] if train else False
                a = jax.jit(partial(net.apply, train=train, mutable=mut))(v, x)
                b = jax.jit(partial(sn.apply, train=train, mutable=mut))(ev, x, dyn)
                if train:
                    a, b = a[0], b[0]
                assert float(jnp.max(jnp.abs(a - b))) < 1e-5, (space, impl, g, train)


def test_nan_member_is_isolated(shared_data):
    tr, va = _fmnist(shared_data, 128, 64)
    b = TrainRecipe(epochs=2, batch_size=32, learning_rate=0.05)
    bad = b.with_(learning_rate=1e12, grad_clip_norm=None)
    keys = [jax.random.PRNGKey(11), jax.random.PRNGKey(12)]
    epochs_seen, member_epochs = [], []
    res = train_population("egnas", [TINY, TINY], [b, bad], tr, va, key=keys[0],
                           member_keys=keys, executor="loop",
                           options=TrainOptions(concurrent_groups=1),
                           on_epoch=lambda done, of: epochs_seen.append((done, of)),
                           on_member_epoch=member_epochs.append)
    # the good member's group reports both epochs; the diverged one stops after its first
    assert epochs_seen.count((1, 2)) == 2 and epochs_seen.count((2, 2)) == 1
    # per-member epochs: only the live member's, equal to its returned curves
    assert [(m.index, m.epoch) for m in member_epochs] == [(0, 0), (0, 1)]
    assert tuple(m.val_acc for m in member_epochs) == res[0].val_acc_per_epoch
    assert tuple(m.train_loss for m in member_epochs) == res[0].train_loss_per_epoch
    assert member_epochs[0].test_acc is None
    alone = train_population("egnas", [TINY], [b], tr, va, key=keys[0], member_keys=keys[:1],
                             executor="loop")
    assert isinstance(res[0], MemberResult)
    assert res[1].status == "diverged" and "non-finite" in res[1].reason
    assert res[0].status == "ok" and len(res[0].val_acc_per_epoch) == 2
    # bit-identical to the run without the diverging member
    assert res[0].val_acc_per_epoch == alone[0].val_acc_per_epoch
    assert res[0].train_loss_per_epoch == alone[0].train_loss_per_epoch
    assert all(np.isfinite(res[0].train_loss_per_epoch))
    assert res[0].steps == 2 * (128 // 32) and res[0].params > 0 and res[0].flops > 0
    # members trained concurrently (threads; the CPU default) give exactly the sequential
    # results
    threaded = train_population("egnas", [TINY, TINY], [b, bad], tr, va, key=keys[0],
                                member_keys=keys, executor="loop",
                                options=TrainOptions(concurrent_groups=2))
    for a, c in zip(res, threaded):
        assert (a.status, a.val_acc_per_epoch, a.train_loss_per_epoch) == (
            c.status, c.val_acc_per_epoch, c.train_loss_per_epoch)


@pytest.mark.parametrize("epochs", [1, 3])
def test_per_step_cosine_follows_optax_schedule(epochs):
    from jaxnas.train.step import hyper as _hyper, step_lr as _step_lr
    steps_per_epoch = 7
    budgets = [TrainRecipe(epochs=epochs, learning_rate=0.1, schedule="cosine_per_step"),
               TrainRecipe(epochs=epochs, learning_rate=0.1, schedule="cosine")]
    reference = optax.cosine_decay_schedule(0.1, decay_steps=epochs * steps_per_epoch)
    per_epoch = optax.cosine_decay_schedule(0.1, decay_steps=epochs)
    for epoch in range(epochs):
        hp = _hyper(budgets, epoch, [True, True], 2, True, steps_per_epoch)
        for s in range(steps_per_epoch):
            lrs = np.asarray(jax.vmap(_step_lr, in_axes=(0, None))(hp, jnp.int32(s)))
            np.testing.assert_allclose(lrs[0], reference(epoch * steps_per_epoch + s), rtol=1e-5)
            # per-epoch schedules keep the epoch's rate for every step, exactly
            assert lrs[1] == np.float32(per_epoch(epoch))


def test_per_step_schedule_trains_differently_from_per_epoch(shared_data):
    tr, va = _fmnist(shared_data, 128, 64)
    budgets = [TrainRecipe(epochs=1, batch_size=32, learning_rate=0.05, schedule=s)
               for s in ("cosine", "cosine_per_step")]
    keys = [jax.random.PRNGKey(3)] * 2
    res = train_population("egnas", [TINY, TINY], budgets, tr, va, key=keys[0],
                           member_keys=keys, executor="loop")
    assert all(r.status == "ok" for r in res)
    # the same first step (both at the base rate), then the per-step member anneals
    assert res[0].train_loss_per_epoch != res[1].train_loss_per_epoch
    with pytest.raises(ConfigError, match="schedule"):
        TrainRecipe(epochs=1, schedule="cosine_per_epoch")


def test_bad_arguments_raise(shared_data):
    tr, va = _fmnist(shared_data, 64, 32)
    with pytest.raises(ConfigError, match="recipes"):
        train_population("egnas", [TINY, TINY], [TrainRecipe(epochs=1)], tr, va,
                         key=jax.random.PRNGKey(0))
    with pytest.raises(ConfigError, match="executor"):
        train_population("egnas", [TINY], TrainRecipe(epochs=1), tr, va,
                         key=jax.random.PRNGKey(0), executor="pmap")


@pytest.mark.slow
def test_executors_agree_after_one_epoch(shared_data):
    tr, va = _fmnist(shared_data, 512, 256)
    genomes = [EgnasGenome(4, 6, (0, 1, 0, 0), (3, 3, 5, 3)), TINY]
    budgets = [TrainRecipe(epochs=1, batch_size=32, learning_rate=0.05)] * 2
    keys = [jax.random.PRNGKey(5), jax.random.PRNGKey(6)]
    out = {ex: train_population("egnas", genomes, budgets, tr, va, key=keys[0],
                                member_keys=keys, executor=ex)
           for ex in ("loop", "bucketed", "vmap")}
    for ex in ("bucketed", "vmap"):
        for a, b in zip(out["loop"], out[ex]):
            assert b.executor == ex and b.status == "ok"
            assert abs(a.val_acc_per_epoch[0] - b.val_acc_per_epoch[0]) <= 0.5


@pytest.mark.slow
def test_sharded_population_equals_unsharded(shared_data, tmp_path):
    code = textwrap.dedent(f"""
        import jax, json
        from jaxnas.data import load_dataset, subset, train_val_split
        from jaxnas.spaces.egnas import EgnasGenome
        from jaxnas.train import TrainRecipe, train_population
        assert len(jax.devices()) == 4
        full = load_dataset("fashion_mnist", "train", data_dir={str(shared_data)!r})
        tr, va = train_val_split(full, 0.1, 0)
        tr, va = subset(tr, 128, 0), subset(va, 64, 1)
        gs = [EgnasGenome(3, 4, (0, 1, 0), (3, 5, 3)), EgnasGenome(4, 3, (0, 0, 1, 0), (3, 3, 3, 5)),
              EgnasGenome(3, 2, (1, 0, 0), (3, 3, 3))]  # 3 members on 4 devices: padded
        b = TrainRecipe(epochs=1, batch_size=32, learning_rate=0.05)
        keys = [jax.random.PRNGKey(i) for i in range(3)]
        out = {{}}
        for name, devs in (("sharded", None), ("single", jax.devices()[:1])):
            res = train_population("egnas", gs, [b] * 3, tr, va, key=keys[0], member_keys=keys,
                                   executor="vmap", devices=devs)
            out[name] = [[r.val_acc_per_epoch, r.train_loss_per_epoch, r.steps] for r in res]
        print(json.dumps(out))
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["sharded"]) == 3
    for a, b in zip(out["sharded"], out["single"]):
        assert a[2] == b[2]
        assert abs(a[0][0] - b[0][0]) <= 0.5
        assert abs(a[1][0] - b[1][0]) < 1e-3


@pytest.mark.slow
def test_sixteen_member_egnas_population_one_epoch_fashion_mnist(shared_data):
    # The population of experiments/run_population_fmnist.py (docs/performance.md): depth 4-8,
    # width 8-16, the authors' recipe without cutout, with 28-px crops (the resolution the
    # validation images have; the authors' 32-px crops make 1-epoch accuracy erratic) and the
    # cosine annealed per step (per epoch, a 1-epoch run trains at a constant rate); ~45 min on
    # 2 CPU cores.
    full = load_dataset("fashion_mnist", "train", data_dir=shared_data)
    tr, va = train_val_split(full, 0.1, 0)
    space = EgnasSpace(min_depth=4, max_depth=8, min_width=8, max_width=16, kernel_choices=(3, 5))
    rng = np.random.default_rng(0)
    genomes = [space.sample(rng) for _ in range(16)]
    budget = TrainRecipe(epochs=1, cutout_size=0, crop_size=full.info.image_size,
                         schedule="cosine_per_step")
    res = train_population("egnas", genomes, budget, tr, va, key=jax.random.PRNGKey(0))
    accs = [r.val_acc_per_epoch[0] for r in res]
    assert all(r.status == "ok" for r in res)
    assert float(np.mean(accs)) > 80.0, accs


class _Killed(BaseException):
    """Stands for a kill: not an Exception, so the trainer does not record a failed member."""


def test_a_killed_training_resumes_from_its_epoch_checkpoint_exactly(tmp_path):
    from jaxnas.train.bench import synthetic_dataset

    train, val = synthetic_dataset(128, "mnist", seed=0), synthetic_dataset(64, "mnist", seed=1)
    genomes = [TINY, TINY]  # two members (keys fold_in(key, i)), one compiled program
    recipe = TrainRecipe(epochs=3, batch_size=32)
    args = ("egnas", genomes, recipe, train, val)
    kw = dict(key=jax.random.PRNGKey(3), executor="loop", test_data=val,
              options=TrainOptions(concurrent_groups=1))
    straight = train_population(*args, **kw)

    epochs_run = []

    def kill_after_first_epoch(done, of):
        epochs_run.append(done)
        if done == 1 and len(epochs_run) == 1:
            raise _Killed

    with pytest.raises(_Killed):
        train_population(*args, **kw, checkpoint_dir=tmp_path, on_epoch=kill_after_first_epoch)
    resumed = train_population(*args, **kw, checkpoint_dir=tmp_path,
                               on_epoch=lambda done, of: epochs_run.append(done))
    # the first member restarted at epoch 2, the second (never started) trained all 3
    assert epochs_run == [1, 2, 3, 1, 2, 3]
    for a, b in zip(straight, resumed):
        assert (a.val_acc_per_epoch, a.test_acc_per_epoch, a.train_loss_per_epoch,
                a.train_acc_per_epoch, a.steps, a.status) == \
               (b.val_acc_per_epoch, b.test_acc_per_epoch, b.train_loss_per_epoch,
                b.train_acc_per_epoch, b.steps, b.status)
    assert len(list(tmp_path.glob("*.ckpt"))) == 2
    # another recipe is another training: it starts from epoch 1, beside the old files
    epochs_run.clear()
    train_population("egnas", genomes[:1], recipe.with_(learning_rate=0.05), train, val,
                     **kw, checkpoint_dir=tmp_path, on_epoch=lambda d, o: epochs_run.append(d))
    assert epochs_run == [1, 2, 3] and len(list(tmp_path.glob("*.ckpt"))) == 3

"""Candidate networks (jaxnas.nn): exact parameter counts against published numbers, the two
depthwise-conv implementations, forward passes in train/eval mode, FLOPs, errors."""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.errors import ConfigError, InvalidGenomeError, UnknownNameError
from jaxnas.nn import DARTS_V2, build_network, count_flops, count_params
from jaxnas.nn.layers import DepthwiseConv, conv, conv_matmul_grad
from jaxnas.nn.nb101 import nb101_param_count, pruned_cell
from jaxnas.nn.nb201 import nb201_param_count
from jaxnas.spaces.darts import DartsGenome
from jaxnas.spaces.egnas import EgnasGenome
from jaxnas.spaces.nb101 import NB101Genome
from jaxnas.spaces.nb201 import NB201Genome

# NASLib op codes (keys of NASLib's zc_nasbench201.json): key order 0-1, 0-2, 0-3, 1-2, 1-3, 2-3
NASLIB_CODES = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")


def naslib_key_to_genome(key: str) -> NB201Genome:
    codes = [int(c) for c in key.strip("()").split(",")]
    return NB201Genome(tuple(NASLIB_CODES[codes[i]] for i in (0, 1, 3, 2, 4, 5)))


# ------------------------------------------- egnas (docs/algorithms.md, Efficient Global NAS)

# (L, C, ops, kernels, in channels, classes, "Model Parameters = x MB" printed by the authors'
# train logs, siddikui/Efficient-Macro-Micro-NAS Train/*/Train.txt; the L10-C64 start net's
# count is printed by the authors' CIFAR-10 search log)
EGNAS_LOGGED = {
    "cifar10-L10-C64": (10, 64, (0,) * 10, (3,) * 10, 3, 10, 0.309450),
    "fmnist-T": (18, 54, (0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                 (3,) * 8 + (5,) + (3,) * 9, 1, 10, 0.508258),
    "kmnist-T": (18, 50, (0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
                 (3,) * 17 + (5,), 1, 10, 0.419660),
    "emnist-T": (17, 50, (0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                 (3,) * 11 + (5, 3, 5, 3, 3, 3), 1, 47, 0.405647),
    "cifar10-T": (26, 46, (1, 0, 1) + (0,) * 23, (3,) * 13 + (5, 3, 3, 3, 5) + (3,) * 8,
                  3, 10, 0.466312),
}


@pytest.mark.parametrize("name", sorted(EGNAS_LOGGED))
def test_egnas_params_match_authors_logs(name):
    depth, width, ops, ks, ch, nc, logged_m = EGNAS_LOGGED[name]
    n = count_params("egnas", EgnasGenome(depth, width, ops, ks), nc, (32, 32, ch))
    assert n == round(logged_m * 1e6)


def test_egnas_params_independent_of_image_size():
    g = EgnasGenome(10, 16, (0, 1) * 5, (3, 5) * 5)
    assert count_params("egnas", g, 10, (28, 28, 1)) == count_params("egnas", g, 10, (32, 32, 1))


# ---------------------------------------------------------------- NAS-Bench-101

@pytest.fixture(scope="module")
def nb101_specs(shared_data):
    with open(shared_data / "nb101" / "nb101_20k_specs.json") as f:
        return json.load(f)


def _nb101_genome(rec) -> NB101Genome:
    return NB101Genome(tuple(tuple(r) for r in rec["matrix"]), tuple(rec["ops"]))


def test_nb101_params_exact_on_sample(nb101_specs):
    """count_params (traced module) equals NAS-Bench-101's trainable_parameters."""
    rng = np.random.default_rng(0)
    for i in rng.choice(len(nb101_specs), size=10, replace=False):
        rec = nb101_specs[int(i)]
        assert count_params("nb101", _nb101_genome(rec), 10) == rec["trainable_parameters"], rec


def test_nb101_closed_form_exact_on_all(nb101_specs):
    bad = [r["hash"] for r in nb101_specs
           if nb101_param_count(_nb101_genome(r), 10) != r["trainable_parameters"]]
    assert len(nb101_specs) == 20001 and bad == []


def test_nb101_pruning_removes_dangling_vertices():
    # vertex 2 (conv3x3) has no path to the output; vertex 3 has no path from the input
    matrix = ((0, 1, 1, 0, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    ops = ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
    m, o = pruned_cell(NB101Genome(matrix, ops))
    assert o == ("input", "conv1x1-bn-relu", "output")
    assert m.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    small = NB101Genome(((0, 1, 0), (0, 0, 1), (0, 0, 0)), ("input", "conv1x1-bn-relu", "output"))
    assert count_params("nb101", NB101Genome(matrix, ops), 10) == count_params("nb101", small, 10)
    with pytest.raises(InvalidGenomeError):
        pruned_cell(NB101Genome(((0, 1, 0), (0, 0, 0), (0, 0, 0)),
                                ("input", "conv1x1-bn-relu", "output")))


# ---------------------------------------------------------------- NAS-Bench-201

@pytest.fixture(scope="module")
def nb201_naslib(shared_data):
    with open(shared_data / "naslib" / "zc_nasbench201.json") as f:
        return json.load(f)["cifar10"]


def test_nb201_params_match_naslib_all_725(nb201_naslib):
    assert len(nb201_naslib) == 725
    diffs = [abs(nb201_param_count(naslib_key_to_genome(k), 10) / 1e6 - v["params"]["score"])
             for k, v in nb201_naslib.items()]
    assert max(diffs) < 0.01
    assert max(diffs) < 1e-6  # in fact exact to the file's 6 decimals


def test_nb201_traced_count_equals_closed_form(nb201_naslib):
    for key in list(nb201_naslib)[:8]:
        g = naslib_key_to_genome(key)
        n = count_params("nb201", g, 10)
        assert n == nb201_param_count(g, 10)
        assert abs(n / 1e6 - nb201_naslib[key]["params"]["score"]) < 1e-6


def test_nb201_flops_track_naslib(nb201_naslib):
    """Our FLOPs (conv/dense MACs + bias + pooling windows, xautodl convention) vs NASLib's:
    NASLib additionally counts BN/ReLU elementwise work, so ours are a few % lower but
    rank the cells almost identically."""
    keys = list(nb201_naslib)[:12]
    ours = np.array([count_flops("nb201", naslib_key_to_genome(k), 10) / 1e6 for k in keys])
    theirs = np.array([nb201_naslib[k]["flops"]["score"] for k in keys])
    rel = (theirs - ours) / theirs
    assert np.all(rel > 0) and np.all(rel < 0.2)
    rank = lambda a: np.argsort(np.argsort(a))  # noqa: E731
    assert np.corrcoef(rank(ours), rank(theirs))[0, 1] > 0.98


# ---------------------------------------------------------------- DARTS

def test_darts_v2_params_match_paper():
    n = count_params("darts", DARTS_V2, 10)  # C=36, 20 cells, no auxiliary head
    assert abs(n / 1e6 - 3.3) < 0.05  # DARTS paper Table 1: 3.3M


# ---------------------------------------------------------------- FLOPs by hand

def test_egnas_flops_by_hand():
    # 8x8x1 input, C=2, L=3: reductions at layers 1 and 2.
    # stem 3x3 1->4 at 8x8: 64*9*4 = 2304; layer0 sep k3 4->2 at 8x8: dw 64*4*9=2304,
    # pw 64*4*2=512; layer1 std k3 stride2 2->4 at 4x4: 16*9*2*4=1152;
    # layer2 sep k5 stride2 4->8 at 2x2: dw 4*4*25=400, pw 4*4*8=128; dense 8*10 + bias 10.
    g = EgnasGenome(3, 2, (0, 1, 0), (3, 3, 5))
    assert count_flops("egnas", g, 10, (8, 8, 1)) == (
        2304 + 2304 + 512 + 1152 + 400 + 128 + 80 + 10)
    assert count_flops("egnas", g, 10, (8, 8, 1), include_bias=False) == (
        2304 + 2304 + 512 + 1152 + 400 + 128 + 80)


# ---------------------------------------------------------------- depthwise conv impls

def _assert_same_values_and_grads(reference, other, params, x):
    """Two implementations of one layer: same outputs (1e-5) and same gradients of a
    nonlinear loss with respect to the parameters and the input (1e-4)."""
    def loss(mod, p, xx):
        return jnp.sum(jnp.sin(mod.apply(p, xx)))

    outs = [jax.jit(m.apply)(params, x) for m in (reference, other)]
    assert outs[0].shape == outs[1].shape
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    grads = [jax.jit(jax.grad(functools.partial(loss, m), argnums=(0, 1)))(params, x)
             for m in (reference, other)]
    for a, b in zip(*(jax.tree_util.tree_leaves(g) for g in grads)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k,stride,dil,size", [(3, 1, 1, 8), (5, 2, 1, 9), (3, 2, 2, 8)])
def test_depthwise_shift_equals_grouped(k, stride, dil, size):
    x = jax.random.normal(jax.random.PRNGKey(1), (2, size, size, 6))
    mods = {impl: DepthwiseConv(6, k, stride, dil, impl=impl) for impl in ("grouped", "shift")}
    params = mods["grouped"].init(jax.random.PRNGKey(0), x)
    params_shift = mods["shift"].init(jax.random.PRNGKey(0), x)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(jnp.array_equal, params, params_shift))
    _assert_same_values_and_grads(mods["grouped"], mods["shift"], params, x)


@pytest.mark.parametrize("k,stride,dil,bias", [(3, 1, 1, False), (1, 1, 1, True),
                                                 (5, 2, 1, False), (3, 2, 2, True)])
def test_conv_matmul_grad_equals_xla(k, stride, dil, bias):
    """The CPU conv (kernel gradient as matmuls) computes XLA's values and gradients."""
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 9, 9, 5))
    xla, matmul_grad = (conv(7, k, stride, dil, use_bias=bias, impl=impl)
                        for impl in ("xla", "matmul_grad"))
    _assert_same_values_and_grads(xla, matmul_grad, xla.init(jax.random.PRNGKey(0), x), x)


def test_conv_matmul_grad_falls_back_for_grouped_convs():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 6, 6, 4))
    w = jax.random.normal(jax.random.PRNGKey(2), (3, 3, 2, 4))
    args = ((1, 1), ((1, 1), (1, 1)))
    kw = dict(dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=2)
    np.testing.assert_allclose(conv_matmul_grad(x, w, *args, **kw),
                               jax.lax.conv_general_dilated(x, w, *args, **kw), rtol=1e-6)
    with pytest.raises(ConfigError, match="impl"):
        conv(4, 3, impl="cudnn")


def test_conv_impl_is_an_explicit_option_never_read_from_the_environment(monkeypatch):
    """``conv_impl`` picks the kernel-gradient path by its value, the kernel size and the
    backend only; build_network threads it to every dense conv."""
    uses_matmul = lambda m: m.conv_general_dilated is conv_matmul_grad  # noqa: E731
    cpu = jax.default_backend() == "cpu"
    for flags in ("", "--xla_cpu_experimental_ynn_fusion_type=reduce"):
        monkeypatch.setenv("XLA_FLAGS", flags)
        assert uses_matmul(conv(4, 1)) is cpu and not uses_matmul(conv(4, 3))
        assert uses_matmul(conv(4, 3, impl="auto_ynnpack")) is cpu
    assert not uses_matmul(conv(4, 1, impl="xla")) and uses_matmul(conv(4, 3, impl="matmul_grad"))
    g = EgnasGenome(3, 4, (0, 1, 0), (3, 5, 3))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3))
    nets = {impl: build_network("egnas", g, 10, conv_impl=impl) for impl in ("xla", "matmul_grad")}
    variables = nets["xla"].init(jax.random.PRNGKey(0), x)
    np.testing.assert_allclose(nets["xla"].apply(variables, x),
                               nets["matmul_grad"].apply(variables, x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="conv_impl"):
        build_network("nb201", NB201Genome(("nor_conv_3x3",) * 6), 10,
                      conv_impl="cudnn").init(jax.random.PRNGKey(0), x)


# ---------------------------------------------------------------- forward passes

SMALL = {
    "egnas": (EgnasGenome(4, 8, (0, 1, 0, 1), (3, 5, 5, 3)), {}),
    "nb101": (NB101Genome(
        ((0, 1, 1, 0, 1), (0, 0, 0, 1, 0), (0, 0, 0, 1, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0)),
        ("input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output")),
        {"stem_channels": 8, "cells_per_stack": 1}),
    "nb201": (NB201Genome(("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none",
                           "nor_conv_1x1", "nor_conv_3x3")),
              {"channels": 4, "cells_per_stage": 1}),
    "darts": (DARTS_V2, {"channels": 4, "layers": 3, "drop_path_prob": 0.2}),
}


@pytest.mark.parametrize("space", sorted(SMALL))
def test_forward_train_and_eval_on_fashion_mnist_shape(space):
    genome, opts = SMALL[space]
    net = build_network(space, genome, 10, **opts)
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 28, 28, 1))
    init = jax.jit(lambda k, xx: net.init({"params": k, "dropout": k}, xx, train=False))
    train = jax.jit(lambda v, xx, k: net.apply(v, xx, train=True, mutable=["batch_stats"],
                                               rngs={"dropout": k}))
    evaluate = jax.jit(lambda v, xx: net.apply(v, xx, train=False))
    variables = init(jax.random.PRNGKey(0), x)
    again = init(jax.random.PRNGKey(0), x)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(jnp.array_equal, variables, again))
    assert "batch_stats" in variables
    n_params = sum(v.size for v in jax.tree_util.tree_leaves(variables["params"]))
    assert n_params == count_params(space, genome, 10, (28, 28, 1), **opts)

    logits, updates = train(variables, x, jax.random.PRNGKey(2))
    assert logits.shape == (2, 10) and bool(jnp.all(jnp.isfinite(logits)))
    old = jax.tree_util.tree_leaves(variables["batch_stats"])
    new = jax.tree_util.tree_leaves(updates["batch_stats"])
    assert all(a.shape == b.shape for a, b in zip(old, new))
    assert any(not np.allclose(a, b) for a, b in zip(old, new))  # running stats moved

    e1 = evaluate(variables, x)
    e2 = evaluate({**variables, **updates}, x)
    assert e1.shape == (2, 10) and not np.allclose(e1, e2)  # eval uses the running stats
    np.testing.assert_array_equal(e1, evaluate(variables, x))


def test_darts_auxiliary_head_and_drop_path():
    net = build_network("darts", DARTS_V2, 10, channels=4, layers=3, auxiliary=True,
                        drop_path_prob=0.5)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))  # aux head expects 8x8
    v = jax.jit(lambda k, xx: net.init({"params": k, "dropout": k}, xx))(jax.random.PRNGKey(0), x)
    train = jax.jit(lambda vv, xx, k: net.apply(
        vv, xx, train=True, mutable=["batch_stats", "intermediates"], rngs={"dropout": k}))
    out, st = train(v, x, jax.random.PRNGKey(5))
    assert st["intermediates"]["aux_logits"][0].shape == (2, 10)
    out2, _ = train(v, x, jax.random.PRNGKey(6))
    assert not np.allclose(out, out2)  # different drop-path masks


# ---------------------------------------------------------------- errors

def test_bad_inputs_raise_jaxnas_errors():
    with pytest.raises(UnknownNameError):
        build_network("resnet", None, 10)
    with pytest.raises(InvalidGenomeError):
        build_network("nb201", EgnasGenome(10, 16, (0,) * 10, (3,) * 10), 10)
    with pytest.raises(ConfigError):
        build_network("egnas", EgnasGenome(10, 16, (0,) * 10, (3,) * 10), 10, layers=3)
    with pytest.raises(InvalidGenomeError):
        count_params("egnas", EgnasGenome(10, 16, (0,) * 9, (3,) * 10), 10)
    with pytest.raises(InvalidGenomeError):
        count_params("nb201", NB201Genome(("nor_conv_5x5",) * 6), 10)
    bad = DartsGenome(DARTS_V2.normal[:7] + (("sep_conv_3x3", 9),), DARTS_V2.normal_concat,
                      DARTS_V2.reduce, DARTS_V2.reduce_concat)
    with pytest.raises(InvalidGenomeError):
        count_params("darts", bad, 10, channels=4, layers=3)

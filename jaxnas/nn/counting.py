"""Exact parameter and FLOP counts of a built network, without running it.

Both trace the module once with ``jax.eval_shape`` (no arrays are allocated, no compile).

* Parameters: the sizes of every leaf of the ``"params"`` collection, i.e. the PyTorch
  convention (conv/dense weights and biases, BatchNorm scale and bias; running statistics,
  which live in ``"batch_stats"``, are not counted).
* FLOPs: the convention of the NAS-Bench-201 / DARTS literature (xautodl
  ``get_model_infos``, also what NASLib reports): for one image, multiply-accumulates of every
  convolution (``out_h * out_w * k_h * k_w * c_in / groups * c_out``) and dense layer
  (``in * out``), plus one add per output element for layers with a bias, plus ``k*k`` per
  output element of every max/average pooling layer with a window (global average pooling,
  BatchNorm, activations and additions are not counted). ``include_pool=False`` and
  ``include_bias=False`` give pure conv+dense MACs.

The EG-NAS chain net also has a closed form, :func:`egnas_param_count`, the one definition
``count_params("egnas", ...)`` uses: the EG-NAS search counts thousands of genomes while it
shrinks widths to a parameter budget, and tracing a 50-layer net takes about a second.
Tests check it against the traced count.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxnas.nn.layers import Dense, DepthwiseConv, Pool


def egnas_param_count(genome: Any, num_classes: int, in_channels: int) -> int:
    """Trainable parameters of the EG-NAS chain net (:mod:`jaxnas.nn.egnas`) in closed form,
    PyTorch convention: stem conv3x3 without bias (``in_channels -> 2C``) and its BN; per layer
    a depthwise kxk on the input channels plus a pointwise 1x1 (op 0) or a dense kxk conv
    (op 1), both without bias, and a BN (scale, bias); a linear classifier with bias. Spatial
    size does not matter (global average pooling), only the input channels."""
    from jaxnas.nn.egnas import egnas_layer_plan  # checks the genome's shape

    c2 = 2 * int(genome.width)
    total = int(in_channels) * c2 * 9 + 2 * c2
    c_last = c2
    for op, k, _stride, c_in, c_out in egnas_layer_plan(genome):
        total += c_in * k * k + c_in * c_out if op == 0 else c_in * c_out * k * k
        total += 2 * c_out
        c_last = c_out
    return total + c_last * int(num_classes) + int(num_classes)


def _dummy_input(input_shape: Sequence[int]) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((1, *tuple(int(s) for s in input_shape)), jnp.float32)


def variable_shapes(module: nn.Module, input_shape: Sequence[int]) -> Any:
    """Abstract (shape-only) variables of ``module`` for one NHWC image of ``input_shape``."""
    x = _dummy_input(input_shape)
    return jax.eval_shape(
        lambda k, xx: module.init({"params": k, "dropout": k}, xx, train=False),
        jax.ShapeDtypeStruct((2,), jnp.uint32), x,
    )


def count_module_params(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Number of trainable parameters (the ``"params"`` collection)."""
    shapes = variable_shapes(module, input_shape)
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(shapes["params"])))


def count_module_flops(module: nn.Module, input_shape: Sequence[int], *,
                       include_bias: bool = True, include_pool: bool = True) -> int:
    """FLOPs of one forward pass of one image (convention in the module docstring)."""
    total = [0]

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name != "__call__":
            return out
        mod = context.module
        if isinstance(mod, nn.Conv):
            x = args[0]
            per_out = math.prod(mod.kernel_size) * x.shape[-1] // mod.feature_group_count
            n_out = math.prod(out.shape[1:])
            total[0] += n_out * per_out + (n_out if (mod.use_bias and include_bias) else 0)
        elif isinstance(mod, DepthwiseConv):
            total[0] += math.prod(out.shape[1:]) * mod.kernel_size ** 2
        elif isinstance(mod, Dense):
            x = args[0]
            total[0] += x.shape[-1] * mod.features + (mod.features if include_bias else 0)
        elif isinstance(mod, nn.Dense):
            x = args[0]
            total[0] += x.shape[-1] * mod.features + (
                mod.features if (mod.use_bias and include_bias) else 0)
        elif isinstance(mod, Pool) and include_pool:
            total[0] += math.prod(out.shape[1:]) * mod.window ** 2
        return out

    x = _dummy_input(input_shape)

    def run(k, xx):
        with nn.intercept_methods(interceptor):
            return module.init({"params": k, "dropout": k}, xx, train=False)

    jax.eval_shape(run, jax.ShapeDtypeStruct((2,), jnp.uint32), x)
    return int(total[0])

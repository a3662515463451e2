"""Micro-benchmarks of the convolutions a population trainer runs, on the current backend.

Forward + backward (gradient w.r.t. input and weights) of one layer, jitted:

* population dense conv, P members each with its own k x k kernel, ``jax.vmap`` over members:
  ``xla`` (``lax.conv``; vmap turns it into a grouped conv) vs ``patches``
  (``conv_general_dilated_patches`` + ``einsum``, a batched dot under vmap), ``slices`` (k*k
  shifted slices concatenated + ``einsum``: patches without a conv), and a Python
  ``loop`` of P ordinary convs inside one jitted function (what the ``loop`` executor costs);
* depthwise k x k conv (one member, and P members under vmap): ``grouped``
  (``feature_group_count=C``) vs ``shift`` (k*k shifted slices times per-channel weights);
* optionally PyTorch's depthwise conv on the same shape (``--torch``), for reference;
* ``--layers C``: a per-layer profile of an egnas net of width C (each layer kind's fwd+bwd at
  the three stages' shapes, JAX and, with ``--torch``, PyTorch): where a step's time goes.

    python experiments/bench_conv.py [--quick] [--repeats 3] [--torch] [--layers 32]

Prints a table and writes ``experiments/results/bench_conv.json``. On a shared machine the
numbers are noisy: read ratios between rows of the same case.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.nn.layers import DepthwiseConv
from jaxnas.nn.supernet import conv2d

# the same (compile, median, min) timer as the depthwise benchmark; run as a script, so the
# sibling module is importable from experiments/
from bench_depthwise import time_fn as _time




def _loss_grad(f):
    """jit(grad) of sum(f(x, w)^2) w.r.t. x and w: a layer's forward + backward."""
    return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), argnums=(0, 1)))


def conv_slices(x: jax.Array, kernel: jax.Array, strides: int = 1) -> jax.Array:
    """Dense NHWC conv as k*k shifted (strided) slices concatenated on the channel axis and one
    matmul: patch extraction without ``conv_general_dilated_patches`` (which XLA lowers to a
    grouped conv with an identity kernel, itself slow on CPU). Same result as ``lax.conv`` with
    PyTorch's symmetric padding."""
    k = kernel.shape[0]
    p = (k - 1) // 2
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h_out = (x.shape[1] + 2 * p - k) // strides + 1
    w_out = (x.shape[2] + 2 * p - k) // strides + 1
    cols = [jax.lax.slice(xp, (0, i, j, 0),
                          (xp.shape[0], i + strides * (h_out - 1) + 1,
                           j + strides * (w_out - 1) + 1, xp.shape[3]), (1, strides, strides, 1))
            for i in range(k) for j in range(k)]
    patches = jnp.concatenate(cols, axis=-1)  # features ordered (kh, kw, c_in)
    return jnp.einsum("nhwf,fo->nhwo", patches, kernel.reshape(-1, kernel.shape[-1]))


def population_conv_cases(p: int, b: int, hw: int, c: int, k: int, stride: int):
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (p, b, hw, hw, c))
    w = jax.random.normal(jax.random.fold_in(key, 1), (p, k, k, c, c)) * 0.1
    out = {}
    for impl in ("xla", "patches"):
        out[impl] = (_loss_grad(jax.vmap(lambda xi, wi, impl=impl: conv2d(xi, wi, stride, impl))),
                     (x, w))

    out["slices"] = (_loss_grad(jax.vmap(lambda xi, wi: conv_slices(xi, wi, stride))), (x, w))

    def loop(xs, ws):
        return jnp.stack([conv2d(xs[i], ws[i], stride, "xla") for i in range(p)])

    out["loop"] = (_loss_grad(loop), (x, w))
    return out


def depthwise_cases(p: int, b: int, hw: int, c: int, k: int, stride: int):
    key = jax.random.PRNGKey(0)
    out = {}
    for impl in ("grouped", "shift"):
        layer = DepthwiseConv(c, k, stride, impl=impl)

        def f(xi, wi, layer=layer):
            return layer.apply({"params": {"kernel": wi}}, xi)

        if p == 0:  # one member, no vmap
            x = jax.random.normal(key, (b, hw, hw, c))
            w = jax.random.normal(jax.random.fold_in(key, 1), (k, k, 1, c)) * 0.1
            out[impl] = (_loss_grad(f), (x, w))
        else:
            x = jax.random.normal(key, (p, b, hw, hw, c))
            w = jax.random.normal(jax.random.fold_in(key, 1), (p, k, k, 1, c)) * 0.1
            out[impl] = (_loss_grad(jax.vmap(f)), (x, w))
    return out


def torch_depthwise(b: int, hw: int, c: int, k: int, stride: int, repeats: int):
    import torch
    conv = torch.nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=False)
    x = torch.randn(b, c, hw, hw, requires_grad=True)

    def run():
        conv.zero_grad()
        x.grad = None
        (conv(x) ** 2).sum().backward()

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times)), float(np.min(times))


def layer_profile(b: int, c: int, repeats: int, with_torch: bool) -> list[tuple]:
    """fwd+bwd time of each layer kind of an egnas net, at the three stages' shapes of width
    ``c`` (32x32xC, 16x16x2C, 8x8x4C), in JAX (jit, as the loop executor runs it) and PyTorch:
    where a training step's time goes."""
    import os

    import flax.linen as nn

    from jaxnas.cpu_tuning import conv_impl_for_flags
    from jaxnas.nn.layers import batch_norm, conv

    impl = conv_impl_for_flags(os.environ)  # the fastest under this process's XLA flags
    out = []
    for hw, ch in ((32, c), (16, 2 * c), (8, 4 * c)):
        x = jax.random.normal(jax.random.PRNGKey(0), (b, hw, hw, ch))
        mods = {
            "dw3x3 shift": DepthwiseConv(ch, 3, impl="shift"),
            "dw3x3 grouped": DepthwiseConv(ch, 3, impl="grouped"),
            "pw1x1": conv(ch, 1, impl=impl),
            "conv3x3": conv(ch, 3, impl=impl),
            "conv5x5": conv(ch, 5, impl=impl),
        }
        for name, m in mods.items():
            v = m.init(jax.random.PRNGKey(1), x)
            f = jax.jit(jax.grad(lambda vv, xx, m=m: jnp.sum(m.apply(vv, xx) ** 2),
                                 argnums=(0, 1)))
            out.append((f"{hw}x{hw}x{ch}", name, "jax") + _time(f, (v, x), repeats))
        bn = batch_norm(True)
        v = bn.init(jax.random.PRNGKey(1), x)

        def bn_loss(vv, xx, bn=bn):
            y, _ = bn.apply(vv, nn.relu(xx), mutable=["batch_stats"])
            return jnp.sum(y ** 2)

        f = jax.jit(jax.grad(bn_loss, argnums=(0, 1)))
        out.append((f"{hw}x{hw}x{ch}", "relu+bn", "jax") + _time(f, (v, x), repeats))
        if with_torch:
            import torch
            tx = torch.randn(b, ch, hw, hw, requires_grad=True)
            tmods = {
                "dw3x3": torch.nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False),
                "pw1x1": torch.nn.Conv2d(ch, ch, 1, bias=False),
                "conv3x3": torch.nn.Conv2d(ch, ch, 3, 1, 1, bias=False),
                "conv5x5": torch.nn.Conv2d(ch, ch, 5, 1, 2, bias=False),
                "relu+bn": torch.nn.Sequential(torch.nn.ReLU(), torch.nn.BatchNorm2d(ch)),
            }
            for name, m in tmods.items():
                def run(m=m):
                    m.zero_grad()
                    tx.grad = None
                    (m(tx) ** 2).sum().backward()
                t0 = time.perf_counter()
                run()
                first = time.perf_counter() - t0
                ts = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    run()
                    ts.append(time.perf_counter() - t0)
                out.append((f"{hw}x{hw}x{ch}", name, "torch", first, float(np.median(ts)),
                            float(np.min(ts))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller shapes, fewer cases")
    ap.add_argument("--torch", action="store_true", help="also time torch's depthwise conv")
    ap.add_argument("--layers", type=int, default=0, metavar="C",
                    help="also profile each egnas layer kind at width C (0 = off)")
    ap.add_argument("--skip-conv", action="store_true", help="only the --layers profile")
    ap.add_argument("--out", type=Path, default=Path("experiments/results/bench_conv.json"))
    args = ap.parse_args()
    if args.torch and importlib.util.find_spec("torch") is None:
        sys.exit("bench_conv.py: --torch needs the bench extra: pip install -e '.[bench]'")
    b = 16 if args.quick else 64
    rows = []

    def record(case, impl, timing, shape):
        c, med, mn = timing
        rows.append({"case": case, "impl": impl, "shape": shape, "compile_s": c,
                     "median_s": med, "min_s": mn})
        print(f"{case:<34}{impl:>9}{c:>10.2f}{1e3 * med:>11.1f}{1e3 * mn:>9.1f}", flush=True)

    print(f"backend={jax.default_backend()} devices={len(jax.devices())} "
          f"cpu={platform.processor() or platform.machine()}")
    print(f"{'case (fwd+bwd)':<34}{'impl':>9}{'compile s':>10}{'median ms':>11}{'min ms':>9}")
    pop_shapes = [] if args.skip_conv else [(4, b, 32, 32, 3, 1)] if args.quick else [
        (4, b, 32, 32, 3, 1), (4, b, 16, 64, 3, 1), (16, b, 32, 16, 3, 1), (4, b, 32, 32, 5, 1)]
    for p, bb, hw, c, k, s in pop_shapes:
        case = f"pop conv P{p} {bb}x{hw}x{hw}x{c} k{k}"
        for impl, (fn, fargs) in population_conv_cases(p, bb, hw, c, k, s).items():
            record(case, impl, _time(fn, fargs, args.repeats), [p, bb, hw, hw, c, k, s])
    dw_shapes = [] if args.skip_conv else [(0, b, 32, 64, 3, 1), (4, b, 32, 32, 3, 1)] \
        if args.quick else [
        (0, b, 32, 64, 3, 1), (0, b, 32, 64, 5, 1), (0, b, 32, 64, 3, 2),
        (4, b, 32, 32, 3, 1), (16, b, 32, 32, 3, 1)]
    for p, bb, hw, c, k, s in dw_shapes:
        case = (f"dw P{p} " if p else "dw ") + f"{bb}x{hw}x{hw}x{c} k{k} s{s}"
        for impl, (fn, fargs) in depthwise_cases(p, bb, hw, c, k, s).items():
            record(case, impl, _time(fn, fargs, args.repeats), [p, bb, hw, hw, c, k, s])
        if args.torch and p == 0:
            record(case, "torch", torch_depthwise(bb, hw, c, k, s, args.repeats),
                   [p, bb, hw, hw, c, k, s])
    profile = []
    if args.layers:
        print(f"\nper-layer fwd+bwd, batch {b}, egnas width {args.layers} stages")
        print(f"{'shape':<12}{'layer':<15}{'fw':>6}{'compile s':>10}{'median ms':>11}"
              f"{'min ms':>9}")
        for shape, name, fw, c, med, mn in layer_profile(b, args.layers, args.repeats,
                                                         args.torch):
            profile.append({"shape": shape, "layer": name, "framework": fw, "compile_s": c,
                            "median_s": med, "min_s": mn})
            print(f"{shape:<12}{name:<15}{fw:>6}{c:>10.2f}{1e3 * med:>11.1f}{1e3 * mn:>9.1f}",
                  flush=True)
    # which implementation wins each case (by median)
    best = {}
    for r in rows:
        if r["impl"] == "torch":
            continue
        if r["case"] not in best or r["median_s"] < best[r["case"]]["median_s"]:
            best[r["case"]] = r
    print("fastest jax impl per case: " + "; ".join(f"{c}: {r['impl']}" for c, r in best.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "backend": jax.default_backend(), "devices": len(jax.devices()),
        "machine": platform.machine(), "quick": args.quick, "repeats": args.repeats,
        "rows": rows, "layer_profile": profile, "fastest": {c: r["impl"] for c, r in best.items()}}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

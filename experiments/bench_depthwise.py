"""Depthwise conv on XLA:CPU: grouped conv (feature_group_count=C) vs k*k shifted slices.

Times one jitted SGD train step (forward + backward + update) of a 12-layer, width-32 egnas
chain net of separable convs (batch 64, 32x32x1, 10 classes) with each implementation, plus
a single depthwise 3x3 layer. Prints a table and writes JSON.

    python experiments/bench_depthwise.py [--repeats 5] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.cpu_tuning import conv_impl_for_flags
from jaxnas.nn import build_network
from jaxnas.nn.layers import DepthwiseConv
from jaxnas.spaces.egnas import EgnasGenome


def time_fn(fn, args, repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return compile_s, float(np.median(times)), float(np.min(times))


def net_step(impl, repeats):
    g = EgnasGenome(12, 32, (0,) * 12, (3,) * 12)
    # the dense convs' gradient path that is fastest under this process's XLA flags
    net = build_network("egnas", g, 10, depthwise_impl=impl,
                        conv_impl=conv_impl_for_flags(os.environ))
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 32, 32, 1))
    y = jax.random.randint(jax.random.PRNGKey(1), (64,), 0, 10)
    v = net.init(jax.random.PRNGKey(2), x, train=False)
    tx = optax.sgd(0.025, momentum=0.9)
    opt = tx.init(v["params"])

    @jax.jit
    def step(params, stats, opt_state, xb, yb):
        def loss_fn(p):
            logits, upd = net.apply({"params": p, "batch_stats": stats}, xb, train=True,
                                    mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), upd
        (loss, upd), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), upd["batch_stats"], opt_state, loss

    return time_fn(step, (v["params"], v["batch_stats"], opt, x, y), repeats)


def layer_fwd_bwd(impl, repeats):
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 32, 32, 64))
    m = DepthwiseConv(64, 3, impl=impl)
    p = m.init(jax.random.PRNGKey(1), x)
    f = jax.jit(jax.grad(lambda pp, xx: jnp.sum(m.apply(pp, xx) ** 2), argnums=(0, 1)))
    return time_fn(f, (p, x), repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("experiments/results/bench_depthwise.json"))
    args = ap.parse_args()
    rows = []
    for case, fn in (("egnas L12 C32 train step (64x32x32x1)", net_step),
                     ("dw3x3 layer fwd+bwd (64x32x32x64)", layer_fwd_bwd)):
        for impl in ("grouped", "shift"):
            c, med, mn = fn(impl, args.repeats)
            rows.append({"case": case, "impl": impl, "compile_s": c, "median_s": med, "min_s": mn})
    print(f"backend={jax.default_backend()} devices={jax.devices()}")
    print(f"{'case':<40}{'impl':>9}{'compile s':>11}{'median ms':>11}{'min ms':>9}")
    for r in rows:
        print(f"{r['case']:<40}{r['impl']:>9}{r['compile_s']:>11.2f}"
              f"{1e3 * r['median_s']:>11.1f}{1e3 * r['min_s']:>9.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"backend": jax.default_backend(), "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

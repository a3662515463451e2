"""Generator pretraining without accuracies (docs/algorithms.md, AG-Net) and the shipped weights.

Per step: draw B real graphs (the targets) and B independent ``z ~ N(0, I)``, decode the z and
minimise mean cross-entropy (node types over all N slots) + mean BCE-with-logits (edges); Adam
lr 2e-4, betas (0.5, 0.999). The real graphs are drawn uniformly at random per step (the
original shuffles an epoch; same marginal, no epoch bookkeeping). Progress is measured on
generated samples: validity rate and an FID-like Frechet distance between real and generated
encodings ``y``.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from jaxnas.errors import DataNotFoundError
from jaxnas.generators.model import Generator, GeneratorConfig, reconstruction_loss
from jaxnas.generators.sampling import (
    encode_dense,
    frechet_distance,
    genomes_from_dense,
    sample_dense,
)

#: spaces with shipped pretrained weights (file stem in jaxnas/generators/weights/)
WEIGHT_FILES = {"nb201": "nb201", "nb101": "nb101", "nb101-20k": "nb101"}


def generator_config_for(space: Any, **overrides: Any) -> GeneratorConfig:
    """The generator sizes for a space's ``graph_spec`` (DARTS mode for the ``darts`` space)."""
    spec = space.graph_spec
    return GeneratorConfig(num_node_types=spec.num_node_types, max_nodes=spec.max_nodes,
                           darts_mode=getattr(space, "name", "") == "darts", **overrides)


def init_generator(config: GeneratorConfig, key: jax.Array) -> dict:
    """Fresh generator parameters."""
    return Generator(config).init(key, jnp.zeros((1, config.latent_dim), jnp.float32))


@functools.lru_cache(maxsize=None)
def decode_fn(config: GeneratorConfig) -> Callable:
    """``jit(params, z) -> (node logits, edge logits)`` compiled once per config/shape."""
    return jax.jit(Generator(config).apply)


@functools.lru_cache(maxsize=None)
def _sample_fn(config: GeneratorConfig) -> Callable:
    gen = Generator(config)

    @jax.jit
    def sample(params, key, z):
        node_logits, edge_logits = gen.apply(params, z)
        return sample_dense(key, node_logits, edge_logits, config.output_index)

    return sample


def sample_graphs(config: GeneratorConfig, params: dict, key: jax.Array, num: int,
                  chunk: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """``num`` discrete graphs from ``z ~ N(0, I)`` (node types (num, N), adjacency)."""
    types, adjs = [], []
    sample = _sample_fn(config)
    for start in range(0, num, chunk):
        key, kz, ks = jax.random.split(key, 3)
        z = jax.random.normal(kz, (chunk, config.latent_dim))
        t, a = sample(params, ks, z)
        types.append(np.asarray(t))
        adjs.append(np.asarray(a))
    return np.concatenate(types)[:num], np.concatenate(adjs)[:num]


def generation_metrics(config: GeneratorConfig, params: dict, key: jax.Array, space: Any,
                       real_y: np.ndarray, num: int = 10_000) -> dict[str, float]:
    """Validity rate, unique valid fraction and FID of ``num`` generated graphs vs ``real_y``."""
    types, adj = sample_graphs(config, params, key, num)
    genomes = genomes_from_dense(space, types, adj)
    valid = [g for g in genomes if g is not None]
    fake_y = encode_dense(types, adj, config.num_node_types)
    rng = np.random.default_rng(0)
    real = real_y if len(real_y) <= num else real_y[rng.choice(len(real_y), num, replace=False)]
    unique = len({space.key(g) for g in valid})
    return {"validity": len(valid) / num, "unique_valid": unique / num,
            "fid": frechet_distance(real, fake_y)}


@functools.lru_cache(maxsize=None)
def _train_chunk(config: GeneratorConfig, batch_size: int, chunk: int, lr: float, b1: float,
                 b2: float) -> Callable:
    gen = Generator(config)
    opt = optax.adam(lr, b1=b1, b2=b2)

    def step(carry, key):
        params, opt_state, types, edges = carry
        k_idx, k_z = jax.random.split(key)
        idx = jax.random.randint(k_idx, (batch_size,), 0, types.shape[0])
        z = jax.random.normal(k_z, (batch_size, config.latent_dim))

        def loss_fn(p):
            node_logits, edge_logits = gen.apply(p, z)
            return jnp.mean(reconstruction_loss(node_logits, edge_logits, types[idx],
                                                edges[idx]))

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, types, edges), loss

    @jax.jit
    def run(params, opt_state, types, edges, key):
        (params, opt_state, _, _), losses = jax.lax.scan(
            step, (params, opt_state, types, edges), jax.random.split(key, chunk))
        return params, opt_state, jnp.mean(losses)

    return run, opt


def pretrain(config: GeneratorConfig, types: np.ndarray, edges: np.ndarray, *,
             key: jax.Array, instances: int, batch_size: int = 32, learning_rate: float = 2e-4,
             b1: float = 0.5, b2: float = 0.999, chunk: int = 100, eval_every: int = 0,
             evaluate: Callable[[dict, int], dict] | None = None, params: dict | None = None,
             log: Callable[[str], None] = print) -> tuple[dict, list[dict]]:
    """Train the generator to reconstruct random real graphs from random latents.

    ``types`` (M, N) int and ``edges`` (M, E) float are the real graphs; ``instances`` is the
    number of generated graphs (steps x batch) as in the original's ``ticks x tick_size``.
    ``evaluate(params, instances)`` is called every ``eval_every`` instances; returns
    ``(params, history)``.
    """
    key, k_init = jax.random.split(key)
    if params is None:
        params = init_generator(config, k_init)
    run, opt = _train_chunk(config, batch_size, chunk, learning_rate, b1, b2)
    opt_state = opt.init(params)
    types_j = jnp.asarray(types, jnp.int32)
    edges_j = jnp.asarray(edges, jnp.float32)
    history: list[dict] = []
    done, next_eval, start = 0, eval_every, time.perf_counter()
    while done < instances:
        key, sub = jax.random.split(key)
        params, opt_state, loss = run(params, opt_state, types_j, edges_j, sub)
        done += chunk * batch_size
        if evaluate is not None and eval_every and (done >= next_eval or done >= instances):
            next_eval += eval_every
            row = {"instances": done, "loss": float(loss),
                   "seconds": round(time.perf_counter() - start, 1), **evaluate(params, done)}
            history.append(row)
            log(json.dumps(row))
    return params, history


# ------------------------------------------------------------------------- shipped weights


def weights_dir() -> Path:
    """The folder of shipped weights (``jaxnas/generators/weights``)."""
    return Path(str(resources.files("jaxnas.generators") / "weights"))


def save_weights(path: Path | str, config: GeneratorConfig, params: dict,
                 meta: dict[str, Any]) -> None:
    """Write ``<path>.msgpack`` (flax serialisation) and ``<path>.json`` (config + metadata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".msgpack").write_bytes(serialization.to_bytes(params))
    path.with_suffix(".json").write_text(
        json.dumps({"config": asdict(config), **meta}, indent=2) + "\n")


def load_weights(space_name: str, path: Path | str | None = None
                 ) -> tuple[GeneratorConfig, dict, dict]:
    """(config, params, metadata) of the pretrained generator for ``space_name``."""
    if path is None:
        if space_name not in WEIGHT_FILES:
            raise DataNotFoundError(
                f"no shipped AG-Net weights for space {space_name!r} (shipped: "
                f"{sorted(WEIGHT_FILES)}); pretrain with experiments/pretrain_agnet.py and "
                f"pass the file as weights=PATH")
        path = weights_dir() / WEIGHT_FILES[space_name]
    path = Path(path)
    msgpack, meta_file = path.with_suffix(".msgpack"), path.with_suffix(".json")
    if not msgpack.is_file() or not meta_file.is_file():
        raise DataNotFoundError(f"AG-Net weights {msgpack} / {meta_file} not found; make them "
                                f"with experiments/pretrain_agnet.py --space {space_name}")
    meta = json.loads(meta_file.read_text())
    config = GeneratorConfig(**meta["config"])
    template = init_generator(config, jax.random.PRNGKey(0))
    params = serialization.from_bytes(template, msgpack.read_bytes())
    return config, params, meta

"""Training the NAL model (:func:`train`): masked link and op prediction, one jitted scan.

Per step every sampled cell gets a random observed fraction of its true links and a random
masked fraction of its ops; the loss is BCE on the unobserved pairs (true links against
non-links) plus cross-entropy on the masked ops. With a fixed adjacency (NB201) every link is
observed and only ops are learned.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.errors import ConfigError
from jaxnas.graph.cells import Cells, Vocab
from jaxnas.graph.link import LinkPredictor, masked_bce, masked_ce
from jaxnas.graph.nal_model import (
    GENERATION_FIELDS, NALConfig, NALModel, forward, init_graph, link_predictor, middle_mask,
    pair_mask,
)


def capacity(count: int) -> int:
    """Rows the expert arrays are padded to (a power of two >= 64): the jitted trainer then
    compiles once per capacity, not once per expert count."""
    return max(64, 1 << (max(count, 1) - 1).bit_length())


def _link_targets(a: jnp.ndarray, obs: jnp.ndarray, m: jnp.ndarray, key: Any,
                  config: NALConfig) -> jnp.ndarray:
    """The pairs the link loss sees: the unobserved candidate pairs, negatives subsampled to
    ``negatives_per_positive`` per positive when that is set."""
    targets = pair_mask(m, a.shape[1]) & (obs == 0)
    if config.negatives_per_positive is not None:
        pos = targets & (a > 0)
        neg = targets & (a == 0)
        n_pos = jnp.sum(pos, axis=(1, 2), keepdims=True)
        n_neg = jnp.maximum(jnp.sum(neg, axis=(1, 2), keepdims=True), 1)
        keep = jax.random.uniform(key, a.shape) < config.negatives_per_positive * n_pos / n_neg
        targets = pos | (neg & keep)
    return targets


def masked_loss(params: Any, module: LinkPredictor, t: jnp.ndarray, a: jnp.ndarray,
                m: jnp.ndarray, key: Any, *, config: NALConfig, vocab: Vocab, fixed: bool
                ) -> jnp.ndarray:
    """The loss of one batch of cells (tokens ``t``, adjacency ``a``, vertex counts ``m``):
    hide links and ops at random fractions drawn per cell, predict them back."""
    batch, s = t.shape
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    if fixed:
        obs = a
    else:  # a random observed fraction of the true links, per cell
        q = jax.random.uniform(k1, (batch, 1, 1))
        obs = a * (jax.random.uniform(k2, a.shape) < q)
    p = jax.random.uniform(k3, (batch, 1))
    masked = middle_mask(m, s) & (jax.random.uniform(k4, (batch, s)) < p)
    t_in = jnp.where(masked, vocab.mask_token, t)
    edge_logits, op_logits = forward(module, params, t_in, obs, m, vocab.num_tokens)
    op_loss = masked_ce(op_logits, jnp.clip(t - 2, 0, len(vocab.ops) - 1), masked)
    if fixed:
        return config.op_loss_weight * op_loss
    link_loss = masked_bce(edge_logits, a, _link_targets(a, obs, m, k5, config))
    return link_loss + config.op_loss_weight * op_loss


@partial(jax.jit, static_argnames=("module", "config", "vocab", "fixed", "batch"))
def _train_jit(key: Any, tokens: jnp.ndarray, adj: jnp.ndarray, n: jnp.ndarray,
               count: jnp.ndarray, *, module: LinkPredictor, config: NALConfig, vocab: Vocab,
               fixed: bool, batch: int) -> tuple[Any, jnp.ndarray]:
    """The whole training run (init + ``config.steps`` AdamW steps) as one jitted scan.

    Module-level and keyed on static hashables so repeated trainings (seeds, in-space rounds)
    reuse the compiled program; ``count`` (traced) is how many of the padded rows are real.
    """
    tx = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = partial(masked_loss, module=module, config=config, vocab=vocab, fixed=fixed)

    def step(carry, step_key):
        params, opt_state = carry
        k_idx, k_loss = jax.random.split(step_key)
        idx = jax.random.randint(k_idx, (batch,), 0, count)  # with replacement, real rows only
        loss, grads = jax.value_and_grad(loss_fn)(params, t=tokens[idx], a=adj[idx],
                                                  m=n[idx], key=k_loss)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    # init inside the same jit: eager flax init dispatches op by op (slow on CPU)
    init_key, key = jax.random.split(key)
    params = module.init(init_key, *init_graph(batch, tokens.shape[1], vocab.num_tokens))
    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)),
                                       jax.random.split(key, config.steps))
    return params, losses


def train(cells: Cells, vocab: Vocab, key: Any, config: NALConfig = NALConfig(),
          fixed_adjacency: np.ndarray | None = None) -> NALModel:
    """Train the GAT link / op model on the (expert) ``cells``; jitted, one ``lax.scan``.

    Each step draws ``batch_size`` cells (with replacement) and minimises :func:`masked_loss`.
    ``key``: an int seed or a jax key (typed or raw words). With ``fixed_adjacency`` (NB201)
    all links are always observed and only ops are learned.
    """
    if len(cells) == 0:
        raise ConfigError("train needs at least one expert cell")
    # only the model/training fields are static: subclasses (a strategy's config) must not
    # force a recompilation
    config = NALConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(NALConfig)})
    static = dataclasses.replace(config, **{f: getattr(NALConfig, f) for f in GENERATION_FIELDS})
    padded = cells.subset(np.arange(capacity(len(cells))) % len(cells))  # never sampled
    params, losses = _train_jit(
        _key_words(key), jnp.asarray(padded.tokens), jnp.asarray(padded.adj),
        jnp.asarray(padded.n), jnp.asarray(len(cells), jnp.int32),
        module=link_predictor(vocab, config), config=static, vocab=vocab,
        fixed=fixed_adjacency is not None, batch=config.batch_size)
    counts = np.bincount(np.asarray(cells.n), minlength=cells.slots + 1)
    fixed = None if fixed_adjacency is None else np.asarray(fixed_adjacency, np.int32)
    return NALModel(params, vocab, config, fixed, counts, np.asarray(losses))


def train_contrast(cells: Cells, background: Cells | None, vocab: Vocab, key: Any,
                   config: NALConfig = NALConfig(),
                   fixed_adjacency: np.ndarray | None = None) -> NALModel:
    """:func:`train` on the expert ``cells``; with ``config.score == "contrast"`` also a
    background model, trained the same way (its own key) on ``background`` (random cells of
    the source space, no accuracy), attached as ``model.background``."""
    contrast = config.score == "contrast"
    if contrast and (background is None or len(background) == 0):
        raise ConfigError("score='contrast' needs background cells")
    model = train(cells, vocab, key, config, fixed_adjacency)
    if not contrast:
        return model
    background_key = jax.random.fold_in(jnp.asarray(_key_words(key)), 1)
    return dataclasses.replace(model, background=train(background, vocab, background_key,
                                                       config, fixed_adjacency))


def _key_words(key: Any) -> np.ndarray:
    """A legacy jax key (uint32 words) from an int seed or any jax key."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return np.asarray(jax.random.PRNGKey(int(key)), np.uint32)
    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key, dtype=np.uint32).reshape(-1).copy()

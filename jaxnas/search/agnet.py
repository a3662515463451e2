"""AG-Net: latent generator + surrogate with rank-weighted retraining (docs/algorithms.md, "AG-Net").

One search round (``ask`` once the 16 initial random cells are known):

1. **Retrain** the pretrained generator and its MLP surrogate jointly for ``epochs`` epochs
   over the queried set D: batches of 16 drawn with replacement with probability proportional
   to the rank weights ``w_i = 1 / (k |D| + rank_i)`` (rank 0 = best), ceil(|D|/16) batches
   per epoch; per-sample loss ``w_i * ((1 - a) recon_i + a MSE_i)`` (the weight is applied a
   second time, as in the original), where ``recon_i`` reconstructs graph i from a fresh
   ``z ~ N(0, I)`` and ``MSE_i`` compares the surrogate on the generated logits with graph i's
   accuracy. Adam (lr 1e-3, betas (0.5, 0.999)) persists across rounds; the generator is never
   re-initialised.
2. **Generate** candidates from ``z ~ U(-3, 3)^32``: decode 100, 200, ..., 900 latents until
   more than ``num_test`` (100) new valid cells are found (new = not in D and not already a
   candidate, by ``space.key``); keep a random 100.
3. **Select** the top ``k`` (16) by predicted accuracy and ask for them.

The hardware-aware variant (``--objective latency --device D [--max-latency X]``, 3.7)
predicts (accuracy, latency) conditioned on the device one-hot (re-concatenated after every
hidden layer), trains with ``(1-a) recon' + a (0.5 MSE_lat' + 0.5 MSE_acc')`` (each term
divided by ``max(term, 1)``, a = 0.95, Adam lr 2e-4 + weight decay 1e-4) and ranks by
``(rank_acc + rank_lat) * penalty`` ("joint", Eq. 4) or ``rank_acc * penalty``
("constrained", Eq. 5), penalty 1000 above the latency limit; the same formula with predicted
values selects candidates.

Everything that changes lives in :class:`AGNetState` (parameters and optax state as pytrees,
D as arrays, a jax key), so a search can be checkpointed after every ``tell``. Retraining runs
in jitted ``lax.scan`` chunks of ``epochs`` steps and candidate decoding + sampling is one
jitted function of a fixed chunk size, so nothing recompiles as D grows (D is padded to a
multiple of 256 rows).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.errors import ConfigError, InvalidGenomeError, check_choice
from jaxnas.generators.model import (
    Generator,
    GeneratorConfig,
    Predictor,
    flat_logits,
    reconstruction_loss,
)
from jaxnas.generators.pretrain import init_generator, load_weights
from jaxnas.generators.sampling import sample_dense, split_encoding
from jaxnas.search.base import ACCURACY, LATENCY, SearchRecord, Strategy, StrategyState, split_rng

MODES = ("auto", "accuracy", "joint", "constrained")
#: rows D is padded to (a multiple of this), so retraining compiles once per 256 queries
_CAPACITY_STEP = 256


@dataclass(frozen=True)
class AGNetConfig:
    """AG-Net hyperparameters; ``None`` means the paper's default for the mode and space."""

    num_init: int = 16  # random initial cells
    k: int = 16  # cells queried per round (top-k by prediction)
    num_test: int = 100  # new valid candidates generated per round
    batch_size: int = 16
    epochs: int | None = None  # retraining epochs per round: nb201 30, nb101 15, HW 30
    weight_factor: float = 0.01  # k in w = 1 / (k |D| + rank) (the code's 10e-3)
    alpha: float | None = None  # loss mix: 0.9 (accuracy), 0.95 (HW)
    learning_rate: float | None = None  # 1e-3 (accuracy), 2e-4 (HW)
    weight_decay: float | None = None  # 0 (accuracy), 1e-4 (HW)
    b1: float = 0.5
    b2: float = 0.999
    latent_range: float = 3.0  # z ~ U(-r, r) when generating candidates
    candidate_chunk: int = 100  # latents per decode call (the original's batch step)
    max_candidate_batches: int = 9  # decode 100, 200, ..., 900 latents (original: 4,500)
    penalty: float = 1000.0  # rank multiplier above the latency limit (HW)
    mode: str = "auto"  # auto: joint with --objective latency, constrained with a limit
    pretrained: bool = True  # start from the shipped generator weights
    weights: str | None = None  # other weights (path stem of .msgpack/.json)
    predictor_layers: int = 4  # 5 Dense layers

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        for name in ("num_init", "k", "num_test", "batch_size", "candidate_chunk",
                     "max_candidate_batches"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        if self.epochs is not None and self.epochs < 0:
            raise ConfigError(f"epochs={self.epochs} must be >= 0")
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha={self.alpha} must be in [0, 1]")
        if self.weight_factor <= 0:
            raise ConfigError(f"weight_factor={self.weight_factor} must be > 0")


@dataclass(frozen=True)
class AGNetState(StrategyState):
    """Everything that changes during an AG-Net search (checkpointable after every tell)."""

    gen_params: Any = None  # generator parameters (a pytree of arrays)
    pred_params: Any = None  # surrogate parameters
    opt_state: Any = None  # optax state of both
    data_y: np.ndarray | None = None  # (|D|, len(y)) encodings of the queried cells
    data_acc: np.ndarray | None = None  # (|D|,) search accuracy (%, as the oracle reports it)
    data_lat: np.ndarray | None = None  # (|D|,) latency in ms (NaN without a device)
    keys: tuple[str, ...] = ()  # space.key of every queried cell
    rounds: int = 0  # generation rounds done
    generated: int = 0  # latents decoded so far
    invalid: int = 0  # decoded graphs that are not valid cells of the space
    outside: int = 0  # valid cells outside the benchmark's table (nb101-20k): skipped


def rank_weights(values: np.ndarray, weight_factor: float, higher_is_better: bool = True
                 ) -> np.ndarray:
    """``1 / (k |D| + rank)`` with rank 0 for the best value (ties: earlier entry first)."""
    values = np.asarray(values, np.float64)
    order = np.argsort(-values if higher_is_better else values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(len(values))
    return 1.0 / (weight_factor * len(values) + ranks)


def _ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    order = np.argsort(-values if higher_is_better else values, kind="stable")
    ranks = np.empty(len(values), np.int64)
    ranks[order] = np.arange(len(values))
    return ranks


def hw_rank(acc: np.ndarray, lat: np.ndarray, max_latency: float | None, joint: bool,
            penalty: float = 1000.0) -> np.ndarray:
    """``(rank_acc + rank_lat) * penalty`` (Eq. 4) or ``rank_acc * penalty`` (Eq. 5).

    Lower is better; ``penalty`` multiplies the rank of cells above ``max_latency``.
    """
    acc, lat = np.asarray(acc, np.float64), np.asarray(lat, np.float64)
    rank = _ranks(acc, True) + 1
    if joint:
        rank = rank + _ranks(lat, False) + 1
    if max_latency is not None:
        rank = rank * np.where(lat > max_latency, penalty, 1.0)
    return rank.astype(np.float64)


# ----------------------------------------------------------------------------- jitted parts


@functools.lru_cache(maxsize=None)
def _functions(gen_config: GeneratorConfig, num_outputs: int, cond_dim: int, layers: int,
               hw: bool, alpha: float, lr: float, wd: float, b1: float, b2: float,
               batch_size: int, chunk: int, cand_chunk: int, latent_range: float
               ) -> tuple[Callable, Callable, Any]:
    """(train_chunk, generate, optimizer) compiled once per static setting."""
    gen = Generator(gen_config)
    pred = Predictor(hidden=gen_config.encoding_size, num_outputs=num_outputs, num_layers=layers)
    opt = optax.chain(optax.add_decayed_weights(wd), optax.adam(lr, b1=b1, b2=b2))

    def predict(pred_params, node_logits, edge_logits, cond):
        x = flat_logits(node_logits, edge_logits)
        c = None if cond_dim == 0 else jnp.broadcast_to(cond, (x.shape[0], cond_dim))
        return pred.apply(pred_params, x, c)

    def step(carry, key):
        params, opt_state, data = carry
        types, edges, acc, lat, w, cond = data
        k_idx, k_z = jax.random.split(key)
        # WeightedRandomSampler: draws with replacement, probability proportional to w
        idx = jax.random.choice(k_idx, w.shape[0], (batch_size,), replace=True, p=w / w.sum())
        z = jax.random.normal(k_z, (batch_size, gen_config.latent_dim))
        wi = w[idx]

        def loss_fn(p):
            node_logits, edge_logits = gen.apply(p[0], z)
            recon = reconstruction_loss(node_logits, edge_logits, types[idx], edges[idx])
            out = predict(p[1], node_logits, edge_logits, cond)
            mse_acc = (out[:, 0] - acc[idx]) ** 2
            if hw:
                mse_lat = (out[:, 1] - lat[idx]) ** 2
                # each term divided by max(term, 1), detached (Search_HW.py)
                clip = lambda v: v / jax.lax.stop_gradient(jnp.maximum(v, 1.0))  # noqa: E731
                err = (1 - alpha) * clip(recon) + alpha * (0.5 * clip(mse_lat)
                                                           + 0.5 * clip(mse_acc))
            else:
                err = (1 - alpha) * recon + alpha * mse_acc
            return jnp.mean(err * wi)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, data), loss

    @jax.jit
    def train_chunk(params, opt_state, data, key):
        (params, opt_state, _), losses = jax.lax.scan(
            step, (params, opt_state, data), jax.random.split(key, chunk))
        return params, opt_state, jnp.mean(losses)

    @jax.jit
    def generate(gen_params, pred_params, cond, key):
        k_z, k_s = jax.random.split(key)
        z = jax.random.uniform(k_z, (cand_chunk, gen_config.latent_dim),
                               minval=-latent_range, maxval=latent_range)
        node_logits, edge_logits = gen.apply(gen_params, z)
        types, adj = sample_dense(k_s, node_logits, edge_logits, gen_config.output_index)
        return types, adj, predict(pred_params, node_logits, edge_logits, cond)

    return train_chunk, generate, opt


@functools.lru_cache(maxsize=8)
def _pretrained(space_name: str, path: str | None) -> tuple[GeneratorConfig, Any]:
    config, params, _ = load_weights(space_name, path)
    return config, params


# ----------------------------------------------------------------------------- strategy


class AGNet(Strategy):
    """AG-Net search behind init / ask / tell (see the module docstring)."""

    name = "agnet"
    Config = AGNetConfig
    State = AGNetState

    def setup(self) -> None:
        space, c, ctx = self.space, self.config, self.context
        mode = c.mode
        if mode == "auto":
            if ctx.objective == LATENCY:
                mode = "joint"
            elif ctx.max_latency is not None and ctx.device is not None:
                mode = "constrained"
            else:
                mode = "accuracy"
        if mode != "accuracy" and ctx.device is None:
            raise ConfigError(f"AG-Net mode {mode!r} needs a latency device (--device); "
                              f"use mode=accuracy without one")
        self.mode = mode
        self.hw = mode != "accuracy"
        self.space_label = ctx.space_name or getattr(space, "name", "")
        spec = space.graph_spec
        if c.pretrained:
            self.gen_config, self._gen_params = _pretrained(self.space_label, c.weights)
            if (self.gen_config.num_node_types, self.gen_config.max_nodes) != (
                    spec.num_node_types, spec.max_nodes):
                raise ConfigError(f"weights for {self.gen_config.max_nodes} nodes x "
                                  f"{self.gen_config.num_node_types} types do not fit space "
                                  f"{self.space_label!r} ({spec.max_nodes} x "
                                  f"{spec.num_node_types})")
        else:
            self.gen_config = GeneratorConfig(
                num_node_types=spec.num_node_types, max_nodes=spec.max_nodes,
                darts_mode=getattr(space, "name", "") == "darts")
            self._gen_params = None
        self.epochs = c.epochs if c.epochs is not None else (
            30 if self.hw or self.space_label == "nb201" else 15)
        self.alpha = c.alpha if c.alpha is not None else (0.95 if self.hw else 0.9)
        self.lr = c.learning_rate if c.learning_rate is not None else (
            2e-4 if self.hw else 1e-3)
        self.wd = c.weight_decay if c.weight_decay is not None else (1e-4 if self.hw else 0.0)
        self.cond = self._device_onehot() if self.hw else np.zeros((0,), np.float32)
        self._train_chunk, self._generate, self._opt = _functions(
            self.gen_config, 2 if self.hw else 1, len(self.cond), c.predictor_layers, self.hw,
            float(self.alpha), float(self.lr), float(self.wd), c.b1, c.b2, c.batch_size,
            max(self.epochs, 1), c.candidate_chunk, float(c.latent_range))

    def _device_onehot(self) -> np.ndarray:
        devices: Sequence[str] = (self.context.device,)
        if self.space_label == "nb201":
            from jaxnas.benchmarks import nb201_table

            devices = tuple(nb201_table().devices)
        check_choice("device", self.context.device, devices)
        onehot = np.zeros((len(devices),), np.float32)
        onehot[list(devices).index(self.context.device)] = 1.0
        return onehot

    # ------------------------------------------------------------------ protocol
    def _init(self, key: Any) -> AGNetState:
        key, k_gen, k_pred = jax.random.split(key, 3)
        gen_params = (self._gen_params if self._gen_params is not None
                      else init_generator(self.gen_config, k_gen))
        pred = Predictor(hidden=self.gen_config.encoding_size, num_outputs=2 if self.hw else 1,
                         num_layers=self.config.predictor_layers)
        x = jnp.zeros((1, self.gen_config.encoding_size))
        cond = None if not self.hw else jnp.zeros((1, len(self.cond)))
        pred_params = pred.init(k_pred, x, cond)  # fresh predictor, as the original
        opt_state = self._opt.init((gen_params, pred_params))
        size = self.gen_config.encoding_size
        return AGNetState(key=np.asarray(key), gen_params=gen_params, pred_params=pred_params,
                          opt_state=opt_state, data_y=np.zeros((0, size), np.float32),
                          data_acc=np.zeros((0,), np.float32),
                          data_lat=np.zeros((0,), np.float32))

    def _ask(self, state: AGNetState) -> tuple[AGNetState, list[Any]]:
        if len(state.keys) < self.config.num_init:
            return self._ask_random(state, self.config.num_init - len(state.keys))
        state = self.retrain(state)
        state, candidates, predictions = self.candidates(state)
        if not candidates:  # the generator found nothing new: fall back to random cells
            return self._ask_random(state, self.config.k)
        order = self._select(predictions)
        return state, [candidates[i] for i in order[: self.config.k]]

    def _tell(self, state: AGNetState, genomes: list[Any],
              records: list[SearchRecord]) -> AGNetState:
        keys = list(state.keys)
        ys, accs, lats = [], [], []
        for genome, record in zip(genomes, records):
            key = record.key or self.space.key(genome)
            if key in keys:
                continue  # a repeated cell teaches nothing new
            if ACCURACY not in record.metrics:
                raise ConfigError(f"AG-Net needs metric {ACCURACY!r}; got {sorted(record.metrics)}")
            if self.hw and LATENCY not in record.metrics:
                raise ConfigError(f"hardware-aware AG-Net needs metric {LATENCY!r}; got "
                                  f"{sorted(record.metrics)} (pass --device)")
            keys.append(key)
            ys.append(np.asarray(self.space.encode(genome), np.float32))
            accs.append(float(record.metrics[ACCURACY]))
            lats.append(float(record.metrics.get(LATENCY, math.nan)))
        if not ys:
            return replace(state, keys=tuple(keys))
        return replace(
            state, keys=tuple(keys),
            data_y=np.concatenate([state.data_y, np.stack(ys)]),
            data_acc=np.concatenate([state.data_acc, np.asarray(accs, np.float32)]),
            data_lat=np.concatenate([state.data_lat, np.asarray(lats, np.float32)]))

    # ------------------------------------------------------------------ parts
    def _ask_random(self, state: AGNetState, count: int) -> tuple[AGNetState, list[Any]]:
        key, rng = split_rng(state.key)
        seen, out = set(state.keys), []
        for _ in range(100 * count):
            if len(out) == count:
                break
            genome = self.space.sample(rng)
            k = self.space.key(genome)
            if k not in seen:
                seen.add(k)
                out.append(genome)
        return replace(state, key=key), out

    def sample_weights(self, state: AGNetState) -> np.ndarray:
        """Rank weights of D for retraining (accuracy ranks, or the HW rank formula)."""
        k = self.config.weight_factor
        if not self.hw:
            return rank_weights(state.data_acc, k)
        rank = hw_rank(state.data_acc, state.data_lat, self.context.max_latency,
                       self.mode == "joint", self.config.penalty)
        return rank_weights(rank, k, higher_is_better=False)

    def retrain(self, state: AGNetState) -> AGNetState:
        """``epochs`` epochs of rank-weighted joint training on D (ceil(|D|/B) steps each)."""
        n = len(state.keys)
        if n == 0 or self.epochs == 0:
            return state
        cap = _CAPACITY_STEP * math.ceil(n / _CAPACITY_STEP)
        types, edges = split_encoding(state.data_y, self.gen_config.num_node_types,
                                      self.gen_config.max_nodes)
        pad = cap - n
        w = np.pad(self.sample_weights(state).astype(np.float32), (0, pad))
        acc = np.pad(state.data_acc / 100.0, (0, pad)).astype(np.float32)  # fractions
        lat = np.pad(np.nan_to_num(state.data_lat), (0, pad)).astype(np.float32)
        data = (jnp.asarray(np.pad(types, ((0, pad), (0, 0)))),
                jnp.asarray(np.pad(edges, ((0, pad), (0, 0)))),
                jnp.asarray(acc), jnp.asarray(lat), jnp.asarray(w), jnp.asarray(self.cond))
        params, opt_state, key = (state.gen_params, state.pred_params), state.opt_state, state.key
        # epochs * ceil(n / B) steps, run as ceil(n / B) jitted scans of `epochs` steps
        for _ in range(math.ceil(n / self.config.batch_size)):
            key, sub = jax.random.split(key)
            params, opt_state, _ = self._train_chunk(params, opt_state, data, sub)
        return replace(state, key=np.asarray(key), gen_params=params[0], pred_params=params[1],
                       opt_state=opt_state)

    def candidates(self, state: AGNetState) -> tuple[AGNetState, list[Any], np.ndarray]:
        """New valid cells decoded from ``z ~ U(-3, 3)`` and their predictions (host side)."""
        c = self.config
        key = state.key
        seen = set(state.keys)
        contains = getattr(self.space, "contains", None)
        found: list[Any] = []
        preds: list[np.ndarray] = []
        generated, invalid, outside = 0, 0, 0
        for batch in range(1, c.max_candidate_batches + 1):
            for _ in range(batch):  # the original decodes 100 * batch latents at once
                key, sub = jax.random.split(key)
                types, adj, out = jax.device_get(
                    self._generate(state.gen_params, state.pred_params, self.cond, sub))
                generated += len(types)
                for t, a, p in zip(types, adj, out):
                    try:
                        genome = self.space.from_dense(t, a)
                    except InvalidGenomeError:
                        invalid += 1
                        continue
                    if contains is not None and not contains(genome):
                        outside += 1  # not queryable (nb101-20k): skipped, never guessed
                        continue
                    k = self.space.key(genome)
                    if k in seen:
                        continue
                    seen.add(k)
                    found.append(genome)
                    preds.append(np.asarray(p, np.float64))
            if len(found) > c.num_test:
                break
        key, rng = split_rng(key)
        if len(found) > c.num_test:
            keep = rng.permutation(len(found))[: c.num_test]
            found = [found[i] for i in keep]
            preds = [preds[i] for i in keep]
        state = replace(state, key=key, rounds=state.rounds + 1,
                        generated=state.generated + generated,
                        invalid=state.invalid + invalid, outside=state.outside + outside)
        width = 2 if self.hw else 1
        return state, found, (np.stack(preds) if preds else np.zeros((0, width)))

    def _select(self, predictions: np.ndarray) -> np.ndarray:
        """Candidate order: predicted accuracy, or the HW rank of predicted (acc, latency)."""
        if not self.hw:
            return np.argsort(-predictions[:, 0], kind="stable")
        rank = hw_rank(predictions[:, 0], predictions[:, 1], self.context.max_latency,
                       self.mode == "joint", self.config.penalty)
        return np.argsort(rank, kind="stable")


__all__ = ["AGNet", "AGNetConfig", "AGNetState", "hw_rank", "rank_weights"]

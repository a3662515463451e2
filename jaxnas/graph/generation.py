"""Generation with a trained :class:`~jaxnas.graph.nal_model.NALModel`: scoring and decoding.

* **Scoring** (:func:`score_cells`): the model's score of complete cells. ``score="transfer"``
  (the default) is made only of what the model predicts on the cell's own graph: the mean op
  log-likelihood (:func:`op_log_likelihood`) plus the mean link log-likelihood
  (:func:`link_log_likelihood`). ``score="legacy"`` adds :func:`vertex_count_log_prior`, the
  experts' vertex-count histogram (kept to measure the change: a size prior learned in one
  space does not transfer to a space whose cells are built differently). ``score="contrast"``
  subtracts the same terms under ``model.background``, a model trained the same way on random
  cells: a log-likelihood ratio, high where experts and ordinary cells differ, so the ease of
  predicting small graphs, which both models share, cancels. No cell is evaluated.
* **Decoding** (:func:`generate`), three modes (``NALConfig.decode``): ``argmax`` and
  ``sample`` decode ops by iterative masked prediction (:func:`decode_ops`: most confident
  vertex first; the op is the argmax, or drawn at ``temperature`` with seeded Gumbel noise),
  then links one at a time (:func:`decode_links`: add the best admissible link until the cell
  is valid and no link has p > 0.5, or ``max_edges``); ``beam`` keeps the ``beam_width`` most
  probable op assignments (:func:`decode_beam`), completes each with argmax links and returns
  the top-k distinct cells by :func:`score_cells`. Invalid decodes are pruned and rejected if
  no input-output path is left. Deterministic for a seed.
* **Pools** (:func:`select`, :func:`generate_from_pool`): the same three modes over a fixed
  set of cells (top-1, Gumbel-top-k at ``temperature``, top-k by score) - an analysis tool,
  and the generator of spaces that *are* a table of cells (nb101-20k).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import jax.numpy as jnp
import numpy as np

from jaxnas.errors import ConfigError, check_choice
from jaxnas.graph.cells import Cells, is_pruned, prune_cell
from jaxnas.graph.nal_model import SCORES, NALModel, middle_mask, pair_mask, predict
from jaxnas.spaces.nb101 import NB101_MAX_EDGES

Cell = tuple[tuple[str, ...], np.ndarray]  # (ops, adjacency) of one decoded cell

# ----------------------------------------------------------------------------- scoring


def _chunks(cells: Cells, chunk: int) -> Iterator[tuple[Cells, int]]:
    """Equal-shape chunks of ``cells`` (padded with repeats of the last cell) and the number of
    real rows in each. The chunk size is a power of two (>= 64), so the model compiles once per
    size bucket, not once per pool size."""
    size = min(chunk, max(64, 1 << (max(len(cells), 1) - 1).bit_length()))
    for start in range(0, len(cells), size):
        rows = np.minimum(np.arange(start, start + size), len(cells) - 1)
        yield cells.subset(rows), min(size, len(cells) - start)


def vertex_count_log_prior(model: NALModel, n: np.ndarray) -> np.ndarray:
    """log p(vertex count) of cells with ``n`` vertices: the experts' histogram, add-one
    smoothed over counts >= 2 (this prior stops trivially small cells from winning)."""
    n = np.asarray(n)
    counts = np.zeros(max(len(model.n_counts), int(n.max()) + 1), np.float64)
    counts[: len(model.n_counts)] = model.n_counts
    counts[2:] += 1.0
    with np.errstate(divide="ignore"):  # counts 0 and 1 are impossible: log 0 = -inf
        return np.log(counts / counts.sum())[n]


def op_log_likelihood(model: NALModel, cells: Cells, chunk: int = 4096) -> np.ndarray:
    """Mean log p(op | links, all ops masked) over each cell's op vertices."""
    out = []
    for part, real in _chunks(cells, chunk):
        middle = np.asarray(middle_mask(jnp.asarray(part.n), part.slots))
        masked = np.where(middle, model.vocab.mask_token, part.tokens)
        _, op_logp = predict(model, masked, part.adj, part.n)
        labels = np.clip(part.tokens - 2, 0, len(model.vocab.ops) - 1)
        op_term = np.take_along_axis(op_logp, labels[..., None], -1)[..., 0]
        out.append(((op_term * middle).sum(1) / np.maximum(middle.sum(1), 1))[:real])
    return np.concatenate(out)


def link_log_likelihood(model: NALModel, cells: Cells, chunk: int = 4096) -> np.ndarray:
    """Mean log p(link / non-link | ops, no links observed) over each cell's vertex pairs."""
    out = []
    for part, real in _chunks(cells, chunk):
        probs, _ = predict(model, part.tokens, np.zeros_like(part.adj), part.n)
        pairs = np.asarray(pair_mask(jnp.asarray(part.n), part.slots))
        probs = np.clip(probs, 1e-6, 1 - 1e-6)
        ll = np.where(part.adj > 0, np.log(probs), np.log1p(-probs))
        out.append(((ll * pairs).sum((1, 2)) / np.maximum(pairs.sum((1, 2)), 1))[:real])
    return np.concatenate(out)


def size_log_prior(n: np.ndarray, slots: int | None = None) -> np.ndarray:
    """log of the fraction of cells with each vertex count (index = count) among the vertex
    counts ``n`` of a space's cells: the ``target-prior`` score's size term (the space's own
    structure, no accuracy)."""
    n = np.asarray(n)
    counts = np.bincount(n, minlength=(slots or int(n.max())) + 1).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.log(counts / counts.sum())


def score_cells(model: NALModel, cells: Cells, chunk: int = 4096, score: str | None = None,
                target_log_prior: np.ndarray | None = None) -> np.ndarray:
    """Score of complete cells (higher = more expert-like), the decoder's own factorisation.

    ``score`` (default ``model.config.score``): ``"transfer"`` = mean op log-likelihood + mean
    link log-likelihood; ``"target-prior"`` = the same + ``target_log_prior[n]``
    (:func:`size_log_prior` of the target space's cells); ``"legacy"`` = the same +
    :func:`vertex_count_log_prior` (the experts'); ``"contrast"`` = the ``transfer`` score
    minus the background model's (``model.background``). Means, not sums, so that a cell is
    not favoured for having fewer terms. With a fixed topology (NB201 in-space) only the op
    term is left: the count and links carry no choice.
    """
    score = model.config.score if score is None else score
    check_choice("score", score, SCORES)
    if score == "target-prior" and target_log_prior is None:
        raise ConfigError("score='target-prior' needs the target space's target_log_prior")
    if score == "contrast":
        if model.background is None:
            raise ConfigError("score='contrast' needs a model with a background model")
        return (score_cells(model, cells, chunk, "transfer")
                - score_cells(model.background, cells, chunk, "transfer"))
    op_score = op_log_likelihood(model, cells, chunk)
    if model.fixed_adjacency is not None:
        return op_score
    total = op_score + link_log_likelihood(model, cells, chunk)
    if score == "legacy":
        total = vertex_count_log_prior(model, cells.n) + total
    elif score == "target-prior":
        total = total + np.asarray(target_log_prior)[cells.n]
    return total


def gumbel_top_k(scores: np.ndarray, k: int, temperature: float,
                 rng: np.random.Generator) -> np.ndarray:
    """k distinct indices: top-k of ``scores / T + Gumbel`` (sampling without replacement from
    softmax(scores / T)); T = 0 is plain top-k."""
    scores = np.asarray(scores, np.float64)
    if temperature > 0:
        perturbed = scores / temperature + rng.gumbel(size=scores.shape)
    else:
        perturbed = scores + 1e-9 * rng.random(scores.shape)  # seeded tie-break only
    perturbed = np.where(np.isfinite(scores), perturbed, -np.inf)
    return np.argsort(-perturbed, kind="stable")[:k]


def select(scores: np.ndarray, k: int, mode: str, temperature: float,
           rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct indices of ``scores`` by decoding mode: ``argmax`` / ``beam``: the top-k
    (best first, ties to the lower index: independent of ``rng``); ``sample``: Gumbel-top-k at
    ``temperature``. -inf scores are never picked while finite ones remain."""
    if mode not in ("argmax", "sample", "beam"):
        raise ConfigError(f"mode={mode!r}; choose 'argmax', 'sample' or 'beam'")
    if mode == "sample":
        return gumbel_top_k(scores, k, temperature, rng)
    scores = np.asarray(scores, np.float64)  # ties: the lower index first (no seed)
    return np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), kind="stable")[:k]


def generate_from_pool(model: NALModel, pool: Cells, k: int, seed: int,
                       temperature: float | None = None, mode: str | None = None
                       ) -> np.ndarray:
    """Indices of ``k`` distinct pool cells picked by :func:`select` on :func:`score_cells`."""
    t = model.config.temperature if temperature is None else temperature
    mode = model.config.decode if mode is None else mode
    prior = size_log_prior(pool.n, pool.slots)  # the pool is the target space
    return select(score_cells(model, pool, target_log_prior=prior), k, mode, t,
                  np.random.default_rng(seed))


# ----------------------------------------------------------------------------- decoding


def pick(logp: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """argmax of ``logp / T + Gumbel`` (a draw from softmax(logp / T)); argmax at T = 0."""
    if temperature <= 0:
        return int(np.argmax(logp))
    return int(np.argmax(logp / temperature + rng.gumbel(size=logp.shape)))


def masked_tokens(model: NALModel, n: int, slots: int) -> np.ndarray:
    """(1, slots) tokens of a cell with ``n`` vertices: input, n - 2 MASKs, then outputs."""
    tokens = np.ones((1, slots), np.int32)
    tokens[0, 0] = 0
    tokens[0, 1:n - 1] = model.vocab.mask_token
    return tokens


def decode_ops(model: NALModel, tokens: np.ndarray, obs: np.ndarray, n: int,
               temperature: float, rng: np.random.Generator) -> None:
    """Fill the masked vertices of ``tokens`` (in place) one at a time, the most confident
    first (MaskGIT-style), each op drawn at ``temperature``."""
    nn_ = np.array([n], np.int32)
    mask = model.vocab.mask_token
    for _ in range(int(np.sum(tokens[0, :n] == mask))):
        _, op_logp = predict(model, tokens, obs, nn_)
        masked = np.flatnonzero(tokens[0, :n] == mask)
        v = int(masked[np.argmax(op_logp[0, masked].max(-1))])
        tokens[0, v] = 2 + pick(op_logp[0, v], temperature, rng)


def decode_links(model: NALModel, tokens: np.ndarray, obs: np.ndarray, n: int,
                 temperature: float, rng: np.random.Generator, max_edges: int) -> None:
    """Add links to ``obs`` (in place), the best admissible pair (Gumbel-perturbed logit)
    first, until the cell is valid and the model prefers no further link, or ``max_edges``."""
    nn_ = np.array([n], np.int32)
    with np.errstate(divide="ignore"):
        for _ in range(max_edges):
            probs, _ = predict(model, tokens, obs, nn_)
            cand = np.triu(np.ones((n, n), bool), 1) & (obs[0, :n, :n] == 0)
            if not cand.any():
                break
            p = np.clip(probs[0, :n, :n], 1e-6, 1 - 1e-6)
            logit = np.log(p) - np.log1p(-p)
            noise = rng.gumbel(size=logit.shape) * temperature if temperature > 0 else 0.0
            score = np.where(cand, logit + noise, -np.inf)
            i, j = np.unravel_index(int(np.argmax(score)), score.shape)
            if is_pruned(obs[0], n) and score[i, j] <= 0.0:
                break  # complete, and the model prefers no further link
            obs[0, i, j] = 1


def _vertex_count(model: NALModel, temperature: float, rng: np.random.Generator,
                  num_vertices: int | None) -> int:
    if model.fixed_adjacency is not None:
        return model.fixed_adjacency.shape[0]
    if num_vertices is not None:
        return num_vertices
    with np.errstate(divide="ignore"):  # drawn from the experts' histogram at temperature T
        return pick(np.log(model.n_counts.astype(np.float64)), temperature, rng)


def decode_one(model: NALModel, rng: np.random.Generator, temperature: float,
               num_vertices: int | None = None, max_edges: int = NB101_MAX_EDGES,
               slots: int | None = None) -> Cell | None:
    """Decode one cell: ops (:func:`decode_ops`), then links (:func:`decode_links`).

    Returns ``(ops, adjacency)`` (pruned to input-output paths) or None for an invalid decode.
    """
    fixed = model.fixed_adjacency
    n = _vertex_count(model, temperature, rng, num_vertices)
    s = slots or max(n, len(model.n_counts) - 1)
    if n < 2 or n > s:
        raise ConfigError(f"num_vertices={n} must be in [2, {s}]")
    tokens = masked_tokens(model, n, s)
    obs = np.zeros((1, s, s), np.int32)
    if fixed is not None:
        obs[0] = fixed
    decode_ops(model, tokens, obs, n, temperature, rng)
    ops = tuple(model.vocab.op(t) for t in tokens[0, :n])
    if fixed is not None:
        return ops, fixed.copy()
    decode_links(model, tokens, obs, n, temperature, rng, max_edges)
    pruned = prune_cell(obs[0, :n, :n], ops)
    return None if pruned is None else (pruned[1], pruned[0])


def _beam_ops(model: NALModel, n: int, s: int, width: int, obs: np.ndarray
              ) -> list[np.ndarray]:
    """The ``width`` most probable op assignments (token rows) of a cell with ``n`` vertices:
    masked decoding (most confident vertex first) keeping the best partial assignments by
    summed op log-probability. Batches are padded to ``width`` rows (one compiled shape)."""
    mask = model.vocab.mask_token
    beams = [(masked_tokens(model, n, s)[0], 0.0)]
    for _ in range(int(np.sum(beams[0][0][:n] == mask))):
        rows = [beams[min(i, len(beams) - 1)][0] for i in range(width)]
        _, op_logp = predict(model, np.stack(rows), np.repeat(obs, width, 0),
                             np.full(width, n, np.int32))
        cand: dict[bytes, tuple[np.ndarray, float]] = {}
        for b, (t, lp) in enumerate(beams):
            masked = np.flatnonzero(t[:n] == mask)
            v = int(masked[np.argmax(op_logp[b, masked].max(-1))])
            for o in range(len(model.vocab.ops)):
                nt = t.copy()
                nt[v] = 2 + o
                total = lp + float(op_logp[b, v, o])
                if nt.tobytes() not in cand or cand[nt.tobytes()][1] < total:
                    cand[nt.tobytes()] = (nt, total)
        beams = sorted(cand.values(), key=lambda c: -c[1])[:width]
    return [t for t, _ in beams]


def decode_beam(model: NALModel, k: int, beam_width: int | None = None,
                num_vertices: int | None = None, max_edges: int = NB101_MAX_EDGES,
                slots: int | None = None,
                accept: Callable[[tuple[str, ...], np.ndarray], bool] | None = None
                ) -> list[Cell]:
    """Beam decoding: the ``beam_width`` most probable op assignments (:func:`_beam_ops`),
    each completed with argmax links (:func:`decode_links` at T = 0), pruned, then the top
    ``k`` distinct valid cells by :func:`score_cells`, best first. Deterministic.

    The vertex count is the fixed topology's (NB201 in-space), ``num_vertices``, or the most
    common count of the experts (a prior of the same space the model learned from)."""
    from jaxnas.graph.cells import make_cells

    width = max(beam_width or model.config.beam_width, k)
    fixed = model.fixed_adjacency
    n = (fixed.shape[0] if fixed is not None else num_vertices
         or int(np.argmax(model.n_counts)))
    s = slots or max(n, len(model.n_counts) - 1)
    if n < 2 or n > s:
        raise ConfigError(f"num_vertices={n} must be in [2, {s}]")
    obs = np.zeros((1, s, s), np.int32)
    if fixed is not None:
        obs[0] = fixed
    cells, seen = [], set()
    for tokens in _beam_ops(model, n, s, width, obs):
        ops = tuple(model.vocab.op(t) for t in tokens[:n])
        if fixed is not None:
            cell: Cell | None = (ops, fixed.copy())
        else:
            links = obs.copy()
            decode_links(model, tokens[None], links, n, 0.0, np.random.default_rng(0),
                         max_edges)
            pruned = prune_cell(links[0, :n, :n], ops)
            cell = None if pruned is None else (pruned[1], pruned[0])
        if cell is None or (accept is not None and not accept(*cell)):
            continue
        ident = (cell[0], cell[1].tobytes())
        if ident not in seen:
            seen.add(ident)
            cells.append(cell)
    if not cells:
        return []
    score = "transfer" if model.config.score == "target-prior" else None  # one size: constant
    scores = score_cells(model, make_cells(cells, model.vocab, slots=s), score=score)
    return [cells[i] for i in np.argsort(-scores, kind="stable")[:k]]


def generate(model: NALModel, k: int, seed: int, temperature: float | None = None,
             key_fn: Callable[[tuple[str, ...], np.ndarray], Any] | None = None,
             accept: Callable[[tuple[str, ...], np.ndarray], bool] | None = None,
             mode: str | None = None, **decode_options: Any) -> list[Cell]:
    """``k`` distinct valid cells ``(ops, adjacency)`` for ``seed``, by decoding ``mode``
    (default ``model.config.decode``): ``beam``: :func:`decode_beam` (deterministic, sorted by
    score; ``seed`` unused); ``argmax`` (T = 0) / ``sample`` (T = ``temperature``): draw i uses
    the numpy Generator seeded by ``(seed, i)``, so the result is deterministic for a seed.

    ``key_fn`` identifies duplicates (default: exact ops and adjacency); ``accept`` may reject
    cells (e.g. space constraints). Fewer than ``k`` cells come back only when
    ``k * max_tries_factor`` draws did not give ``k`` distinct ones.
    """
    if k < 1:
        raise ConfigError(f"k={k} must be >= 1")
    mode = model.config.decode if mode is None else mode
    if mode not in ("argmax", "sample", "beam"):
        raise ConfigError(f"mode={mode!r}; choose 'argmax', 'sample' or 'beam'")
    if mode == "beam":
        return decode_beam(model, k, accept=accept, **decode_options)
    t = model.config.temperature if temperature is None else temperature
    t = 0.0 if mode == "argmax" else t
    key_fn = key_fn or (lambda ops, adj: (ops, adj.tobytes(), adj.shape))
    seen, out = set(), []
    for i in range(k * model.config.max_tries_factor):
        cell = decode_one(model, np.random.default_rng([seed, i]), t, **decode_options)
        if cell is None or (accept is not None and not accept(*cell)):
            continue
        ident = key_fn(*cell)
        if ident in seen:
            if t == 0:
                t = 0.25  # greedy decoding is deterministic: further draws need noise
            continue
        seen.add(ident)
        out.append(cell)
        if len(out) == k:
            break
    return out

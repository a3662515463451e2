"""Transfer of an NB101-trained NAL model to NB201 and DARTS.

* **NB201** (:func:`nb201_as_nb101_graph`, :func:`decode_nb201_transfer`): every NB201 cell
  is an NB101-style graph (ops on vertices, NB101 op names via ``NB101_TO_NB201``); cells are
  *decoded* state by state from the model's op and link predictions on that graph (argmax,
  sampled or beam). :func:`nb201_transfer_scores` / :func:`generate_nb201_transfer` score all
  15,625 cells instead: an analysis tool, not the method.
* **DARTS** (:func:`generate_darts`): ops decoded by masked prediction; each node keeps its 2
  most probable incoming links; an edge's DARTS op comes from the node's NB101 op and from
  whether the model routes that input directly or through another vertex
  (``NB101_TO_DARTS``, ``NB101_PATH_TO_DARTS``).

The op maps are our design choices (docs/algorithms.md): the vocabularies do not match.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, Sequence

import numpy as np

from jaxnas.errors import ConfigError, InvalidGenomeError
from jaxnas.graph.cells import NB101_VOCAB, Cells, make_cells, prune_cell
from jaxnas.graph.generation import (
    decode_ops, masked_tokens, score_cells, select, size_log_prior,
)
from jaxnas.graph.nal_model import NALModel, predict
from jaxnas.spaces.nb201 import NB201_EDGES, NB201_OPS

# NB101 op -> NB201 op. maxpool has no NB201 twin: avg_pool_3x3 is the closest pool.
NB101_TO_NB201 = {"conv3x3-bn-relu": "nor_conv_3x3", "conv1x1-bn-relu": "nor_conv_1x1",
                  "maxpool3x3": "avg_pool_3x3"}
# NB101 op -> DARTS op of an edge the model links directly (receptive field and cost):
# conv3x3 -> sep_conv_3x3; conv1x1 (no spatial context; DARTS already mixes channels with the
# 1x1 preprocessing of each cell input) -> skip_connect; max pooling stays.
NB101_TO_DARTS = {"conv3x3-bn-relu": "sep_conv_3x3", "conv1x1-bn-relu": "skip_connect",
                  "maxpool3x3": "max_pool_3x3"}
# The two NB101 ops of a path input -> v_m -> v_k that the model prefers to the direct link
# (sorted pair) -> one DARTS op covering the path: two 3x3 convs are a 5x5 receptive field; a
# 3x3 conv with a 1x1 is one spatial conv (dilated: the cheapest 3x3); a pool with a 3x3 conv
# widens the field (dil_conv_5x5); two 1x1 stay identity-like; pools stay pools.
NB101_PATH_TO_DARTS = {
    ("conv3x3-bn-relu", "conv3x3-bn-relu"): "sep_conv_5x5",
    ("conv1x1-bn-relu", "conv3x3-bn-relu"): "dil_conv_3x3",
    ("conv3x3-bn-relu", "maxpool3x3"): "dil_conv_5x5",
    ("conv1x1-bn-relu", "conv1x1-bn-relu"): "skip_connect",
    ("conv1x1-bn-relu", "maxpool3x3"): "avg_pool_3x3",
    ("maxpool3x3", "maxpool3x3"): "max_pool_3x3",
}
DARTS_TO_NB101 = {"sep_conv_3x3": "conv3x3-bn-relu", "sep_conv_5x5": "conv3x3-bn-relu",
                  "dil_conv_3x3": "conv3x3-bn-relu", "dil_conv_5x5": "conv3x3-bn-relu",
                  "max_pool_3x3": "maxpool3x3", "avg_pool_3x3": "maxpool3x3"}


def _graph_from_links(vertices: list[str], links: Sequence[tuple[int, int]]
                      ) -> tuple[tuple[str, ...], np.ndarray] | None:
    """``(ops, adjacency)`` of the graph with these vertices (input first, output last) and
    links, pruned to input->output paths; None when the output is unreachable."""
    matrix = np.zeros((len(vertices),) * 2, np.int32)
    for u, v in links:
        matrix[u, v] = 1
    pruned = prune_cell(matrix, vertices)
    return None if pruned is None else (pruned[1], pruned[0])


def nb201_as_nb101_graph(ops: Sequence[str], output_state: int = 3
                         ) -> tuple[tuple[str, ...], np.ndarray] | None:
    """An NB201 cell as an NB101-style graph (ops on vertices, NB101 op names), or None.

    The NB201 cell has 4 states; state t is the sum of its incoming edges. An edge (s, t)
    with a conv/pool op becomes a vertex fed by every vertex whose output makes up state s;
    ``skip_connect`` becomes direct links (state s's vertices feed state t's consumers), and
    ``none`` becomes missing links. The output vertex is fed by state 3. Dead vertices are
    pruned; a cell whose output is unreachable maps to None.

    ``output_state`` < 3 builds a *partial* cell for decoding: ``ops`` are the ops of the
    edges into states 1..output_state (``NB201_EDGES`` is grouped by target state) and the
    output is fed by every vertex of states 1..output_state (any of them may still feed
    state 3), or by the input when they are all empty.
    """
    inverse = {v: k for k, v in NB101_TO_NB201.items()}
    vertices = ["input"]
    state: list[list[int]] = [[0], [], [], []]  # vertices whose outputs sum into each state
    links: list[tuple[int, int]] = []
    for (src, dst), op in zip(NB201_EDGES, ops):
        if dst > output_state or op == "none" or not state[src]:
            continue
        if op == "skip_connect":
            state[dst].extend(state[src])
            continue
        v = len(vertices)
        vertices.append(inverse[op])
        links.extend((u, v) for u in state[src])
        state[dst].append(v)
    feed = state[3] if output_state == 3 else \
        [u for st in state[1:output_state + 1] for u in st] or [0]
    if not feed:
        return None
    links.extend((u, len(vertices)) for u in sorted(set(feed)))
    return _graph_from_links(vertices + ["output"], links)


def darts_as_nb101_graph(cell: Sequence[tuple[str, int]]) -> tuple[tuple[str, ...], np.ndarray]:
    """A DARTS cell (8 (op, input) pairs, 2 per intermediate node 2..5) as an NB101-style graph.

    Both cell inputs c_{k-2}, c_{k-1} become one ``input`` vertex (NB101 has one input); each
    conv/pool edge becomes a vertex (``DARTS_TO_NB101``) fed by the vertices that make up its
    source node; ``skip_connect`` forwards the source's vertices; every intermediate node feeds
    the output (DARTS concatenates all four). Same construction as :func:`nb201_as_nb101_graph`.
    """
    vertices = ["input"]
    state: list[list[int]] = [[0], [0]]
    links: list[tuple[int, int]] = []
    for node in range(4):
        members: list[int] = []
        for op, src in cell[2 * node: 2 * node + 2]:
            if op == "none":
                continue
            if op == "skip_connect":
                members.extend(state[src])
                continue
            if op not in DARTS_TO_NB101:
                raise InvalidGenomeError(f"DARTS op {op!r} unknown; allowed: "
                                         f"{sorted(DARTS_TO_NB101) + ['skip_connect', 'none']}")
            v = len(vertices)
            vertices.append(DARTS_TO_NB101[op])
            links.extend((u, v) for u in state[src])
            members.append(v)
        state.append(sorted(set(members)))
    links.extend((u, len(vertices)) for u in sorted({u for s in state[2:] for u in s}))
    graph = _graph_from_links(vertices + ["output"], set(links))
    assert graph is not None  # the input always reaches the output through some node
    return graph


# ----------------------------------------------------------------------------- NB201


@functools.lru_cache(maxsize=None)  # a pure function of nothing: the fixed NB201 space
def nb201_pool() -> tuple[Cells, np.ndarray]:
    """All 15,625 NB201 cells (table order) as NB101-style graphs for the transfer model, and a
    boolean mask of the cells whose output is reachable (the others cannot be scored: their
    output is identically zero)."""
    from jaxnas.spaces import get_space

    codes = get_space("nb201").all_op_codes()
    graphs, ok = [], np.zeros(len(codes), bool)
    dummy = (("input", "output"), np.array([[0, 1], [0, 0]], np.int32))
    for i, row in enumerate(codes):
        g = nb201_as_nb101_graph([NB201_OPS[int(c)] for c in row])
        ok[i] = g is not None
        graphs.append(g if g is not None else dummy)
    cells = make_cells(graphs, NB101_VOCAB, slots=8)
    for array in (cells.tokens, cells.adj, cells.n, ok):
        array.setflags(write=False)
    return cells, ok


def _check_nb101(model: NALModel, target: str) -> None:
    if model.vocab != NB101_VOCAB:
        raise ConfigError(f"transfer to {target} needs a model trained on nb101, got "
                          f"{model.vocab.name}")


def nb201_transfer_scores(model: NALModel, score: str | None = None) -> np.ndarray:
    """The NB101-trained model's score (:func:`score_cells`, ``score`` default
    ``model.config.score``) of every NB201 cell, table order; -inf for cells whose output is
    unreachable. An analysis tool: the method decodes (:func:`decode_nb201_transfer`)."""
    _check_nb101(model, "nb201")
    pool, ok = nb201_pool()
    return np.where(ok, score_cells(model, pool, score=score,
                                    target_log_prior=nb201_size_log_prior()), -np.inf)


@functools.lru_cache(maxsize=None)
def nb201_size_log_prior() -> np.ndarray:
    """:func:`~jaxnas.graph.generation.size_log_prior` of the NB201 cells with a reachable
    output, as NB101-style graphs (the ``target-prior`` score's size term on NB201)."""
    pool, ok = nb201_pool()
    prior = size_log_prior(pool.n[ok], pool.slots)
    prior.setflags(write=False)
    return prior


def generate_nb201_transfer(model: NALModel, k: int, seed: int,
                            temperature: float | None = None,
                            scores: np.ndarray | None = None, mode: str = "sample"
                            ) -> list[int]:
    """``k`` distinct NB201 table indices picked from the model's scores of *every* NB201 cell
    (:func:`~jaxnas.graph.generation.select`: ``mode="sample"`` is Gumbel-top-k at
    ``temperature``; deterministic for ``seed``). The former transfer generator, kept as an
    analysis tool (``generation=pool``). ``scores``: precomputed :func:`nb201_transfer_scores`."""
    scores = nb201_transfer_scores(model) if scores is None else scores
    t = model.config.temperature if temperature is None else temperature
    return [int(i) for i in select(scores, k, mode, t, np.random.default_rng(seed))]


_STATE_EDGES = tuple(tuple(e for e, (_, dst) in enumerate(NB201_EDGES) if dst == state)
                     for state in (1, 2, 3))  # ((0,), (1, 2), (3, 4, 5))
_DUMMY = (("input", "output"), np.array([[0, 1], [0, 0]], np.int32))


def _score_nb201(model: NALModel, cands: list[tuple[str, ...]], state: int) -> np.ndarray:
    """Scores of partial (state < 3) or complete cells; the ``target-prior`` size term (a
    distribution over complete cells) enters at the last state only."""
    graphs = [nb201_as_nb101_graph(c, state) for c in cands]
    cells = make_cells([g or _DUMMY for g in graphs], NB101_VOCAB, slots=8)
    score = model.config.score
    if score == "target-prior" and state < 3:
        score = "transfer"
    scores = score_cells(model, cells, chunk=256, score=score,
                         target_log_prior=nb201_size_log_prior())
    return np.where([g is not None for g in graphs], scores, -np.inf)


def decode_nb201_transfer(model: NALModel, k: int, seed: int, mode: str | None = None,
                          temperature: float | None = None, beam_width: int | None = None
                          ) -> list[tuple[tuple[str, ...], float]]:
    """Generate NB201 cells directly from an NB101-trained model: ``k`` distinct cells
    ``(6 ops in NB201_EDGES order, score)``, best first. No table is scored.

    State by state (1, 2, 3), the ops of the edges entering the state are chosen jointly: a
    conv/pool op adds a vertex (the op head judges it), ``skip_connect`` adds links, ``none``
    adds nothing (the link head judges both). Each extension of a partial cell is scored by
    :func:`score_cells` on its NB101-style graph (:func:`nb201_as_nb101_graph` with
    ``output_state``). ``mode`` (default ``model.config.decode``): ``argmax`` keeps the best
    partial cell per step (``k`` of them for k > 1); ``beam`` keeps ``beam_width``;
    ``sample`` keeps ``k`` drawn by Gumbel-top-k at ``temperature`` (seeded by ``seed``).
    """
    _check_nb101(model, "nb201")
    mode = model.config.decode if mode is None else mode
    t = model.config.temperature if temperature is None else temperature
    width = {"argmax": k, "sample": k}.get(mode, max(k, beam_width or model.config.beam_width))
    rng = np.random.default_rng(seed)
    beams: list[tuple[str, ...]] = [()]
    scores = np.zeros(1)
    for state, edges in enumerate(_STATE_EDGES, start=1):
        cands = [b + combo for b in beams
                 for combo in itertools.product(NB201_OPS, repeat=len(edges))]
        cand_scores = _score_nb201(model, cands, state)
        keep = [int(i) for i in select(cand_scores, width, mode, t, rng)
                if np.isfinite(cand_scores[i])]
        beams, scores = [cands[i] for i in keep], cand_scores[keep]
    return [(ops, float(sc)) for ops, sc in list(zip(beams, scores))[:k]]


# ----------------------------------------------------------------------------- DARTS


def _darts_inputs(logit: np.ndarray, k: int, temperature: float,
                  rng: np.random.Generator) -> list[int]:
    """The 2 inputs of DARTS node k+1: the two best (Gumbel-perturbed) links into NB101 vertex
    v_k among the input (twice: c_{k-2}, c_{k-1}) and v_1..v_{k-1} (DARTS nodes 2..k)."""
    cand = [(logit[0, k], 1), (logit[0, k], 0)] + [(logit[j, k], j + 1) for j in range(1, k)]
    noise = (rng.gumbel(size=len(cand)) * temperature if temperature > 0
             else np.zeros(len(cand)))
    scored = [c[0] + e for c, e in zip(cand, noise)]
    order = np.argsort(-np.asarray(scored), kind="stable")[:2]
    return sorted(cand[i][1] for i in order)


def darts_edge_op(ops: Sequence[str], prob: np.ndarray, src: int, k: int) -> str:
    """The DARTS op of the edge from NB101 vertex ``src`` into vertex ``k`` (``ops``: the
    decoded NB101 ops; ``prob``: link probabilities). The model's best two-step route
    src -> v_m -> v_k (max over src < m < k of p[src, m] * p[m, k]): if it beats the direct
    link p[src, k], the edge stands for the path (``NB101_PATH_TO_DARTS`` of the two ops), else
    for v_k alone (``NB101_TO_DARTS``)."""
    best, via = prob[src, k], None
    for m in range(src + 1, k):
        if prob[src, m] * prob[m, k] > best:
            best, via = prob[src, m] * prob[m, k], m
    if via is None:
        return NB101_TO_DARTS[ops[k]]
    return NB101_PATH_TO_DARTS[tuple(sorted((ops[via], ops[k])))]


def generate_darts_cell(model: NALModel, rng: np.random.Generator,
                        temperature: float | None = None, steps: int = 4
                        ) -> tuple[tuple[str, int], ...]:
    """One DARTS cell (``steps`` intermediate nodes, 2 inputs each) from an NB101 model.

    NB101 vertex v_k (k = 1..steps) plays DARTS node k+1; the NB101 input plays both cell
    inputs c_{k-2}, c_{k-1}. The ops of v_1..v_steps are decoded by masked prediction
    (:func:`~jaxnas.graph.generation.decode_ops`); the inputs come from :func:`_darts_inputs`
    (an input picked once becomes c_{k-1}, the node's nearest input; picked twice, both
    c_{k-2} and c_{k-1}); each edge's op from :func:`darts_edge_op` (so skip, dilated and 5x5
    ops appear where the predicted ops and links call for them).
    """
    t = model.config.temperature if temperature is None else temperature
    n = steps + 2
    tokens = masked_tokens(model, n, n)
    obs = np.zeros((1, n, n), np.int32)
    decode_ops(model, tokens, obs, n, t, rng)
    probs, _ = predict(model, tokens, obs, np.array([n], np.int32))
    p = np.clip(probs[0], 1e-6, 1 - 1e-6)
    logit = np.log(p) - np.log1p(-p)
    ops = [model.vocab.op(tok) for tok in tokens[0]]
    cell: list[tuple[str, int]] = []
    for k in range(1, steps + 1):
        for src in _darts_inputs(logit, k, t, rng):
            cell.append((darts_edge_op(ops, p, max(src - 1, 0), k), src))
    return tuple(cell)


def generate_darts(model: NALModel, seed: int, temperature: float | None = None) -> Any:
    """A DARTS genotype (``jaxnas.spaces.darts.DartsGenome``) from an NB101 model: normal and
    reduction cells from the same generator, successive draws of one seeded Generator at
    ``temperature`` (default: the model's ``temperature`` in ``sample`` mode, else 0, so
    argmax / beam models give the same deterministic cell twice)."""
    from jaxnas.spaces import get_space
    from jaxnas.spaces.darts import DartsGenome

    space = get_space("darts")
    rng = np.random.default_rng(seed)
    if temperature is None:  # the decoding mode: sample at T, argmax / beam at T = 0
        temperature = model.config.temperature if model.config.decode == "sample" else 0.0
    normal = generate_darts_cell(model, rng, temperature, space.steps)
    reduce = generate_darts_cell(model, rng, temperature, space.steps)
    return space.validate(DartsGenome(normal, space.concat, reduce, space.concat))


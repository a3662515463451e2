"""Property tests: bad input of any shape raises InvalidGenomeError (never anything else);
round trips and sample/mutate hold for every space."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxnas.errors import InvalidGenomeError
from jaxnas.spaces import (
    SPACE_NAMES,
    DartsGenome,
    EgnasGenome,
    NB101Genome,
    NB201Genome,
    get_space,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# small spaces keep egnas strings and encodings short; the other spaces are the real ones
SPACES = {name: get_space(name) for name in SPACE_NAMES}
SPACES["egnas"] = get_space("egnas", min_depth=2, max_depth=12, max_width=40)
GENOMES = {"egnas": EgnasGenome, "nb101": NB101Genome, "nb201": NB201Genome, "darts": DartsGenome}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        ["input", "output", "none", "sep_conv_3x3", "conv3x3-bn-relu", "maxpool3x3",
         "skip_connect", "nor_conv_3x3", "dil_conv_5x5"]
    ),
)
nested = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=8),
        st.lists(kids, max_size=8).map(tuple),
        st.dictionaries(st.text(max_size=6), kids, max_size=4),
    ),
    max_leaves=30,
)


def _must_be_valid_or_invalid(space, fn, *args):
    try:
        out = fn(*args)
    except InvalidGenomeError:
        return None
    assert space.validate(out) == out
    return out


def _mangle(text: str, data) -> str:
    """Random edits (delete, insert, replace, swap digits) of a valid string."""
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 4))):
        if not chars:
            break
        i = data.draw(st.integers(0, len(chars) - 1))
        kind = data.draw(st.sampled_from(["del", "ins", "rep"]))
        c = data.draw(st.sampled_from(list("0123456789|~+-,()[]'\" {}:LCokx_") + ["none", "7"]))
        if kind == "del":
            del chars[i]
        elif kind == "ins":
            chars.insert(i, c)
        else:
            chars[i] = c
    return "".join(chars)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(text=st.text(max_size=200))
def test_parse_random_text(name, text):
    space = SPACES[name]
    _must_be_valid_or_invalid(space, space.parse, text)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_parse_mangled_valid_strings(name, seed, data):
    space = SPACES[name]
    text = space.to_string(space.sample(np.random.default_rng(seed)))
    out = _must_be_valid_or_invalid(space, space.parse, _mangle(text, data))
    if out is not None:
        assert space.parse(space.to_string(out)) == out


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(obj=nested)
def test_parse_random_json_and_repr(name, obj):
    space = SPACES[name]
    _must_be_valid_or_invalid(space, space.parse, json.dumps(obj))
    _must_be_valid_or_invalid(space, space.parse, repr(obj))
    if name == "darts":
        _must_be_valid_or_invalid(space, space.parse, f"Genotype(normal={obj!r}, reduce={obj!r})")


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(fields=st.lists(nested, min_size=4, max_size=4))
def test_validate_random_field_values(name, fields):
    space = SPACES[name]
    cls = GENOMES[name]
    n = len(cls.__dataclass_fields__)
    genome = cls(*fields[:n])
    _must_be_valid_or_invalid(space, space.validate, genome)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(obj=nested)
def test_validate_random_objects(name, obj):
    space = SPACES[name]
    with pytest.raises(InvalidGenomeError):
        space.validate(obj)


@FUZZ
@given(obj=st.dictionaries(st.sampled_from(["matrix", "ops", "x"]), nested, max_size=3))
def test_nb101_parse_random_dicts(obj):
    space = SPACES["nb101"]
    _must_be_valid_or_invalid(space, space.parse, json.dumps(obj))


@FUZZ
@given(
    n=st.integers(2, 8),
    bits=st.lists(st.integers(0, 1), min_size=64, max_size=64),
    ops=st.lists(st.sampled_from(["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]), min_size=6, max_size=6),
)
def test_nb101_random_cells(n, bits, ops):
    """Random upper-triangular cells: valid (consistent with pruning rules) or rejected."""
    space = SPACES["nb101"]
    m = np.triu(np.asarray(bits).reshape(8, 8)[:n, :n], 1)
    cell = ["input"] + ops[: n - 2] + ["output"]
    g = _must_be_valid_or_invalid(space, space.genome_from, m, cell)
    if g is not None:
        p = space.prune(g)
        assert int(np.sum(p.matrix)) <= 9
        assert space.decode(space.encode(g)) == p
        assert space.key(p) == space.key(g)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_round_trips_and_mutation(name, seed):
    space = SPACES[name]
    rng = np.random.default_rng(seed)
    g = space.sample(rng)
    assert space.validate(g) == g
    assert space.parse(space.to_string(g)) == g
    y = space.encode(g)
    assert y.dtype == np.float32
    decoded = space.decode(y, width=g.width) if name == "egnas" else space.decode(y)
    assert space.key(decoded) == space.key(g)
    types, adj = space.to_dense(g)
    dense = space.from_dense(types, adj, width=g.width) if name == "egnas" else space.from_dense(types, adj)
    assert space.key(dense) == space.key(g)
    m = space.mutate(g, rng)
    assert space.validate(m) == m
    assert m != g and space.key(m) != space.key(g)
    graph = space.to_graph(g)
    assert graph.nodes.shape[1] == space.graph_spec.num_node_types
    assert np.all(graph.senders < graph.receivers)  # DAG in topological order


@pytest.mark.parametrize("name", SPACE_NAMES)
@FEW
@given(seed=st.integers(0, 2**32 - 1), flips=st.lists(st.integers(0, 10**6), max_size=4))
def test_decode_noisy_encodings(name, seed, flips):
    """Flipping bits of a valid encoding yields a valid genome or InvalidGenomeError."""
    space = SPACES[name]
    y = space.encode(space.sample(np.random.default_rng(seed))).copy()
    flat = y.reshape(-1)
    for f in flips:
        flat[f % flat.size] = 1.0 - flat[f % flat.size]
    _must_be_valid_or_invalid(space, space.decode, y)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FEW
@given(seed=st.integers(0, 2**32 - 1), shape_delta=st.integers(-2, 2), scale=st.floats(-3, 3))
def test_decode_random_vectors(name, seed, shape_delta, scale):
    space = SPACES[name]
    shape = list(space.encode(space.sample(np.random.default_rng(0))).shape)
    shape[-1] += shape_delta
    y = np.random.default_rng(seed).normal(size=shape) * scale
    _must_be_valid_or_invalid(space, space.decode, y)
    _must_be_valid_or_invalid(space, space.decode, y.tolist())

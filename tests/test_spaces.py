"""Search spaces: registry, canonical strings, validation messages, real-data identities."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from jaxnas.errors import ConfigError, InvalidGenomeError, UnknownNameError
from jaxnas.spaces import (
    SPACE_NAMES,
    DartsGenome,
    DartsSpace,
    EgnasGenome,
    EgnasSpace,
    NB101Genome,
    NB101Space,
    NB201Genome,
    NB201Space,
    SearchSpace,
    get_space,
    graphs_to_batch,
)

# DARTS_V2 from quark0/darts cnn/genotypes.py, written as in that file.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def _nb101_rows(shared_data, count: int, seed: int = 0) -> list[dict]:
    rows = json.loads((shared_data / "nb101" / "nb101_20k_specs.json").read_text())
    pick = np.random.default_rng(seed).choice(len(rows), size=count, replace=False)
    return [rows[int(i)] for i in pick]


def _csv_column(path, column: str) -> list[str]:
    with open(path, newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)]


# -- registry -----------------------------------------------------------------------------


def test_get_space_names_and_types():
    assert SPACE_NAMES == ("egnas", "nb101", "nb201", "darts")
    classes = {"egnas": EgnasSpace, "nb101": NB101Space, "nb201": NB201Space, "darts": DartsSpace}
    for name in SPACE_NAMES:
        space = get_space(name)
        assert type(space) is classes[name]
        assert space.name == name
        assert isinstance(space, SearchSpace)
        assert hash(space) == hash(get_space(name))  # frozen dataclass, usable as a jit static
        with pytest.raises(dataclasses.FrozenInstanceError):
            space.name = "x"  # type: ignore[misc]


def test_get_space_unknown_name_lists_allowed():
    with pytest.raises(UnknownNameError) as info:
        get_space("nb301")
    msg = str(info.value)
    assert "nb301" in msg and all(n in msg for n in SPACE_NAMES)


def test_get_space_limits():
    space = get_space("egnas", max_width=64, kernel_choices=(3, 5))
    assert space.max_width == 64 and space.kernel_choices == (3, 5)
    assert space != get_space("egnas")
    with pytest.raises(ConfigError, match="max_widht"):
        get_space("egnas", max_widht=64)
    with pytest.raises(ConfigError, match="min_width"):
        get_space("egnas", min_width=200)


@pytest.mark.parametrize(
    "name,size", [("nb101", 56), ("nb201", 84), ("darts", 176), ("egnas", 102 * 8 + 102 * 101 // 2)]
)
def test_encoding_sizes(name, size):
    """AG-Net encoding sizes (docs/algorithms.md): 56 / 84 / 176 (egnas: max_depth + 2 nodes,
    8 node types)."""
    space = get_space(name)
    assert space.graph_spec.encoding_size == size
    assert space.graph_spec.node_types[:2] in (("output", "input"),)
    g = space.sample(np.random.default_rng(1))
    y = space.encode(g)
    assert y.dtype == np.float32 and y.shape[-1] == size
    assert set(np.unique(y)) <= {0.0, 1.0}


# -- EG-NAS -------------------------------------------------------------------------------


def test_egnas_canonical_strings():
    space = EgnasSpace()
    g = space.initial(10, 64)
    assert g == EgnasGenome(10, 64, (0,) * 10, (3,) * 10)
    assert space.to_string(g) == "L10-C64-o0000000000-k3333333333"
    g2 = space.with_kernel(space.with_op(g, 2, 1), 9, 7)
    assert space.to_string(g2) == "L10-C64-o0010000000-k3333333337"
    assert space.parse("L10-C64-o0010000000-k3333333337") == g2
    g3 = space.with_width(space.with_depth(g2, 11), 66)
    assert space.to_string(g3) == "L11-C66-o00100000000-k33333333373"
    assert space.with_depth(g3, 10) == space.with_width(g2, 66)


@pytest.mark.parametrize(
    "text,field",
    [
        ("L10-C15-o0000000000-k3333333333", "width=15 is not allowed: must be an integer in [16, 128]"),
        ("L10-C130-o0000000000-k3333333333", "width=130"),
        ("L9-C64-o000000000-k333333333", "depth=9"),
        ("L101-C64-o0-k3", "depth=101"),
        ("L10-C64-o000000000-k3333333333", "ops has 9 entries; its length must equal depth=10"),
        ("L10-C64-o0000000000-k333333333", "kernels has 9 entries"),
        ("L10-C64-o0000000002-k3333333333", "ops[9]=2"),
        ("L10-C64-o0000000000-k3333333334", "kernels[9]=4"),
        ("L10-C64-o0000000000", "does not match"),
        ("", "does not match"),
    ],
)
def test_egnas_errors_name_the_field(text, field):
    with pytest.raises(InvalidGenomeError) as info:
        EgnasSpace().parse(text)
    assert field in str(info.value)


def test_egnas_kernel_limits_follow_space():
    space = EgnasSpace(kernel_choices=(3, 5))
    with pytest.raises(InvalidGenomeError, match=r"kernels\[0\]=7"):
        space.parse("L10-C64-o0000000000-k7333333333")
    assert "sep_conv_7x7" not in space.graph_spec.node_types
    rng = np.random.default_rng(0)
    assert all(set(space.sample(rng).kernels) <= {3, 5} for _ in range(20))


def test_egnas_accepts_any_integer_width_in_range_but_samples_on_the_grid():
    # the EG-NAS micro phase shrinks the width one channel at a time (authors' CIFAR-10 search
    # ended at width 43), so odd widths are valid genomes; sample/mutate keep the 2-step grid
    space = get_space("egnas", max_width=64)
    for text in ("L10-C17-o0000000000-k3333333333", "L26-C43-" + "o" + "0" * 26 + "-k" + "3" * 26):
        g = space.parse(text)
        assert space.to_string(g) == text and space.validate(g) == g
    with pytest.raises(InvalidGenomeError, match="width=65"):
        space.parse("L10-C65-o0000000000-k3333333333")
    rng = np.random.default_rng(1)
    samples = [space.sample(rng) for _ in range(200)]
    assert all((g.width - 16) % 2 == 0 for g in samples)
    odd = space.parse("L10-C17-o0000000000-k3333333333")
    widths = {space.mutate(odd, rng).width for _ in range(200)}
    assert widths == {17, 19}  # steps of 2, never below min_width (15)


def _egnas_changes(a: EgnasGenome, b: EgnasGenome) -> int:
    if a.depth != b.depth:
        return 1 if abs(a.depth - b.depth) == 1 and a.width == b.width else 99
    return int(a.width != b.width) + sum(x != y for x, y in zip(a.ops, b.ops)) + sum(
        x != y for x, y in zip(a.kernels, b.kernels)
    )


def test_egnas_mutation_is_one_change_and_reaches_every_move():
    space = EgnasSpace(min_depth=3, max_depth=6, min_width=16, max_width=20)
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(300):
        g = space.sample(rng)
        m = space.mutate(g, rng)
        assert space.validate(m) == m and m != g
        assert _egnas_changes(g, m) == 1
        if m.depth != g.depth:
            kinds.add("depth")
            short, long = (g, m) if g.depth < m.depth else (m, g)
            # deleting one layer of the longer genome gives the shorter one
            assert any(
                long.ops[:i] + long.ops[i + 1 :] == short.ops
                and long.kernels[:i] + long.kernels[i + 1 :] == short.kernels
                for i in range(long.depth)
            )
        elif m.width != g.width:
            kinds.add("width")
            assert abs(m.width - g.width) == 2
        elif m.ops != g.ops:
            kinds.add("op")
        else:
            kinds.add("kernel")
    assert kinds == {"depth", "width", "op", "kernel"}


def test_egnas_encoding_is_a_chain():
    space = EgnasSpace()
    g = space.parse("L10-C32-o0101000000-k3573333333")
    types, adj = space.to_dense(g)
    names = [space.graph_spec.node_types[t] for t in types[:12]]
    assert names[:5] == ["input", "sep_conv_3x3", "conv_5x5", "sep_conv_7x7", "conv_3x3"]
    assert names[11] == "output" and all(t == 0 for t in types[11:])
    assert adj.sum() == 11 and all(adj[i, i + 1] == 1 for i in range(11))
    assert space.decode(space.encode(g), width=32) == g
    assert space.decode(space.encode(g)).width == space.min_width
    graph = space.to_graph(g)
    assert int(graph.n_node[0]) == 12 and int(graph.n_edge[0]) == 11


# -- NB101 --------------------------------------------------------------------------------


def test_nb101_fingerprint_matches_benchmark_hashes(shared_data):
    """The NAS-Bench-101 hash of 300 random benchmark cells (all 20k: experiments script)."""
    space = NB101Space()
    for row in _nb101_rows(shared_data, 300):
        g = space.genome_from(row["matrix"], row["ops"])
        assert space.fingerprint(g) == row["hash"]
        assert space.key(g) == row["hash"]


def test_nb101_prune_and_isomorphism(shared_data):
    space = NB101Space()
    rows = [r for r in _nb101_rows(shared_data, 3000, seed=1) if len(r["ops"]) == 5][:20]
    assert rows
    for row in rows:
        g = space.genome_from(row["matrix"], row["ops"])
        # add a vertex fed by the input but feeding nothing (dangling): pruning removes it
        m = np.zeros((6, 6), dtype=int)
        m[:4, :4] = np.asarray(row["matrix"])[:4, :4]
        m[:4, 5] = np.asarray(row["matrix"])[:4, 4]
        m[0, 4] = 1
        ops = row["ops"][:4] + ["maxpool3x3", "output"]
        padded = space.genome_from(m, ops)
        assert space.prune(padded) == g
        assert space.fingerprint(padded) == row["hash"]
        # relabelling the inner vertices (an isomorphic cell) keeps the fingerprint
        perm = [0, 3, 1, 2, 4]
        pm = np.asarray(row["matrix"])[np.ix_(perm, perm)]
        if np.all(np.tril(pm) == 0):
            iso = space.genome_from(pm, [row["ops"][i] for i in perm])
            assert space.fingerprint(iso) == row["hash"]


@pytest.mark.parametrize(
    "matrix,ops,message",
    [
        ([[0, 1], [0, 0]], ["input", "conv3x3"], "ops[1]='conv3x3' is not allowed"),
        ([[0, 0], [0, 0]], ["input", "output"], "not reachable"),
        ([[0, 1], [1, 0]], ["input", "output"], "matrix[1][0]=1"),
        ([[0, 2], [0, 0]], ["input", "output"], "matrix[0][1]=2"),
        ([[0, 1, 0], [0, 0, 1]], ["input", "maxpool3x3", "output"], "matrix must be 3x3"),
        ([[0, 1], [0, 0]], ["output", "input"], "ops[0]='output'"),
        ([[0] * 8] * 8, ["input"] + ["maxpool3x3"] * 6 + ["output"], "max_vertices=7"),
    ],
)
def test_nb101_errors(matrix, ops, message):
    with pytest.raises(InvalidGenomeError) as info:
        NB101Space().genome_from(matrix, ops)
    assert message in str(info.value)


def test_nb101_edge_limit_counts_pruned_edges():
    space = NB101Space()
    full = np.triu(np.ones((7, 7), dtype=int), 1)  # 21 edges
    ops = ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"]
    with pytest.raises(InvalidGenomeError, match="21 edges; at most max_edges=9"):
        space.genome_from(full, ops)
    assert space.is_valid(NB101Genome(tuple(map(tuple, full)), tuple(ops))) is False
    assert NB101Space(max_edges=21).is_valid(NB101Genome(tuple(map(tuple, full)), tuple(ops)))


def test_nb101_string_is_compact_json():
    space = NB101Space()
    g = space.genome_from([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
    text = '{"matrix":[[0,1,1],[0,0,1],[0,0,0]],"ops":["input","maxpool3x3","output"]}'
    assert space.to_string(g) == text
    assert space.parse(text) == g
    assert space.parse(json.dumps({"ops": list(g.ops), "matrix": [list(r) for r in g.matrix]})) == g
    with pytest.raises(InvalidGenomeError, match="exactly the keys"):
        space.parse('{"matrix": [[0]], "ops": ["input"], "extra": 1}')


def test_nb101_encoding_matches_agnet_layout(shared_data):
    """Exact inverse on pruned benchmark cells; node type order output, input, conv1x1,
    conv3x3, maxpool; short cells padded with 'output' nodes that have no edges."""
    space = NB101Space()
    for row in _nb101_rows(shared_data, 200, seed=2):
        g = space.genome_from(row["matrix"], row["ops"])
        y = space.encode(g)
        assert y.shape == (56,)
        assert space.decode(y) == g  # benchmark cells are already pruned
        types = y[:35].reshape(7, 5).argmax(axis=1)
        expect = {"input": 1, "conv1x1-bn-relu": 2, "conv3x3-bn-relu": 3, "maxpool3x3": 4, "output": 0}
        n = len(row["ops"])
        assert types[:n].tolist() == [expect[o] for o in row["ops"]]
        assert types[n:].tolist() == [0] * (7 - n)
        edges = y[35:]
        src = [i for j in range(1, 7) for i in range(j)]
        dst = [j for j in range(1, 7) for _ in range(j)]
        m = np.zeros((7, 7))
        m[src, dst] = edges
        assert np.array_equal(m[:n, :n], np.asarray(row["matrix"]))
        assert m[:, n:].sum() == 0 and m[n:, :].sum() == 0
        graph = space.to_graph(g)
        assert int(graph.n_node[0]) == n and int(graph.n_edge[0]) == int(np.sum(row["matrix"]))


def test_nb101_sample_and_mutate():
    space = NB101Space()
    rng = np.random.default_rng(0)
    for _ in range(100):
        g = space.sample(rng)
        assert len(g.ops) == 7 and space.is_valid(g)
        m = space.mutate(g, rng)
        assert space.is_valid(m) and space.key(m) != space.key(g)
        diff = int(np.sum(np.asarray(g.matrix) != np.asarray(m.matrix)))
        diff += sum(a != b for a, b in zip(g.ops, m.ops))
        assert diff == 1
    # the smallest cell can still mutate (it grows to 7 vertices first)
    tiny = space.genome_from([[0, 1], [0, 0]], ["input", "output"])
    assert space.key(space.mutate(tiny, rng)) != space.key(tiny)


def test_nb101_naslib_cells_agree_with_benchmark(shared_data):
    """NASLib's 500 NB101 cells (49 unpruned adjacency bits + 7 op codes) all validate, and
    where their pruned fingerprint is one of the 20k benchmark cells, NASLib's parameter count
    agrees with the benchmark's for the large majority (NASLib's table has a few stray rows)."""
    data = json.loads((shared_data / "naslib" / "zc_nasbench101.json").read_text())
    specs = json.loads((shared_data / "nb101" / "nb101_20k_specs.json").read_text())
    params = {r["hash"]: r["trainable_parameters"] for r in specs}
    codes = {0: "input", 1: "output", 2: "conv3x3-bn-relu", 3: "conv1x1-bn-relu", 4: "maxpool3x3"}
    space = NB101Space()
    found = agree = 0
    for key, row in data["nasbench101"]["cifar10"].items():
        bits = [int(x) for x in key.strip("()").split(",")]
        g = space.genome_from(np.asarray(bits[:49]).reshape(7, 7), [codes[c] for c in bits[49:]])
        fp = space.key(g)
        if fp in params:
            found += 1
            agree += round(row["params"] * 1e6) == params[fp]
    assert found >= 50 and agree >= 0.8 * found


# -- NB201 --------------------------------------------------------------------------------


def test_nb201_index_matches_benchmark_rows(shared_data):
    space = NB201Space()
    strings = _csv_column(shared_data / "nb201" / "nb201_12epoch.csv", "cellstr")
    assert len(strings) == 15625
    assert strings == _csv_column(shared_data / "nb201" / "nb201_200epoch_test.csv", "ArchitectureString")
    for i in np.random.default_rng(0).choice(15625, size=2000, replace=False).tolist() + [0, 15624]:
        g = space.from_index(i)
        assert space.to_string(g) == strings[i]
        assert space.index_of(space.parse(strings[i])) == i
    codes = space.all_op_codes()
    assert codes.shape == (15625, 6) and codes.dtype == np.uint8


def test_nb201_reference_optimum(shared_data):
    """data README: the CIFAR-10 200-epoch test maximum 94.3733 is at index 6111."""
    path = shared_data / "nb201" / "nb201_200epoch_test.csv"
    acc = np.asarray(_csv_column(path, "CIFAR10TestAccuracy200Epochs"), dtype=float)
    best = int(np.argmax(acc))
    assert best == 6111 and abs(acc[best] - 94.3733) < 1e-3
    space = NB201Space()
    assert space.to_string(space.from_index(best)) == _csv_column(path, "ArchitectureString")[best]


@pytest.mark.parametrize(
    "text,message",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|conv~1|+|none~0|none~1|none~2|", "NB201 op 'conv'"),
        ("|none~0|+|none~0|none~1|", "has 2 '+'-separated nodes"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 edges"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "has source '2'; expected 1"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "must be 'op~source'"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "must look like"),
    ],
)
def test_nb201_string_errors(text, message):
    with pytest.raises(InvalidGenomeError) as info:
        NB201Space().parse(text)
    assert message in str(info.value)


def test_nb201_genome_errors():
    space = NB201Space()
    with pytest.raises(InvalidGenomeError, match="exactly 6"):
        space.validate(NB201Genome(ops=("none",) * 5))
    with pytest.raises(InvalidGenomeError, match=r"ops\[3\]='conv'"):
        space.validate(NB201Genome(ops=("none", "none", "none", "conv", "none", "none")))
    with pytest.raises(InvalidGenomeError, match="out of range"):
        space.from_index(15625)


def test_nb201_agnet_encoding():
    """AG-Net ADJACENCY_NB201 (docs/algorithms.md): input->1,2,4; 1->3,5; 2,3->6; 4,5,6->output."""
    expected_edges = {(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)}
    space = NB201Space()
    g = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    types, adj = space.to_dense(g)
    assert {tuple(e) for e in np.argwhere(adj).tolist()} == expected_edges
    assert types.tolist() == [1, 3, 3, 4, 5, 3, 6, 0]
    assert space.decode(space.encode(g)) == g
    bad_types, bad_adj = types.copy(), adj.copy()
    bad_adj[0, 3] = 1
    with pytest.raises(InvalidGenomeError, match="fixed NB201 graph"):
        space.from_dense(bad_types, bad_adj)
    bad_types[7] = 1
    with pytest.raises(InvalidGenomeError, match="node 7 'output'"):
        space.from_dense(bad_types, adj)


def test_nb201_mutation_changes_one_edge():
    space = NB201Space()
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = space.sample(rng)
        m = space.mutate(g, rng)
        assert sum(a != b for a, b in zip(g.ops, m.ops)) == 1
        assert m in space.neighbours(g)
    assert len(space.neighbours(g)) == 24


# -- DARTS --------------------------------------------------------------------------------


def test_darts_parse_darts_v2_and_range_form():
    space = DartsSpace()
    g = space.parse(DARTS_V2)
    assert g.normal[7] == ("dil_conv_3x3", 2) and g.reduce_concat == (2, 3, 4, 5)
    assert space.to_string(g) == DARTS_V2
    ranged = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    ranged = ranged.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(2, 6)")
    assert space.parse(ranged) == g
    positional = ranged.replace("normal=", "").replace("normal_concat=", "")
    assert space.parse(positional) == g


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("('dil_conv_3x3', 2)", "('none', 2)", "'none' is only a supernet op"),
        ("('dil_conv_3x3', 2)", "('conv_3x3', 2)", "op='conv_3x3' is not allowed"),
        ("('dil_conv_3x3', 2)", "('dil_conv_3x3', 6)", "input=6 is not allowed: node 5 may read nodes 0..4"),
        ("('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", "('sep_conv_3x3', 1), ('sep_conv_3x3', 1)", "reads node 1 twice"),
        ("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]", "normal_concat=[2, 3, 4] is not allowed"),
        ("reduce_concat=[2, 3, 4, 5])", "reduce_concat=[2, 3, 4, 5], extra=1)", "unknown Genotype field 'extra'"),
        ("Genotype(", "Genotyp(", "must be 'Genotype("),
        (", reduce_concat=[2, 3, 4, 5]", "", "missing the fields ['reduce_concat']"),
    ],
)
def test_darts_errors(old, new, message):
    assert old in DARTS_V2
    with pytest.raises(InvalidGenomeError) as info:
        DartsSpace().parse(DARTS_V2.replace(old, new, 1))
    assert message in str(info.value)


def test_darts_key_ignores_input_order_within_a_node():
    space = DartsSpace()
    g = space.parse(DARTS_V2)
    normal = list(g.normal)
    normal[4], normal[5] = normal[5], normal[4]
    swapped = dataclasses.replace(g, normal=tuple(normal))
    assert swapped != g and space.key(swapped) == space.key(g)


def test_darts_encoding_layout():
    """AG-Net NB301 encoding (docs/algorithms.md): 11 nodes, input/input_1, 8 op nodes, output;
    a node read from an intermediate node has edges from both of its op nodes."""
    space = DartsSpace()
    g = space.parse(DARTS_V2)
    y = space.encode(g)
    assert y.shape == (2, 176) and space.graph_spec.cells_per_genome == 2
    types, adj = space.to_dense(g)
    names = [space.graph_spec.node_types[t] for t in types[0]]
    assert names[0] == "input" and names[1] == "input_1" and names[10] == "output"
    assert names[9] == "dil_conv_3x3"  # node 5's input-2 edge, sorted after its input-0 edge
    assert adj[0][2, 9] == 1 and adj[0][3, 9] == 1  # input 2 = both op nodes of node 2
    assert adj[0][0, 8] == 1 and adj[0][:, 8].sum() == 1
    assert adj[0][:, 10].tolist() == [0, 0] + [1] * 8 + [0]
    assert space.key(space.decode(y)) == space.key(g)
    assert space.decode_cell(y[1]) == space.canonical(g).reduce
    graph = space.to_graph(g)
    assert graph.n_node.tolist() == [11, 11]
    assert graph.n_edge.tolist() == [int(adj[0].sum()), int(adj[1].sum())]


def test_darts_nb301_cells_round_trip(shared_data):
    """The 725 NB301 genotypes of NASLib's zero-cost data are valid and encode exactly."""
    data = json.loads((shared_data / "naslib" / "zc_nasbench301.json").read_text())["cifar10"]
    space = DartsSpace()
    keys = set()
    for compact in data:
        g = space.from_compact(compact)
        assert space.to_compact(g) == tuple(tuple(tuple(p) for p in c) for c in eval(compact))  # noqa: S307
        assert space.key(space.decode(space.encode(g))) == space.key(g)
        keys.add(space.key(g))
    assert len(keys) == len(data)


def test_darts_mutation_is_one_change():
    space = DartsSpace()
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(200):
        g = space.sample(rng)
        m = space.mutate(g, rng)
        assert space.validate(m) == m and space.key(m) != space.key(g)
        diffs = [
            (a, b)
            for cg, cm in ((g.normal, m.normal), (g.reduce, m.reduce))
            for a, b in zip(cg, cm)
            if a != b
        ]
        assert len(diffs) == 1
        (a, b), = diffs
        assert (a[0] != b[0]) != (a[1] != b[1])
        kinds.add("op" if a[0] != b[0] else "input")
    assert kinds == {"op", "input"}


def test_darts_sample_is_uniform_over_inputs():
    space = DartsSpace()
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, int], int] = {}
    for _ in range(3000):
        c = space.sample_cell(rng)
        pair = (c[6][1], c[7][1])  # node 5 chooses 2 of 5 inputs: 10 unordered pairs
        counts[pair] = counts.get(pair, 0) + 1
    assert len(counts) == 10 and all(a < b for a, b in counts)
    assert min(counts.values()) > 3000 / 10 * 0.7


# -- graphs -------------------------------------------------------------------------------


def test_graphs_to_batch_offsets_and_padding():
    darts = DartsSpace()
    rng = np.random.default_rng(0)
    g1, g2, g3 = (darts.to_graph(darts.sample(rng)) for _ in range(3))  # two graphs each
    batch = graphs_to_batch([g1, g2, g3])
    assert batch.n_node.tolist() == [11] * 6
    e1, e2 = int(g1.n_edge.sum()), int(g2.n_edge.sum())
    assert np.array_equal(batch.senders[e1 + e2 :], np.asarray(g3.senders) + 44)
    assert np.array_equal(batch.receivers[e1 : e1 + e2], np.asarray(g2.receivers) + 22)
    assert np.array_equal(batch.nodes[22:44], g2.nodes)
    nb101 = NB101Space()
    h1, h2 = nb101.to_graph(nb101.sample(rng)), nb101.to_graph(nb101.sample(rng))
    padded = graphs_to_batch([h1, h2], n_node_pad=20, n_edge_pad=30, n_graph_pad=4)
    assert padded.nodes.shape[0] == 20 and padded.senders.shape == (30,)
    assert padded.n_node.shape == (4,) and int(padded.n_node.sum()) == 20
    assert int(padded.n_edge.sum()) == 30
    n_real = int(h1.n_node[0] + h2.n_node[0])
    assert np.all(padded.senders[int(h1.n_edge[0] + h2.n_edge[0]) :] == n_real)
    with pytest.raises(ConfigError, match="padding too small"):
        graphs_to_batch([h1, h2], n_node_pad=5)
    with pytest.raises(ConfigError, match="same node feature width"):
        graphs_to_batch([h1, g1])


def test_rng_must_be_a_generator():
    with pytest.raises(ConfigError, match="numpy.random.Generator"):
        NB201Space().sample(0)  # type: ignore[arg-type]


def test_validate_rejects_other_genome_types():
    with pytest.raises(InvalidGenomeError, match="expected a DartsGenome"):
        DartsSpace().validate(NB201Genome(ops=("none",) * 6))  # type: ignore[arg-type]
    with pytest.raises(InvalidGenomeError, match="depth=True"):
        EgnasSpace().validate(EgnasGenome(True, 16, (0,), (3,)))  # type: ignore[arg-type]
    assert isinstance(DartsGenome((), (), (), ()), DartsGenome)

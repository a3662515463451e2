"""The shipped tabular oracles against the source tables in ../shared/data.

Everything is checked against the original files (csv / json) or the published reference
values in ../shared/data/README.md, never against numbers this code produced.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from jaxnas.benchmarks import get_oracle, naslib_samples, nb201_optima, oracle_space
from jaxnas.errors import InvalidGenomeError, UnknownNameError
from jaxnas.spaces import get_space

NB201_CSV_DATASETS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "ImageNet16-120": "ImageNet"}
# ../shared/data/README.md: reference optima (200-epoch test) and their NB201 indices
REFERENCE_OPTIMA = {"cifar10": (94.3733, 6111), "cifar100": (73.5133, 9930),
                    "ImageNet16-120": (47.3111, 857)}


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def nb201_rows(shared_data):
    test200 = _read_csv(shared_data / "nb201" / "nb201_200epoch_test.csv")
    e12 = _read_csv(shared_data / "nb201" / "nb201_12epoch.csv")
    latency = _read_csv(shared_data / "nb201" / "nb201_latency_ms.csv")
    return test200, e12, latency


def test_nb201_optima_match_published_reference(nb201_rows):
    test200, _, _ = nb201_rows
    optima = nb201_optima()
    for dataset, (want, want_index) in REFERENCE_OPTIMA.items():
        oracle = get_oracle("nb201", dataset)
        assert round(oracle.optimum(), 4) == pytest.approx(want, abs=1e-9)
        assert round(optima[dataset], 4) == pytest.approx(want, abs=1e-9)
        assert oracle.argbest() == want_index
        column = f"{NB201_CSV_DATASETS[dataset]}TestAccuracy200Epochs"
        source_max = max(float(r[column]) for r in test200)
        assert oracle.optimum() == pytest.approx(source_max, abs=1e-9)
        assert oracle.rank(want_index) == 1 and oracle.percentile(want_index) == 100.0


def test_nb201_lookups_equal_source_rows(nb201_rows):
    test200, e12, latency = nb201_rows
    rng = np.random.default_rng(0)
    for i in rng.choice(15625, size=40, replace=False):
        arch = test200[i]["ArchitectureString"]
        assert e12[i]["cellstr"] == arch and latency[i]["arch"] == arch
        for dataset, prefix in (("cifar10", "cifar10"), ("cifar100", "cifar100"),
                                ("ImageNet16-120", "imagenet")):
            oracle = get_oracle("nb201", dataset, "pixel3")
            assert oracle.index(arch) == i
            search = oracle.search_metrics(arch)
            report = oracle.report_metrics(arch)
            assert search["accuracy"] == pytest.approx(float(e12[i][f"{prefix}-val"]), abs=1e-4)
            assert search["latency"] == pytest.approx(float(latency[i]["pixel3"]), rel=1e-6)
            column = f"{NB201_CSV_DATASETS[dataset]}TestAccuracy200Epochs"
            assert report["test_accuracy"] == pytest.approx(float(test200[i][column]), abs=1e-4)
            # the search view must not leak the report metric
            assert set(search) == {"accuracy", "latency"}


def test_nb201_params_match_naslib_samples(shared_data):
    """Params from jaxnas's own NB201 network vs NASLib's 725 samples (within 0.01 M); FLOPs
    differ from NASLib's by a convention that depends only on the number of conv edges."""
    with open(shared_data / "naslib" / "zc_nasbench201.json") as f:
        naslib = json.load(f)
    naslib_ops = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
    order = (0, 1, 3, 2, 4, 5)  # README: NB201 string takes NASLib edges in this order
    for dataset, entries in naslib.items():
        oracle = get_oracle("nb201", dataset)
        params = oracle.column("params")
        flops = oracle.column("flops")
        rows, ours_p, ref_p, ours_f, ref_f, convs = [], [], [], [], [], []
        for key, entry in entries.items():
            codes = [int(t) for t in key.strip("()").split(",")]
            ops = [naslib_ops[codes[p]] for p in order]
            arch = f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"
            i = oracle.index(arch)
            rows.append(i)
            ours_p.append(params[i] / 1e6)
            ref_p.append(entry["params"]["score"])
            ours_f.append(flops[i] / 1e6)
            ref_f.append(entry["flops"]["score"])
            convs.append(sum(op.startswith("nor_conv") for op in ops))
        assert len(rows) >= 724
        assert np.max(np.abs(np.array(ours_p) - np.array(ref_p))) < 0.01
        # FLOPs: the difference is an exact affine function of the conv-edge count (NASLib
        # counts element-wise work our conv/dense/bias/pool convention leaves out)
        diff = np.array(ref_f) - np.array(ours_f)
        X = np.stack([np.array(convs, float), np.ones(len(convs))], axis=1)
        coef, *_ = np.linalg.lstsq(X, diff, rcond=None)
        assert np.max(np.abs(X @ coef - diff)) < 1e-3
        assert coef[0] > 0


def test_naslib_samples_index_the_right_cells(shared_data):
    with open(shared_data / "naslib" / "zc_nasbench201.json") as f:
        naslib = json.load(f)
    samples = naslib_samples()
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        index = samples[f"nb201_{dataset}_index"]
        val = samples[f"nb201_{dataset}_val_acc_200"]
        want = {round(float(e["val_accuracy"]), 3) for e in naslib[dataset].values()}
        assert {round(float(v), 3) for v in val} == want
        assert len(set(index.tolist())) == len(index)


# ------------------------------------------------------------------------------ nb101-20k


@pytest.fixture(scope="module")
def nb101_specs(shared_data):
    with open(shared_data / "nb101" / "nb101_20k_specs.json") as f:
        return json.load(f)


def test_nb101_lookup_by_fingerprint_matches_isomorphic_cells(nb101_specs):
    oracle = get_oracle("nb101")
    assert oracle.space_name == "nb101-20k" and len(oracle) == 20001
    space = get_space("nb101")
    rng = np.random.default_rng(1)
    for j in rng.choice(len(nb101_specs), size=25, replace=False):
        spec = nb101_specs[j]
        matrix = np.array(spec["matrix"])
        genome = space.genome_from(matrix, spec["ops"])
        assert space.key(genome) == spec["hash"]
        i = oracle.index(genome)
        assert oracle.value(i, "val_acc_108") == pytest.approx(
            100 * spec["108_final_validation_accuracy"], abs=1e-3)
        assert oracle.value(i, "params") == spec["trainable_parameters"]
        # relabel the interior vertices (keep a topological order): same cell, same row
        n = len(spec["ops"])
        for _ in range(5):
            perm = np.arange(n)
            perm[1:-1] = rng.permutation(np.arange(1, n - 1))
            pm = matrix[np.ix_(perm, perm)]
            if np.any(np.tril(pm)):
                continue  # not upper-triangular under this relabelling
            pops = [spec["ops"][k] for k in perm]
            iso = space.genome_from(pm, pops)
            assert oracle.index(iso) == i
            assert oracle.search_metrics(iso) == oracle.search_metrics(genome)


def test_nb101_search_view_and_outside_cells():
    oracle = get_oracle("nb101")
    space = oracle_space("nb101", oracle)
    assert space.name == "nb101-20k"
    g = oracle.genome(5)
    assert set(oracle.search_metrics(g)) == {"accuracy"}
    # a valid NB101 cell outside the subset is refused with a message naming the subset
    full = get_space("nb101")
    rng = np.random.default_rng(3)
    outside = next(c for c in (full.sample(rng) for _ in range(500)) if not oracle.contains(c))
    with pytest.raises(InvalidGenomeError, match="nb101-20k"):
        oracle.search_metrics(outside)
    with pytest.raises(UnknownNameError):
        get_oracle("nb101", "nb101", device="pixel3")


def test_nb101_sampling_and_mutation_stay_inside_the_subset():
    oracle = get_oracle("nb101")
    space = oracle_space("nb101", oracle)
    rng = np.random.default_rng(7)
    genome = space.sample(rng)
    seen = set()
    for _ in range(60):
        assert oracle.contains(genome)
        child = space.mutate(genome, rng)
        assert oracle.contains(child)
        assert space.key(child) != space.key(genome)
        seen.add(space.key(child))
        genome = child if rng.random() < 0.7 else space.sample(rng)
    assert len(seen) > 30  # mutation moves around, not between two cells
    for n in space.neighbours(oracle.genome(0)):
        assert oracle.contains(n)


def test_unknown_names_are_refused():
    with pytest.raises(UnknownNameError, match="cifar10"):
        get_oracle("nb201", "mnist")
    with pytest.raises(UnknownNameError, match="pixel3"):
        get_oracle("nb201", "cifar10", "not-a-device")
    with pytest.raises(UnknownNameError, match="nb201"):
        get_oracle("nb999")

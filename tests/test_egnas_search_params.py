"""Parameter counts of the genomes the EG-NAS authors logged (their search and final-training
logs; docs/algorithms.md).

The search's width-shrinking rule (params <= reference + 0.01 M) counts with
jaxnas.nn.count_params, which must reproduce the authors' printed counts. For egnas it is a
closed form (jaxnas.nn.counting.egnas_param_count: the search counts thousands of genomes),
checked here against the traced count of the built network, on random genomes including the
micro phase's shapes (odd widths, standard convs and kernel 5/7 anywhere, reduction layers).
Every candidate of the two shipped search logs is checked in tests/test_egnas_replay.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from jaxnas.nn import build_network, count_params
from jaxnas.nn.counting import count_module_params, egnas_param_count
from jaxnas.search.base import SearchContext
from jaxnas.search.egnas import EGNAS, EGNASConfig, plain_genome
from jaxnas.spaces.egnas import EgnasGenome


def analytic_param_count(genome: EgnasGenome, num_classes: int, in_channels: int) -> int:
    """The closed form count_params("egnas", ...) uses (jaxnas.nn.counting)."""
    return egnas_param_count(genome, num_classes, in_channels)


def traced_param_count(genome: EgnasGenome, num_classes: int, in_channels: int) -> int:
    """The count of the built Flax network, traced (independent of the closed form)."""
    return count_module_params(build_network("egnas", genome, num_classes),
                               (28, 28, in_channels))


def test_logged_l10_c64_cifar10_is_309450():
    g = plain_genome(10, 64)
    assert count_params("egnas", g, 10, (32, 32, 3)) == 309450  # the CIFAR-10 search log
    assert analytic_param_count(g, 10, 3) == 309450
    strategy = EGNAS(None, EGNASConfig(), SearchContext(space_name="egnas", dataset="cifar10"))
    assert strategy.count_params(g) == 309450  # what the search's budget rule counts


def test_closed_form_count_equals_traced_count():
    rng = np.random.default_rng(0)
    cases = [(10, 1), (100, 3), (47, 1), (10, 3)] * 3
    for classes, channels in cases:
        depth, width = int(rng.integers(1, 26)), int(rng.integers(1, 70))
        g = EgnasGenome(depth, width, tuple(int(v) for v in rng.integers(0, 2, depth)),
                        tuple(int(v) for v in rng.choice([3, 5, 7], depth)))
        expected = traced_param_count(g, classes, channels)
        assert analytic_param_count(g, classes, channels) == expected
        assert count_params("egnas", g, classes, (28, 28, channels)) == expected


def test_closed_form_on_micro_phase_shapes():
    # the authors' micro candidates: L18 nets shrunk one channel at a time with one layer
    # (before, at and after each reduction layer 6 and 12) made a standard conv or kernel 5
    for width in (51, 35):
        for layer in (0, 6, 12, 17):
            for op, k in ((1, 3), (0, 5), (1, 5)):
                ops = tuple(op if i == layer else 0 for i in range(18))
                ks = tuple(k if i == layer else 3 for i in range(18))
                g = EgnasGenome(18, width, ops, ks)
                assert analytic_param_count(g, 10, 1) == traced_param_count(g, 10, 1)


def _reachable_millions(depth, width, n_std, n_k5, classes, channels):
    """Every param count (rounded to 3 decimals, in M) of a depth/width net with exactly
    n_std standard convs and n_k5 kernel-5 layers placed anywhere (layer counts add up)."""
    base = analytic_param_count(plain_genome(depth, width), classes, channels)
    deltas = []
    for i in range(depth):
        row = {}
        for op in (0, 1):
            for k in (3, 5):
                ops = tuple(op if j == i else 0 for j in range(depth))
                ks = tuple(k if j == i else 3 for j in range(depth))
                row[(op, k)] = analytic_param_count(EgnasGenome(depth, width, ops, ks),
                                                    classes, channels) - base
        deltas.append(row)
    reach = {(0, 0): {0}}
    for row in deltas:
        nxt: dict = {}
        for (a, b), sums in reach.items():
            for (op, k), d in row.items():
                key = (a + op, b + (k == 5))
                if key[0] > n_std or key[1] > n_k5:
                    continue
                nxt.setdefault(key, set()).update(s + d for s in sums)
        reach = nxt
    return {round((base + s) / 1e6, 3) for s in reach.get((n_std, n_k5), ())}


# the authors' final models and the CIFAR-10 T search end (width 43): depth, width,
# #standard convs, #kernel-5 layers, classes, input channels, printed params (M)
LOGGED = [
    ("CIFAR-10 T", 26, 46, 2, 2, 10, 3, 0.466),
    ("CIFAR-10 T search end", 26, 43, 2, 2, 10, 3, 0.410),
    ("CIFAR-10 M", 21, 102, 5, 0, 10, 3, 2.490),
    ("CIFAR-100 T", 21, 56, 0, 1, 100, 3, 0.489),
    ("CIFAR-100 M", 21, 118, 2, 1, 100, 3, 2.593),
    ("FashionMNIST T", 18, 54, 3, 1, 10, 1, 0.508),
    ("FashionMNIST M", 16, 120, 6, 2, 10, 1, 6.160),
    ("KMNIST T", 18, 50, 2, 1, 10, 1, 0.420),
    ("KMNIST M", 24, 120, 2, 0, 10, 1, 2.711),
    ("EMNIST T", 17, 50, 3, 2, 47, 1, 0.406),
    ("EMNIST M", 21, 106, 3, 0, 47, 1, 2.253),
]


@pytest.mark.parametrize("name,depth,width,n_std,n_k5,classes,channels,logged", LOGGED,
                         ids=[row[0] for row in LOGGED])
def test_logged_final_models_are_reachable(name, depth, width, n_std, n_k5, classes,
                                           channels, logged):
    # the logs give the layer counts but not the positions: the printed count must be one
    # of the counts of some placement
    assert logged in _reachable_millions(depth, width, n_std, n_k5, classes, channels), name


# Exact per-layer genomes of the remaining final models (the "Arguments" line and the printed
# "Model Parameters = x MB" of siddikui/Efficient-Macro-Micro-NAS Train/*/Train.txt, commit
# 71b17a5). The five -T runs and CIFAR-10 L10/C64
# are checked exactly in tests/test_nn.py; together every logged final model is covered.
# C10-M: the log passes 26 kernels for 21 layers; NetworkMix reads the first 21.
LOGGED_EXACT = {
    "CIFAR-10 M": (21, 102, (1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
                   (3,) * 21, 10, 3, 2.490340),
    "CIFAR-100 T": (21, 56, (0,) * 21, (3, 3, 3, 5) + (3,) * 17, 100, 3, 0.488588),
    "CIFAR-100 M": (21, 118, (0, 1) + (0,) * 10 + (1,) + (0,) * 8, (3,) * 7 + (5,) + (3,) * 13,
                    100, 3, 2.592796),
    "FashionMNIST M": (16, 120, (0, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1),
                       (3,) * 6 + (5,) + (3,) * 5 + (5,) + (3,) * 3, 10, 1, 6.159850),
    "KMNIST M": (24, 120, (1, 1) + (0,) * 22, (3,) * 24, 10, 1, 2.711170),
    "EMNIST M": (21, 106, (1, 0, 0, 1) + (0,) * 6 + (1,) + (0,) * 10, (3,) * 21, 47, 1,
                 2.252547),
}


@pytest.mark.parametrize("name", sorted(LOGGED_EXACT))
def test_logged_final_genomes_match_printed_params_exactly(name):
    depth, width, ops, ks, classes, channels, logged_m = LOGGED_EXACT[name]
    g = EgnasGenome(depth, width, ops, ks)
    n_std, n_k5 = sum(ops), sum(k == 5 for k in ks)
    row = next(r for r in LOGGED if r[0] == name)  # the logged layer counts agree
    assert (row[1], row[2], row[3], row[4]) == (depth, width, n_std, n_k5)
    expected = round(logged_m * 1e6)
    assert analytic_param_count(g, classes, channels) == expected
    assert count_params("egnas", g, classes, (32, 32, channels)) == expected

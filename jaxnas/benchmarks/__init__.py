"""Tabular benchmarks (oracles) shipped inside the package.

* ``nb201``: all 15,625 NAS-Bench-201 cells: 12-epoch validation / test and 200-epoch test
  accuracy on cifar10, cifar100, ImageNet16-120; latency on 27 device settings.
* ``nb101-20k``: 20,001 real NAS-Bench-101 cells (a subset of the 423,624), looked up by
  fingerprint; 4/12/36/108-epoch validation accuracy, parameters, training time.
* ``naslib``: NASLib's 725 evaluated NB201 cells per dataset and 725 NB301 (DARTS) genotypes
  with zero-cost proxies (for predictor work, not search).

See ``data/PROVENANCE.md`` for sources and licences.
"""

from jaxnas.benchmarks.oracle import Oracle, canonical_space, get_oracle, nb201_optima
from jaxnas.benchmarks.subset import TableSubsetSpace, oracle_space
from jaxnas.benchmarks.tables import (
    NB201_DATASETS,
    NASLibSamples,
    NB101Table,
    NB201Table,
    canonical_dataset,
    load_table,
    naslib_samples,
    nb101_table,
    nb201_table,
)

__all__ = [
    "Oracle", "get_oracle", "canonical_space", "nb201_optima", "TableSubsetSpace",
    "oracle_space", "NB201_DATASETS", "NASLibSamples", "NB101Table", "NB201Table",
    "canonical_dataset", "load_table", "naslib_samples", "nb101_table", "nb201_table",
]

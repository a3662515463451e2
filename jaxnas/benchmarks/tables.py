"""The tabular benchmarks shipped in ``jaxnas/benchmarks/data`` as read-only numpy arrays.

Made by ``experiments/convert_benchmarks.py`` from the original public tables; sources and licences in
``data/PROVENANCE.md``. Accuracies are percentages (float32), latencies milliseconds (float32).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from jaxnas.errors import DataNotFoundError, InvalidGenomeError, UnknownNameError

DATA_DIR = Path(__file__).resolve().parent / "data"

NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
_DATASET_ALIASES = {
    "cifar10": "cifar10", "cifar-10": "cifar10", "cifar10-valid": "cifar10",
    "cifar100": "cifar100", "cifar-100": "cifar100",
    "imagenet16-120": "ImageNet16-120", "imagenet16": "ImageNet16-120",
    "imagenet": "ImageNet16-120", "imagenet16_120": "ImageNet16-120",
}


def canonical_dataset(name: str, allowed: tuple[str, ...] = NB201_DATASETS) -> str:
    """``"imagenet16"`` -> ``"ImageNet16-120"`` etc.; UnknownNameError when not allowed."""
    canon = _DATASET_ALIASES.get(str(name).lower(), name)
    if canon not in allowed:
        raise UnknownNameError(f"dataset {name!r} is not in this benchmark; choose one of "
                               f"{list(allowed)} (aliases: imagenet16-120, imagenet16)")
    return canon


def _load_npz(name: str) -> dict[str, np.ndarray]:
    path = DATA_DIR / name
    if not path.is_file():
        raise DataNotFoundError(f"benchmark table {path} is missing; regenerate it with "
                                f"`python experiments/convert_benchmarks.py`")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


@dataclass(frozen=True, eq=False)
class NB201Table:
    """All 15,625 NB201 cells; row i is the official NAS-Bench-201 / NATS-Bench index i.

    ``ops``: (15625, 6) op codes into ``op_names`` in edge order (0,1),(0,2),(1,2),(0,3),(1,3),
    (2,3); ``columns[metric]``: (15625, 3) per dataset (``val_acc_12``, ``test_acc_12``,
    ``test_acc_200``) or (15625,) (``params``, ``flops`` when present); ``latency_ms``:
    (15625, 27), one column per device in ``devices``.
    """

    ops: np.ndarray
    op_names: tuple[str, ...]
    datasets: tuple[str, ...]
    devices: tuple[str, ...]
    columns: Mapping[str, np.ndarray]
    latency_ms: np.ndarray
    exact_max: Mapping[str, float]
    code_to_index: np.ndarray

    def __len__(self) -> int:
        return len(self.ops)

    def index_of_ops(self, ops: tuple[str, ...]) -> int:
        try:
            codes = [self.op_names.index(op) for op in ops]
        except ValueError as error:
            raise InvalidGenomeError(f"NB201 ops {ops!r}: each must be one of "
                                     f"{list(self.op_names)}") from error
        if len(codes) != 6:
            raise InvalidGenomeError(f"NB201 cell needs 6 ops, got {len(codes)}: {ops!r}")
        return int(self.code_to_index[int(np.dot(codes, 5 ** np.arange(6)))])

    def ops_of(self, index: int) -> tuple[str, ...]:
        if not 0 <= int(index) < len(self):
            raise InvalidGenomeError(f"NB201 index {index} outside [0, {len(self)})")
        return tuple(self.op_names[c] for c in self.ops[int(index)])


@dataclass(frozen=True, eq=False)
class NB101Table:
    """The 20,001 NB101 cells of nb101_20k (a subset of NAS-Bench-101), keyed by fingerprint."""

    keys: tuple[str, ...]
    matrix: np.ndarray  # (N, 7, 7) uint8, padded
    ops: np.ndarray  # (N, 7) int8 codes into op_names, -1 padding
    num_vertices: np.ndarray
    op_names: tuple[str, ...]
    columns: Mapping[str, np.ndarray]
    key_to_index: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.keys)

    def spec(self, index: int) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
        """(matrix, ops) of row ``index`` as nested tuples (unpadded)."""
        n = int(self.num_vertices[index])
        matrix = tuple(tuple(int(v) for v in row[:n]) for row in self.matrix[index, :n])
        ops = tuple(self.op_names[c] for c in self.ops[index, :n])
        return matrix, ops


@dataclass(frozen=True, eq=False)
class NASLibSamples:
    """NASLib's evaluated samples: 725 NB201 cells per dataset and 725 NB301 (DARTS) genotypes.

    NB201 rows: ``nb201_<dataset>_index`` (row into NB201Table), ``..._val_acc_200``
    (200-epoch validation %), ``..._zc`` (columns ``zc_names``: 10 zero-cost proxies, FLOPs (M),
    params (M)). NB301: ``nb301_arch`` (725, 2, 8, 2) NASLib genotype (normal, reduce) x 8
    (input node, op code), ``nb301_val_acc`` (surrogate-predicted %), ``nb301_zc``.
    """

    arrays: Mapping[str, np.ndarray]
    zc_names: tuple[str, ...]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise UnknownNameError(f"no array {name!r}; known: {sorted(self.arrays)}")
        return self.arrays[name]


@functools.lru_cache(maxsize=None)  # read-only tables: load once per process
def nb201_table() -> NB201Table:
    data = _load_npz("nb201.npz")
    ops = data["ops"]
    code_to_index = np.full(5 ** 6, -1, dtype=np.int64)
    code_to_index[ops.astype(np.int64) @ (5 ** np.arange(6))] = np.arange(len(ops))
    code_to_index.setflags(write=False)
    columns = {k: data[k] for k in ("val_acc_12", "test_acc_12", "test_acc_200", "params",
                                    "flops") if k in data}
    datasets = tuple(str(d) for d in data["datasets"])
    exact = {f"test_acc_200:{d}": float(v) for d, v in zip(datasets, data["test_acc_200_max"])}
    return NB201Table(ops=ops, op_names=tuple(str(o) for o in data["op_names"]),
                      datasets=datasets, devices=tuple(str(d) for d in data["devices"]),
                      columns=columns, latency_ms=data["latency_ms"], exact_max=exact,
                      code_to_index=code_to_index)


@functools.lru_cache(maxsize=None)
def nb101_table() -> NB101Table:
    data = _load_npz("nb101_20k.npz")
    keys = tuple(k.decode() for k in data["keys"])
    columns = {k: data[k] for k in ("val_acc_4", "val_acc_12", "val_acc_36", "val_acc_108",
                                    "params", "train_time_s")}
    return NB101Table(keys=keys, matrix=data["matrix"], ops=data["ops"],
                      num_vertices=data["num_vertices"],
                      op_names=tuple(str(o) for o in data["op_names"]), columns=columns,
                      key_to_index={k: i for i, k in enumerate(keys)})


@functools.lru_cache(maxsize=None)
def naslib_samples() -> NASLibSamples:
    data = _load_npz("naslib_samples.npz")
    return NASLibSamples(arrays=data, zc_names=tuple(str(z) for z in data["zc_names"]))


def load_table(name: str) -> Any:
    """``"nb201"`` | ``"nb101"`` (the 20k subset) | ``"naslib"``."""
    loaders = {"nb201": nb201_table, "nb101": nb101_table, "nb101-20k": nb101_table,
               "naslib": naslib_samples, "nb301": naslib_samples}
    if name not in loaders:
        raise UnknownNameError(f"unknown benchmark {name!r}; known: {sorted(loaders)}")
    return loaders[name]()


def check_device(device: str) -> str:
    devices = nb201_table().devices
    if device not in devices:
        raise UnknownNameError(f"latency device {device!r} unknown; choose one of {list(devices)}")
    return device


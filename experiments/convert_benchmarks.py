"""Convert the original public benchmark tables (DATA_DIR) into the compact oracle arrays shipped in jaxnas/benchmarks/data.

    python experiments/convert_benchmarks.py --src DATA_DIR [--out jaxnas/benchmarks/data]
        [--nb201-counts | --no-nb201-counts]

Writes ``nb201.npz``, ``nb101_20k.npz``, ``naslib_samples.npz`` (all numpy arrays, no pickles),
and checks the reference optima (NB201 200-epoch test 94.3733 / 73.5133 / 47.3111) and that the
three NB201 csv files agree row by row. With ``--nb201-counts`` it also computes params / FLOPs
of every NB201 cell on each dataset with ``jaxnas.nn.count_params / count_flops`` (per-edge
decomposition checked against direct counts, see ``nb201_counts``) and compares them with NASLib's
725 samples. Prints a summary table and writes a JSON report next to
the arrays (``conversion_report.json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
NB101_OP_CODES = ("input", "output", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
# NASLib NB201 op codes -> our op names; NASLib edge order 0-1, 0-2, 0-3, 1-2, 1-3, 2-3
NASLIB_NB201_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_TO_NB201_EDGE = (0, 1, 3, 2, 4, 5)  # our edge e takes NASLib position NASLIB_TO_NB201_EDGE[e]
ZC_NAMES = ("synflow", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "epe_nas",
            "jacov", "snip", "flops", "params")


def parse_nb201(text: str) -> tuple[int, ...]:
    """``|a~0|+|b~0|c~1|+|d~0|e~1|f~2|`` -> op codes in edge order (0,1),(0,2),(1,2),(0,3),(1,3),(2,3)."""
    nodes = text.strip().strip("+").split("+")
    ops = []
    for node in nodes:
        for item in node.strip("|").split("|"):
            ops.append(NB201_OPS.index(item.split("~")[0]))
    assert len(ops) == 6, text
    return tuple(ops)


def convert_nb201(src: Path) -> dict[str, np.ndarray]:
    with open(src / "nb201" / "nb201_200epoch_test.csv") as f:
        rows200 = list(csv.DictReader(f))
    with open(src / "nb201" / "nb201_12epoch.csv") as f:
        rows12 = list(csv.DictReader(f))
    with open(src / "nb201" / "nb201_latency_ms.csv") as f:
        reader = csv.DictReader(f)
        devices = [c for c in reader.fieldnames if c not in ("index", "arch")]
        rowslat = list(reader)
    assert len(rows200) == len(rows12) == len(rowslat) == 15625
    for i, (a, b, c) in enumerate(zip(rows200, rows12, rowslat)):
        if not (a["ArchitectureString"] == b["cellstr"] == c["arch"]):
            raise SystemExit(f"row {i}: the three NB201 tables disagree on the cell")
        if int(b["arch"]) != i or int(c["index"]) != i:
            raise SystemExit(f"row {i}: index column out of order")
    ops = np.array([parse_nb201(r["ArchitectureString"]) for r in rows200], dtype=np.uint8)
    codes = ops.astype(np.int64) @ (5 ** np.arange(6))
    assert len(np.unique(codes)) == 15625, "NB201 cells are not unique"
    test200 = np.array([[float(r[k]) for k in ("CIFAR10TestAccuracy200Epochs",
                                                 "CIFAR100TestAccuracy200Epochs",
                                                 "ImageNetTestAccuracy200Epochs")]
                        for r in rows200], dtype=np.float64)
    keys12 = ("cifar10", "cifar100", "imagenet")
    val12 = np.array([[float(r[f"{k}-val"]) for k in keys12] for r in rows12])
    test12 = np.array([[float(r[f"{k}-test"]) for k in keys12] for r in rows12])
    latency = np.array([[float(r[d]) for d in devices] for r in rowslat])
    return {
        "ops": ops,
        "op_names": np.array(NB201_OPS),
        "datasets": np.array(NB201_DATASETS),
        "test_acc_200": test200.astype(np.float32),
        # exact optimum as float64 too: float32 would round 94.37333 in the 5th decimal
        "test_acc_200_max": test200.max(axis=0),
        "val_acc_12": val12.astype(np.float32),
        "test_acc_12": test12.astype(np.float32),
        "latency_ms": latency.astype(np.float32),
        "devices": np.array(devices),
    }


def convert_nb101(src: Path) -> dict[str, np.ndarray]:
    with open(src / "nb101" / "nb101_20k_specs.json") as f:
        specs = json.load(f)
    with open(src / "nb101" / "nb101_20k_metrics.json") as f:
        metrics = json.load(f)
    n = len(specs)
    assert metrics["key"] == [s["hash"] for s in specs], "specs and metrics rows differ"
    matrix = np.zeros((n, 7, 7), dtype=np.uint8)
    ops = np.full((n, 7), -1, dtype=np.int8)
    nvert = np.zeros(n, dtype=np.uint8)
    for i, s in enumerate(specs):
        m = np.asarray(s["matrix"], dtype=np.uint8)
        k = m.shape[0]
        matrix[i, :k, :k] = m
        ops[i, :k] = [NB101_OP_CODES.index(o) for o in s["ops"]]
        nvert[i] = k
    out = {
        "keys": np.array([s["hash"] for s in specs], dtype="S32"),
        "matrix": matrix,
        "ops": ops,
        "num_vertices": nvert,
        "op_names": np.array(NB101_OP_CODES),
        "params": np.asarray(metrics["trainable_parameters"], dtype=np.int64),
        "train_time_s": np.asarray(metrics["final_training_time"], dtype=np.float32),
    }
    for epochs in (4, 12, 36, 108):
        # stored as % like NB201 (the source has fractions)
        out[f"val_acc_{epochs}"] = (100.0 * np.asarray(
            metrics[f"{epochs}_final_validation_accuracy"], dtype=np.float64)).astype(np.float32)
    return out


def _zc_columns(entries: list[dict]) -> np.ndarray:
    # one NASLib entry lacks a score (synflow): NaN marks "not in the source"
    return np.array([[float(e[name]["score"]) if name in e else np.nan for name in ZC_NAMES]
                     for e in entries], dtype=np.float32)


def convert_naslib(src: Path, nb201_ops: np.ndarray) -> dict[str, np.ndarray]:
    code_to_index = np.full(5 ** 6, -1, dtype=np.int64)
    code_to_index[nb201_ops.astype(np.int64) @ (5 ** np.arange(6))] = np.arange(len(nb201_ops))
    out: dict[str, np.ndarray] = {"zc_names": np.array(ZC_NAMES)}
    with open(src / "naslib" / "zc_nasbench201.json") as f:
        zc201 = json.load(f)
    for dataset in NB201_DATASETS:
        entries = list(zc201[dataset].values())
        idx = []
        for e in entries:
            naslib = [int(t) for t in e["arch"].strip("()").split(",")]
            ours = [NB201_OPS.index(NASLIB_NB201_OPS[naslib[p]]) for p in NASLIB_TO_NB201_EDGE]
            idx.append(code_to_index[np.dot(ours, 5 ** np.arange(6))])
        tag = f"nb201_{dataset}"
        out[f"{tag}_index"] = np.asarray(idx, dtype=np.int64)
        out[f"{tag}_val_acc_200"] = np.array([e["val_accuracy"] for e in entries], np.float32)
        out[f"{tag}_zc"] = _zc_columns(entries)
    with open(src / "naslib" / "zc_nasbench301.json") as f:
        zc301 = json.load(f)["cifar10"]
    entries = list(zc301.values())
    out["nb301_arch"] = np.array([eval_darts(e["arch"]) for e in entries], dtype=np.int8)
    out["nb301_val_acc"] = np.array([e["val_accuracy"] for e in entries], np.float32)
    out["nb301_zc"] = _zc_columns(entries)
    return out


def eval_darts(text: str) -> list:
    """NASLib's DARTS genotype string ``[[(node, op), ...8], [...8]]`` -> nested int lists."""
    import ast

    value = ast.literal_eval(text)  # literals only: safe
    assert len(value) == 2 and all(len(cell) == 8 for cell in value), text
    return [[list(pair) for pair in cell] for cell in value]


NB201_INPUTS = {"cifar10": (10, (32, 32, 3)), "cifar100": (100, (32, 32, 3)),
                "ImageNet16-120": (120, (16, 16, 3))}


def nb201_counts(ops: np.ndarray, check: int = 8, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Params and FLOPs (15625, 3) of every NB201 cell from jaxnas's own network.

    Counting 15,625 x 3 networks one by one takes ~10 h here (~0.75 s each), so the columns are
    built from per-edge contributions: every NB201 edge maps C channels to C channels at its
    stage's resolution, independently of the other edges, so a cell's count is the all-``none``
    network's count plus, per edge, what putting op o on that edge adds. Those 6 x 4 + 1
    networks per dataset are counted with ``count_params`` / ``count_flops``, and ``check``
    random cells per dataset are counted directly and must match the sum exactly (else this
    raises), so the shortcut cannot silently drift from the network.
    """
    from jaxnas.nn import count_flops, count_params
    from jaxnas.spaces.nb201 import NB201Genome

    def counts(codes, classes, shape):
        genome = NB201Genome(tuple(NB201_OPS[c] for c in codes))
        return (count_params("nb201", genome, classes, shape),
                count_flops("nb201", genome, classes, shape))

    params = np.zeros((len(ops), len(NB201_DATASETS)), np.int64)
    flops = np.zeros((len(ops), len(NB201_DATASETS)), np.int64)
    rng = np.random.default_rng(seed)
    checked = {}
    for d, dataset in enumerate(NB201_DATASETS):
        classes, shape = NB201_INPUTS[dataset]
        base = counts((0,) * 6, classes, shape)
        delta = np.zeros((2, 6, len(NB201_OPS)), np.int64)  # (params/flops, edge, op)
        for edge in range(6):
            for op in range(1, len(NB201_OPS)):
                codes = [0] * 6
                codes[edge] = op
                got = counts(codes, classes, shape)
                delta[0, edge, op] = got[0] - base[0]
                delta[1, edge, op] = got[1] - base[1]
        rows = np.arange(6)[None, :]
        params[:, d] = base[0] + delta[0, rows, ops].sum(axis=1)
        flops[:, d] = base[1] + delta[1, rows, ops].sum(axis=1)
        for i in rng.choice(len(ops), size=check, replace=False):
            direct = counts(tuple(int(c) for c in ops[i]), classes, shape)
            if direct != (int(params[i, d]), int(flops[i, d])):
                raise AssertionError(f"{dataset} cell {i}: direct count {direct} != per-edge "
                                     f"sum {(int(params[i, d]), int(flops[i, d]))}")
        checked[dataset] = check
        print(f"  counts {dataset}: done, {check} random cells checked directly", flush=True)
    return params, flops, {"nb201_counts_checked_cells": checked}


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, required=True,
                        help="folder of the original tables (layout: docs/data.md)")
    parser.add_argument("--out", type=Path, default=root / "jaxnas" / "benchmarks" / "data")
    parser.add_argument("--nb201-counts", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"src": "the --src folder"}

    nb201 = convert_nb201(args.src)
    report["nb201_test200_max"] = nb201["test_acc_200_max"].tolist()
    report["nb201_test200_argmax"] = nb201["test_acc_200"].argmax(axis=0).tolist()
    for got, want in zip(nb201["test_acc_200_max"], (94.3733, 73.5133, 47.3111)):
        assert abs(got - want) < 1e-3, (got, want)
    naslib = convert_naslib(args.src, nb201["ops"])

    if args.nb201_counts:
        try:
            start = time.time()
            params, flops, info = nb201_counts(nb201["ops"])
            nb201["params"], nb201["flops"] = params, flops
            report.update(info)
            report["nb201_counts_seconds"] = time.time() - start
            # NASLib's 725 samples per dataset: params in M, FLOPs in M
            names = list(ZC_NAMES)
            for d, dataset in enumerate(NB201_DATASETS):
                idx = naslib[f"nb201_{dataset}_index"]
                zc = naslib[f"nb201_{dataset}_zc"].astype(np.float64)
                for col, ours in (("params", params[idx, d]), ("flops", flops[idx, d])):
                    diff = np.abs(ours / 1e6 - zc[:, names.index(col)])
                    report[f"nb201_{col}_{dataset}_max_abs_diff_M"] = float(diff.max())
                    report[f"nb201_{col}_{dataset}_within_0.01M"] = int(np.sum(diff <= 0.01))
        except ImportError as error:
            report["nb201_counts"] = f"skipped: {error}"
            print(f"params/FLOPs column left out: {error}")

    nb101 = convert_nb101(args.src)
    report["nb101_rows"] = int(len(nb101["keys"]))
    report["nb101_val108_max"] = float(nb101["val_acc_108"].max())

    np.savez_compressed(args.out / "nb201.npz", **nb201)
    np.savez_compressed(args.out / "nb101_20k.npz", **nb101)
    np.savez_compressed(args.out / "naslib_samples.npz", **naslib)
    sizes = {p.name: p.stat().st_size for p in sorted(args.out.glob("*.npz"))}
    report["sizes_bytes"] = sizes
    with open(args.out / "conversion_report.json", "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print(f"{'item':40s} value")
    for key, value in sorted(report.items()):
        print(f"{key:40s} {value}")


if __name__ == "__main__":
    main()

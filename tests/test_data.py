"""jaxnas.data loading, dataset facts and splits, on the real Fashion-MNIST / MNIST files."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import shutil
import subprocess
import sys
import tarfile
import time

import jax
import numpy as np
import pytest

from jaxnas.data import (
    DATASET_NAMES,
    ArrayDataset,
    batches,
    dataset_info,
    load_dataset,
    subset,
    train_val_indices,
    train_val_split,
)
from jaxnas.errors import ConfigError, DataNotFoundError, UnknownNameError


@pytest.fixture(scope="module")
def fmnist_train(shared_data):
    return load_dataset("fashion_mnist", "train", data_dir=shared_data)


@pytest.fixture(scope="module")
def fmnist_test(shared_data):
    return load_dataset("fashion_mnist", "test", data_dir=shared_data)


# ---------------------------------------------------------------------------- dataset facts


def test_dataset_info_facts():
    # values from the datasets' publications and docs/algorithms.md (EMNIST balanced: 47 classes,
    # 18,800 test images; no flips for the character sets)
    assert set(DATASET_NAMES) == {"fashion_mnist", "mnist", "kmnist", "emnist", "cifar10",
                                  "cifar100", "imagenet16-120"}
    # NAS-Bench-201's ImageNet16-120: 16x16 RGB, 120 classes, any spelling; shape only
    for name in ("ImageNet16-120", "imagenet16"):
        assert dataset_info(name).shape == (16, 16, 3) and dataset_info(name).num_classes == 120
    emnist = dataset_info("emnist")
    assert (emnist.num_classes, emnist.test_size, emnist.train_size) == (47, 18_800, 112_800)
    assert not emnist.allow_flip and emnist.transposed
    for name in ("mnist", "kmnist"):
        assert not dataset_info(name).allow_flip
    for name in ("fashion_mnist", "cifar10", "cifar100"):
        assert dataset_info(name).allow_flip
    c10 = dataset_info("cifar10")
    np.testing.assert_allclose(c10.mean, (0.4914, 0.4822, 0.4465), atol=5e-5)
    np.testing.assert_allclose(c10.std, (0.2470, 0.2435, 0.2616), atol=5e-5)
    assert c10.shape == (32, 32, 3) and dataset_info("cifar100").num_classes == 100
    assert dataset_info("fashion_mnist").shape == (28, 28, 1)
    for name in DATASET_NAMES:
        info = dataset_info(name)
        assert len(info.mean) == len(info.std) == info.channels
        # EG-NAS trains every set it loads on 32x32 crops; ImageNet16-120 is shape only
        assert info.train_crop_size == (16 if name == "imagenet16-120" else 32)


def test_unknown_dataset_name_lists_allowed():
    with pytest.raises(UnknownNameError) as exc:
        dataset_info("svhn")
    assert "svhn" in str(exc.value) and "fashion_mnist" in str(exc.value)
    with pytest.raises(UnknownNameError):
        load_dataset("imagenet", "train", data_dir="/nonexistent")


def test_bad_split_and_backend(shared_data):
    with pytest.raises(ConfigError, match="validation"):
        load_dataset("fashion_mnist", "validation", data_dir=shared_data)
    with pytest.raises(ConfigError, match="torch"):
        load_dataset("fashion_mnist", "train", data_dir=shared_data, backend="torch")


# ---------------------------------------------------------------------------- real files


def test_fashion_mnist_sizes_and_counts(fmnist_train, fmnist_test):
    assert len(fmnist_train) == 60_000 and len(fmnist_test) == 10_000
    for ds, per_class in ((fmnist_train, 6_000), (fmnist_test, 1_000)):
        assert ds.images.shape[1:] == (28, 28, 1) and ds.images.dtype == np.uint8
        assert ds.labels.dtype == np.int32
        np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10), [per_class] * 10)
        assert ds.info.name == "fashion_mnist"


def test_grayscale_constants_match_real_data(fmnist_train):
    # the hard-coded Fashion-MNIST mean/std (EG-NAS utils.py) are the training-set statistics
    x = fmnist_train.images
    info = fmnist_train.info
    assert abs(x.mean(dtype=np.float64) / 255.0 - info.mean[0]) < 1e-4
    assert abs(x.std(dtype=np.float64) / 255.0 - info.std[0]) < 1e-4


def test_mnist_train_missing_names_file(shared_data):
    t0 = time.perf_counter()
    with pytest.raises(DataNotFoundError) as exc:
        load_dataset("mnist", "train", data_dir=shared_data)
    assert time.perf_counter() - t0 < 5.0
    msg = str(exc.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert str(shared_data / "mnist") in msg
    assert "JAXNAS_DATA_DIR" in msg and "download=True" in msg and "tfds" in msg
    with pytest.raises(DataNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", "train", data_dir=shared_data, backend="files")


def test_env_var_data_dir(shared_data, monkeypatch):
    monkeypatch.setenv("JAXNAS_DATA_DIR", str(shared_data))
    ds = load_dataset("mnist", "test")
    assert len(ds) == 10_000 and ds.images.shape == (10_000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(ds.labels) > 800, [True] * 10)
    # an explicit data_dir wins over the variable
    monkeypatch.setenv("JAXNAS_DATA_DIR", "/nonexistent")
    assert len(load_dataset("mnist", "test", data_dir=shared_data)) == 10_000
    with pytest.raises(DataNotFoundError, match="/nonexistent"):
        load_dataset("mnist", "test")


def test_uncompressed_idx_equals_gz(shared_data, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(shared_data / "mnist" / f"{f}.gz", "rb") as src:
            (folder / f).write_bytes(src.read())
    raw = load_dataset("mnist", "test", data_dir=tmp_path, backend="files")
    gz = load_dataset("mnist", "test", data_dir=shared_data, backend="files")
    np.testing.assert_array_equal(raw.images, gz.images)
    np.testing.assert_array_equal(raw.labels, gz.labels)


def test_truncated_idx_is_reported(shared_data, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    with gzip.open(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz", "rb") as src:
        data = src.read()
    (folder / "t10k-images-idx3-ubyte").write_bytes(data[:-100])
    shutil.copy(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz", folder)
    with pytest.raises(DataNotFoundError, match="truncated"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def test_emnist_files_are_transposed_back(shared_data, tmp_path):
    # EMNIST's IDX files store each image transposed; write real MNIST digits that way under
    # the EMNIST balanced test file names (18,800 rows) and expect them back upright.
    mnist = load_dataset("mnist", "test", data_dir=shared_data)
    upright = np.concatenate([mnist.images, mnist.images[:8_800]])[..., 0]
    labels = np.concatenate([mnist.labels, mnist.labels[:8_800]]).astype(np.uint8)
    folder = tmp_path / "emnist"
    folder.mkdir()
    _write_idx(folder / "emnist-balanced-test-images-idx3-ubyte.gz", upright.transpose(0, 2, 1))
    _write_idx(folder / "emnist-balanced-test-labels-idx1-ubyte.gz", labels)
    ds = load_dataset("emnist", "test", data_dir=tmp_path)
    assert ds.images.shape == (18_800, 28, 28, 1) and ds.info.num_classes == 47
    np.testing.assert_array_equal(ds.images[..., 0], upright)
    np.testing.assert_array_equal(ds.labels, labels)


def _cifar_test_arrays(fmnist_test):
    # 10,000 real Fashion-MNIST images padded to 32x32 and given three different channels,
    # so any channel/axis mix-up in the CIFAR reader shows
    g = np.pad(fmnist_test.images[..., 0], ((0, 0), (2, 2), (2, 2)))
    hwc = np.stack([g, 255 - g, g // 2], axis=-1).astype(np.uint8)
    chw_flat = hwc.transpose(0, 3, 1, 2).reshape(len(hwc), -1)
    return hwc, chw_flat, fmnist_test.labels


@pytest.mark.parametrize("layout", ["folder", "tarball"])
def test_cifar10_pickles(fmnist_test, tmp_path, layout):
    hwc, flat, labels = _cifar_test_arrays(fmnist_test)
    blob = pickle.dumps({b"data": flat, b"labels": [int(v) for v in labels]})
    root = tmp_path / "cifar10"
    if layout == "folder":
        (root / "cifar-10-batches-py").mkdir(parents=True)
        (root / "cifar-10-batches-py" / "test_batch").write_bytes(blob)
    else:
        root.mkdir()
        member = tmp_path / "test_batch"
        member.write_bytes(blob)
        with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz", compresslevel=1) as tar:
            tar.add(member, arcname="cifar-10-batches-py/test_batch")
    ds = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert ds.images.shape == (10_000, 32, 32, 3)
    np.testing.assert_array_equal(ds.images, hwc)
    np.testing.assert_array_equal(ds.labels, labels)
    # the train batches are absent: the message names them
    with pytest.raises(DataNotFoundError, match="data_batch_1"):
        load_dataset("cifar10", "train", data_dir=tmp_path)


def test_cifar100_fine_labels(fmnist_test, tmp_path):
    hwc, flat, labels = _cifar_test_arrays(fmnist_test)
    fine = (labels * 10 + 7).astype(np.int64)  # uses the 0..99 range
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    (folder / "test").write_bytes(
        pickle.dumps({b"data": flat, b"fine_labels": list(fine), b"coarse_labels": list(labels)})
    )
    ds = load_dataset("cifar100", "test", data_dir=tmp_path, backend="files")
    np.testing.assert_array_equal(ds.images, hwc)
    np.testing.assert_array_equal(ds.labels, fine)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_binary_version(fmnist_test, tmp_path, name):
    hwc, flat, labels = _cifar_test_arrays(fmnist_test)
    if name == "cifar10":
        prefix, member, label_cols = "cifar-10-batches-bin", "test_batch.bin", [labels]
        expected = labels
    else:  # records are (coarse, fine, pixels); the fine label is the class
        prefix, member = "cifar-100-binary", "test.bin"
        expected = labels * 10 + 3
        label_cols = [labels, expected]
    records = np.concatenate([np.stack(label_cols, 1).astype(np.uint8), flat], axis=1)
    (tmp_path / name / prefix).mkdir(parents=True)
    (tmp_path / name / prefix / member).write_bytes(records.tobytes())
    ds = load_dataset(name, "test", data_dir=tmp_path, backend="files")
    np.testing.assert_array_equal(ds.images, hwc)
    np.testing.assert_array_equal(ds.labels, expected)


def test_npz_round_trip(fmnist_train, tmp_path):
    rows = np.random.default_rng(0).choice(len(fmnist_train), 500, replace=False)
    images, labels = fmnist_train.images[rows], fmnist_train.labels[rows]
    (tmp_path / "fashion_mnist").mkdir()
    # (N, H, W) without the channel axis is accepted for grayscale sets
    np.savez(tmp_path / "fashion_mnist" / "fashion_mnist_train.npz", images=images[..., 0],
             labels=labels.astype(np.int64))
    ds = load_dataset("fashion_mnist", "train", data_dir=tmp_path, backend="files")
    assert isinstance(ds, ArrayDataset) and len(ds) == 500
    assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int32
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)


def test_npz_wrong_shape_or_keys(fmnist_train, tmp_path):
    (tmp_path / "fashion_mnist").mkdir()
    path = tmp_path / "fashion_mnist" / "fashion_mnist_test.npz"
    np.savez(path, images=fmnist_train.images[:10, :20], labels=fmnist_train.labels[:10])
    with pytest.raises(DataNotFoundError, match=r"\(28, 28, 1\)"):
        load_dataset("fashion_mnist", "test", data_dir=tmp_path)
    np.savez(path, x=fmnist_train.images[:10])
    with pytest.raises(DataNotFoundError, match="'images' and 'labels'"):
        load_dataset("fashion_mnist", "test", data_dir=tmp_path)
    np.savez(path, images=fmnist_train.images[:10], labels=fmnist_train.labels[:10] + 10)
    with pytest.raises(DataNotFoundError, match="classes 0..9"):
        load_dataset("fashion_mnist", "test", data_dir=tmp_path)


# ---------------------------------------------------------------------------- tfds backend

_TFDS_SNIPPET = """
import sys, time
from jaxnas.data import load_dataset
from jaxnas.errors import DataNotFoundError
for backend in sys.argv[2:]:
    t = time.perf_counter()
    try:
        load_dataset("fashion_mnist", "train", data_dir=sys.argv[1], backend=backend)
    except DataNotFoundError as e:
        print("DataNotFoundError", round(time.perf_counter() - t, 2), str(e).replace("\\n", " "))
"""


def _run_snippet(data_dir, *backends):
    # a subprocess with a timeout: tfds.load would hang ~205 s offline; this must not
    out = subprocess.run([sys.executable, "-c", _TFDS_SNIPPET, str(data_dir), *backends],
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert len(lines) == len(backends), out.stdout + out.stderr
    return lines


def test_tfds_without_download_fails_fast_on_empty_dir(tmp_path):
    for line in _run_snippet(tmp_path, "tfds", "auto"):
        assert line.startswith("DataNotFoundError"), line
        assert float(line.split()[1]) < 5.0
        assert "download=True" in line and "train-images-idx3-ubyte.gz" in line


@pytest.mark.skipif(importlib.util.find_spec("tensorflow_datasets") is None,
                    reason="tensorflow-datasets not installed")
def test_tfds_broken_prepared_dir_raises_data_not_found(tmp_path):
    # a version folder that looks prepared but is not: tfds.data_source(download=False) fails,
    # and the loader turns that into DataNotFoundError without any network access
    version = tmp_path / "fashion_mnist" / "3.0.1"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{}")
    (version / "fashion_mnist-train.array_record-00000-of-00001").write_bytes(b"")
    (line,) = _run_snippet(tmp_path, "tfds")
    assert line.startswith("DataNotFoundError") and "could not read prepared tfds data" in line


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                    reason="with TensorFlow installed download=True would really download")
@pytest.mark.skipif(importlib.util.find_spec("tensorflow_datasets") is None,
                    reason="tensorflow-datasets not installed")
def test_download_without_tensorflow_says_what_to_install(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"jaxnas\[tfds-prepare\]"):
        load_dataset("kmnist", "train", data_dir=tmp_path, download=True)


@pytest.mark.slow
def test_tfds_prepare_offline_then_read(shared_data, tmp_path):
    pytest.importorskip("tensorflow", reason="preparing tfds image data needs TensorFlow "
                        "(pip install 'jaxnas[tfds-prepare]'); not installed here")
    tfds = pytest.importorskip("tensorflow_datasets")
    builder = tfds.builder("fashion_mnist", data_dir=str(tmp_path / "tfds"),
                           file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(shared_data / "fashion_mnist"), try_download_gcs=False))
    via_tfds = load_dataset("fashion_mnist", "test", data_dir=tmp_path / "tfds", backend="tfds")
    via_files = load_dataset("fashion_mnist", "test", data_dir=shared_data, backend="files")
    np.testing.assert_array_equal(via_tfds.images, via_files.images)
    np.testing.assert_array_equal(via_tfds.labels, via_files.labels)


# ---------------------------------------------------------------------------- splits


def test_train_val_split_deterministic_disjoint_stratified(fmnist_train):
    tr_idx, va_idx = train_val_indices(fmnist_train.labels, 0.1, seed=0)
    assert len(va_idx) == 6_000 and len(tr_idx) == 54_000
    assert np.intersect1d(tr_idx, va_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr_idx, va_idx])), np.arange(60_000))
    np.testing.assert_array_equal(np.bincount(fmnist_train.labels[va_idx]), [600] * 10)
    again = train_val_indices(fmnist_train.labels, 0.1, seed=0)
    np.testing.assert_array_equal(again[1], va_idx)
    other = train_val_indices(fmnist_train.labels, 0.1, seed=1)
    assert not np.array_equal(np.sort(other[1]), np.sort(va_idx))

    train, val = train_val_split(fmnist_train, 0.1, seed=0)
    assert (len(train), len(val)) == (54_000, 6_000)
    np.testing.assert_array_equal(val.images, fmnist_train.images[va_idx])
    np.testing.assert_array_equal(train.labels, fmnist_train.labels[tr_idx])
    assert val.info == fmnist_train.info


def test_random_split_and_bad_fraction(fmnist_train):
    tr_idx, va_idx = train_val_indices(fmnist_train.labels, 0.25, seed=3, stratified=False)
    assert (len(tr_idx), len(va_idx)) == (45_000, 15_000)
    assert np.intersect1d(tr_idx, va_idx).size == 0
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ConfigError, match="val_fraction"):
            train_val_split(fmnist_train, bad)


def test_subset(fmnist_train):
    a = subset(fmnist_train, 1_000, seed=5)
    b = subset(fmnist_train, 1_000, seed=5)
    assert len(a) == 1_000
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.labels, subset(fmnist_train, 1_000, seed=6).labels)
    with pytest.raises(ConfigError):
        subset(fmnist_train, 60_001)


def test_batches_cover_epoch_and_work_under_jit():
    key = jax.random.key(0)
    idx = np.asarray(batches(key, 1_000, 64))
    assert idx.shape == (15, 64) and len(np.unique(idx)) == 960
    full = np.asarray(batches(key, 1_000, 64, drop_last=False))
    assert full.shape == (16, 64) and set(full.ravel()) == set(range(1_000))
    jitted = jax.jit(batches, static_argnums=(1, 2))(key, 1_000, 64)
    np.testing.assert_array_equal(np.asarray(jitted), idx)
    assert not np.array_equal(np.asarray(batches(jax.random.key(1), 1_000, 64)), idx)
    with pytest.raises(ConfigError):
        batches(key, 10, 64)

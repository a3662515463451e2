"""Load image datasets into numpy arrays (uint8 NHWC images, int32 labels).

Backends:
- ``"files"``: the original upstream files (IDX ``.gz`` for the MNIST family, CIFAR python
  pickles or their tarball) or a ``<name>_<split>.npz`` with ``images``/``labels``, all under
  ``<data_dir>/<name>/``. No network, no TensorFlow; Fashion-MNIST loads in a fraction of a second.
- ``"tfds"``: tensorflow-datasets data already prepared as ``array_record`` under
  ``<data_dir>/<tfds name>/<version>/`` (read with ``tfds.data_source``, no TensorFlow needed).
  Only ``download=True`` lets tfds touch the network (download_and_prepare; needs TensorFlow).
- ``"auto"``: files, then prepared tfds data, then (only with ``download=True``) tfds download;
  otherwise DataNotFoundError at once, naming the files to put where.

Nothing is cached globally: every call reads the files again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxnas.errors import ConfigError, DataNotFoundError, check_choice
from jaxnas.data.info import DATASET_NAMES, DatasetInfo, dataset_info

SPLITS = ("train", "test")
BACKENDS = ("auto", "files", "tfds")
DATA_DIR_ENV = "JAXNAS_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.jaxnas/data")


@dataclass(frozen=True, eq=False)  # eq on numpy arrays is ambiguous; compare fields yourself
class ArrayDataset:
    """A whole split in memory: ``images`` uint8 (N, H, W, C), ``labels`` int32 (N,)."""

    images: np.ndarray
    labels: np.ndarray
    info: DatasetInfo

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ConfigError(
                f"images must be uint8 (N, H, W, C); got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (self.images.shape[0],) or self.labels.dtype != np.int32:
            raise ConfigError(
                f"labels must be int32 of shape ({self.images.shape[0]},); "
                f"got {self.labels.dtype} {self.labels.shape}"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, indices: np.ndarray) -> "ArrayDataset":
        """The examples at ``indices`` (a new dataset; arrays are copied)."""
        indices = np.asarray(indices)
        return ArrayDataset(self.images[indices], self.labels[indices], self.info)


def data_fingerprint(*parts: ArrayDataset) -> str:
    """sha256 of the images and labels: the data's identity, wherever it is stored."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(np.ascontiguousarray(part.images).tobytes())
        digest.update(np.ascontiguousarray(part.labels).tobytes())
    return digest.hexdigest()[:16]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$JAXNAS_DATA_DIR``, else ``~/.jaxnas/data``."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    backend: str = "auto",
    download: bool = False,
) -> ArrayDataset:
    """Load one split of ``name`` as an :class:`ArrayDataset`.

    ``backend`` is "auto", "files" or "tfds" (see module docstring). The network is used only
    when ``download=True``; without it a missing dataset raises DataNotFoundError at once.
    """
    info = dataset_info(name)
    check_choice("split", split, SPLITS)
    if info.file_format == "none":
        raise DataNotFoundError(f"jaxnas knows the shape of {info.name!r} (for describe and "
                                f"the NB201 tables) but has no loader for its images")
    check_choice("backend", backend, BACKENDS)
    root = resolve_data_dir(data_dir)

    if backend in ("auto", "files"):
        found = _load_files(info, split, root / info.name)
        if found is not None:
            return found
        if backend == "files":
            raise DataNotFoundError(_missing_message(info, split, root, backend))
    # backend is "auto" (files missing) or "tfds"
    found = _load_tfds_prepared(info, split, root)
    if found is not None:
        return found
    if download:
        return _tfds_download_and_load(info, split, root)
    raise DataNotFoundError(_missing_message(info, split, root, backend))


# ----------------------------------------------------------------------------------------------
# "files" backend


def _load_files(info: DatasetInfo, split: str, folder: Path) -> ArrayDataset | None:
    """Read ``split`` from the raw files in ``folder``; None when they are not there."""
    if info.file_format == "idx":
        images_file, labels_file = (folder / f for f in info.files(split))
        images_path, labels_path = _existing(images_file), _existing(labels_file)
        if images_path is not None and labels_path is not None:
            images = _read_idx(images_path)
            labels = _read_idx(labels_path)
            if images.ndim != 3 or labels.ndim != 1:
                raise DataNotFoundError(
                    f"{images_path} / {labels_path} are not an IDX image/label pair "
                    f"(shapes {images.shape}, {labels.shape})"
                )
            if info.transposed:  # EMNIST is stored column-major: transpose to upright
                images = images.transpose(0, 2, 1)
            return _checked(info, split, images[..., None], labels, f"{images_path}", True)
    else:
        arrays = _read_cifar(info, split, folder)
        if arrays is not None:
            return _checked(info, split, *arrays, str(folder), True)
    npz = folder / f"{info.name}_{split}.npz"
    if npz.is_file():
        with np.load(npz) as z:
            if "images" not in z or "labels" not in z:
                raise DataNotFoundError(
                    f"{npz} must hold arrays 'images' and 'labels'; it has {sorted(z.files)}"
                )
            images, labels = z["images"], z["labels"]
        if images.ndim == 3:
            images = images[..., None]
        return _checked(info, split, images, labels, str(npz), False)
    return None


def _existing(path: Path) -> Path | None:
    """``path`` if it exists, else its un-gzipped twin (``x.gz`` -> ``x``) if that exists."""
    if path.is_file():
        return path
    if path.suffix == ".gz" and path.with_suffix("").is_file():
        return path.with_suffix("")
    return None


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (gzipped or not) of unsigned bytes into a numpy array; a damaged
    file is a one-line DataNotFoundError that names it."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as error:  # truncated or not gzip at all
        raise DataNotFoundError(f"{path} cannot be read ({type(error).__name__}: {error}); "
                                f"download it again") from None
    # header: two zero bytes, type code (0x08 = uint8), number of dims, then big-endian sizes
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataNotFoundError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    if not 1 <= ndim <= 4 or len(data) < 4 + 4 * ndim:
        raise DataNotFoundError(f"{path} has a damaged IDX header ({ndim} dimensions)")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise DataNotFoundError(
            f"{path} is truncated or corrupt: header says {dims} ({expected} bytes), "
            f"file has {len(data) - offset}"
        )
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


# CIFAR binary version (what tfds downloads): per record, label byte(s) then 3072 CHW bytes;
# CIFAR-100 records hold (coarse, fine) labels and jaxnas uses the fine one.
_CIFAR_BINARY = {
    "cifar10": dict(
        train=tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)),
        test=("cifar-10-batches-bin/test_batch.bin",),
        archive="cifar-10-binary.tar.gz", label_bytes=1,
    ),
    "cifar100": dict(
        train=("cifar-100-binary/train.bin",), test=("cifar-100-binary/test.bin",),
        archive="cifar-100-binary.tar.gz", label_bytes=2,
    ),
}


def cifar_binary_files(name: str, split: str) -> tuple[tuple[str, ...], str]:
    """(member files, tarball) of the CIFAR *binary* version, the alternative to the pickles."""
    spec = _CIFAR_BINARY[name]
    return spec[split], spec["archive"]


def _read_members(folder: Path, members, archives) -> list[bytes] | None:
    """Bytes of ``members`` from the extracted folder or else from the first tarball present."""
    if all((folder / m).is_file() for m in members):
        return [(folder / m).read_bytes() for m in members]
    for archive in archives:
        if (folder / archive).is_file():
            with tarfile.open(folder / archive, "r:*") as tar:
                try:
                    return [tar.extractfile(m).read() for m in members]
                except KeyError as e:
                    raise DataNotFoundError(
                        f"{folder / archive} lacks {e}; expected members {list(members)}"
                    ) from None
    return None


def _read_cifar(info: DatasetInfo, split: str, folder: Path):
    """CIFAR from the python pickles (folder or tarball), else the binary version; or None."""
    blobs = _read_members(folder, info.files(split), info.archive_files)
    if blobs is not None:
        label_key = b"labels" if info.name == "cifar10" else b"fine_labels"
        images, labels = [], []
        for blob in blobs:
            # the upstream pickles are Python-2 era; bytes keys need encoding="bytes"
            batch = pickle.loads(blob, encoding="bytes")
            images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[label_key]))
        return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels)
    members, archive = cifar_binary_files(info.name, split)
    blobs = _read_members(folder, members, (archive,))
    if blobs is None:
        return None
    nl = _CIFAR_BINARY[info.name]["label_bytes"]
    records = np.concatenate([np.frombuffer(b, np.uint8) for b in blobs])
    if records.size % (nl + 3072):
        raise DataNotFoundError(f"{folder}: {members} are not whole CIFAR binary records")
    records = records.reshape(-1, nl + 3072)
    images = records[:, nl:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, records[:, nl - 1]  # the last label byte: cifar10's label, cifar100's fine


def _checked(info, split, images, labels, source: str, full: bool) -> ArrayDataset:
    """Validate shapes/labels (and the full split size for upstream files) and build the set."""
    if images.shape[1:] != info.shape:
        raise DataNotFoundError(
            f"{source}: images have shape {images.shape[1:]} per example; "
            f"{info.name} needs {info.shape}"
        )
    if labels.shape != (images.shape[0],):
        raise DataNotFoundError(
            f"{source}: {images.shape[0]} images but labels of shape {labels.shape}"
        )
    if full and images.shape[0] != info.size(split):
        raise DataNotFoundError(
            f"{source}: {images.shape[0]} examples, but the {info.name} {split} split has "
            f"{info.size(split)}; the files are incomplete or of another dataset"
        )
    labels = labels.astype(np.int32)
    if labels.size and (labels.min() < 0 or labels.max() >= info.num_classes):
        raise DataNotFoundError(
            f"{source}: labels span [{labels.min()}, {labels.max()}]; "
            f"{info.name} has classes 0..{info.num_classes - 1}"
        )
    if images.dtype != np.uint8:
        raise DataNotFoundError(f"{source}: images must be uint8, got {images.dtype}")
    return ArrayDataset(np.ascontiguousarray(images), labels, info)


# ----------------------------------------------------------------------------------------------
# "tfds" backend


def _tfds_prepared(info: DatasetInfo, root: Path) -> bool:
    """Whether ``root`` holds tfds data for ``info`` prepared as array_record.

    Checked on the file system so that a missing dataset never reaches tfds (which could
    otherwise try the network) and costs no tfds import.
    """
    base = root / info.tfds_name
    if not base.is_dir():
        return False
    for version in base.iterdir():
        if (version / "dataset_info.json").is_file() and any(version.glob("*.array_record*")):
            return True
    return False


def _load_tfds_prepared(info: DatasetInfo, split: str, root: Path) -> ArrayDataset | None:
    if not _tfds_prepared(info, root):
        return None
    tfds = _import_tfds()
    try:
        source = tfds.data_source(info.tfds_name, split=split, data_dir=str(root), download=False)
        records = source[list(range(len(source)))] if hasattr(source, "__getitems__") else [
            source[i] for i in range(len(source))
        ]
    except Exception as e:  # tfds raises assorted types; surface one with the location
        raise DataNotFoundError(
            f"could not read prepared tfds data {info.tfds_name!r} split {split!r} under "
            f"{root}: {type(e).__name__}: {e}"
        ) from e
    images = np.stack([np.asarray(r["image"], np.uint8) for r in records])
    labels = np.asarray([int(r["label"]) for r in records])
    if info.transposed:  # tfds keeps EMNIST's transposed storage
        images = images.transpose(0, 2, 1, 3)
    return _checked(info, split, images, labels, f"tfds {info.tfds_name} in {root}", True)


def _tfds_download_and_load(info: DatasetInfo, split: str, root: Path) -> ArrayDataset:
    """Download and prepare with tfds (network; needs TensorFlow), then read it back."""
    tfds = _import_tfds()
    try:
        import tensorflow  # noqa: F401  (tfds needs it to prepare image datasets)
    except ImportError:
        raise DataNotFoundError(
            f"download=True needs TensorFlow to prepare {info.tfds_name!r} with "
            "tensorflow-datasets: pip install 'jaxnas[tfds-prepare]'; or put the raw files in "
            f"{root / info.name} (see docs/data.md)"
        ) from None
    builder = tfds.builder(info.tfds_name, data_dir=str(root), file_format="array_record")
    builder.download_and_prepare()
    found = _load_tfds_prepared(info, split, root)
    if found is None:
        raise DataNotFoundError(f"tfds prepared {info.tfds_name!r} but no array_record under {root}")
    return found


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataNotFoundError(
            "backend 'tfds' needs tensorflow-datasets: pip install tensorflow-datasets"
        ) from None
    return tfds


# ----------------------------------------------------------------------------------------------


def _missing_message(info: DatasetInfo, split: str, root: Path, backend: str) -> str:
    folder = root / info.name
    files = list(info.files(split))
    missing = [f for f in files if _existing(folder / f) is None]
    lines = [
        f"{info.name} {split} split not found (backend={backend!r}, data dir {root}; "
        f"set it with data_dir=... or ${DATA_DIR_ENV}, default {DEFAULT_DATA_DIR}).",
        f"Offline: put {files} in {folder}/" + (f" (missing: {missing})" if missing else ""),
    ]
    if info.archive_files:
        binary, binary_tar = cifar_binary_files(info.name, split)
        lines.append(f"  or the tarball {list(info.archive_files)} in {folder}/")
        lines.append(f"  or the binary version {list(binary)} or {binary_tar!r} in {folder}/")
    lines.append(
        f"  or {folder / (info.name + '_' + split + '.npz')} with arrays 'images' (uint8, N x "
        f"{' x '.join(map(str, info.shape))}) and 'labels'."
    )
    lines.append(
        f"tfds: data prepared as array_record under {root / info.tfds_name}/<version>/, or call "
        f"load_dataset({info.name!r}, {split!r}, download=True) (network; needs "
        "pip install 'jaxnas[tfds-prepare]')."
    )
    return "\n".join(lines)


__all__ = [
    "ArrayDataset",
    "BACKENDS",
    "DATASET_NAMES",
    "DATA_DIR_ENV",
    "SPLITS",
    "load_dataset",
    "resolve_data_dir",
]

"""Static facts about each supported image dataset: shapes, classes, statistics, raw files.

Mean/std are the constants the reference code hard-codes (applied after scaling to [0, 1]):
CIFAR from DARTS / EG-NAS (`siddikui/Efficient-Macro-Micro-NAS:utils.py`), Fashion-MNIST,
KMNIST and EMNIST from the same EG-NAS `utils.py`; MNIST (absent there) uses the usual
(0.1307, 0.3081) training-set statistics. See docs/data.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxnas.errors import UnknownNameError

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of jaxnas needs to know about a dataset, independent of where it lives.

    ``train_files``/``test_files`` are the raw files the "files" backend reads from
    ``<data_dir>/<name>/`` (images first, then labels for the IDX sets); ``archive_files``
    are alternatives (tarballs) that hold the same content.
    """

    name: str
    num_classes: int
    channels: int
    image_size: int
    allow_flip: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int
    test_size: int
    file_format: str  # "idx", "cifar", or "none" (shape only: no loader in jaxnas)
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    archive_files: tuple[str, ...] = ()
    tfds_name: str = ""
    transposed: bool = False  # EMNIST stores images transposed (column-major)
    train_crop_size: int = 32  # EG-NAS trains every dataset on 32x32 crops (docs/algorithms.md)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one stored image."""
        return (self.image_size, self.image_size, self.channels)

    def files(self, split: str) -> tuple[str, ...]:
        """Raw file names for ``split`` ("train" or "test")."""
        return self.train_files if split == "train" else self.test_files

    def size(self, split: str) -> int:
        """Number of examples in ``split`` ("train" or "test")."""
        return self.train_size if split == "train" else self.test_size


_CIFAR10_BATCHES = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))

_INFOS: dict[str, DatasetInfo] = {
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist", num_classes=10, channels=1, image_size=28, allow_flip=True,
        mean=(0.2860402,), std=(0.3530236,), train_size=60_000, test_size=10_000,
        file_format="idx", train_files=_MNIST_FILES["train"], test_files=_MNIST_FILES["test"],
        tfds_name="fashion_mnist",
    ),
    "mnist": DatasetInfo(
        name="mnist", num_classes=10, channels=1, image_size=28, allow_flip=False,
        mean=(0.1307,), std=(0.3081,), train_size=60_000, test_size=10_000,
        file_format="idx", train_files=_MNIST_FILES["train"], test_files=_MNIST_FILES["test"],
        tfds_name="mnist",
    ),
    "kmnist": DatasetInfo(
        name="kmnist", num_classes=10, channels=1, image_size=28, allow_flip=False,
        mean=(0.19036119,), std=(0.34719803,), train_size=60_000, test_size=10_000,
        file_format="idx", train_files=_MNIST_FILES["train"], test_files=_MNIST_FILES["test"],
        tfds_name="kmnist",
    ),
    "emnist": DatasetInfo(
        name="emnist", num_classes=47, channels=1, image_size=28, allow_flip=False,
        mean=(0.1751,), std=(0.3332,), train_size=112_800, test_size=18_800,
        file_format="idx",
        train_files=("emnist-balanced-train-images-idx3-ubyte.gz",
                     "emnist-balanced-train-labels-idx1-ubyte.gz"),
        test_files=("emnist-balanced-test-images-idx3-ubyte.gz",
                    "emnist-balanced-test-labels-idx1-ubyte.gz"),
        tfds_name="emnist/balanced", transposed=True,
    ),
    "cifar10": DatasetInfo(
        name="cifar10", num_classes=10, channels=3, image_size=32, allow_flip=True,
        mean=(0.49139968, 0.48215827, 0.44653124), std=(0.24703233, 0.24348505, 0.26158768),
        train_size=50_000, test_size=10_000, file_format="cifar",
        train_files=_CIFAR10_BATCHES, test_files=("cifar-10-batches-py/test_batch",),
        archive_files=("cifar-10-python.tar.gz",), tfds_name="cifar10",
    ),
    "cifar100": DatasetInfo(
        name="cifar100", num_classes=100, channels=3, image_size=32, allow_flip=True,
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        train_size=50_000, test_size=10_000, file_format="cifar",
        train_files=("cifar-100-python/train",), test_files=("cifar-100-python/test",),
        archive_files=("cifar-100-python.tar.gz",), tfds_name="cifar100",
    ),
    # NAS-Bench-201's 16x16 downsampled ImageNet (120 classes): its shape and class count for
    # `describe` and the NB201 tables; jaxnas has no loader for its images
    "imagenet16-120": DatasetInfo(
        name="imagenet16-120", num_classes=120, channels=3, image_size=16, allow_flip=True,
        mean=(122.68 / 255, 116.66 / 255, 104.01 / 255),
        std=(63.22 / 255, 61.26 / 255, 65.09 / 255),
        train_size=151_700, test_size=6_000, file_format="none", train_files=(),
        test_files=(), train_crop_size=16,
    ),
}

DATASET_NAMES: tuple[str, ...] = tuple(_INFOS)
#: other spellings accepted for a dataset name
_ALIASES = {"imagenet16": "imagenet16-120", "imagenet16_120": "imagenet16-120"}


def dataset_info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` of ``name``; UnknownNameError lists the allowed names."""
    try:
        key = name.lower()
        return _INFOS[_ALIASES.get(key, key)]
    except (KeyError, TypeError, AttributeError):
        raise UnknownNameError(
            f"unknown dataset {name!r}; choose one of {list(DATASET_NAMES)}"
        ) from None

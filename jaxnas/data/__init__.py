"""Datasets as numpy arrays, deterministic train/val splits, on-device JAX augmentation.

See docs/data.md for where the files go offline and how to fetch them online.
"""

from jaxnas.data.augment import (
    augment_batch,
    cutout,
    normalize,
    preprocess_eval,
    random_crop,
    random_flip,
)
from jaxnas.data.datasets import (
    BACKENDS,
    DATA_DIR_ENV,
    SPLITS,
    ArrayDataset,
    data_fingerprint,
    load_dataset,
    resolve_data_dir,
)
from jaxnas.data.info import DATASET_NAMES, DatasetInfo, dataset_info
from jaxnas.data.splits import batches, subset, train_val_indices, train_val_split

__all__ = [
    "ArrayDataset",
    "BACKENDS",
    "DATASET_NAMES",
    "DATA_DIR_ENV",
    "DatasetInfo",
    "SPLITS",
    "augment_batch",
    "batches",
    "cutout",
    "data_fingerprint",
    "dataset_info",
    "load_dataset",
    "normalize",
    "preprocess_eval",
    "random_crop",
    "random_flip",
    "resolve_data_dir",
    "subset",
    "train_val_indices",
    "train_val_split",
]

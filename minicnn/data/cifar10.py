"""``cifar10:DIR``: CIFAR-10 from the python batches (``data_batch_1..5``, ``test_batch``).

Each batch is a pickled dict with ``data`` (uint8 ``(n, 3072)``, the 1024 red, 1024 green and
1024 blue values of each 32x32 image, rows first) and ``labels`` (n ints in 0..9). The
pickles are read by an unpickler that only builds dicts, lists, bytes, numbers and NumPy
arrays: a file that asks for anything else is refused, not executed.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from minicnn.data.dataset import ArrayDataset, DataSplits, make_splits

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class CIFARError(ValueError):
    """A CIFAR-10 batch file that is missing, corrupt or not in the expected layout."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _field(d: dict, key: str) -> Any:
    for k in (key, key.encode()):
        if k in d:
            return d[k]
    return None


def read_batch(path: str) -> ArrayDataset:
    """One CIFAR-10 python batch file as uint8 images ``(n, 3, 32, 32)`` and labels."""
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except FileNotFoundError as e:
        raise CIFARError(f"cifar10: {path} does not exist") from e
    except OSError as e:
        raise CIFARError(f"{path}: cannot be read ({e.strerror or e})") from e
    except Exception as e:  # truncated or garbage pickles raise many different errors
        raise CIFARError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(d, dict):
        raise CIFARError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    data, labels = _field(d, "data"), _field(d, "labels")
    if data is None or labels is None:
        raise CIFARError(f"{path}: the dict has no 'data' and 'labels' entries")
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise CIFARError(
            f"{path}: 'data' must be uint8 of shape (n, 3072), got {data.dtype} {data.shape}"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != data.shape[0] or labels.dtype.kind not in "iu":
        raise CIFARError(
            f"{path}: 'labels' must be {data.shape[0]} integers, got {labels.dtype} "
            f"{labels.shape}"
        )
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise CIFARError(
            f"{path}: label {int(labels[bad[0]])} at index {int(bad[0])} is outside 0..9"
        )
    return ArrayDataset(
        data.reshape(-1, 3, 32, 32), labels.astype(np.int64), list(CLASSES), "cifar10"
    )


def _concat(parts: list[ArrayDataset]) -> ArrayDataset:
    return ArrayDataset(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        list(CLASSES),
        "cifar10",
    )


def load(root: str, val_fraction: float = 0.1) -> DataSplits:
    """CIFAR-10 from ``root`` (or ``root/cifar-10-batches-py``): 50,000 train, 10,000 test."""
    if not os.path.isdir(root):
        raise CIFARError(f"cifar10: {root} is not a directory")
    inner = os.path.join(root, "cifar-10-batches-py")
    if not os.path.isfile(os.path.join(root, TEST_BATCH)) and os.path.isdir(inner):
        root = inner
    missing = [b for b in (*TRAIN_BATCHES, TEST_BATCH) if not os.path.isfile(os.path.join(root, b))]
    if missing:
        raise CIFARError(f"cifar10: {root} lacks {', '.join(missing)}")
    train = _concat([read_batch(os.path.join(root, b)) for b in TRAIN_BATCHES])
    test = read_batch(os.path.join(root, TEST_BATCH))
    return make_splits(
        "cifar10", train, test, val_fraction=val_fraction, flip=True, crop_padding=4,
        info={"root": root},
    )

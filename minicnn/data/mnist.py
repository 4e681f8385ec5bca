"""``mnist:DIR``: MNIST (or Fashion-MNIST) from the four IDX files, gzipped or not.

IDX (LeCun's format): a 4-byte magic number ``00 00 TT DD`` (TT = 0x08, unsigned bytes; DD =
the number of dimensions), DD big-endian uint32 sizes, then the data. Images are
``idx3-ubyte`` (N, 28, 28), labels ``idx1-ubyte`` (N,). Every check names the file it failed on.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from minicnn.data.dataset import ArrayDataset, DataSplits, make_splits

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class IDXError(ValueError):
    """An IDX file that is missing, truncated or not what it claims to be."""


def _find(root: str, stem: str) -> str:
    alt = stem.replace("-idx", ".idx")  # the other spelling seen in the wild
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            return path
    raise IDXError(f"mnist: no {stem} or {stem}.gz in {root}")


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise IDXError(f"{path}: cannot be read ({e.strerror or e})") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({e})") from e
    return raw


def read_idx(path: str, ndim: int) -> np.ndarray:
    """The uint8 array in IDX file ``path``, which must have ``ndim`` dimensions."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    expected = 0x0800 | ndim
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected:
        raise IDXError(
            f"{path}: bad magic number 0x{magic:08x}, expected 0x{expected:08x} "
            f"(IDX unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != size:
        raise IDXError(
            f"{path}: header says shape {dims} ({size} bytes of data), but the file holds "
            f"{len(raw) - header} bytes of data"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_pair(images_path: str, labels_path: str) -> ArrayDataset:
    """Images and labels from two IDX files, checked against each other."""
    x = read_idx(images_path, 3)
    y = read_idx(labels_path, 1)
    if x.shape[0] != y.shape[0]:
        raise IDXError(
            f"{images_path} holds {x.shape[0]} images but {labels_path} holds "
            f"{y.shape[0]} labels"
        )
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise IDXError(f"{images_path}: images of size {x.shape[1]}x{x.shape[2]}")
    bad = np.flatnonzero(y > 9)
    if bad.size:
        raise IDXError(
            f"{labels_path}: label {int(y[bad[0]])} at index {int(bad[0])} is outside 0..9"
        )
    return ArrayDataset(x[:, None], y.astype(np.int64), [str(i) for i in range(10)], "mnist")


def load(root: str, val_fraction: float = 0.1) -> DataSplits:
    """MNIST from directory ``root``: 60,000 train (validation carved out) and 10,000 test."""
    if not os.path.isdir(root):
        raise IDXError(f"mnist: {root} is not a directory")
    paths = {k: _find(root, v) for k, v in FILES.items()}
    train = read_pair(paths["train_images"], paths["train_labels"])
    test = read_pair(paths["test_images"], paths["test_labels"])
    if test.image_size != train.image_size:
        raise IDXError(
            f"{paths['test_images']}: images are {test.image_size}, but the training images "
            f"in {paths['train_images']} are {train.image_size}"
        )
    return make_splits(
        "mnist", train, test, val_fraction=val_fraction, flip=False, crop_padding=2,
        info={"root": root},
    )

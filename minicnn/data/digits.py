"""``digits``: scikit-learn's bundled handwritten digits, the embedded default dataset.

1,797 real 8x8 greyscale scans of the digits 0-9 (UCI "Optical Recognition of Handwritten
Digits", 16 grey levels), shipped inside scikit-learn, so no download is needed. They are
upsampled bilinearly to 32x32 (the small networks' input) and split into a fixed, stratified
80% train / 20% test; the validation split is carved from the train part.

Augmentation is off by default here: the UCI preprocessing scales every digit to fill its
8x8 box edge to edge, so a random crop's shift cuts strokes off rather than moving the digit
(MNIST, whose digits sit in a margin, keeps it on). ``--augment`` still turns it on.
"""

from __future__ import annotations

import numpy as np

from minicnn.data.dataset import ArrayDataset, DataSplits, make_splits, stratified_split
from minicnn.data.transforms import resize

#: The fixed split: 20% of every class is test, chosen by this seed.
TEST_FRACTION = 0.2
SPLIT_SEED = 20240501


def load_arrays(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images as float32 ``(N, 1, size, size)`` in [0, 1], and int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is a dependency
        raise RuntimeError(
            "the 'digits' dataset needs scikit-learn (pip install scikit-learn)"
        ) from e
    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0))[:, None]
    if size != 8:
        x = resize(x, size)
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return x, d.target.astype(np.int64)


def load(size: int = 32, val_fraction: float = 0.1) -> DataSplits:
    """The digits splits at ``size`` x ``size``: 1,437 train+val and 360 test images."""
    x, y = load_arrays(size)
    classes = [str(i) for i in range(10)]
    train_idx, test_idx = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
    full = ArrayDataset(x, y, classes, "digits")
    return make_splits(
        "digits",
        full.subset(train_idx),
        full.subset(test_idx),
        val_fraction=val_fraction,
        flip=False,  # a mirrored 2 is not a 2
        crop_padding=size // 16,
        info={"source": "sklearn.datasets.load_digits", "size": size},
        augment=False,
    )

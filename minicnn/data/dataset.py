"""In-memory datasets and the train/validation/test splits the training loop consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minicnn.data.transforms import Transform, to_float


class ArrayDataset:
    """Images ``(N, C, H, W)`` (uint8 in 0..255 or floating in [0, 1]) and labels ``(N,)``.

    ``dataset[i]`` is ``(image, label)`` with the image as float32 in [0, 1];
    :class:`~minicnn.data.DataLoader` gathers whole batches straight from the arrays.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        classes: Sequence[str] | None = None,
        name: str = "",
    ):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 4:
            raise ValueError(
                f"{name or 'ArrayDataset'}: images must have shape (N, C, H, W), "
                f"got {images.shape}"
            )
        if images.dtype != np.uint8 and images.dtype.kind != "f":
            raise ValueError(
                f"{name or 'ArrayDataset'}: images must be uint8 or floating, "
                f"got {images.dtype}"
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"{name or 'ArrayDataset'}: labels must have shape ({images.shape[0]},), "
                f"got {labels.shape}"
            )
        if labels.dtype.kind not in "iu":
            raise ValueError(
                f"{name or 'ArrayDataset'}: labels must be integers, got {labels.dtype}"
            )
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        n_cls = len(classes) if classes is not None else int(self.labels.max(initial=-1)) + 1
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= n_cls):
            raise ValueError(
                f"{name or 'ArrayDataset'}: labels must lie in [0, {n_cls}), got "
                f"[{self.labels.min()}, {self.labels.max()}]"
            )
        self.classes = list(classes) if classes is not None else [str(i) for i in range(n_cls)]
        self.name = name

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return to_float(self.images[i]), int(self.labels[i])

    def __repr__(self) -> str:
        return (
            f"ArrayDataset({self.name!r}, n={len(self)}, image={self.images.shape[1:]}, "
            f"classes={self.num_classes})"
        )

    @property
    def in_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> ArrayDataset:
        """The images at ``indices`` (copied), with the same classes."""
        idx = np.asarray(indices, dtype=np.int64)
        return ArrayDataset(
            self.images[idx], self.labels[idx], self.classes, name or self.name
        )

    def channel_stats(self, chunk: int = 4096) -> tuple[list[float], list[float]]:
        """Per-channel mean and standard deviation of the images in [0, 1] units."""
        c = self.in_channels
        s = np.zeros(c, dtype=np.float64)
        s2 = np.zeros(c, dtype=np.float64)
        count = 0
        for start in range(0, len(self), chunk):
            x = to_float(self.images[start : start + chunk]).astype(np.float64)
            s += x.sum(axis=(0, 2, 3))
            s2 += np.square(x).sum(axis=(0, 2, 3))
            count += x.shape[0] * x.shape[2] * x.shape[3]
        if count == 0:
            raise ValueError(f"{self.name or 'ArrayDataset'}: no images to take statistics of")
        mean = s / count
        std = np.sqrt(np.maximum(s2 / count - mean**2, 0.0))
        std = np.where(std < 1e-6, 1.0, std)
        return mean.tolist(), std.tolist()


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)``: about ``fraction`` of every class held out, by ``seed``."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        k = int(round(idx.size * fraction))
        if idx.size > 1:
            k = min(max(k, 1), idx.size - 1)
        held.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


@dataclass
class DataSplits:
    """A dataset ready for training: the three splits and how to present them to a model.

    ``mean``/``std`` are the training split's per-channel statistics (normalisation);
    :meth:`augmentation` builds the augmentation that suits this kind of image (random crops
    after ``crop_padding`` pixels of padding, and flips when ``flip``); ``augment`` says
    whether training uses it unless told otherwise.
    """

    name: str
    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset
    mean: list[float]
    std: list[float]
    flip: bool = False
    crop_padding: int = 2
    info: dict[str, Any] = field(default_factory=dict)
    augment: bool = True

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def in_channels(self) -> int:
        return self.train.in_channels

    @property
    def image_size(self) -> tuple[int, int]:
        return self.train.image_size

    def augmentation(self, image_size: int | Sequence[int]) -> list[Transform]:
        """The default augmentation at the model's input size: random crops with padding,
        plus horizontal flips where the classes are mirror-symmetric (not for digits)."""
        from minicnn.data.transforms import RandomCrop, RandomHorizontalFlip

        out: list[Transform] = []
        if self.crop_padding > 0:
            out.append(RandomCrop(image_size, padding=self.crop_padding))
        if self.flip:
            out.append(RandomHorizontalFlip())
        return out


def make_splits(
    name: str,
    train: ArrayDataset,
    test: ArrayDataset,
    *,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    flip: bool = False,
    crop_padding: int = 2,
    info: dict[str, Any] | None = None,
    augment: bool = True,
) -> DataSplits:
    """Carve a stratified validation split out of ``train`` and take its channel statistics."""
    keep, held = stratified_split(train.labels, val_fraction, split_seed)
    tr = train.subset(keep, f"{name}/train")
    va = train.subset(held, f"{name}/val")
    te = ArrayDataset(test.images, test.labels, train.classes, f"{name}/test")
    mean, std = tr.channel_stats()
    return DataSplits(name, tr, va, te, mean, std, flip, crop_padding, dict(info or {}), augment)

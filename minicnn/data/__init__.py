"""Datasets, loaders and augmentation.

``load(spec)`` gives :class:`DataSplits` (train, validation, test, normalisation statistics,
default augmentation) for ``digits`` (embedded), ``shapes`` (generated), ``mnist:DIR`` and
``cifar10:DIR``; :func:`loaders` turns them into :class:`DataLoader` objects at a model's input
size. Channel count and classes flow from the data into the model (``splits.in_channels``,
``splits.num_classes``).
"""

from __future__ import annotations

from collections.abc import Sequence

from minicnn.data.dataset import ArrayDataset, DataSplits, make_splits, stratified_split
from minicnn.data.loader import DataLoader
from minicnn.data.registry import NAMES, load
from minicnn.data.transforms import (
    CenterPad,
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    Transform,
    fit_to,
    resize,
    to_float,
)


def eval_transform(
    splits: DataSplits, image_size: int | Sequence[int] | None = None,
    mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
) -> Compose:
    """Fit to ``image_size`` (the model's input; default the data's own) and normalise."""
    steps: list[Transform] = []
    if image_size is not None:
        fit = fit_to(splits.image_size, image_size)
        if fit is not None:
            steps.append(fit)
    steps.append(Normalize(splits.mean if mean is None else mean,
                           splits.std if std is None else std))
    return Compose(steps)


def loaders(
    splits: DataSplits,
    batch_size: int,
    *,
    image_size: int | Sequence[int] | None = None,
    augment: bool | None = None,
    seed: int = 0,
    eval_batch_size: int | None = None,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """``(train, val, test)`` loaders: the train loader shuffles and (with ``augment``; None:
    the dataset's default) applies the dataset's augmentation after fitting and normalising;
    the others do neither."""
    size = splits.image_size if image_size is None else image_size
    augment = splits.augment if augment is None else augment
    base = eval_transform(splits, size)
    train_tf = Compose([base, *splits.augmentation(size)]) if augment else base
    eb = eval_batch_size or max(batch_size, 256)
    return (
        DataLoader(splits.train, batch_size, shuffle=True, seed=seed, transform=train_tf),
        DataLoader(splits.val, eb, shuffle=False, transform=base),
        DataLoader(splits.test, eb, shuffle=False, transform=base),
    )


__all__ = [
    "NAMES", "ArrayDataset", "CenterPad", "Compose", "DataLoader", "DataSplits", "Normalize",
    "RandomCrop", "RandomHorizontalFlip", "Resize", "Transform", "eval_transform", "fit_to",
    "load", "loaders", "make_splits", "resize", "stratified_split", "to_float",
]

"""DataLoader: batches of ``(images, labels)`` Tensors, shuffled and augmented reproducibly.

Every random draw is derived from ``(seed, epoch)`` (the shuffle) and ``(seed, epoch, batch)``
(the augmentation), never from a running generator. So epoch ``e`` is the same whether it is
reached directly or after a resume, and :meth:`DataLoader.epoch_batches` can start mid-epoch
without replaying the batches before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from minicnn.data.transforms import Transform, to_float
from minicnn.tensor import Tensor


class DataLoader:
    """``DataLoader(dataset, batch_size, shuffle, seed, drop_last, transform)``.

    Iterating yields ``(x, y)``: ``x`` a float32 Tensor ``(B, C, H, W)``, ``y`` an int64
    Tensor ``(B,)``. Each ``iter()`` starts the next epoch (as PyTorch's loader reshuffles on
    every pass); :meth:`set_epoch` chooses the epoch explicitly. ``transform`` is a batch
    transform (see :mod:`minicnn.data.transforms`) applied to every batch.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        transform: Transform | None = None,
    ):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``iter()`` produces (its shuffle and augmentation)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.set_epoch(int(state["epoch"]))

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch``."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def _gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ds = self.dataset
        if hasattr(ds, "images") and hasattr(ds, "labels"):
            return to_float(ds.images[idx]), np.asarray(ds.labels[idx], dtype=np.int64)
        items = [ds[int(i)] for i in idx]
        x = np.stack([to_float(np.asarray(im)) for im, _ in items])
        y = np.asarray([int(lb) for _, lb in items], dtype=np.int64)
        return x, y

    def batch(self, epoch: int, b: int) -> tuple[Tensor, Tensor]:
        """Batch ``b`` of ``epoch``, computed from scratch."""
        if not 0 <= b < len(self):
            raise IndexError(f"batch index {b} is out of range for {len(self)} batches")
        order = self.order(epoch)
        return self._make(order[b * self.batch_size : (b + 1) * self.batch_size], epoch, b)

    def _make(self, idx: np.ndarray, epoch: int, b: int) -> tuple[Tensor, Tensor]:
        x, y = self._gather(idx)
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, epoch, b, 1])
            x = self.transform(x, rng)
        x = np.ascontiguousarray(x, dtype=np.float32)
        return Tensor._wrap(x), Tensor._wrap(y)

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches of ``epoch`` from batch index ``start`` on."""
        order = self.order(epoch)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield self._make(idx, epoch, b)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        return self.epoch_batches(epoch)

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, "
            f"transform={self.transform!r})"
        )

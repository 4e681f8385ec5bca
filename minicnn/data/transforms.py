"""Batch transforms: each maps a float32 batch ``(N, C, H, W)`` to a new one.

A transform is called as ``t(x, rng)``; random ones draw from the NumPy ``Generator`` the
:class:`~minicnn.data.DataLoader` hands them (one per batch, derived from the loader's seed,
the epoch and the batch index), so augmentation is reproducible and a resumed run sees the
same crops and flips as an uninterrupted one. Deterministic transforms ignore ``rng``.

Working on whole batches keeps the Python overhead per image at zero: AlexNet's augmentation
(random crops and horizontal reflections, section 4.1) is a few fancy-indexing calls per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _check_batch(x: np.ndarray, who: str) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", None)
        raise ValueError(f"{who}: expected a batch array of shape (N, C, H, W), got {shape}")


def _pair(size: int | Sequence[int], who: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        out = (int(size), int(size))
    else:
        out = tuple(int(s) for s in size)
        if len(out) != 2:
            raise ValueError(f"{who}: size must be an int or (h, w), got {size!r}")
    if min(out) < 1:
        raise ValueError(f"{who}: size must be positive, got {size!r}")
    return out  # type: ignore[return-value]


class Transform:
    """Base class: ``__call__(x, rng) -> x``; ``random`` says whether it draws from ``rng``."""

    random = False

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define __call__")


class Compose(Transform):
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)
        self.random = any(getattr(t, "random", False) for t in self.transforms)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize(Transform):
    r"""Per-channel standardisation :math:`y_c = (x_c - \mu_c) / \sigma_c`."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(
                f"Normalize: mean has {self.mean.size} channels, std has {self.std.size}"
            )
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch(x, "Normalize")
        if x.shape[1] != self.mean.size:
            raise ValueError(
                f"Normalize: batch has {x.shape[1]} channels, mean/std have {self.mean.size}"
            )
        c = self.mean.size
        return ((x - self.mean.reshape(1, c, 1, 1)) / self.std.reshape(1, c, 1, 1)).astype(
            np.float32, copy=False
        )

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) interpolation weights, PyTorch's ``align_corners=False`` convention."""
    w = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for i in range(n_out):
        src = max((i + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        w[i, i0] += 1.0 - lam
        w[i, i1] += lam
    return w


def resize(x: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Bilinear resize of a batch ``(N, C, H, W)`` to ``size``.

    Matches ``torch.nn.functional.interpolate(mode='bilinear', align_corners=False)``; the two
    separable passes are matrix products ``Wh @ x @ Ww^T``.
    """
    _check_batch(x, "resize")
    oh, ow = _pair(size, "resize")
    h, w = x.shape[2:]
    if (h, w) == (oh, ow):
        return x.astype(np.float32, copy=False)
    wh = _bilinear_matrix(h, oh).astype(np.float32)
    ww = _bilinear_matrix(w, ow).astype(np.float32)
    y = np.matmul(wh, x.astype(np.float32, copy=False))  # (N, C, oh, w)
    return np.matmul(y, ww.T)


class Resize(Transform):
    """Bilinear resize to ``size`` (an int or ``(h, w)``); see :func:`resize`."""

    def __init__(self, size: int | Sequence[int]):
        self.size = _pair(size, "Resize")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return resize(x, self.size)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class CenterPad(Transform):
    """Pad with ``fill`` (0: the mean, after :class:`Normalize`) to ``size``, image centred.

    MNIST's 28x28 digits padded to 32x32 is LeNet-5's own input (LeCun et al. 1998, II.B).
    """

    def __init__(self, size: int | Sequence[int], fill: float = 0.0):
        self.size = _pair(size, "CenterPad")
        self.fill = float(fill)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch(x, "CenterPad")
        oh, ow = self.size
        n, c, h, w = x.shape
        if h > oh or w > ow:
            raise ValueError(f"CenterPad: image {h}x{w} is larger than the target {oh}x{ow}")
        top, left = (oh - h) // 2, (ow - w) // 2
        out = np.full((n, c, oh, ow), self.fill, dtype=np.float32)
        out[:, :, top : top + h, left : left + w] = x
        return out

    def __repr__(self) -> str:
        return f"CenterPad({self.size})"


class RandomCrop(Transform):
    """Zero-pad by ``padding`` on each side, then crop ``size`` at a random offset per image."""

    random = True

    def __init__(self, size: int | Sequence[int], padding: int = 0):
        self.size = _pair(size, "RandomCrop")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch(x, "RandomCrop")
        if rng is None:
            raise ValueError("RandomCrop needs a random generator (rng=...)")
        p = self.padding
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        n, c, h, w = x.shape
        oh, ow = self.size
        if oh > h or ow > w:
            raise ValueError(
                f"RandomCrop: crop {oh}x{ow} is larger than the padded image {h}x{w}"
            )
        oy = rng.integers(0, h - oh + 1, size=n)
        ox = rng.integers(0, w - ow + 1, size=n)
        rows = oy[:, None] + np.arange(oh)  # (N, oh)
        cols = ox[:, None] + np.arange(ow)  # (N, ow)
        return x[
            np.arange(n)[:, None, None, None],
            np.arange(c)[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ].astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``."""

    random = True

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch(x, "RandomHorizontalFlip")
        if rng is None:
            raise ValueError("RandomHorizontalFlip needs a random generator (rng=...)")
        flip = rng.random(x.shape[0]) < self.p
        out = np.array(x, dtype=np.float32, copy=True)
        out[flip] = out[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def fit_to(src: int | Sequence[int], dst: int | Sequence[int]) -> Transform | None:
    """The transform that brings images of size ``src`` to a model's input size ``dst``.

    None when they match; :class:`CenterPad` when ``dst`` is at most a quarter larger (28 ->
    32); :class:`Resize` otherwise (digits' 32 -> 64, CIFAR's 32 -> 227).
    """
    sh, sw = _pair(src, "fit_to")
    dh, dw = _pair(dst, "fit_to")
    if (sh, sw) == (dh, dw):
        return None
    if sh <= dh <= sh + sh // 4 and sw <= dw <= sw + sw // 4:
        return CenterPad((dh, dw))
    return Resize((dh, dw))


def to_float(x: Any) -> np.ndarray:
    """Images as float32 in [0, 1]: uint8 is divided by 255, floating data is kept."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if x.dtype.kind != "f":
        raise ValueError(f"images must be uint8 or floating, got dtype {x.dtype}")
    return x.astype(np.float32, copy=False)

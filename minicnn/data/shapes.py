"""``shapes``: generated colour images of geometric shapes, for RGB networks at any size.

Each image is one shape (circle, square, triangle, cross, diamond, ring, star, hexagon) in a
random bright colour on a random dark background, with random size, position and a small
rotation (up to 15 degrees, so a square never turns into a diamond), drawn with 4x4
supersampling so edges are anti-aliased. Everything is derived from the seed: the same
arguments give the same pixels on every machine.
"""

from __future__ import annotations

import numpy as np

from minicnn.data.dataset import ArrayDataset, DataSplits, make_splits

SHAPES = ("circle", "square", "triangle", "cross", "diamond", "ring", "star", "hexagon")
_SS = 4  # supersampling factor per axis


def _inside(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mask of points (u, v), in the shape's own frame (radius 1), inside the shape."""
    r = np.hypot(u, v)
    if kind == "circle":
        return r <= 1.0
    if kind == "square":
        return (np.abs(u) <= 0.75) & (np.abs(v) <= 0.75)
    if kind == "triangle":  # equilateral, circumradius 1, apex up
        return (v >= -0.5) & (np.sqrt(3) * u + v <= 1.0) & (-np.sqrt(3) * u + v <= 1.0)
    if kind == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0))
    if kind == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if kind == "ring":
        return (r <= 1.0) & (r >= 0.55)
    if kind == "star":  # five points: radius swings between 0.45 and 1 with the angle
        a = np.arctan2(v, u)
        edge = 0.45 + 0.55 * np.abs(np.cos(2.5 * a)) ** 3
        return r <= edge
    if kind == "hexagon":
        a = np.abs(u)
        return (np.abs(v) <= np.sqrt(3) / 2) & (np.sqrt(3) * a + np.abs(v) <= np.sqrt(3))
    raise ValueError(f"unknown shape {kind!r}; expected one of {SHAPES}")


def generate(
    n: int, classes: int = 4, size: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images uint8 ``(n, 3, size, size)`` and labels, balanced over ``classes`` shapes."""
    if not 2 <= classes <= len(SHAPES):
        raise ValueError(f"shapes: classes must be in [2, {len(SHAPES)}], got {classes}")
    if size < 8:
        raise ValueError(f"shapes: size must be >= 8 pixels, got {size}")
    if n < 1:
        raise ValueError(f"shapes: n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    labels = labels[rng.permutation(n)]
    g = (np.arange(size * _SS) + 0.5) / _SS  # supersample centres, in pixels
    py, px = np.meshgrid(g, g, indexing="ij")
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for i in range(n):
        radius = rng.uniform(0.22, 0.42) * size
        cy, cx = rng.uniform(radius, size - radius, size=2)
        theta = rng.uniform(-np.pi / 12, np.pi / 12)  # a square must not become a diamond
        fg = rng.uniform(0.55, 1.0, size=3)
        fg[rng.integers(3)] *= rng.uniform(0.0, 0.5)  # vary the hue
        bg = rng.uniform(0.0, 0.3, size=3)
        dy, dx = (py - cy) / radius, (px - cx) / radius
        u = np.cos(theta) * dx + np.sin(theta) * dy
        v = -np.sin(theta) * dx + np.cos(theta) * dy
        mask = _inside(SHAPES[labels[i]], u, -v).astype(np.float32)
        cover = mask.reshape(size, _SS, size, _SS).mean(axis=(1, 3))
        img = bg[:, None, None] * (1 - cover) + fg[:, None, None] * cover
        img += rng.normal(0.0, 0.02, size=img.shape)
        images[i] = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def load(
    n: int = 2000, classes: int = 4, size: int = 32, seed: int = 0, val_fraction: float = 0.1
) -> DataSplits:
    """``n`` training images and ``n // 4`` test images (a separate draw of the generator)."""
    names = list(SHAPES[:classes])
    x, y = generate(n, classes, size, seed)
    xt, yt = generate(max(n // 4, classes), classes, size, seed + 1_000_003)
    return make_splits(
        "shapes",
        ArrayDataset(x, y, names, "shapes"),
        ArrayDataset(xt, yt, names, "shapes"),
        val_fraction=val_fraction,
        flip=True,
        crop_padding=max(size // 16, 1),
        info={"n": n, "classes": classes, "size": size, "seed": seed},
    )

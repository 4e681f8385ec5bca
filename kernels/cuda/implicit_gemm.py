"""Implicit-GEMM convolution forward on the GPU: the launcher of ``implicit_gemm.cu``.

No im2col buffer is written: each block gathers its tile of the unrolled input straight
from x into shared memory (see the comment at the top of ``implicit_gemm.cu``). The
backward pass of ``minicnn.ops.conv`` uses im2col.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np

from kernels.cuda import compiler

Pair = tuple[int, int]
SOURCE = "implicit_gemm.cu"


@dataclasses.dataclass(frozen=True)
class Tile:
    """One instantiation of the kernel: a BM x BN output tile in steps of BK, each thread
    holding TM x TN outputs; ``min_blocks`` is the __launch_bounds__ occupancy hint."""

    ctype: str
    bm: int
    bn: int
    bk: int
    tm: int
    tn: int
    min_blocks: int

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)

    @property
    def expression(self) -> str:
        return (
            f"minicnn_conv2d_implicit_gemm<{self.ctype}, {self.bm}, {self.bn}, {self.bk}, "
            f"{self.tm}, {self.tn}, {self.min_blocks}>"
        )


#: The instantiated tiles, by element type, largest first (the source instantiates each).
CONFIGS: dict[str, tuple[Tile, ...]] = {
    "float": (
        Tile("float", 128, 128, 8, 8, 8, 1),
        Tile("float", 64, 128, 8, 8, 8, 2),
        Tile("float", 32, 128, 8, 4, 8, 2),
    ),
    "double": (
        Tile("double", 64, 64, 8, 4, 4, 2),
        Tile("double", 32, 64, 8, 4, 4, 2),
    ),
}

compiler.register(SOURCE, tuple(t.expression for ts in CONFIGS.values() for t in ts))

_ktab_lock = threading.Lock()
_ktabs: dict[tuple[int, ...], Any] = {}


def _ktab(device: int, cg: int, kh: int, kw: int, dh: int, dw: int, h: int, w: int) -> Any:
    """Per row k = c*kh*kw + i*kw + j of the unrolled input: (c*H*W + i*dh*W + j*dw, i*dh,
    j*dw, 0) as int32, on the device (built once per geometry and device)."""
    key = (device, cg, kh, kw, dh, dw, h, w)
    tab = _ktabs.get(key)
    if tab is None:
        c, i, j = np.meshgrid(np.arange(cg), np.arange(kh), np.arange(kw), indexing="ij")
        di, dj = (i * dh).ravel(), (j * dw).ravel()
        host = np.stack([c.ravel() * h * w + di * w + dj, di, dj, np.zeros_like(di)], axis=1)
        tab = compiler.cupy().asarray(host.astype(np.int32))
        with _ktab_lock:
            _ktabs[key] = tab
    return tab


def choose_tile(ctype: str, m: int, p: int, groups: int) -> Tile:
    """The tile for M output channels per group and P output pixels.

    float32: 64x128 (128 threads, about 155 registers, 3 blocks per SM), or 32x128 where
    M <= 32. On an H200 (benchmarks/results/gpu-h200.txt) 64x128 ran fastest or within 4%
    on every case-study layer with M >= 64, and 128x128 (256 threads, one block per SM)
    was 4-25% slower on most; it stays selectable through ``tile=``. float64: the 64-row
    tile, or the 32-row one where M <= 32. Then, while the grid would not fill every
    multiprocessor twice, the next smaller tile.
    """
    tiles = CONFIGS[ctype]
    small = tiles[-1]
    idx = len(tiles) - 1 if m <= small.bm else len(tiles) - 2
    sms = compiler.sm_count()
    while idx + 1 < len(tiles):
        t = tiles[idx]
        if -(-p // t.bn) * -(-m // t.bm) * groups >= 2 * sms:
            break
        idx += 1
    return tiles[idx]


def conv2d_implicit_gemm(
    x: Any, w: Any, b: Any, stride: Pair, padding: Pair, dilation: Pair, groups: int,
    tile: Tile | None = None,
) -> Any:
    """y (N, F, oh, ow) = conv(x (N, C, H, W), w (F, C/groups, kh, kw)) + b (F,) (b may be
    None), cross-correlation as in ``torch.nn.functional.conv2d``, by an implicit GEMM.

    ``tile`` picks the kernel's tile shape (one of ``CONFIGS``; default :func:`choose_tile`).
    """
    cp = compiler.cupy()
    x = compiler.contiguous(x, "conv2d_implicit_gemm: x")
    w = compiler.contiguous(w, "conv2d_implicit_gemm: w")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"conv2d_implicit_gemm: x and w must be 4-D, got shapes {x.shape} and {w.shape}"
        )
    if w.dtype != x.dtype:
        raise ValueError(f"conv2d_implicit_gemm: w is {w.dtype}, x is {x.dtype}")
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    g = int(groups)
    if g < 1 or c != cg * g or f % g:
        raise ValueError(
            f"conv2d_implicit_gemm: groups={groups} does not fit x {x.shape} and w {w.shape}"
        )
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_implicit_gemm: empty output {oh}x{ow} for x {x.shape}")
    if b is not None:
        b = compiler.contiguous(b, "conv2d_implicit_gemm: b")
        if b.shape != (f,) or b.dtype != x.dtype:
            raise ValueError(
                f"conv2d_implicit_gemm: b must be {x.dtype} of shape ({f},), got {b.dtype} "
                f"{b.shape}"
            )
    y = cp.empty((n, f, oh, ow), dtype=x.dtype)
    p = n * oh * ow
    if max(x.size, y.size, p) >= 2**31 - 1:
        raise ValueError(
            f"conv2d_implicit_gemm: arrays of 2**31 elements or more are not supported "
            f"(x {x.shape}, y {y.shape}); split the batch"
        )
    if y.size == 0:
        return y
    ctype = compiler.c_type(x.dtype)
    m, k = f // g, cg * kh * kw
    if tile is None:
        tile = choose_tile(ctype, m, p, g)
    elif tile not in CONFIGS[ctype]:
        raise ValueError(f"conv2d_implicit_gemm: tile must be one of CONFIGS[{ctype!r}]")
    ktab = _ktab(cp.cuda.Device().id, cg, kh, kw, dh, dw, h, wd)
    fn = compiler.function(SOURCE, tile.expression)
    grid = (-(-p // tile.bn), -(-m // tile.bm), g)
    i32 = np.int32
    fn(grid, (tile.threads,), (
        x, w, b if b is not None else y, ktab, y,
        i32(p), i32(c), i32(h * wd), i32(wd), i32(h), i32(f), i32(oh * ow), i32(ow),
        i32(cg), i32(m), i32(k), i32(sh), i32(sw), i32(ph), i32(pw), i32(b is not None),
    ))
    return y

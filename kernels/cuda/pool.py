"""Max and average pooling on the GPU: launchers of ``pool.cu`` (contract:
minicnn/reference/pool.py). ``out_size`` is (oh, ow) as the op computed it, ceil_mode
included; the backward kernels read it from gy's shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels.cuda import compiler

Pair = tuple[int, int]
SOURCE = "pool.cu"

compiler.register(
    SOURCE,
    tuple(
        f"minicnn_{name}<{t}, {i}>"
        for name in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")
        for t in ("float", "double")
        for i in ("int", "long long")
    ),
)


def _sizes(h: int, w: int, oh: int, ow: int) -> list[Any]:
    return [np.int32(v) for v in (h, w, oh, ow)]


def _window(kernel_size: Pair, stride: Pair, padding: Pair) -> list[Any]:
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    return [np.int32(v) for v in (kh, kw, sh, sw, ph, pw)]


def _launch(name: str, dtype: Any, arrays: list[Any], total: int, sizes: tuple[int, ...],
            scalars: list[Any]) -> None:
    """Run kernel ``name`` as (*arrays, total, *scalars), one thread per output item."""
    itype, inp = compiler.index_type(*sizes)
    fn = compiler.function(SOURCE, f"minicnn_{name}<{compiler.c_type(dtype)}, {itype}>")
    grid, block = compiler.grid_1d(total)
    fn(grid, block, (*arrays, inp(total), *scalars))


def max_pool2d(
    x: Any, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair
) -> tuple[Any, Any]:
    """x (N, C, H, W) -> (y (N, C, oh, ow), argmax (N, C, oh, ow) int64 flat h*W + w)."""
    cp = compiler.cupy()
    x = compiler.contiguous(x, "max_pool2d: x")
    n, c, h, w = x.shape
    oh, ow = out_size
    y = cp.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = cp.empty((n, c, oh, ow), dtype=np.int64)
    if y.size:
        _launch("max_pool2d", x.dtype, [x, y, argmax], y.size, (x.size, y.size),
                [*_sizes(h, w, oh, ow), *_window(kernel_size, stride, padding)])
    return y, argmax


def max_pool2d_backward(
    gy: Any, argmax: Any, x_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair,
    padding: Pair,
) -> Any:
    """gy (N, C, oh, ow) -> gx (N, C, H, W): each cell sums gy of the windows whose argmax
    it is (a gather over the windows that cover it)."""
    cp = compiler.cupy()
    gy = compiler.contiguous(gy, "max_pool2d_backward: gy")
    argmax = compiler.contiguous(argmax, "max_pool2d_backward: argmax")
    if argmax.shape != gy.shape or argmax.dtype != np.int64:
        raise ValueError(
            f"max_pool2d_backward: argmax must be int64 of gy's shape {gy.shape}, got "
            f"{argmax.dtype} {argmax.shape}"
        )
    n, c, h, w = (int(v) for v in x_shape)
    oh, ow = gy.shape[2], gy.shape[3]
    gx = cp.empty((n, c, h, w), dtype=gy.dtype)
    if gx.size:
        _launch("max_pool2d_backward", gy.dtype, [gy, argmax, gx], gx.size,
                (gx.size, gy.size),
                [*_sizes(h, w, oh, ow), *_window(kernel_size, stride, padding)])
    return gx


def avg_pool2d(
    x: Any, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair,
    count_include_pad: bool,
) -> Any:
    """x (N, C, H, W) -> y (N, C, oh, ow): window sums over PyTorch's divisor."""
    cp = compiler.cupy()
    x = compiler.contiguous(x, "avg_pool2d: x")
    n, c, h, w = x.shape
    oh, ow = out_size
    y = cp.empty((n, c, oh, ow), dtype=x.dtype)
    if y.size:
        _launch("avg_pool2d", x.dtype, [x, y], y.size, (x.size, y.size),
                [*_sizes(h, w, oh, ow), *_window(kernel_size, stride, padding),
                 np.int32(bool(count_include_pad))])
    return y


def avg_pool2d_backward(
    gy: Any, x_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair,
    padding: Pair, count_include_pad: bool,
) -> Any:
    """gy (N, C, oh, ow) -> gx (N, C, H, W): every cell sums gy/divisor of its windows."""
    cp = compiler.cupy()
    gy = compiler.contiguous(gy, "avg_pool2d_backward: gy")
    n, c, h, w = (int(v) for v in x_shape)
    oh, ow = gy.shape[2], gy.shape[3]
    gx = cp.empty((n, c, h, w), dtype=gy.dtype)
    if gx.size:
        _launch("avg_pool2d_backward", gy.dtype, [gy, gx], gx.size, (gx.size, gy.size),
                [*_sizes(h, w, oh, ow), *_window(kernel_size, stride, padding),
                 np.int32(bool(count_include_pad))])
    return gx

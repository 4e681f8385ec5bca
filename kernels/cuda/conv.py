"""im2col and col2im on the GPU: launchers of ``conv.cu`` (contract: minicnn/reference/conv.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels.cuda import compiler

Pair = tuple[int, int]
SOURCE = "conv.cu"

compiler.register(
    SOURCE,
    tuple(
        f"minicnn_{name}<{t}, {i}>"
        for name in ("im2col", "col2im")
        for t in ("float", "double")
        for i in ("int", "long long")
    ),
)


def _out_size(h: int, w: int, k: Pair, s: Pair, p: Pair, d: Pair) -> Pair:
    return (
        (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1,
        (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1,
    )


def _geometry(kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair) -> list[Any]:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    return [np.int32(v) for v in (kh, kw, sh, sw, ph, pw, dh, dw)]


def im2col(
    x: Any, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out: Any = None
) -> Any:
    """x (N, C, H, W) -> cols (C*kh*kw, N*oh*ow); zero where a window reads padding.

    ``out``, when given, is a C-contiguous buffer of that shape and dtype (returned).
    """
    cp = compiler.cupy()
    x = compiler.contiguous(x, "im2col: x")
    n, c, h, w = x.shape
    kh, kw = kernel_size
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    shape = (c * kh * kw, n * oh * ow)
    if out is None:
        out = cp.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"im2col: out must be a C-contiguous {x.dtype} array of shape {shape}, got "
            f"{out.dtype} {out.shape} (c_contiguous={out.flags.c_contiguous})"
        )
    total = n * c * oh * ow
    if total == 0:
        return out
    ctype = compiler.c_type(x.dtype)
    itype, inp = compiler.index_type(out.size, x.size)
    fn = compiler.function(SOURCE, f"minicnn_im2col<{ctype}, {itype}>")
    grid, block = compiler.grid_1d(total)
    fn(grid, block, (x, out, inp(total), np.int32(c), np.int32(h), np.int32(w),
                     *_geometry(kernel_size, stride, padding, dilation),
                     np.int32(oh), np.int32(ow)))
    return out


def col2im(
    cols: Any, x_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair,
    padding: Pair, dilation: Pair,
) -> Any:
    """cols (C*kh*kw, N*oh*ow) -> x (N, C, H, W), the adjoint of :func:`im2col` (gather)."""
    cp = compiler.cupy()
    cols = compiler.contiguous(cols, "col2im: cols")
    n, c, h, w = (int(v) for v in x_shape)
    kh, kw = kernel_size
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    if cols.shape != (c * kh * kw, n * oh * ow):
        raise ValueError(
            f"col2im: cols must have shape {(c * kh * kw, n * oh * ow)} for x_shape {x_shape}, "
            f"got {cols.shape}"
        )
    x = cp.empty((n, c, h, w), dtype=cols.dtype)
    total = x.size
    if total == 0:
        return x
    ctype = compiler.c_type(cols.dtype)
    itype, inp = compiler.index_type(cols.size, total)
    fn = compiler.function(SOURCE, f"minicnn_col2im<{ctype}, {itype}>")
    grid, block = compiler.grid_1d(total)
    fn(grid, block, (cols, x, inp(total), np.int32(c), np.int32(h), np.int32(w),
                     *_geometry(kernel_size, stride, padding, dilation),
                     np.int32(oh), np.int32(ow)))
    return x

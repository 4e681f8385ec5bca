"""im2col and col2im as Numba kernels; same signatures and results as minicnn.reference.conv.

im2col: ``prange`` over the rows of cols, one (n, c, i, j) per iteration. For a row, the
columns ``ox`` whose input ``ox*sw - pw + j*dw`` falls inside the image form one interval
``[ox_lo, ox_hi)``, computed once per row, so the inner copy has no bounds test: zeros
before it, a strided copy inside it, zeros after it. The output buffer may be reused.

col2im: a gather, race-free by construction. ``prange`` over input rows (n, c, y): the
iteration owns ``x[n, c, y, :]``, clears it, and adds in every cols entry that read a cell of
that row, over (i, j) in row-major order as the reference does. No two iterations write the
same cell, so no atomics and no scatter into shared memory.

Both are plain Python functions wrapped by ``njit(parallel=True, cache=True)`` (no fastmath:
results match the reference bit for bit in the common cases); with ``NUMBA_DISABLE_JIT=1`` they
run as Python. Compiled once per dtype (float32, float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

Pair = tuple[int, int]


def _im2col_rows(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, out):
    n_, c_, h_, w_ = x.shape
    krows = c_ * kh * kw
    for r in prange(n_ * krows):
        n = r // krows
        row = r - n * krows
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        xoff = j * dw - pw
        # ox in [ox_lo, ox_hi)  <=>  0 <= ox*sw + xoff < W   (ceil divisions)
        ox_lo = min(max(-(xoff // sw), 0), ow)
        ox_hi = min(max(-((xoff - w_) // sw), ox_lo), ow)
        for oy in range(oh):
            iy = oy * sh - ph + i * dh
            base = oy * ow
            if iy < 0 or iy >= h_:
                for ox in range(ow):
                    out[n, row, base + ox] = 0
            else:
                for ox in range(ox_lo):
                    out[n, row, base + ox] = 0
                for ox in range(ox_lo, ox_hi):
                    out[n, row, base + ox] = x[n, c, iy, ox * sw + xoff]
                for ox in range(ox_hi, ow):
                    out[n, row, base + ox] = 0


def _col2im_rows(cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, out):
    n_, c_, h_, w_ = out.shape
    for r in prange(n_ * c_ * h_):
        n = r // (c_ * h_)
        c = (r // h_) % c_
        y = r % h_
        for xx in range(w_):
            out[n, c, y, xx] = 0
        for i in range(kh):
            t = y + ph - i * dh  # = oy*sh when window row oy reads input row y at offset i
            if t < 0:
                break
            if t % sh != 0:
                continue
            oy = t // sh
            if oy >= oh:
                continue
            base = oy * ow
            for j in range(kw):
                row = (c * kh + i) * kw + j
                xoff = j * dw - pw
                ox_lo = min(max(-(xoff // sw), 0), ow)
                ox_hi = min(max(-((xoff - w_) // sw), ox_lo), ow)
                for ox in range(ox_lo, ox_hi):
                    out[n, c, y, ox * sw + xoff] += cols[n, row, base + ox]


_im2col_jit = njit(parallel=True, cache=True)(_im2col_rows)
_col2im_jit = njit(parallel=True, cache=True)(_col2im_rows)


def _out_size(h: int, w: int, k: Pair, s: Pair, p: Pair, d: Pair) -> Pair:
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    return oh, ow


def im2col(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """x (N, C, H, W) -> cols (N, C*kh*kw, oh*ow), as :func:`minicnn.reference.im2col`.

    ``out``, when given, is a C-contiguous buffer of that shape and dtype; all of it is
    written and it is returned.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    if out is None:
        out = np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
    _im2col_jit(np.ascontiguousarray(x), int(kh), int(kw), int(sh), int(sw), int(ph),
                int(pw), int(dh), int(dw), int(oh), int(ow), out)
    return out


def col2im(
    cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair,
    padding: Pair, dilation: Pair,
) -> np.ndarray:
    """cols (N, C*kh*kw, oh*ow) -> x (N, C, H, W), the adjoint of :func:`im2col` (a gather)."""
    n, c, h, w = (int(s) for s in x_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    out = np.empty((n, c, h, w), dtype=cols.dtype)
    _col2im_jit(np.ascontiguousarray(cols), int(kh), int(kw), int(sh), int(sw), int(ph),
                int(pw), int(dh), int(dw), int(oh), int(ow), out)
    return out

"""im2col and col2im as Numba kernels; same signatures and results as minicnn.reference.conv.

Both run ``prange`` over the (n, c) input planes: an iteration owns plane ``x[n, c]`` and the
``kh*kw`` runs ``cols[(c, i, j), n*oh*ow : (n+1)*oh*ow]`` it feeds, so no two iterations
write the same memory (col2im is a race-free gather: no atomics, no scatter into shared
cells).

For a kernel offset (i, j), the output rows ``oy`` whose input row ``oy*sh - ph + i*dh`` is
inside the image form one interval, and so do the columns ``ox`` (:func:`_span`), so the
inner loops test no bounds. When the conv is stride 1 and keeps the width (``ow == W``, the
"same" 3x3/pad-1 convs of VGG and ResNet), the valid rows of an offset are *one contiguous run*
of the plane shifted by ``(iy0*W + xoff)``: a single long vectorised copy (im2col) or add
(col2im), with a per-column mask (:func:`_column_mask`) selecting zero where a window reads
the left or right padding. This replaces ``oh`` short row loops per offset, which cost most
of the time on the 8x8 and 16x16 planes of small networks. Other strides and widths copy row
by row.

col2im sums into each cell over (i, j) in row-major order, as the reference does, so results
match it bit for bit; im2col is a copy. Both are plain Python functions wrapped by
``njit(parallel=True, cache=True)`` (no fastmath); with ``NUMBA_DISABLE_JIT=1`` they run as
Python. Compiled once per dtype (float32, float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.numba_cpu.threads import pick, serial_twin

Pair = tuple[int, int]


def _span(off, step, size, n):
    """[lo, hi): the o in [0, n) with 0 <= o*step + off < size (ceil divisions)."""
    lo = min(max(-(off // step), 0), n)
    hi = min(max(-((off - size) // step), lo), n)
    return lo, hi


def _column_mask(kw, sw, pw, dw, w_, oh, ow):
    """mask[j, oy*ow + ox]: window column j at output column ox reads inside the image."""
    mask = np.zeros((kw, oh * ow), dtype=np.bool_)
    for j in range(kw):
        lo, hi = _span(j * dw - pw, sw, w_, ow)
        for oy in range(oh):
            for ox in range(lo, hi):
                mask[j, oy * ow + ox] = True
    return mask


def _im2col_planes(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, out):
    n_, c_, h_, w_ = x.shape
    hw = h_ * w_
    L = oh * ow
    flat = sh == 1 and sw == 1 and ow == w_
    mask = _column_mask(kw, sw, pw, dw, w_, oh, ow)
    for r in prange(n_ * c_):
        n = r // c_
        c = r - n * c_
        xs = x[n, c]
        xf = xs.ravel()  # used by the flat path only
        for i in range(kh):
            iy0 = i * dh - ph
            oy_lo, oy_hi = _span(iy0, sh, h_, oh)
            for j in range(kw):
                o = out[(c * kh + i) * kw + j, n * L:(n + 1) * L]
                xoff = j * dw - pw
                ox_lo, ox_hi = _span(xoff, sw, w_, ow)
                a, b = oy_lo * ow, oy_hi * ow
                for p in range(a):
                    o[p] = 0
                for p in range(b, L):
                    o[p] = 0
                if flat:
                    # the valid rows are one run o[a:b] = x_flat[a+shift : b+shift]; [p0, p1)
                    # is the part of it inside x, and what lies outside (like every masked
                    # column) is a window reading the left or right padding.
                    shift = iy0 * w_ + xoff
                    p0 = min(max(a, -shift), b)
                    p1 = max(min(b, hw - shift), p0)
                    for p in range(a, p0):
                        o[p] = 0
                    for p in range(p1, b):
                        o[p] = 0
                    src = xf[p0 + shift:]
                    dst = o[p0:]
                    m = mask[j, p0:]
                    for p in range(p1 - p0):
                        dst[p] = src[p] if m[p] else 0
                else:
                    for oy in range(oy_lo, oy_hi):
                        base = oy * ow
                        xr = xs[oy * sh + iy0]
                        for ox in range(ox_lo):
                            o[base + ox] = 0
                        for ox in range(ox_lo, ox_hi):
                            o[base + ox] = xr[ox * sw + xoff]
                        for ox in range(ox_hi, ow):
                            o[base + ox] = 0


def _col2im_planes(cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, out):
    n_, c_, h_, w_ = out.shape
    hw = h_ * w_
    L = oh * ow
    flat = sh == 1 and sw == 1 and ow == w_
    mask = _column_mask(kw, sw, pw, dw, w_, oh, ow)
    for r in prange(n_ * c_):
        n = r // c_
        c = r - n * c_
        xs = out[n, c]
        for y in range(h_):
            for xx in range(w_):
                xs[y, xx] = 0
        for i in range(kh):
            iy0 = i * dh - ph
            oy_lo, oy_hi = _span(iy0, sh, h_, oh)
            for j in range(kw):
                o = cols[(c * kh + i) * kw + j, n * L:(n + 1) * L]
                xoff = j * dw - pw
                ox_lo, ox_hi = _span(xoff, sw, w_, ow)
                if flat:
                    shift = iy0 * w_ + xoff  # as in im2col: one run, masked columns skipped
                    p0 = min(max(oy_lo * ow, -shift), oy_hi * ow)
                    p1 = max(min(oy_hi * ow, hw - shift), p0)
                    dst = xs.ravel()[p0 + shift:]
                    src = o[p0:]
                    m = mask[j, p0:]
                    for p in range(p1 - p0):
                        dst[p] += src[p] if m[p] else 0
                    continue
                for oy in range(oy_lo, oy_hi):
                    base = oy * ow
                    xr = xs[oy * sh + iy0]
                    for ox in range(ox_lo, ox_hi):
                        xr[ox * sw + xoff] += o[base + ox]


_span = njit(inline="always", cache=True)(_span)
_column_mask = njit(cache=True)(_column_mask)
_im2col_jit = njit(parallel=True, cache=True)(_im2col_planes)
_col2im_jit = njit(parallel=True, cache=True)(_col2im_planes)
_im2col_serial = serial_twin(_im2col_planes)  # for forked children (threads.py)
_col2im_serial = serial_twin(_col2im_planes)


def _out_size(h: int, w: int, k: Pair, s: Pair, p: Pair, d: Pair) -> Pair:
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    return oh, ow


def im2col(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """x (N, C, H, W) -> cols (C*kh*kw, N*oh*ow), as :func:`minicnn.reference.im2col`.

    ``out``, when given, is a C-contiguous buffer of that shape and dtype; all of it is
    written and it is returned.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    if out is None:
        out = np.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    kernel = pick(_im2col_jit, _im2col_serial)
    kernel(np.ascontiguousarray(x), int(kh), int(kw), int(sh), int(sw), int(ph),
           int(pw), int(dh), int(dw), int(oh), int(ow), out)
    return out


def col2im(
    cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair,
    padding: Pair, dilation: Pair,
) -> np.ndarray:
    """cols (C*kh*kw, N*oh*ow) -> x (N, C, H, W), the adjoint of :func:`im2col` (a gather)."""
    n, c, h, w = (int(s) for s in x_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    out = np.empty((n, c, h, w), dtype=cols.dtype)
    kernel = pick(_col2im_jit, _col2im_serial)
    kernel(np.ascontiguousarray(cols), int(kh), int(kw), int(sh), int(sw), int(ph),
           int(pw), int(dh), int(dw), int(oh), int(ow), out)
    return out

"""Max and average pooling, the NumPy reference (the specification of every other kernel set).

Layout NCHW. Each kernel loops over the ``kh*kw`` window offsets only; every offset is one
strided view of the padded input, so the work per offset is a vectorised NumPy expression.
The padded array is large enough for every window, including the extra window that
``ceil_mode`` may add: ``max(H + 2p, (oh - 1)*s + k)`` rows (likewise columns).
Shapes and sizes are computed and validated by ``minicnn.ops.pool``.
"""

from __future__ import annotations

import numpy as np

Pair = tuple[int, int]


def _padded_size(size: int, out: int, k: int, s: int, p: int) -> int:
    return max(size + 2 * p, (out - 1) * s + k)


def _window_view(xp: np.ndarray, i: int, j: int, stride: Pair, out_size: Pair) -> np.ndarray:
    """Rows ``i + oy*sh`` and columns ``j + ox*sw`` of the padded array: offset (i, j)."""
    (sh, sw), (oh, ow) = stride, out_size
    return xp[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]


def max_pool2d(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, H, W) -> (y (N, C, oh, ow), argmax (N, C, oh, ow) int64).

    y[n, c, oy, ox] = max over the window of x padded with -inf; ``argmax`` holds the flat
    index ``h*W + w`` of the maximum in its input plane. As in PyTorch: the first maximum in
    row-major window order wins on ties, a NaN in the window propagates (the last NaN wins),
    and a window whose cells are all -inf points at its first input cell.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel_size, stride, padding, out_size
    hp, wp = _padded_size(h, oh, kh, sh, ph), _padded_size(w, ow, kw, sw, pw)
    xp = np.full((n, c, hp, wp), -np.inf, dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    rows0 = np.arange(oh) * sh - ph  # first (possibly padded) row of each window
    cols0 = np.arange(ow) * sw - pw
    first = np.maximum(rows0, 0)[:, None] * w + np.maximum(cols0, 0)[None, :]
    argmax = np.empty((n, c, oh, ow), dtype=np.int64)
    argmax[...] = first
    y = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            v = _window_view(xp, i, j, stride, out_size)
            take = (v > y) | np.isnan(v)
            np.copyto(y, v, where=take)
            flat = (rows0 + i)[:, None] * w + (cols0 + j)[None, :]
            np.copyto(argmax, np.broadcast_to(flat, argmax.shape), where=take)
    return y, argmax


def max_pool2d_backward(
    gy: np.ndarray,
    argmax: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
) -> np.ndarray:
    """gy (N, C, oh, ow) -> gx (N, C, H, W): gx[argmax[o]] += gy[o] for every window o.

    A cell that is the maximum of several overlapping windows receives the sum of their
    gradients. Per window offset (i, j), the windows whose maximum sits at that offset add
    their gradient to one strided view of the padded gradient (no cell repeats in a view).
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = gy.shape[2], gy.shape[3]
    hp, wp = _padded_size(h, oh, kh, sh, ph), _padded_size(w, ow, kw, sw, pw)
    # argmax in padded coordinates, where the flat index of an offset never aliases
    amax_p = (argmax // w + ph) * wp + (argmax % w + pw)
    gxp = np.zeros((n, c, hp, wp), dtype=gy.dtype)
    rows0 = np.arange(oh) * sh
    cols0 = np.arange(ow) * sw
    zero = gy.dtype.type(0)
    for i in range(kh):
        for j in range(kw):
            flat = (rows0 + i)[:, None] * wp + (cols0 + j)[None, :]
            _window_view(gxp, i, j, stride, (oh, ow))[...] += np.where(amax_p == flat, gy, zero)
    return np.ascontiguousarray(gxp[:, :, ph : ph + h, pw : pw + w])


def _avg_divisor(
    size: int, out: int, k: int, s: int, p: int, count_include_pad: bool
) -> np.ndarray:
    """Divisor of each window along one axis, as in PyTorch.

    ``start = o*s - p``, ``end = min(start + k, size + p)``: the window clipped to the padded
    input (``end - start`` cells when ``count_include_pad``), else clipped to the input.
    """
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _divisor(
    x_shape: tuple[int, ...],
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
    out_size: Pair,
    count_include_pad: bool,
    dtype: np.dtype,
) -> np.ndarray:
    dh = _avg_divisor(x_shape[2], out_size[0], kernel_size[0], stride[0], padding[0],
                      count_include_pad)
    dw = _avg_divisor(x_shape[3], out_size[1], kernel_size[1], stride[1], padding[1],
                      count_include_pad)
    return (dh[:, None] * dw[None, :]).astype(dtype)


def avg_pool2d(
    x: np.ndarray,
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
    out_size: Pair,
    count_include_pad: bool,
) -> np.ndarray:
    """x (N, C, H, W) -> y (N, C, oh, ow): the sum over each window of x padded with zeros,
    divided by the window's divisor (see ``_avg_divisor``)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel_size, stride, padding, out_size
    hp, wp = _padded_size(h, oh, kh, sh, ph), _padded_size(w, ow, kw, sw, pw)
    xp = np.zeros((n, c, hp, wp), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    y = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            y += _window_view(xp, i, j, stride, out_size)
    y /= _divisor(x.shape, kernel_size, stride, padding, out_size, count_include_pad, x.dtype)
    return y


def avg_pool2d_backward(
    gy: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
    count_include_pad: bool,
) -> np.ndarray:
    """gy (N, C, oh, ow) -> gx (N, C, H, W): every input cell of a window gets gy/divisor."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    out_size = (gy.shape[2], gy.shape[3])
    hp, wp = _padded_size(h, out_size[0], kh, sh, ph), _padded_size(w, out_size[1], kw, sw, pw)
    g = gy / _divisor(x_shape, kernel_size, stride, padding, out_size, count_include_pad,
                      gy.dtype)
    gxp = np.zeros((n, c, hp, wp), dtype=gy.dtype)
    for i in range(kh):
        for j in range(kw):
            _window_view(gxp, i, j, stride, out_size)[...] += g
    return np.ascontiguousarray(gxp[:, :, ph : ph + h, pw : pw + w])

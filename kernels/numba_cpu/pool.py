"""Max and average pooling, Numba CPU kernels (same names and signatures as the reference).

Every ``prange`` runs over the (n, c) planes, and an iteration writes only into its own plane:
the backward kernels scatter into the plane they own, so no two threads touch one cell.
Windows are clipped to the input, which is the same as padding with -inf (max) or zeros (avg);
float32 and float64 arrays, no fastmath.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

Pair = tuple[int, int]


def _check_dtype(name: str, a: np.ndarray) -> None:
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"{name}: the numba kernels take float32 or float64 arrays, got {a.dtype}; "
            "use MINICNN_KERNELS=numpy for other dtypes"
        )


@njit(parallel=True, cache=True)
def _max_pool2d_planes(x, kh, kw, sh, sw, ph, pw, y, argmax):  # pragma: no cover - jit
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n * c):
        b = p // c
        ch = p % c
        for oy in range(oh):
            h0 = oy * sh - ph
            h1 = min(h0 + kh, h)
            h0 = max(h0, 0)
            for ox in range(ow):
                w0 = ox * sw - pw
                w1 = min(w0 + kw, w)
                w0 = max(w0, 0)
                best = x[b, ch, h0, w0]  # every window holds at least one input cell
                idx = h0 * w + w0
                for hh in range(h0, h1):
                    for ww in range(w0, w1):
                        v = x[b, ch, hh, ww]
                        # branch-free: the first maximum wins, the last NaN propagates
                        take = (v > best) | (v != v)
                        best = v if take else best
                        idx = hh * w + ww if take else idx
                y[b, ch, oy, ox] = best
                argmax[b, ch, oy, ox] = idx


def max_pool2d(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, H, W) -> (y, argmax (N, C, oh, ow) int64, flat ``h*W + w``); see reference."""
    _check_dtype("max_pool2d", x)
    x = np.ascontiguousarray(x)
    n, c = x.shape[0], x.shape[1]
    y = np.empty((n, c) + tuple(out_size), dtype=x.dtype)
    argmax = np.empty((n, c) + tuple(out_size), dtype=np.int64)
    _max_pool2d_planes(x, kernel_size[0], kernel_size[1], stride[0], stride[1],
                       padding[0], padding[1], y, argmax)
    return y, argmax


@njit(parallel=True, cache=True)
def _max_pool2d_backward_planes(gy, argmax, gx):  # pragma: no cover - jit
    n, c, hw = gx.shape
    oh, ow = gy.shape[2], gy.shape[3]
    for p in prange(n * c):
        b = p // c
        ch = p % c
        for i in range(hw):
            gx[b, ch, i] = 0
        for oy in range(oh):
            for ox in range(ow):
                gx[b, ch, argmax[b, ch, oy, ox]] += gy[b, ch, oy, ox]


def max_pool2d_backward(
    gy: np.ndarray,
    argmax: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
) -> np.ndarray:
    """gy (N, C, oh, ow) -> gx (N, C, H, W): gx[argmax[o]] += gy[o], scattered within the
    (n, c) plane each iteration owns."""
    _check_dtype("max_pool2d_backward", gy)
    n, c, h, w = x_shape
    gx = np.empty((n, c, h * w), dtype=gy.dtype)
    _max_pool2d_backward_planes(np.ascontiguousarray(gy), np.ascontiguousarray(argmax), gx)
    return gx.reshape(n, c, h, w)


@njit(cache=True)
def _divisor(h0, w0, kh, kw, ph, pw, h, w, count_include_pad):  # pragma: no cover - jit
    """PyTorch's divisor of the window starting at (h0, w0) in padded-origin coordinates."""
    h1 = min(h0 + kh, h + ph)
    w1 = min(w0 + kw, w + pw)
    if count_include_pad:
        return (h1 - h0) * (w1 - w0)
    return (min(h1, h) - max(h0, 0)) * (min(w1, w) - max(w0, 0))


@njit(parallel=True, cache=True)
def _avg_pool2d_planes(x, kh, kw, sh, sw, ph, pw, count_include_pad, y):  # pragma: no cover
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n * c):
        b = p // c
        ch = p % c
        for oy in range(oh):
            h0 = oy * sh - ph
            for ox in range(ow):
                w0 = ox * sw - pw
                d = _divisor(h0, w0, kh, kw, ph, pw, h, w, count_include_pad)
                acc = 0.0
                for hh in range(max(h0, 0), min(h0 + kh, h)):
                    for ww in range(max(w0, 0), min(w0 + kw, w)):
                        acc += x[b, ch, hh, ww]
                y[b, ch, oy, ox] = acc / d


def avg_pool2d(
    x: np.ndarray,
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
    out_size: Pair,
    count_include_pad: bool,
) -> np.ndarray:
    """x (N, C, H, W) -> y (N, C, oh, ow): window sums over PyTorch's divisor; see reference."""
    _check_dtype("avg_pool2d", x)
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], x.shape[1]) + tuple(out_size), dtype=x.dtype)
    _avg_pool2d_planes(x, kernel_size[0], kernel_size[1], stride[0], stride[1],
                       padding[0], padding[1], bool(count_include_pad), y)
    return y


@njit(parallel=True, cache=True)
def _avg_pool2d_backward_planes(gy, kh, kw, sh, sw, ph, pw, count_include_pad,
                                gx):  # pragma: no cover - jit
    n, c, h, w = gx.shape
    oh, ow = gy.shape[2], gy.shape[3]
    for p in prange(n * c):
        b = p // c
        ch = p % c
        for hh in range(h):
            for ww in range(w):
                gx[b, ch, hh, ww] = 0
        for oy in range(oh):
            h0 = oy * sh - ph
            for ox in range(ow):
                w0 = ox * sw - pw
                d = _divisor(h0, w0, kh, kw, ph, pw, h, w, count_include_pad)
                g = gy[b, ch, oy, ox] / d
                for hh in range(max(h0, 0), min(h0 + kh, h)):
                    for ww in range(max(w0, 0), min(w0 + kw, w)):
                        gx[b, ch, hh, ww] += g


def avg_pool2d_backward(
    gy: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
    count_include_pad: bool,
) -> np.ndarray:
    """gy (N, C, oh, ow) -> gx (N, C, H, W): gy/divisor to every input cell of each window,
    scattered within the (n, c) plane each iteration owns."""
    _check_dtype("avg_pool2d_backward", gy)
    gx = np.empty(tuple(x_shape), dtype=gy.dtype)
    _avg_pool2d_backward_planes(np.ascontiguousarray(gy), kernel_size[0], kernel_size[1],
                                stride[0], stride[1], padding[0], padding[1],
                                bool(count_include_pad), gx)
    return gx

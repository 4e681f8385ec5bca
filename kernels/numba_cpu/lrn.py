"""Local response normalization, Numba CPU kernels (same names and signatures as the
reference, PyTorch's convention: alpha is divided by ``size``).

x (N, C, ...) is seen as (N, C, L). The ``prange`` runs over blocks of (n, positions), and an
iteration owns its block across all channels, so forward and backward are race-free. Each
walks the channels once, keeping a running window sum in float64 (one add and one subtract per
channel, instead of ``size`` passes).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_BLOCK = 256  # positions per parallel iteration: a few KB of float64 running sums


def _check_dtype(name: str, a: np.ndarray) -> None:
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"{name}: the numba kernels take float32 or float64 arrays, got {a.dtype}; "
            "use MINICNN_KERNELS=numpy for other dtypes"
        )


def _as_ncl(a: np.ndarray) -> np.ndarray:
    m = int(np.prod(a.shape[2:], dtype=np.int64))
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], m)


@njit(parallel=True, cache=True)
def _lrn_forward(x, size, alpha, beta, k, y, scale):  # pragma: no cover - jit
    n, c, m = x.shape
    before = size // 2
    after = (size - 1) // 2
    coef = alpha / size
    trick = beta == 0.75
    nblk = (m + _BLOCK - 1) // _BLOCK
    for t in prange(n * nblk):
        b = t // nblk
        l0 = (t % nblk) * _BLOCK
        l1 = min(l0 + _BLOCK, m)
        acc = np.zeros(l1 - l0)  # window sum of x^2 for the current channel
        for cc in range(min(after, c - 1) + 1):  # window of channel 0: 0 .. after
            for i in range(l0, l1):
                v = np.float64(x[b, cc, i])
                acc[i - l0] += v * v
        for ch in range(c):
            if trick:  # scale^-0.75 = r*sqrt(r), r = 1/sqrt(scale)
                for i in range(l0, l1):
                    s = k + coef * acc[i - l0]
                    scale[b, ch, i] = s
                    r = 1.0 / np.sqrt(s)
                    y[b, ch, i] = x[b, ch, i] * (r * np.sqrt(r))
            else:
                for i in range(l0, l1):
                    s = k + coef * acc[i - l0]
                    scale[b, ch, i] = s
                    y[b, ch, i] = x[b, ch, i] * s ** -beta
            add = ch + after + 1  # slide the window: channel ch+1 spans ch+1-before .. add
            if add < c:
                for i in range(l0, l1):
                    v = np.float64(x[b, add, i])
                    acc[i - l0] += v * v
            rem = ch - before
            if rem >= 0:
                for i in range(l0, l1):
                    v = np.float64(x[b, rem, i])
                    acc[i - l0] -= v * v


def local_response_norm(
    x: np.ndarray, size: int, alpha: float, beta: float, k: float
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, ...) -> (y, scale): scale = k + alpha/size * sum_{window} x^2 (window padded
    size//2 before and (size-1)//2 after), y = x * scale^-beta; see the reference."""
    _check_dtype("local_response_norm", x)
    x3 = _as_ncl(x)
    y = np.empty_like(x3)
    scale = np.empty_like(x3)
    _lrn_forward(x3, int(size), float(alpha), float(beta), float(k), y, scale)
    return y.reshape(x.shape), scale.reshape(x.shape)


@njit(parallel=True, cache=True)
def _lrn_backward(x, y, scale, gy, size, alpha, beta, gx):  # pragma: no cover - jit
    n, c, m = x.shape
    # window'(j) = j - after .. j + before: the forward window transposed
    before = size // 2
    after = (size - 1) // 2
    coef = 2.0 * alpha * beta / size
    trick = beta == 0.75
    nblk = (m + _BLOCK - 1) // _BLOCK
    for t in prange(n * nblk):
        b = t // nblk
        l0 = (t % nblk) * _BLOCK
        l1 = min(l0 + _BLOCK, m)
        nl = l1 - l0
        ring = np.empty((size, nl))  # gy*y/scale of the channels in the window, by c % size
        acc = np.zeros(nl)  # sum of gy*y/scale over window'(j)
        for cc in range(min(before, c - 1) + 1):  # window' of channel 0: 0 .. before
            for i in range(l0, l1):
                tv = np.float64(gy[b, cc, i]) * y[b, cc, i] / scale[b, cc, i]
                ring[cc % size, i - l0] = tv
                acc[i - l0] += tv
        for j in range(c):
            if trick:
                for i in range(l0, l1):
                    r = 1.0 / np.sqrt(np.float64(scale[b, j, i]))
                    gx[b, j, i] = gy[b, j, i] * (r * np.sqrt(r)) - coef * x[b, j, i] * acc[i - l0]
            else:
                for i in range(l0, l1):
                    s = np.float64(scale[b, j, i])
                    gx[b, j, i] = gy[b, j, i] * s ** -beta - coef * x[b, j, i] * acc[i - l0]
            rem = j - after  # leaves window'(j+1); read from the ring before it is overwritten
            if rem >= 0:
                for i in range(l0, l1):
                    acc[i - l0] -= ring[rem % size, i - l0]
            add = j + before + 1  # enters window'(j+1)
            if add < c:
                for i in range(l0, l1):
                    tv = np.float64(gy[b, add, i]) * y[b, add, i] / scale[b, add, i]
                    ring[add % size, i - l0] = tv
                    acc[i - l0] += tv


def local_response_norm_backward(
    x: np.ndarray,
    y: np.ndarray,
    scale: np.ndarray,
    gy: np.ndarray,
    size: int,
    alpha: float,
    beta: float,
    k: float,
) -> np.ndarray:
    """gx = gy * scale^-beta - 2*alpha*beta/size * x * sum_{window'} gy*y/scale, window' the
    forward window transposed (c - (size-1)//2 .. c + size//2); see the reference."""
    _check_dtype("local_response_norm_backward", gy)
    x3, y3, s3, g3 = _as_ncl(x), _as_ncl(y), _as_ncl(scale), _as_ncl(gy)
    gx = np.empty_like(g3)
    _lrn_backward(x3, y3, s3, g3, int(size), float(alpha), float(beta), gx)
    return gx.reshape(x.shape)

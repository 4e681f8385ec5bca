"""Local response normalization, Numba CPU kernels (same names and signatures as the
reference, PyTorch's convention: alpha is divided by ``size``).

x (N, C, ...) is seen as (N, C, L). The ``prange`` runs over blocks of (n, positions), and an
iteration owns its block across all channels, so forward and backward are race-free. Each
walks the channels once, keeping a running window sum in float64 (one add and one subtract per
channel, instead of ``size`` passes); the power scale^-beta is taken in the array's dtype, as
the reference takes it.

A running sum that adds and subtracts carries rounding from the large values it has passed:
its absolute error stays below about C * eps64 * S, S the largest window sum of x^2 met, so
the relative error of scale stays below C * eps64 * (alpha/size) * S / k. Negligible for
float32 inputs (their squares are exact in float64, and eps64 is 2^-29 of float32's eps).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.numba_cpu.threads import pick, serial_twin

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


@njit(cache=True)
def _slide(acc, xa, xm, add, rem):  # pragma: no cover - jit
    """acc += xa^2 - xm^2 in float64; xa (entering) only when add, xm (leaving) only when rem."""
    if add and rem:
        for i in range(acc.size):
            va = np.float64(xa[i])
            vm = np.float64(xm[i])
            acc[i] += va * va - vm * vm
    elif add:
        for i in range(acc.size):
            va = np.float64(xa[i])
            acc[i] += va * va
    elif rem:
        for i in range(acc.size):
            vm = np.float64(xm[i])
            acc[i] -= vm * vm


@njit(parallel=True, cache=True)
def _lrn_forward(x, size, alpha, neg_beta, one, k, y, scale):  # pragma: no cover - jit
    # neg_beta and one are scalars of x's dtype: the power is taken in that dtype, as the
    # reference takes it; the window sums are float64
    n, c, m = x.shape
    before = size // 2
    after = (size - 1) // 2
    coef = alpha / size
    trick = neg_beta == -0.75
    nblk = (m + _BLOCK - 1) // _BLOCK
    for t in prange(n * nblk):
        b = t // nblk
        l0 = (t % nblk) * _BLOCK
        l1 = min(l0 + _BLOCK, m)
        acc = np.zeros(l1 - l0)  # window sum of x^2 for the current channel, float64
        for cc in range(min(after, c - 1) + 1):  # window of channel 0: 0 .. after
            _slide(acc, x[b, cc, l0:l1], x[b, cc, l0:l1], True, False)
        for ch in range(c):
            xr, yr, sr = x[b, ch, l0:l1], y[b, ch, l0:l1], scale[b, ch, l0:l1]
            for i in range(acc.size):
                sr[i] = k + coef * acc[i]
            if trick:  # scale^-0.75 = r*sqrt(r), r = 1/sqrt(scale)
                for i in range(acc.size):
                    r = one / np.sqrt(sr[i])
                    yr[i] = xr[i] * (r * np.sqrt(r))
            else:
                for i in range(acc.size):
                    yr[i] = xr[i] * sr[i] ** neg_beta
            # slide to channel ch+1's window ch+1-before .. ch+1+after
            add, rem = ch + after + 1, ch - before
            _slide(acc, x[b, min(add, c - 1), l0:l1], x[b, max(rem, 0), l0:l1], add < c,
                   rem >= 0)


_lrn_forward_serial = serial_twin(_lrn_forward)  # for forked children (threads.py)


def local_response_norm(
    x: np.ndarray, size: int, alpha: float, beta: float, k: float
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, ...) -> (y, scale): scale = k + alpha/size * sum_{window} x^2 (window padded
    size//2 before and (size-1)//2 after), y = x * scale^-beta; see the reference."""
    _check_dtype("local_response_norm", x)
    x3 = _as_ncl(x)
    y = np.empty_like(x3)
    scale = np.empty_like(x3)
    dt = x.dtype.type
    kernel = pick(_lrn_forward, _lrn_forward_serial)
    kernel(x3, int(size), float(alpha), dt(-beta), dt(1), float(k), y, scale)
    return y.reshape(x.shape), scale.reshape(x.shape)


@njit(parallel=True, cache=True)
def _lrn_backward(x, y, scale, gy, size, coef, neg_beta, one, gx):  # pragma: no cover - jit
    n, c, m = x.shape
    # window'(j) = j - after .. j + before: the forward window transposed
    before = size // 2
    after = (size - 1) // 2
    trick = neg_beta == -0.75
    nblk = (m + _BLOCK - 1) // _BLOCK
    for t in prange(n * nblk):
        b = t // nblk
        l0 = (t % nblk) * _BLOCK
        l1 = min(l0 + _BLOCK, m)
        nl = l1 - l0
        ring = np.empty((size, nl))  # gy*y/scale of the channels in the window, by c % size
        acc = np.zeros(nl)  # sum of gy*y/scale over window'(j), float64
        for cc in range(min(before, c - 1) + 1):  # window' of channel 0: 0 .. before
            gr, yr, sr, slot = gy[b, cc, l0:l1], y[b, cc, l0:l1], scale[b, cc, l0:l1], cc % size
            for i in range(nl):
                tv = np.float64(gr[i] * yr[i] / sr[i])
                ring[slot, i] = tv
                acc[i] += tv
        for j in range(c):
            gr, xr, sr, gxr = gy[b, j, l0:l1], x[b, j, l0:l1], scale[b, j, l0:l1], gx[b, j, l0:l1]
            if trick:
                for i in range(nl):
                    r = one / np.sqrt(sr[i])
                    gxr[i] = gr[i] * (r * np.sqrt(r)) - coef * xr[i] * acc[i]
            else:
                for i in range(nl):
                    gxr[i] = gr[i] * sr[i] ** neg_beta - coef * xr[i] * acc[i]
            # slide to window'(j+1): channel j - after leaves, j + before + 1 enters; both
            # map to one ring slot (they are size apart), read before it is overwritten
            rem, add = j - after, j + before + 1
            if add < c:
                ga, ya, sa = gy[b, add, l0:l1], y[b, add, l0:l1], scale[b, add, l0:l1]
                slot = add % size
                if rem >= 0:
                    for i in range(nl):
                        tv = np.float64(ga[i] * ya[i] / sa[i])
                        acc[i] += tv - ring[slot, i]
                        ring[slot, i] = tv
                else:
                    for i in range(nl):
                        tv = np.float64(ga[i] * ya[i] / sa[i])
                        acc[i] += tv
                        ring[slot, i] = tv
            elif rem >= 0:
                slot = rem % size
                for i in range(nl):
                    acc[i] -= ring[slot, i]


_lrn_backward_serial = serial_twin(_lrn_backward)


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
    dt = x.dtype.type
    kernel = pick(_lrn_backward, _lrn_backward_serial)
    kernel(x3, y3, s3, g3, int(size), 2.0 * alpha * beta / size, dt(-beta), dt(1), gx)
    return gx.reshape(x.shape)

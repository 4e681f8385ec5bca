"""Batch normalisation, Numba CPU kernels (same names and signatures as the reference).

x (N, C, ...) is seen as (N, C, L), L = prod(trailing). The work is cut into tasks (a block
of samples, a channel): ``rows`` samples of the channel's L values, about _TASK values in all,
so that two threads share the work even when C is small (C=16) and each task's rows stay in
the core's cache between the passes that read them. A ``prange`` iteration owns one task: it
writes its own rows of the output and its own cells of the per-task partial sums, which are
combined per channel afterwards (race-free). With ``NUMBA_DISABLE_JIT=1`` the same code runs
as Python.

Sums are accumulated in float64 whatever x's dtype: each row is folded into _W float64 lanes
(lane j adds the values at positions j, j+_W, ... in order; independent lanes, so the compiler
vectorises the fold without fastmath), and the lanes are summed pairwise. The elementwise work
is done in x's dtype, as the reference does it. Dtypes other than float32 and float64 are left
to the reference.

Inputs under _PARALLEL_MIN values run the same kernels compiled without threads, where
starting the threads costs more than they save. On the OpenMP layer (the default, see
``threads.py``), forward+backward of float32 batch norm took 95 us on threads against 114 us
on one at 32x16x8x8 (2^15 values), 0.99 against 1.27 ms at 2^18; on the workqueue layer,
whose threads cost 30-200 us per parallel loop to wake on this busy 2-core machine, one
thread won below 2^18 (0.06 ms against 0.6 ms at 32x16x8x8 while another process held a
core). The bound is set for the OpenMP layer.

Passes over memory: statistics 1 (each task's mean and then its sum of squared deviations, by
two passes over rows that sit in cache, combined across tasks by Chan, Golub & LeVeque's
formula: as numerically safe as two passes over the whole channel); forward 1; backward 2
(the sums of gy and gy*(x - mean), then gx; xhat is recomputed from x, never stored).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.numba_cpu.simd import aligned_empty
from kernels.numba_cpu.threads import pick
from kernels.numba_cpu.threads import serial_twin as _serial
from minicnn.reference import norm as _reference

_W = 64  # float64 lanes a row is folded into
_TASK = 4096  # values per parallel task, about
_PARALLEL_MIN = 1 << 15  # inputs with fewer values run on one thread (see the docstring)


def _compiled_for(*arrays: np.ndarray) -> bool:
    """True when these kernels compile for the arrays' dtypes (float32, float64); others are
    left to the reference, as batch norm worked for every float dtype before it had kernels."""
    return all(a.dtype in (np.float32, np.float64) for a in arrays)


def _as_ncl(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) -> a C-contiguous (N, C, L) view (a copy when a is not contiguous)."""
    m = int(np.prod(a.shape[2:], dtype=np.int64))
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], m)


def _or_fill(a: np.ndarray | None, c: int, value: float) -> np.ndarray:
    """A (C,) float64 array: a's values, or ``value`` everywhere when a is None."""
    return np.full(c, value) if a is None else np.asarray(a, np.float64)


def _pick(parallel, serial, x: np.ndarray):
    """The threaded kernel for inputs of at least _PARALLEL_MIN values, else its twin (and
    always the twin in a child forked after OpenMP started: threads.py)."""
    return pick(parallel, serial) if x.size >= _PARALLEL_MIN else serial


def _rows_per_task(n: int, length: int) -> int:
    """Samples per task: about _TASK values, at least one row."""
    return max(1, min(n, _TASK // max(length, 1)))


@njit(cache=True)
def _lanes_sum(buf):  # pragma: no cover - jit
    """Sum of the _W lanes of buf, pairwise (buf is overwritten)."""
    h = _W // 2
    while h >= 1:
        for j in range(h):
            buf[j] += buf[j + h]
        h //= 2
    return buf[0]


@njit(cache=True)
def _fold(buf, r):  # pragma: no cover - jit
    """buf[j] += r[j], r[j + _W], ...: row r folded into the _W lanes of buf."""
    nw = r.size - r.size % _W
    for i in range(0, nw, _W):
        for j in range(_W):
            buf[j] += r[i + j]
    for i in range(nw, r.size):
        buf[i - nw] += r[i]


@njit(cache=True)
def _fold_sq_dev(buf, r, mu):  # pragma: no cover - jit
    """buf[j] += (r[j] - mu)^2, (r[j + _W] - mu)^2, ... in float64 (mu a float64)."""
    nw = r.size - r.size % _W
    for i in range(0, nw, _W):
        for j in range(_W):
            d = r[i + j] - mu
            buf[j] += d * d
    for i in range(nw, r.size):
        d = r[i] - mu
        buf[i - nw] += d * d


@njit(cache=True)
def _fold_dot_dev(bs, bd, g, r, mu):  # pragma: no cover - jit
    """bs[j] += g[j], ...; bd[j] += g[j] (r[j] - mu), ...: the two backward sums."""
    nw = r.size - r.size % _W
    for i in range(0, nw, _W):
        for j in range(_W):
            gj = np.float64(g[i + j])
            bs[j] += gj
            bd[j] += gj * (r[i + j] - mu)
    for i in range(nw, r.size):
        gj = np.float64(g[i])
        bs[i - nw] += gj
        bd[i - nw] += gj * (r[i] - mu)


@njit(parallel=True, cache=True)
def _stats(x, rows, mean, var):  # pragma: no cover - jit
    n, c, length = x.shape
    nblk = (n + rows - 1) // rows
    tmean = np.empty(nblk * c)
    tm2 = np.empty(nblk * c)
    for t in prange(nblk * c):
        b, ch = t // c, t % c
        n0, n1 = b * rows, min(b * rows + rows, n)
        buf = np.zeros(_W)
        for s in range(n0, n1):
            _fold(buf, x[s, ch])
        mu = _lanes_sum(buf) / ((n1 - n0) * length)
        buf[:] = 0.0
        for s in range(n0, n1):
            _fold_sq_dev(buf, x[s, ch], mu)
        tmean[t] = mu
        tm2[t] = _lanes_sum(buf)
    # Chan et al.: M2 = sum of the tasks' M2 + sum count_b (task mean - mean)^2
    for ch in range(c):
        s = 0.0
        for b in range(nblk):
            s += tmean[b * c + ch] * (min(b * rows + rows, n) - b * rows)
        mu = s / n
        m2 = 0.0
        dev = 0.0
        for b in range(nblk):
            m2 += tm2[b * c + ch]
            d = tmean[b * c + ch] - mu
            dev += d * d * (min(b * rows + rows, n) - b * rows)
        mean[ch] = mu
        var[ch] = (m2 + dev * length) / (n * length)


_stats_serial = _serial(_stats)


def batch_norm_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, ...) -> (mean, var), float64 (C,): each channel's mean and biased variance
    over every other axis; see the reference."""
    if not _compiled_for(x):
        return _reference.batch_norm_stats(x)
    x3 = _as_ncl(x)
    mean = np.empty(x3.shape[1])
    var = np.empty(x3.shape[1])
    kernel = _pick(_stats, _stats_serial, x3)
    kernel(x3, _rows_per_task(x3.shape[0], x3.shape[2]), mean, var)
    return mean, var


@njit(parallel=True, cache=True)
def _forward(x, rows, mean, inv_std, weight, bias, y):  # pragma: no cover - jit
    # y = (x - mean) * scale + bias, scale = weight * inv_std (float64), the (C,) constants
    # taken in x's dtype as the reference takes them
    n, c, length = x.shape
    k = np.empty((3, c), x.dtype)  # storing casts to x's dtype
    for ch in range(c):
        k[0, ch] = mean[ch]
        k[1, ch] = inv_std[ch] * weight[ch]
        k[2, ch] = bias[ch]
    nblk = (n + rows - 1) // rows
    for t in prange(nblk * c):
        b, ch = t // c, t % c
        mu, a, sh = k[0, ch], k[1, ch], k[2, ch]
        for s in range(b * rows, min(b * rows + rows, n)):
            xr, yr = x[s, ch], y[s, ch]
            for i in range(length):
                yr[i] = (xr[i] - mu) * a + sh


_forward_serial = _serial(_forward)


def batch_norm(
    x: np.ndarray,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    mean: np.ndarray,
    inv_std: np.ndarray,
) -> np.ndarray:
    """x (N, C, ...) -> y = (x - mean) * scale + bias per channel, scale = weight * inv_std;
    see the reference."""
    if not _compiled_for(x):
        return _reference.batch_norm(x, weight, bias, mean, inv_std)
    x3 = _as_ncl(x)
    n, c, length = x3.shape
    y = aligned_empty(x3.shape, x3.dtype)
    kernel = _pick(_forward, _forward_serial, x3)
    kernel(x3, _rows_per_task(n, length), np.asarray(mean, np.float64),
           np.asarray(inv_std, np.float64), _or_fill(weight, c, 1.0), _or_fill(bias, c, 0.0), y)
    return y.reshape(x.shape)


@njit(parallel=True, cache=True)
def _backward(gy, x, rows, mean, inv_std, weight, training, gx, gw, gb):  # pragma: no cover
    n, c, length = x.shape
    nblk = (n + rows - 1) // rows
    # 1. per task: sum gy and sum gy (x - mean), float64
    tsum = np.empty(nblk * c)
    tdev = np.empty(nblk * c)
    for t in prange(nblk * c):
        b, ch = t // c, t % c
        bs = np.zeros(_W)
        bd = np.zeros(_W)
        mu = mean[ch]
        for s in range(b * rows, min(b * rows + rows, n)):
            _fold_dot_dev(bs, bd, gy[s, ch], x[s, ch], mu)
        tsum[t] = _lanes_sum(bs)
        tdev[t] = _lanes_sum(bd)
    # 2. per channel: gb, gw = inv_std sum gy (x - mean), and gx's constants in x's dtype
    m = n * length
    k = np.empty((5, c), x.dtype)  # storing casts to x's dtype
    for ch in range(c):
        s1 = 0.0
        s2 = 0.0
        for b in range(nblk):
            s1 += tsum[b * c + ch]
            s2 += tdev[b * c + ch]
        gb[ch] = s1
        gw[ch] = s2 * inv_std[ch]
        k[0, ch] = inv_std[ch] * weight[ch]
        k[1, ch] = mean[ch]
        k[2, ch] = inv_std[ch]
        k[3, ch] = s1 / m if m else 0.0
        k[4, ch] = s2 * inv_std[ch] / m if m else 0.0
    # 3. training: gx = scale ((gy - gb/m) - ((x - mean) inv_std) gw/m); eval: gy scale
    for t in prange(nblk * c):
        b, ch = t // c, t % c
        a, mu, r, c0, c1 = k[0, ch], k[1, ch], k[2, ch], k[3, ch], k[4, ch]
        for s in range(b * rows, min(b * rows + rows, n)):
            gr, xr, gxr = gy[s, ch], x[s, ch], gx[s, ch]
            if training:
                for i in range(length):
                    gxr[i] = a * ((gr[i] - c0) - ((xr[i] - mu) * r) * c1)
            else:
                for i in range(length):
                    gxr[i] = gr[i] * a


_backward_serial = _serial(_backward)


def batch_norm_backward(
    gy: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray | None,
    mean: np.ndarray,
    inv_std: np.ndarray,
    training: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gy, x (N, C, ...) -> (gx, gw, gb): gb = sum gy, gw = sum gy*xhat per channel (x's
    dtype); gx = scale (gy - gb/m - xhat gw/m) in training, gy scale in eval,
    scale = weight * inv_std; see the reference."""
    if not _compiled_for(gy, x):
        return _reference.batch_norm_backward(gy, x, weight, mean, inv_std, training)
    g3, x3 = _as_ncl(gy), _as_ncl(x)
    n, c, length = x3.shape
    gx = aligned_empty(g3.shape, g3.dtype)
    gw = np.empty(c, x.dtype)
    gb = np.empty(c, x.dtype)
    kernel = _pick(_backward, _backward_serial, x3)
    kernel(g3, x3, _rows_per_task(n, length), np.asarray(mean, np.float64),
           np.asarray(inv_std, np.float64), _or_fill(weight, c, 1.0), bool(training), gx, gw, gb)
    return gx.reshape(x.shape), gw, gb

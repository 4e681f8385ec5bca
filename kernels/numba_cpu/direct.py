"""Direct 3x3 and 5x5 convolutions (stride 1, no dilation, no groups) as Numba kernels.

.. math:: y[n, f, o_y, o_x] = \\sum_c \\sum_{i, j < k} w[f, c, i, j]\\,
          x_{pad}[n, c, o_y + i, o_x + j], \\quad k = 3 \\text{ or } 5

im2col writes 9x the input to memory and reads it back for a GEMM; on the small planes and
channel counts of CIFAR-sized networks (ResNet-20's 16 to 32 channels at 32x32 and 16x16)
that traffic, and GEMMs with only 16 or 32 rows, cost more than the arithmetic. This kernel
reads the input once: each padded input plane is flattened with its row width ``Wp = W + 2p``,
so tap (i, j) of output position ``q = o_y*Wp + o_x`` is input element ``q + i*Wp + j``; one
contiguous loop over q, which LLVM vectorises, then applies a window row (three taps) to four
filters at once: each input vector loaded feeds 12 multiply-adds into four accumulator rows
(the two right-most output columns of each row read across the row's end and are dropped).
Filters left over (F not a multiple of 4) take all nine taps of one filter per pass. The 5x5
kernel is the same with five taps per window row (5 loads per 20 multiply-adds).
``fastmath={'contract'}`` only lets LLVM fuse each multiply-add into one FMA (one rounding
instead of two); no reassociation, so the sum order is fixed.

The same kernel computes the gradient of the input, a full convolution of g_y with the
flipped, transposed weights (padding ``k - 1 - p``); see :mod:`minicnn.ops.conv`. The weight
gradient stays an im2col GEMM. Used where it pays (``algo='auto'`` on the Numba kernel set:
3x3, stride 1, at most 32 input and output channels). Measured here, batch 64, float32, 2
cores (padding included): 16->16 channels at 32x32 2.2 ms (140 GFLOP/s; one filter per pass:
2.6 ms; im2col + GEMM: 5.4 ms), 32->32 at 16x16 2.3 ms (130 GFLOP/s; 2.7 ms). LLVM keeps
256-bit vectors here, whose FMA peak is half the 512-bit GEMM peak (about 140-155 GFLOP/s).
5x5, 16->32 channels at 28x28, batch 8 (GoogLeNet 3a): 1.0 ms against 2.7 for im2col + GEMM.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.numba_cpu.threads import pick, serial_twin

Pair = tuple[int, int]


def _pad_planes(x, ph, pw, out):  # x (N, C, H, W) -> out (N, C, Hp*Wp + k-1), zero borders
    n_, c_, h_, w_ = x.shape
    wp = w_ + 2 * pw
    size = out.shape[2]
    top = ph * wp + pw  # zeros before the first interior cell
    for r in prange(n_ * c_):
        n = r // c_
        c = r - n * c_
        o = out[n, c]
        xs = x[n, c]
        o[:top] = 0
        for yy in range(h_):
            base = (yy + ph) * wp + pw
            o[base:base + w_] = xs[yy]
            o[base + w_:base + wp] = 0  # this row's right border and the next row's left
        o[(h_ + ph) * wp + pw:size] = 0


def _task(t, f_):
    """Task t of a kernel's prange -> (n, f0, nf): image n, filters f0 .. f0+nf-1; the F
    filters are cut into blocks of four, then the rest one by one."""
    f4 = f_ // 4
    nfb = f4 + (f_ - 4 * f4)
    n = t // nfb
    b = t - n * nfb
    if b < f4:
        return n, 4 * b, 4
    return n, 3 * f4 + b, 1


def _tasks(n_, f_):
    """The number of prange tasks of :func:`_task`."""
    return n_ * (f_ // 4 + f_ % 4)


def _store(acc, y, n, f0, nf, wp):
    """y[n, f0 + k] = acc[k] without the dropped columns (row width wp, ow kept)."""
    oh, ow = y.shape[2], y.shape[3]
    for k in range(nf):
        for oy in range(oh):
            for ox in range(ow):
                y[n, f0 + k, oy, ox] = acc[k, oy * wp + ox]


def _conv3x3_planes(xpad, w, oh, ow, y):
    # xpad (N, C, Hp*Wp + 2) padded flat planes; w (F, C, 3, 3); y (N, F, oh, ow)
    n_, c_ = xpad.shape[0], xpad.shape[1]
    f_ = w.shape[0]
    wp = ow + 2
    L = oh * wp
    for t in prange(_tasks(n_, f_)):
        n, f0, nf = _task(t, f_)
        acc = np.zeros((nf, L), dtype=y.dtype)
        if nf == 4:  # each input row feeds four filters: 3 loads per 12 multiply-adds
            a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
            for c in range(c_):
                for i in range(3):
                    u0, u1, u2 = w[f0, c, i, 0], w[f0, c, i, 1], w[f0, c, i, 2]
                    v0, v1, v2 = w[f0 + 1, c, i, 0], w[f0 + 1, c, i, 1], w[f0 + 1, c, i, 2]
                    s0, s1, s2 = w[f0 + 2, c, i, 0], w[f0 + 2, c, i, 1], w[f0 + 2, c, i, 2]
                    z0, z1, z2 = w[f0 + 3, c, i, 0], w[f0 + 3, c, i, 1], w[f0 + 3, c, i, 2]
                    r = xpad[n, c, i * wp:]  # input row i of the window, flat
                    for q in range(L):
                        x0, x1, x2 = r[q], r[q + 1], r[q + 2]
                        a0[q] += u0 * x0 + u1 * x1 + u2 * x2
                        a1[q] += v0 * x0 + v1 * x1 + v2 * x2
                        a2[q] += s0 * x0 + s1 * x1 + s2 * x2
                        a3[q] += z0 * x0 + z1 * x1 + z2 * x2
        else:  # one filter: all nine taps per pass over acc
            a0 = acc[0]
            for c in range(c_):
                r0 = xpad[n, c]
                r1 = r0[wp:]
                r2 = r0[2 * wp:]
                w00, w01, w02 = w[f0, c, 0, 0], w[f0, c, 0, 1], w[f0, c, 0, 2]
                w10, w11, w12 = w[f0, c, 1, 0], w[f0, c, 1, 1], w[f0, c, 1, 2]
                w20, w21, w22 = w[f0, c, 2, 0], w[f0, c, 2, 1], w[f0, c, 2, 2]
                for q in range(L):
                    a0[q] += (w00 * r0[q] + w01 * r0[q + 1] + w02 * r0[q + 2]
                              + w10 * r1[q] + w11 * r1[q + 1] + w12 * r1[q + 2]
                              + w20 * r2[q] + w21 * r2[q + 1] + w22 * r2[q + 2])
        _store(acc, y, n, f0, nf, wp)


def _conv5x5_planes(xpad, w, oh, ow, y):
    # as _conv3x3_planes for 5x5 windows: a window row is five taps; Wp = ow + 4
    n_, c_ = xpad.shape[0], xpad.shape[1]
    f_ = w.shape[0]
    wp = ow + 4
    L = oh * wp
    for t in prange(_tasks(n_, f_)):
        n, f0, nf = _task(t, f_)
        acc = np.zeros((nf, L), dtype=y.dtype)
        if nf == 4:  # 5 loads per 20 multiply-adds
            a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
            for c in range(c_):
                for i in range(5):
                    u0, u1, u2, u3, u4 = (w[f0, c, i, 0], w[f0, c, i, 1], w[f0, c, i, 2],
                                          w[f0, c, i, 3], w[f0, c, i, 4])
                    v0, v1, v2, v3, v4 = (w[f0 + 1, c, i, 0], w[f0 + 1, c, i, 1],
                                          w[f0 + 1, c, i, 2], w[f0 + 1, c, i, 3],
                                          w[f0 + 1, c, i, 4])
                    s0, s1, s2, s3, s4 = (w[f0 + 2, c, i, 0], w[f0 + 2, c, i, 1],
                                          w[f0 + 2, c, i, 2], w[f0 + 2, c, i, 3],
                                          w[f0 + 2, c, i, 4])
                    z0, z1, z2, z3, z4 = (w[f0 + 3, c, i, 0], w[f0 + 3, c, i, 1],
                                          w[f0 + 3, c, i, 2], w[f0 + 3, c, i, 3],
                                          w[f0 + 3, c, i, 4])
                    r = xpad[n, c, i * wp:]
                    for q in range(L):
                        x0, x1, x2, x3, x4 = r[q], r[q + 1], r[q + 2], r[q + 3], r[q + 4]
                        a0[q] += u0 * x0 + u1 * x1 + u2 * x2 + u3 * x3 + u4 * x4
                        a1[q] += v0 * x0 + v1 * x1 + v2 * x2 + v3 * x3 + v4 * x4
                        a2[q] += s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3 + s4 * x4
                        a3[q] += z0 * x0 + z1 * x1 + z2 * x2 + z3 * x3 + z4 * x4
        else:
            a0 = acc[0]
            for c in range(c_):
                for i in range(5):
                    u0, u1, u2, u3, u4 = (w[f0, c, i, 0], w[f0, c, i, 1], w[f0, c, i, 2],
                                          w[f0, c, i, 3], w[f0, c, i, 4])
                    r = xpad[n, c, i * wp:]
                    for q in range(L):
                        a0[q] += (u0 * r[q] + u1 * r[q + 1] + u2 * r[q + 2] + u3 * r[q + 3]
                                  + u4 * r[q + 4])
        _store(acc, y, n, f0, nf, wp)


_task = njit(inline="always", cache=True)(_task)
_tasks = njit(inline="always", cache=True)(_tasks)
_store = njit(cache=True)(_store)
_pad_jit = njit(parallel=True, cache=True)(_pad_planes)
_conv3x3_jit = njit(parallel=True, cache=True, fastmath={"contract"})(_conv3x3_planes)
_pad_serial = serial_twin(_pad_planes)  # for forked children (threads.py)
_conv3x3_serial = serial_twin(_conv3x3_planes, fastmath={"contract"})
_conv5x5_jit = njit(parallel=True, cache=True, fastmath={"contract"})(_conv5x5_planes)
_conv5x5_serial = serial_twin(_conv5x5_planes, fastmath={"contract"})


def conv2d_direct(x: np.ndarray, w: np.ndarray, padding: Pair) -> np.ndarray:
    """y (N, F, oh, ow) = the k x k (k = 3 or 5), stride-1 cross-correlation of x (N, C, H, W)
    with w (F, C, k, k), zero padding ``padding`` = (ph, pw); no bias.

    The caller (``minicnn.ops.conv``) checks the shapes: kernel 3x3 or 5x5, padding 0 to k-1,
    x and w of one float dtype, the padded input at least k x k.
    """
    n, c, h, wd = x.shape
    f, k = w.shape[0], w.shape[2]
    ph, pw = int(padding[0]), int(padding[1])
    hp, wp = h + 2 * ph, wd + 2 * pw
    oh, ow = hp - k + 1, wp - k + 1
    # + k-1: the columns the last row's dropped outputs read past the plane
    xpad = np.empty((n, c, hp * wp + k - 1), dtype=x.dtype)
    pick(_pad_jit, _pad_serial)(np.ascontiguousarray(x), ph, pw, xpad)
    y = np.empty((n, f, oh, ow), dtype=x.dtype)
    kernel = pick(_conv3x3_jit, _conv3x3_serial) if k == 3 else \
        pick(_conv5x5_jit, _conv5x5_serial)
    kernel(xpad, np.ascontiguousarray(w), oh, ow, y)
    return y

"""Direct k x k convolutions (stride 1, no dilation, no groups; k = 3 or 5) as register-blocked
Numba kernels: the forward (also the input gradient's full convolution) and the weight gradient.

.. math:: y[n, f, o_y, o_x] = \\sum_c \\sum_{i, j < k} w[f, c, i, j]\\,
          x_{pad}[n, c, o_y + i, o_x + j]

.. math:: g_W[f, c, i, j] = \\sum_n \\sum_{o_y, o_x} g_y[n, f, o_y, o_x]\\,
          x_{pad}[n, c, o_y + i, o_x + j]

im2col writes k^2 times the input to memory and reads it back for a GEMM; on the small planes
and channel counts of CIFAR-sized networks (ResNet-20's 16 to 64 channels at 32x32 to 8x8)
that traffic, and GEMMs with 16 to 64 rows, cost more than the arithmetic. These kernels read
the input in place. Each padded input plane is flattened with its row width ``Wp = W + 2p``,
so tap (i, j) of output position ``q = o_y Wp + o_x`` is input element ``q + i Wp + j``: a
window shift is an offset, and a run of consecutive q is a contiguous vector load (the k-1
right-most outputs of each row read across the row's end and are dropped).

Register blocking (as oneDNN's JIT kernels and BLIS's micro-kernels are built), with the
explicit 512-bit vectors of :mod:`kernels.numba_cpu.simd` (16 float32 or 8 float64 lanes):

* forward: 4 filters x 4 vectors of consecutive q = 16 accumulators in registers for the whole
  sum over channels and taps; each tap loads 4 input vectors and 4 broadcast weights for 16
  multiply-adds, and each output is stored once. Tasks: (image, 4 filters).
* weight gradient: 4 filters x 3 taps of one window row = 12 accumulators, each a vector of
  partial sums over q; each step loads 3 shifted input vectors and 4 g_y vectors for 12
  multiply-adds. g_y is widened to the input's row width (zeros in the dropped columns), and
  both are laid out channel-major, (C, N, Hp Wp) and (F, N, Hp Wp), so one loop over q runs
  across a chunk of images whose planes fit the L2 cache. Tasks: (chunk, 4 filters); lanes and
  chunks are summed at the end. A 5-wide window row takes two groups of 3 taps (the sixth is
  computed and dropped).

Filters are padded with zeros to a multiple of 4. Measured here, 2 cores, float32, batch 64,
forward: 16->16 channels at 32x32 1.16 ms (260 GFLOP/s, 75% of the GEMM peak; the previous
auto-vectorised kernel, partial sums in memory: 1.8 ms), 32->32 at 16x16 1.2 ms, 64->64 at 8x8
1.8 ms (Winograd 2.4 ms); 64->64 at 32x32, batch 32: 8.5 ms (285 GFLOP/s).
Sums run in another order than im2col's GEMM (the tests allow float32 1e-5 and float64 1e-12
relative); each multiply-add is one FMA (one rounding).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from kernels.numba_cpu.simd import VECTOR_BYTES, vfma, vload, vsplat, vstore, vsum
from kernels.numba_cpu.threads import pick, serial_twin

Pair = tuple[int, int]

#: vectors of consecutive outputs per forward block
_BLOCK_VECTORS = 4
#: bytes of one weight-gradient chunk's input and g_y planes (L2-sized)
_CHUNK_BYTES = 1 << 19


def _pad_planes(x, ph, pw, wp, out):
    # x (N, C, H, W) -> out[n, c] (flat, row width wp >= W + pw, zeros around; any layout)
    n_, c_, h_, w_ = x.shape
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


def _conv_planes(xpad, w4, wp, nl, y):
    # xpad (N, C, P) padded flat planes of row width wp; w4 (F4/4, C, k, k, 4) the weights, four
    # filters interleaved (zeros past F); nl lanes per vector; y (N, F, oh, ow)
    n_, c_ = xpad.shape[0], xpad.shape[1]
    nfb, kh, kw = w4.shape[0], w4.shape[2], w4.shape[3]
    f_, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    bq = 4 * nl  # _BLOCK_VECTORS vectors: outputs per block
    nb = (oh * wp + bq - 1) // bq
    for t in prange(n_ * nfb):
        n = t // nfb
        fb = t - n * nfb
        acc = np.empty((4, nb * bq), dtype=y.dtype)
        a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
        zero = vsplat(a0, 0.0)
        for b in range(nb):
            q = b * bq
            s00, s01, s02, s03 = zero, zero, zero, zero
            s10, s11, s12, s13 = zero, zero, zero, zero
            s20, s21, s22, s23 = zero, zero, zero, zero
            s30, s31, s32, s33 = zero, zero, zero, zero
            for c in range(c_):
                r = xpad[n, c]
                for i in range(kh):
                    for j in range(kw):
                        o = q + i * wp + j
                        x0, x1 = vload(r, o), vload(r, o + nl)
                        x2, x3 = vload(r, o + 2 * nl), vload(r, o + 3 * nl)
                        u = w4[fb, c, i, j]
                        v = vsplat(a0, u[0])
                        s00, s01 = vfma(x0, v, s00), vfma(x1, v, s01)
                        s02, s03 = vfma(x2, v, s02), vfma(x3, v, s03)
                        v = vsplat(a0, u[1])
                        s10, s11 = vfma(x0, v, s10), vfma(x1, v, s11)
                        s12, s13 = vfma(x2, v, s12), vfma(x3, v, s13)
                        v = vsplat(a0, u[2])
                        s20, s21 = vfma(x0, v, s20), vfma(x1, v, s21)
                        s22, s23 = vfma(x2, v, s22), vfma(x3, v, s23)
                        v = vsplat(a0, u[3])
                        s30, s31 = vfma(x0, v, s30), vfma(x1, v, s31)
                        s32, s33 = vfma(x2, v, s32), vfma(x3, v, s33)
            vstore(a0, q, s00)
            vstore(a0, q + nl, s01)
            vstore(a0, q + 2 * nl, s02)
            vstore(a0, q + 3 * nl, s03)
            vstore(a1, q, s10)
            vstore(a1, q + nl, s11)
            vstore(a1, q + 2 * nl, s12)
            vstore(a1, q + 3 * nl, s13)
            vstore(a2, q, s20)
            vstore(a2, q + nl, s21)
            vstore(a2, q + 2 * nl, s22)
            vstore(a2, q + 3 * nl, s23)
            vstore(a3, q, s30)
            vstore(a3, q + nl, s31)
            vstore(a3, q + 2 * nl, s32)
            vstore(a3, q + 3 * nl, s33)
        for k in range(min(4, f_ - 4 * fb)):
            for oy in range(oh):
                y[n, 4 * fb + k, oy, :] = acc[k, oy * wp:oy * wp + ow]


def _widen_rows(gy, wp, size, out):
    # gy (N, F, oh, ow) -> out[f, n*size + oy*wp + ox] (F4, N*size), zeros elsewhere, F4 >= F
    n_, f_, oh, ow = gy.shape
    f4 = out.shape[0]
    for r in prange(f4 * n_):
        f = r // n_
        n = r - f * n_
        o = out[f, n * size:(n + 1) * size]
        if f >= f_:
            o[:] = 0
            continue
        for oy in range(oh):
            o[oy * wp:oy * wp + ow] = gy[n, f, oy]
            o[oy * wp + ow:(oy + 1) * wp] = 0
        o[oh * wp:] = 0


def _weight_grad_planes(xt, gt, n_, size, wp, nl, chunk, part):
    # xt (C, (n_+1)*size) padded input planes, channel-major, zeros after the last; gt
    # (F4, n_*size) g_y widened to row width wp; nl lanes per vector; part (chunks, F4, C, kh,
    # kw3) the partial sums of each chunk of `chunk` images (kw3: kw rounded up to 3)
    c_ = xt.shape[0]
    nfb = gt.shape[0] // 4
    chunks, kh, kw3 = part.shape[0], part.shape[3], part.shape[4]
    for t in prange(chunks * nfb):
        ch = t // nfb
        fb = t - ch * nfb
        lo = ch * chunk * size
        hi = min(n_, (ch + 1) * chunk) * size
        g0, g1, g2, g3 = gt[4 * fb], gt[4 * fb + 1], gt[4 * fb + 2], gt[4 * fb + 3]
        lane = np.empty(nl, dtype=part.dtype)
        zero = vsplat(lane, 0.0)
        for c in range(c_):
            r = xt[c]
            for i in range(kh):
                for j0 in range(0, kw3, 3):
                    s00, s01, s02 = zero, zero, zero
                    s10, s11, s12 = zero, zero, zero
                    s20, s21, s22 = zero, zero, zero
                    s30, s31, s32 = zero, zero, zero
                    for q in range(lo, hi, nl):
                        o = q + i * wp + j0
                        x0, x1, x2 = vload(r, o), vload(r, o + 1), vload(r, o + 2)
                        v = vload(g0, q)
                        s00, s01, s02 = vfma(x0, v, s00), vfma(x1, v, s01), vfma(x2, v, s02)
                        v = vload(g1, q)
                        s10, s11, s12 = vfma(x0, v, s10), vfma(x1, v, s11), vfma(x2, v, s12)
                        v = vload(g2, q)
                        s20, s21, s22 = vfma(x0, v, s20), vfma(x1, v, s21), vfma(x2, v, s22)
                        v = vload(g3, q)
                        s30, s31, s32 = vfma(x0, v, s30), vfma(x1, v, s31), vfma(x2, v, s32)
                    p = part[ch, 4 * fb:4 * fb + 4, c, i]
                    p[0, j0] = vsum(s00)
                    p[0, j0 + 1] = vsum(s01)
                    p[0, j0 + 2] = vsum(s02)
                    p[1, j0] = vsum(s10)
                    p[1, j0 + 1] = vsum(s11)
                    p[1, j0 + 2] = vsum(s12)
                    p[2, j0] = vsum(s20)
                    p[2, j0 + 1] = vsum(s21)
                    p[2, j0 + 2] = vsum(s22)
                    p[3, j0] = vsum(s30)
                    p[3, j0 + 1] = vsum(s31)
                    p[3, j0 + 2] = vsum(s32)


_pad_jit = njit(parallel=True, cache=True)(_pad_planes)
_pad_serial = serial_twin(_pad_planes)  # for forked children (threads.py)
_conv_jit = njit(parallel=True, cache=True)(_conv_planes)
_conv_serial = serial_twin(_conv_planes)
_widen_jit = njit(parallel=True, cache=True)(_widen_rows)
_widen_serial = serial_twin(_widen_rows)
_weight_grad_jit = njit(parallel=True, cache=True)(_weight_grad_planes)
_weight_grad_serial = serial_twin(_weight_grad_planes)


def _padded(x: np.ndarray, ph: int, pw: int, wp: int, size: int,
            channel_major: bool = False) -> np.ndarray:
    """x's planes zero-padded and flattened with row width wp, ``size`` elements each, as
    (N, C, size), or as (C, N*size + size) with ``channel_major`` (the last plane's worth of
    zeros for the reads past the last image)."""
    n, c = x.shape[:2]
    if channel_major:
        flat = np.empty((c, (n + 1) * size), dtype=x.dtype)
        flat[:, n * size:] = 0
        out = flat[:, :n * size].reshape(c, n, size).transpose(1, 0, 2)
    else:
        flat = out = np.empty((n, c, size), dtype=x.dtype)
    pick(_pad_jit, _pad_serial)(np.ascontiguousarray(x), ph, pw, wp, out)
    return flat


def _plane_size(hp: int, wp: int, reach: int) -> int:
    """Elements per padded plane: the plane, and the vector reads of the last block of
    outputs past it (``reach``: the last element a block may read, from the plane's start)."""
    return max(hp * wp, reach + 1)


def conv2d_direct(x: np.ndarray, w: np.ndarray, padding: Pair) -> np.ndarray:
    """y (N, F, oh, ow) = the k x k (k = 3 or 5), stride-1 cross-correlation of x (N, C, H, W)
    with w (F, C, k, k), zero padding ``padding`` = (ph, pw); no bias.

    The caller (``minicnn.ops.conv``) checks the shapes: kernel 3x3 or 5x5, padding 0 to k-1,
    x and w of one float dtype, the padded input at least k x k.
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ph, pw = int(padding[0]), int(padding[1])
    hp, wp = h + 2 * ph, wd + 2 * pw
    oh, ow = hp - kh + 1, wp - kw + 1
    nl = VECTOR_BYTES // x.dtype.itemsize
    bq = _BLOCK_VECTORS * nl
    blocks = -(-oh * wp // bq)
    size = _plane_size(hp, wp, blocks * bq - 1 + (kh - 1) * wp + kw - 1)
    xpad = _padded(x, ph, pw, wp, size)
    nfb = -(-f // 4)
    w4 = np.zeros((nfb * 4, c, kh, kw), dtype=x.dtype)
    w4[:f] = w
    w4 = np.ascontiguousarray(w4.reshape(nfb, 4, c, kh, kw).transpose(0, 2, 3, 4, 1))
    y = np.empty((n, f, oh, ow), dtype=x.dtype)
    pick(_conv_jit, _conv_serial)(xpad, w4, wp, nl, y)
    return y


def conv2d_direct_weight_grad(x: np.ndarray, gy: np.ndarray, kernel_size: Pair,
                              padding: Pair) -> np.ndarray:
    """g_W (F, C, kh, kw) of the k x k (k = 3 or 5), stride-1 cross-correlation y of
    x (N, C, H, W) with padding ``padding``, from g_y (N, F, oh, ow): the sum over images and
    outputs of g_y times the input under each tap. Same checks by the caller as
    :func:`conv2d_direct`."""
    n, c, h, wd = x.shape
    f, oh, ow = gy.shape[1:]
    kh, kw = int(kernel_size[0]), int(kernel_size[1])
    ph, pw = int(padding[0]), int(padding[1])
    hp, wp = h + 2 * ph, wd + 2 * pw
    nl = VECTOR_BYTES // x.dtype.itemsize
    kw3 = -(-kw // 3) * 3
    # a whole number of vectors per image, past the furthest tap: reads past a chunk's last
    # image land in the next plane (times zeros in g_y) or in the plane of zeros after the last
    size = -(-max(hp * wp, (kh - 1) * wp + kw3) // nl) * nl
    nfb = -(-f // 4)
    xt = _padded(x, ph, pw, wp, size, channel_major=True)
    gt = np.empty((nfb * 4, n * size), dtype=x.dtype)
    pick(_widen_jit, _widen_serial)(np.ascontiguousarray(gy), wp, size, gt)
    per_image = (4 * nfb + c) * size * x.dtype.itemsize
    chunk = max(1, min(_CHUNK_BYTES // per_image, -(-n // numba.get_num_threads())))
    chunks = -(-n // chunk)
    part = np.empty((chunks, nfb * 4, c, kh, kw3), dtype=x.dtype)
    pick(_weight_grad_jit, _weight_grad_serial)(xt, gt, n, size, wp, nl, chunk, part)
    return np.ascontiguousarray(part.sum(axis=0)[:f, :, :, :kw])

"""Direct convolutions (no dilation, no groups) as register-blocked Numba kernels: the forward
(any kernel size and stride; also the input gradient's full convolution at stride 1) and the
weight gradient (any kernel size and stride).

.. math:: y[n, f, o_y, o_x] = \\sum_c \\sum_{i < k_h, j < k_w} w[f, c, i, j]\\,
          x_{pad}[n, c, s_h o_y + i, s_w o_x + j]

.. math:: g_W[f, c, i, j] = \\sum_n \\sum_{o_y, o_x} g_y[n, f, o_y, o_x]\\,
          x_{pad}[n, c, s_h o_y + i, s_w o_x + j]

im2col writes kh kw / (sh sw) times the input to memory and reads it back for a GEMM; on the
small planes and channel counts of CIFAR-sized networks (ResNet-20's 16 to 64 channels at 32x32
to 8x8) that traffic, and GEMMs with 16 to 64 rows, cost more than the arithmetic. These
kernels lay each input plane out flat so that a window tap is an offset and a run of
consecutive outputs is a contiguous vector load (see :func:`conv2d_direct` for the two
layouts: padded planes, row width ``Wp = W + 2p``, tap (i, j) of output ``q = o_y Wp + o_x``
at ``q + i Wp + j``, the kw-1 right-most outputs of each row computed and dropped; or phase
planes, one per row phase and window column, for strides and small planes).

Register blocking (as oneDNN's JIT kernels and BLIS's micro-kernels are built), with the
explicit 512-bit vectors of :mod:`kernels.numba_cpu.simd` (16 float32 or 8 float64 lanes):

* forward: 8 filters x 3 vectors of consecutive q = 24 accumulators in registers (4 x 4 = 16
  on phase planes, whose 8x8 planes are one block of 64 outputs, and for fewer than 8
  filters) for the whole sum over channels and taps; each tap loads 3 input vectors and 8
  broadcast weights for 24 multiply-adds, and each output is stored once. Tasks: (image,
  8 or 4 filters).
* weight gradient: 8 filters x 3 taps of one window row = 24 accumulators, each a vector of
  partial sums over q; each step loads 3 shifted input vectors and 8 g_y vectors for 24
  multiply-adds. Both operands are laid out channel-major, each channel's (filter's) planes
  of all images side by side: the input in padded planes, (C, N, P), or in phase planes,
  (C, planes, N, P); g_y at the same row width and P per image (zeros in the dropped
  columns and past each image's outputs); so one loop over q runs across a chunk of images
  whose planes fit the L2 cache. Tasks: (chunk, 8 filters); lanes and
  chunks are summed at the end. A window row of kw taps takes ceil(kw/3) groups of 3 (the
  taps past kw are computed and dropped). The sums run over the dropped columns and across
  the next image's plane too, times the zeros in g_y: an inf or NaN anywhere in an input
  channel makes that channel's whole g_W NaN (im2col's would keep some taps finite).

Filters are padded with zeros to a multiple of the task's. Measured here, 2 cores, float32,
batch 64 (medians; the machine's GEMM peak 346-360 GFLOP/s), the kernels alone: forward
16->16 channels at 32x32 0.94 ms (320 GFLOP/s; the auto-vectorised kernel this replaced, its
partial sums in memory: 1.8 ms), 32->32 at 16x16 1.03 ms, 64->64 at 8x8 on phase planes
1.0-1.2 ms (padded planes 1.9-2.3, Winograd 2.4); 64->64 at 32x32, batch 32: 7.5 ms
(320 GFLOP/s); weight gradient 16->16 at 32x32 1.2 ms (im2col + GEMM: 5 ms and more),
32->32 at 16x16 1.3 ms; the planes' copies add 0.1-0.5 ms to each.
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

#: vectors of consecutive outputs per block of the forward's 4-filter tasks (_conv_task)
_BLOCK_VECTORS = 4
#: ... and of its 8-filter tasks (_conv_task8)
_BLOCK_VECTORS_8 = 3
#: bytes of one weight-gradient chunk's input and g_y planes: a pass over q reads one input
#: channel's and eight filters' planes of the chunk, which stay in L1/L2 across the passes
#: (measured, float32, batch 64: 256 KiB against 512 KiB, 16->16 at 32x32: 1.9-2.0 against
#: 2.4 ms; 32->32 at 16x16: 1.8-1.9 against 1.9; 64->64 at 8x8: 2.4 against 2.5)
_CHUNK_BYTES = 1 << 18


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


def _phase_planes(x, ph, pw, sh, sw, kw, ow, out):
    # x (N, C, H, W) -> out[n, c, pr*kw + j] (flat, row width ow, for pr < min(sh, kh)): the
    # padded plane's rows pr, pr + sh, ... and columns j, j + sw, ..., j + (ow-1)*sw, so that
    # tap (i, j) of output (oy, ox) is row oy + i // sh, column ox of plane (i % sh, j). Zeros
    # outside x and after each plane.
    n_, c_, h_, w_ = x.shape
    planes, size = out.shape[2], out.shape[3]
    rows = size // ow
    for r in prange(n_ * c_):
        n = r // c_
        c = r - n * c_
        xs = x[n, c]
        for pl in range(planes):
            pr = pl // kw
            j = pl - pr * kw
            o = out[n, c, pl]
            for rr in range(rows):
                base = rr * ow
                yy = rr * sh + pr - ph  # the row of x
                if yy < 0 or yy >= h_:
                    for ox in range(ow):
                        o[base + ox] = 0
                    continue
                for ox in range(ow):  # (one loop with a select, which LLVM vectorises: 2-3x
                    xx = ox * sw + j - pw  # faster than three loops around x's columns)
                    o[base + ox] = xs[yy, xx] if 0 <= xx < w_ else 0
            for k in range(rows * ow, size):
                o[k] = 0


def _conv_task(xs, w4, b4, kh, kw, sh, pstep, jstep, rw, nl, y, n, fb):
    # one task of the direct forward: image n, filters 4fb .. 4fb+3. xs (N, C, J*P) the flat
    # input planes, output rows rw apart: tap (i, j) of output q = oy*rw + ox is element
    # q + (i % sh)*pstep + (i // sh)*rw + j*jstep of xs[n, c] (see conv2d_direct); w4
    # (F4/4, C, k, k, 4) the weights, four filters interleaved (zeros past F); b4 (F4,) the bias
    # (added where the outputs are written); nl lanes per vector; y (N, F, oh, ow)
    c_ = xs.shape[1]
    oh = y.shape[2]
    bq = 4 * nl  # _BLOCK_VECTORS vectors: outputs per block
    nb = (oh * rw + bq - 1) // bq
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
            r = xs[n, c]
            for i in range(kh):
                for j in range(kw):
                    o = q + i % sh * pstep + i // sh * rw + j * jstep
                    x0, x1 = vload(r, o), vload(r, o + nl)
                    x2, x3 = vload(r, o + 2 * nl), vload(r, o + 3 * nl)
                    u = w4[fb, c, i, j]
                    s00, s01, s02, s03 = _fma4(x0, x1, x2, x3, vsplat(a0, u[0]),
                                               s00, s01, s02, s03)
                    s10, s11, s12, s13 = _fma4(x0, x1, x2, x3, vsplat(a0, u[1]),
                                               s10, s11, s12, s13)
                    s20, s21, s22, s23 = _fma4(x0, x1, x2, x3, vsplat(a0, u[2]),
                                               s20, s21, s22, s23)
                    s30, s31, s32, s33 = _fma4(x0, x1, x2, x3, vsplat(a0, u[3]),
                                               s30, s31, s32, s33)
        _store3(a0, q, nl, s00, s01, s02)
        vstore(a0, q + 3 * nl, s03)
        _store3(a1, q, nl, s10, s11, s12)
        vstore(a1, q + 3 * nl, s13)
        _store3(a2, q, nl, s20, s21, s22)
        vstore(a2, q + 3 * nl, s23)
        _store3(a3, q, nl, s30, s31, s32)
        vstore(a3, q + 3 * nl, s33)
    _write_outputs(acc, b4, rw, y, n, 4 * fb)


def _conv_task8(xs, w8, b8, kh, kw, rw, nl, y, n, fb):
    # as _conv_task with a wider block, on padded planes (tap (i, j) at offset i*rw + j):
    # filters 8fb .. 8fb+7 x 3 vectors of outputs, 24 accumulators; each tap loads 3 input
    # vectors and 8 broadcast weights for 24 multiply-adds. w8 (F8/8, C, k, k, 8).
    c_ = xs.shape[1]
    oh = y.shape[2]
    bq = _BLOCK_VECTORS_8 * nl
    nb = (oh * rw + bq - 1) // bq
    acc = np.empty((8, nb * bq), dtype=y.dtype)
    zero = vsplat(acc[0], 0.0)
    for b in range(nb):
        q = b * bq
        s00, s01, s02 = zero, zero, zero
        s10, s11, s12 = zero, zero, zero
        s20, s21, s22 = zero, zero, zero
        s30, s31, s32 = zero, zero, zero
        s40, s41, s42 = zero, zero, zero
        s50, s51, s52 = zero, zero, zero
        s60, s61, s62 = zero, zero, zero
        s70, s71, s72 = zero, zero, zero
        for c in range(c_):
            r = xs[n, c]
            for i in range(kh):
                for j in range(kw):
                    o = q + i * rw + j
                    x0, x1, x2 = vload(r, o), vload(r, o + nl), vload(r, o + 2 * nl)
                    u = w8[fb, c, i, j]
                    s00, s01, s02 = _fma3(x0, x1, x2, vsplat(r, u[0]), s00, s01, s02)
                    s10, s11, s12 = _fma3(x0, x1, x2, vsplat(r, u[1]), s10, s11, s12)
                    s20, s21, s22 = _fma3(x0, x1, x2, vsplat(r, u[2]), s20, s21, s22)
                    s30, s31, s32 = _fma3(x0, x1, x2, vsplat(r, u[3]), s30, s31, s32)
                    s40, s41, s42 = _fma3(x0, x1, x2, vsplat(r, u[4]), s40, s41, s42)
                    s50, s51, s52 = _fma3(x0, x1, x2, vsplat(r, u[5]), s50, s51, s52)
                    s60, s61, s62 = _fma3(x0, x1, x2, vsplat(r, u[6]), s60, s61, s62)
                    s70, s71, s72 = _fma3(x0, x1, x2, vsplat(r, u[7]), s70, s71, s72)
        _store3(acc[0], q, nl, s00, s01, s02)
        _store3(acc[1], q, nl, s10, s11, s12)
        _store3(acc[2], q, nl, s20, s21, s22)
        _store3(acc[3], q, nl, s30, s31, s32)
        _store3(acc[4], q, nl, s40, s41, s42)
        _store3(acc[5], q, nl, s50, s51, s52)
        _store3(acc[6], q, nl, s60, s61, s62)
        _store3(acc[7], q, nl, s70, s71, s72)
    _write_outputs(acc, b8, rw, y, n, 8 * fb)


def _write_outputs(acc, b, rw, y, n, f0):
    """y[n, f0 + k] = the kept outputs of block row acc[k] (rows rw apart) + b[f0 + k]."""
    oh, ow = y.shape[2], y.shape[3]
    for k in range(min(acc.shape[0], y.shape[1] - f0)):
        bias = b[f0 + k]
        for oy in range(oh):
            y[n, f0 + k, oy, :] = acc[k, oy * rw:oy * rw + ow]
            if bias != 0:
                y[n, f0 + k, oy, :] += bias


def _fma4(x0, x1, x2, x3, v, s0, s1, s2, s3):
    """(x0 v + s0, ..., x3 v + s3): one row of the 4 x 4 register block."""
    return vfma(x0, v, s0), vfma(x1, v, s1), vfma(x2, v, s2), vfma(x3, v, s3)


def _fma3(x0, x1, x2, v, s0, s1, s2):
    """(x0 v + s0, x1 v + s1, x2 v + s2): one row of a register block."""
    return vfma(x0, v, s0), vfma(x1, v, s1), vfma(x2, v, s2)


def _store3(a, q, nl, v0, v1, v2):
    """a[q : q + 3 nl] = the vectors v0, v1, v2."""
    vstore(a, q, v0)
    vstore(a, q + nl, v1)
    vstore(a, q + 2 * nl, v2)


def _conv_padded8(xs, w8, b8, rw, nl, y):
    # the direct forward's tasks on padded planes with the 8 x 3 block: (image, eight filters)
    n_, nfb = xs.shape[0], w8.shape[0]
    for t in prange(n_ * nfb):
        _conv_task8(xs, w8, b8, w8.shape[2], w8.shape[3], rw, nl, y, t // nfb, t % nfb)


def _conv_padded(xs, w4, b4, rw, nl, y):
    # the direct forward's tasks, (image, four filters), on padded planes: tap (i, j) at offset
    # i*rw + j (constant steps, which LLVM folds: 7-10% faster than steps passed in)
    n_, nfb = xs.shape[0], w4.shape[0]
    for t in prange(n_ * nfb):
        _conv_task(xs, w4, b4, w4.shape[2], w4.shape[3], 1, 0, 1, rw, nl, y, t // nfb, t % nfb)


def _conv_phases(xs, w4, b4, sh, size, rw, nl, y):
    # the same on phase planes of ``size`` elements: tap (i, j) in plane (i % sh, j), at row
    # offset i // sh
    n_, nfb, kw = xs.shape[0], w4.shape[0], w4.shape[3]
    for t in prange(n_ * nfb):
        if w4.shape[2] == 3 and w4.shape[3] == 3 and sh == 1:  # constant trip counts: LLVM
            # unrolls the taps (64->64 at 8x8: 1.48 -> 1.24 ms; on padded planes it was slower)
            _conv_task(xs, w4, b4, 3, 3, 1, 0, size, rw, nl, y, t // nfb, t % nfb)
        else:
            _conv_task(xs, w4, b4, w4.shape[2], kw, sh, kw * size, size, rw, nl, y, t // nfb,
                       t % nfb)


def _widen_rows(gy, wp, size, out):
    # gy (N, F, oh, ow) -> out[f, n*size + oy*wp + ox] (F8, N*size), zeros elsewhere, F8 >= F
    n_, f_, oh, ow = gy.shape
    f8 = out.shape[0]
    for r in prange(f8 * n_):
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


def _weight_grad_task(xt, gt, n_, size, sh, pstep, jstep, rw, nl, chunk, part, ch, fb):
    # one task of the direct weight gradient: images ch*chunk .. of chunk ch, filters 8fb ..
    # 8fb+7. xt (C, J*P) input planes, channel-major (each plane the images' planes side by
    # side, `size` elements apart, and one of zeros after them), output rows rw apart: tap
    # (i, j) of output q is element q + (i % sh)*pstep + (i // sh)*rw + j*jstep of xt[c] (see
    # conv2d_direct_weight_grad); gt (F8, n_*size) g_y in the same layout, zeros past each
    # image's outputs; nl lanes per vector; part (chunks, F8, C, kh, kw3) the partial sums
    # (kw3: kw rounded up to 3)
    c_ = xt.shape[0]
    kh, kw3 = part.shape[3], part.shape[4]
    lo = ch * chunk * size
    hi = min(n_, (ch + 1) * chunk) * size
    f0 = 8 * fb
    g0, g1, g2, g3 = gt[f0], gt[f0 + 1], gt[f0 + 2], gt[f0 + 3]
    g4, g5, g6, g7 = gt[f0 + 4], gt[f0 + 5], gt[f0 + 6], gt[f0 + 7]
    zero = vsplat(g0, 0.0)
    for c in range(c_):
        r = xt[c]
        for i in range(kh):
            for j0 in range(0, kw3, 3):
                base = i % sh * pstep + i // sh * rw + j0 * jstep
                s00, s01, s02 = zero, zero, zero
                s10, s11, s12 = zero, zero, zero
                s20, s21, s22 = zero, zero, zero
                s30, s31, s32 = zero, zero, zero
                s40, s41, s42 = zero, zero, zero
                s50, s51, s52 = zero, zero, zero
                s60, s61, s62 = zero, zero, zero
                s70, s71, s72 = zero, zero, zero
                for q in range(lo, hi, nl):
                    o = q + base
                    x0, x1, x2 = vload(r, o), vload(r, o + jstep), vload(r, o + 2 * jstep)
                    s00, s01, s02 = _fma3(x0, x1, x2, vload(g0, q), s00, s01, s02)
                    s10, s11, s12 = _fma3(x0, x1, x2, vload(g1, q), s10, s11, s12)
                    s20, s21, s22 = _fma3(x0, x1, x2, vload(g2, q), s20, s21, s22)
                    s30, s31, s32 = _fma3(x0, x1, x2, vload(g3, q), s30, s31, s32)
                    s40, s41, s42 = _fma3(x0, x1, x2, vload(g4, q), s40, s41, s42)
                    s50, s51, s52 = _fma3(x0, x1, x2, vload(g5, q), s50, s51, s52)
                    s60, s61, s62 = _fma3(x0, x1, x2, vload(g6, q), s60, s61, s62)
                    s70, s71, s72 = _fma3(x0, x1, x2, vload(g7, q), s70, s71, s72)
                p = part[ch, f0:f0 + 8, c, i]
                _sums3(p[0], j0, s00, s01, s02)
                _sums3(p[1], j0, s10, s11, s12)
                _sums3(p[2], j0, s20, s21, s22)
                _sums3(p[3], j0, s30, s31, s32)
                _sums3(p[4], j0, s40, s41, s42)
                _sums3(p[5], j0, s50, s51, s52)
                _sums3(p[6], j0, s60, s61, s62)
                _sums3(p[7], j0, s70, s71, s72)


def _sums3(p, j0, v0, v1, v2):
    """p[j0 : j0 + 3] = the lane sums of v0, v1, v2."""
    p[j0] = vsum(v0)
    p[j0 + 1] = vsum(v1)
    p[j0 + 2] = vsum(v2)


def _weight_grad_padded(xt, gt, n_, size, rw, nl, chunk, part):
    # the direct weight gradient's tasks, (chunk, eight filters), on padded planes: tap (i, j)
    # at offset i*rw + j (constant steps, as _conv_padded)
    nfb = gt.shape[0] // 8
    for t in prange(part.shape[0] * nfb):
        _weight_grad_task(xt, gt, n_, size, 1, 0, 1, rw, nl, chunk, part, t // nfb, t % nfb)


def _weight_grad_phases(xt, gt, n_, size, sh, plane, rw, nl, chunk, part):
    # the same on phase planes of ``plane`` elements: tap (i, j) in plane (i % sh, j), at row
    # offset i // sh
    nfb = gt.shape[0] // 8
    pstep = part.shape[4] * plane
    for t in prange(part.shape[0] * nfb):
        _weight_grad_task(xt, gt, n_, size, sh, pstep, plane, rw, nl, chunk, part, t // nfb,
                          t % nfb)


_pad_jit = njit(parallel=True, cache=True)(_pad_planes)
_pad_serial = serial_twin(_pad_planes)  # for forked children (threads.py)
_phase_jit = njit(parallel=True, cache=True)(_phase_planes)
_phase_serial = serial_twin(_phase_planes)
_conv_task = njit(inline="always", cache=True)(_conv_task)
_write_outputs = njit(inline="always", cache=True)(_write_outputs)
_fma4 = njit(inline="always", cache=True)(_fma4)
_fma3 = njit(inline="always", cache=True)(_fma3)
_store3 = njit(inline="always", cache=True)(_store3)
_conv_task8 = njit(inline="always", cache=True)(_conv_task8)
_padded8_conv_jit = njit(parallel=True, cache=True)(_conv_padded8)
_padded8_conv_serial = serial_twin(_conv_padded8)
_padded_conv_jit = njit(parallel=True, cache=True)(_conv_padded)
_padded_conv_serial = serial_twin(_conv_padded)
_phases_conv_jit = njit(parallel=True, cache=True)(_conv_phases)
_phases_conv_serial = serial_twin(_conv_phases)
_widen_jit = njit(parallel=True, cache=True)(_widen_rows)
_widen_serial = serial_twin(_widen_rows)
_sums3 = njit(inline="always", cache=True)(_sums3)
_weight_grad_task = njit(inline="always", cache=True)(_weight_grad_task)
_padded_grad_jit = njit(parallel=True, cache=True)(_weight_grad_padded)
_padded_grad_serial = serial_twin(_weight_grad_padded)
_phases_grad_jit = njit(parallel=True, cache=True)(_weight_grad_phases)
_phases_grad_serial = serial_twin(_weight_grad_phases)


def _padded(x: np.ndarray, ph: int, pw: int, wp: int, size: int,
            channel_major: bool = False) -> np.ndarray:
    """x's planes zero-padded and flattened with row width wp, ``size`` elements each, as
    (N, C, size), or with ``channel_major`` as :func:`_channel_major`'s (C, (N+1) * size)."""
    n, c = x.shape[:2]
    if channel_major:
        flat, out = _channel_major(n, c, 1, size, x.dtype)
        out = out[:, :, 0]
    else:
        flat = out = np.empty((n, c, size), dtype=x.dtype)
    pick(_pad_jit, _pad_serial)(np.ascontiguousarray(x), ph, pw, wp, out)
    return flat


def _channel_major(n: int, c: int, planes: int, size: int,
                   dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(data, view): data (C, planes * (N+1) * size), vector-aligned, each channel's planes
    with the N images' ``size`` elements side by side and one image's worth of zeros after
    them (for the reads past the last image); view (N, C, planes, size) of the images' part,
    for a kernel that lays out each image's planes."""
    data = _aligned_empty((c, planes * (n + 1) * size), dtype)
    grid = data.reshape(c, planes, n + 1, size)
    grid[:, :, n] = 0
    view = grid[:, :, :n].transpose(2, 0, 1, 3)
    assert view.size == 0 or np.shares_memory(view, data)  # a view, which the kernel fills
    return data, view


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a vector (64-byte) boundary.
    (numpy's allocations of this size start 32 bytes past one here, with minicnn's malloc
    thresholds: every vector load from them would span two cache lines.)"""
    size = int(np.prod(shape))
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(size + VECTOR_BYTES // itemsize, dtype=dtype)
    skip = (-raw.ctypes.data % VECTOR_BYTES) // itemsize
    return raw[skip:skip + size].reshape(shape)


def _plane_size(rows: int, rw: int, reach: int) -> int:
    """Elements per (padded or phase) plane of ``rows`` rows of ``rw``: the plane, and the
    vector reads of the last block of outputs past it (``reach``: the last element a block may
    read, from the plane's start)."""
    return max(rows * rw, reach + 1)


def conv2d_direct(x: np.ndarray, w: np.ndarray, padding: Pair, stride: Pair = (1, 1),
                  bias: np.ndarray | None = None) -> np.ndarray:
    """y (N, F, oh, ow) = the kh x kw cross-correlation of x (N, C, H, W) with w (F, C, kh, kw),
    zero padding ``padding`` = (ph, pw), stride ``stride``, plus ``bias`` (F,) if given (added
    where the outputs are written, which saves a pass over y: 0.3 ms of 2 at 16 channels,
    32x32, batch 64).

    The caller (``minicnn.ops.conv``) checks the shapes: padding below the kernel, x and w of
    one float dtype, the padded input at least the kernel.

    Two input layouts. Padded planes (stride 1, planes with few dropped columns): each plane
    zero-padded, row width Wp, tap (i, j) at offset i Wp + j; a block of outputs also covers
    the kw-1 dropped columns of each row. Phase planes (strides above 1, and small planes:
    8x8 would drop half of each block): for each row phase pr < min(sh, kh) and window column
    j, the plane of rows pr, pr + sh, ... and columns j, j + sw, ... of the padded input, row
    width ow, so that tap (i, j) is at row offset i // sh of plane (i % sh, j) and every output
    of a block is kept; min(sh, kh) kw / (sh sw) times the input is copied.
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ph, pw = int(padding[0]), int(padding[1])
    sh, sw = int(stride[0]), int(stride[1])
    hp, wp = h + 2 * ph, wd + 2 * pw
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if n * oh * ow == 0:  # no outputs (an empty batch or plane): nothing to lay out
        return np.empty((n, f, oh, ow), dtype=x.dtype)
    nl = VECTOR_BYTES // x.dtype.itemsize
    bq = _BLOCK_VECTORS * nl
    blocks = -(-oh * ow // bq)
    padded_blocks = -(-oh * wp // bq)
    group = 4  # filters per task
    if (sh, sw) == (1, 1) and 2 * padded_blocks < 3 * blocks:
        if f >= 8:  # the 8 x 3 block (_conv_task8)
            group, bq = 8, _BLOCK_VECTORS_8 * nl
            conv = pick(_padded8_conv_jit, _padded8_conv_serial)
        else:
            conv = pick(_padded_conv_jit, _padded_conv_serial)
        rw, blocks = wp, -(-oh * wp // bq)
        size = _plane_size(hp, wp, blocks * bq - 1 + (kh - 1) * wp + kw - 1)
        xs = _padded(x, ph, pw, wp, size)
        steps = ()
    else:
        rw, phases = ow, min(sh, kh)
        reach = (kh - 1) // sh * ow  # the furthest row offset of a tap
        size = _plane_size(oh + (kh - 1) // sh, ow, blocks * bq - 1 + reach)
        xs = _aligned_empty((n, c, phases * kw, size), x.dtype)
        pick(_phase_jit, _phase_serial)(np.ascontiguousarray(x), ph, pw, sh, sw, kw, ow, xs)
        steps = (sh, size)
        conv = pick(_phases_conv_jit, _phases_conv_serial)
    nfb = -(-f // group)
    wg = np.zeros((nfb * group, c, kh, kw), dtype=x.dtype)
    wg[:f] = w
    wg = np.ascontiguousarray(wg.reshape(nfb, group, c, kh, kw).transpose(0, 2, 3, 4, 1))
    bg = np.zeros(nfb * group, dtype=x.dtype)
    if bias is not None:
        bg[:f] = bias
    y = np.empty((n, f, oh, ow), dtype=x.dtype)
    conv(xs.reshape(n, c, xs.size // max(1, n * c)), wg, bg, *steps, rw, nl, y)
    return y


def conv2d_direct_weight_grad(x: np.ndarray, gy: np.ndarray, kernel_size: Pair,
                              padding: Pair, stride: Pair = (1, 1)) -> np.ndarray:
    """g_W (F, C, kh, kw) of the kh x kw cross-correlation y of x (N, C, H, W) with padding
    ``padding`` and stride ``stride``, from g_y (N, F, oh, ow): the sum over images and outputs
    of g_y times the input under each tap. Same checks by the caller as :func:`conv2d_direct`.

    Both operands channel-major, each channel's (or filter's) planes of all images side by side,
    in one of :func:`conv2d_direct`'s layouts: padded planes (stride 1, planes with few dropped
    columns), g_y widened to their row width with zeros; or phase planes (strides, small
    planes), g_y as it is, with zero rows after each image's.
    """
    n, c, h, wd = x.shape
    f, oh, ow = gy.shape[1:]
    kh, kw = int(kernel_size[0]), int(kernel_size[1])
    if n * oh * ow == 0:  # no outputs: a zero gradient
        return np.zeros((f, c, kh, kw), dtype=x.dtype)
    ph, pw = int(padding[0]), int(padding[1])
    sh, sw = int(stride[0]), int(stride[1])
    hp, wp = h + 2 * ph, wd + 2 * pw
    nl = VECTOR_BYTES // x.dtype.itemsize
    kw3 = -(-kw // 3) * 3
    f8 = -(-f // 8) * 8  # tasks of 8 filters

    def whole(k: int) -> int:  # a whole number of vectors
        return -(-k // nl) * nl

    # per image: a whole number of vectors, past the furthest tap. Reads past a chunk's last
    # image land in the next image's plane (times zeros in g_y) or in the plane of zeros
    # after the last image.
    padded_size = whole(max(hp * wp, (kh - 1) * wp + kw3))
    phase_size = whole((oh + (kh - 1) // sh) * ow)
    padded = (sh, sw) == (1, 1) and 10 * padded_size < 13 * phase_size
    if padded:
        size, rw = padded_size, wp
        xt = _padded(x, ph, pw, wp, size, channel_major=True)
    else:
        size, rw = phase_size, ow
        planes = min(sh, kh) * kw3  # (taps past kw read planes past kw: computed, dropped)
        plane = (n + 1) * size
        xt, out = _channel_major(n, c, planes, size, x.dtype)
        pick(_phase_jit, _phase_serial)(np.ascontiguousarray(x), ph, pw, sh, sw, kw3, ow, out)
    gt = _aligned_empty((f8, n * size), x.dtype)  # whole vectors per row: aligned loads
    pick(_widen_jit, _widen_serial)(np.ascontiguousarray(gy), rw, size, gt)
    per_image = (f8 + c) * size * x.dtype.itemsize
    chunk = max(1, min(_CHUNK_BYTES // per_image, -(-n // numba.get_num_threads())))
    chunks = -(-n // chunk)
    part = np.empty((chunks, f8, c, kh, kw3), dtype=x.dtype)
    if padded:
        pick(_padded_grad_jit, _padded_grad_serial)(xt, gt, n, size, rw, nl, chunk, part)
    else:
        pick(_phases_grad_jit, _phases_grad_serial)(xt, gt, n, size, sh, plane, rw, nl, chunk,
                                                     part)
    return np.ascontiguousarray(part.sum(axis=0)[:f, :, :, :kw])

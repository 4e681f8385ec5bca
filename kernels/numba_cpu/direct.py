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
kernels lay each input plane out flat (:func:`direct_layout`), so that a window tap is an
offset and a run of consecutive outputs is a contiguous vector load:

* row planes (stride 1): the plane's rows rw apart, with zero rows above and below. Gapped
  (rw = W + the window's reach past an edge, zero columns between rows: each output row
  computes rw - ow outputs that are dropped) where that costs at most 10% more vectors, as
  on 16x16 and larger planes; else tight (rw = W, as 8x8: a vector holds two rows), where a
  tap that reaches past a row's edge reads the neighbouring row and the load masks those
  lanes off (:func:`kernels.numba_cpu.simd.vload_masked`, AVX-512 zero-masking).
* phase planes (strides): one per row phase and window column, row width ow, every output
  of a block kept.

The forward and the weight gradient read the same planes: ``minicnn.ops.conv`` lays x out
once (:func:`direct_planes`) and keeps the planes for the backward pass; g_y is read in
place when it is 64-byte aligned (the batch norm, ReLU and add kernels allocate so), has 8k
filters, and its rows fill the planes' (tight rows, phase planes) or are whole vectors on
gapped rows (x's gap skipped after each); else it is copied to that layout.

Register blocking (as oneDNN's JIT kernels and BLIS's micro-kernels are built), with the
explicit 512-bit vectors of :mod:`kernels.numba_cpu.simd` (16 float32 or 8 float64 lanes):

* forward: 8 filters x 3 vectors of consecutive q = 24 accumulators in registers (4 x 4 = 16
  on phase planes, on planes of 4 vectors such as 8x8, and for fewer than 8 filters) for the
  whole sum over channels and taps; each tap loads 3 input vectors and 8 broadcast weights
  for 24 multiply-adds, and each output is stored once. Tasks: (image, 8 or 4 filters).
* weight gradient: 8 filters x 3 taps of one window row = 24 accumulators, each a vector of
  partial sums over q; each step loads 3 shifted input vectors and 8 g_y vectors for 24
  multiply-adds. Tasks: (chunk of images, 8 filters), chunks small enough that a task's g_y
  stays in L1 across the channels and taps; the chunks' sums are added at the end. A window
  row of kw taps takes ceil(kw/3) groups of 3 (the taps past kw are computed and dropped).
  The sums run over the dropped columns too, times the zeros in g_y: an inf or NaN in an
  input plane there makes that channel's g_W NaN (im2col's would keep some taps finite).

Filters are padded with zeros to a multiple of the task's. Measured here, 2 cores, float32,
batch 64 (medians, interleaved), kernels alone: forward 16->16 channels at 32x32 0.99 ms
(300 GFLOP/s; the auto-vectorised kernel this replaced, its partial sums in memory: 1.8 ms),
32->32 at 16x16 1.03 ms, 64->64 at 8x8 on tight rows 0.96 ms (on 3 phase planes 0.84, plus
copying the input three times: 0.4 ms); weight gradient, the forward's planes given, 16->16
at 32x32 1.3-1.4 ms, 32->32 at 16x16 1.3-1.5, 64->64 at 8x8 1.5-1.7 (before the planes were
shared: 1.6-1.8, 1.6-1.8 and 2.1 with their own copies of x and g_y).
Sums run in another order than im2col's GEMM (the tests allow float32 1e-5 and float64 1e-12
relative); each multiply-add is one FMA (one rounding).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from kernels.numba_cpu.simd import (
    VECTOR_BYTES,
    aligned_empty,
    lanes,
    vfma,
    vload,
    vload_masked,
    vsplat,
    vstore,
    vsum,
)
from kernels.numba_cpu.threads import pick, serial_twin

Pair = tuple[int, int]

#: vectors of consecutive outputs per block of the forward's 4-filter tasks (_conv_task)
_BLOCK_VECTORS = 4
#: ... and of its 8-filter tasks (_conv_task8)
_BLOCK_VECTORS_8 = 3
#: bytes per weight-gradient chunk of a task's 8 g_y planes and one input channel's planes,
#: which every pass over q (a channel and 3 taps) reads again: about L1's size. Measured,
#: float32, batch 64, ms, chunks even and per thread the same count: 32 KiB against 64 and
#: 256: 16->16 at 32x32 1.53 / 1.57 / 1.95; 32->32 at 16x16 1.34 / 1.44 / 1.56; 64->64 at
#: 8x8 1.56 / 1.80 / 1.84; 32->64 3x3/2 at 16x16 1.12 / 1.14 / 1.15
_CHUNK_BYTES = 32 << 10


def _row_planes(x, ph, lead, rw, out):
    # x (N, C, H, W) -> out[n, c] (flat): lead zeros, ph rows of zeros, x's rows rw apart
    # (rw >= W; zeros between them), then zeros
    n_, c_, h_, w_ = x.shape
    top = lead + ph * rw
    for r in prange(n_ * c_):
        n = r // c_
        c = r - n * c_
        o = out[n, c]
        xs = x[n, c]
        o[:top] = 0
        if rw == w_:  # one run: the plane as it is
            o[top:top + h_ * w_] = xs.reshape(h_ * w_)
        else:
            for yy in range(h_):
                o[top + yy * rw:top + yy * rw + w_] = xs[yy]
                o[top + yy * rw + w_:top + (yy + 1) * rw] = 0
        o[top + h_ * rw:] = 0


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


def _conv_task(xs, w4, b4, masks, masked, kh, kw, sh, base, pstep, jstep, rw, nl, y, n, fb):
    # one task of the direct forward: image n, filters 4fb .. 4fb+3. xs (N, C, J*P) the input
    # planes, output q = oy*rw + ox; tap (i, j) of a vector of outputs at q is the vector at
    # element base + q + (i % sh)*pstep + (i // sh)*rw + j*jstep of xs[n, c], its lanes kept
    # where masks[q // nl, j] has their bits (see direct_layout); w4 (F4/4, kw, C, kh, 4) the
    # weights, four filters interleaved (zeros past F); b4 (F4,) the bias (each sum starts
    # from it); y (N, F, oh, ow). masked: whether any mask is not -1; then the
    # window columns run outermost, so that a block's masks for one column are loaded once
    # (into mask registers), and a column whose vectors need none loads plainly (a masked
    # load costs a uop on the FMA ports: 10-15% slower); else channels outermost, as the
    # loads of all taps are plain.
    c_ = xs.shape[1]
    oh = y.shape[2]
    nl = lanes(xs[n, 0])  # (a constant: the loads' offsets are displacements)
    bq = _BLOCK_VECTORS * nl  # outputs per block
    nb = (oh * rw + bq - 1) // bq
    ow, f_, f0 = y.shape[3], y.shape[1], 4 * fb
    # outputs stored straight into y when the blocks tile its planes (no dropped columns, no
    # partial block: 8x8 planes, phase planes of 16x16), else through a buffer
    direct = rw == ow and (oh * ow) % bq == 0
    acc = np.empty((4, 0 if direct else nb * bq), dtype=y.dtype)
    a0 = xs[n, 0]
    c0, c1 = vsplat(a0, b4[f0]), vsplat(a0, b4[f0 + 1])  # the bias, the sums' start
    c2, c3 = vsplat(a0, b4[f0 + 2]), vsplat(a0, b4[f0 + 3])
    for b in range(nb):
        q = b * bq
        v = 4 * b
        s = (c0, c0, c0, c0, c1, c1, c1, c1, c2, c2, c2, c2, c3, c3, c3, c3)
        if masked:
            for j in range(kw):
                m0, m1, m2, m3 = masks[v, j], masks[v + 1, j], masks[v + 2, j], masks[v + 3, j]
                edge = (m0 & m1 & m2 & m3) != -1
                for c in range(c_):
                    r = xs[n, c]
                    for i in range(kh):
                        o = base + q + i % sh * pstep + i // sh * rw + j * jstep
                        if edge:
                            x0, x1 = vload_masked(r, o, m0), vload_masked(r, o + nl, m1)
                            x2 = vload_masked(r, o + 2 * nl, m2)
                            x3 = vload_masked(r, o + 3 * nl, m3)
                        else:
                            x0, x1 = vload(r, o), vload(r, o + nl)
                            x2, x3 = vload(r, o + 2 * nl), vload(r, o + 3 * nl)
                        s = _fma4x4(x0, x1, x2, x3, w4[fb, j, c, i], a0, s)
        else:
            for c in range(c_):
                r = xs[n, c]
                for i in range(kh):
                    for j in range(kw):
                        o = base + q + i % sh * pstep + i // sh * rw + j * jstep
                        x0, x1 = vload(r, o), vload(r, o + nl)
                        x2, x3 = vload(r, o + 2 * nl), vload(r, o + 3 * nl)
                        s = _fma4x4(x0, x1, x2, x3, w4[fb, j, c, i], a0, s)
        for k in range(4):
            if direct:
                if f0 + k < f_:
                    yk = y[n, f0 + k].reshape(oh * ow)
                    _store3(yk, q, nl, s[4 * k], s[4 * k + 1], s[4 * k + 2])
                    vstore(yk, q + 3 * nl, s[4 * k + 3])
            else:
                _store3(acc[k], q, nl, s[4 * k], s[4 * k + 1], s[4 * k + 2])
                vstore(acc[k], q + 3 * nl, s[4 * k + 3])
    if not direct:
        _write_outputs(acc, rw, y, n, f0)


def _fma4x4(x0, x1, x2, x3, u, a, s):
    """The 4 x 4 register block s (16 vectors, filter-major) plus x0 .. x3 times each of the
    4 weights u, broadcast (as vectors of a's dtype)."""
    v0, v1, v2, v3 = vsplat(a, u[0]), vsplat(a, u[1]), vsplat(a, u[2]), vsplat(a, u[3])
    return (vfma(x0, v0, s[0]), vfma(x1, v0, s[1]), vfma(x2, v0, s[2]), vfma(x3, v0, s[3]),
            vfma(x0, v1, s[4]), vfma(x1, v1, s[5]), vfma(x2, v1, s[6]), vfma(x3, v1, s[7]),
            vfma(x0, v2, s[8]), vfma(x1, v2, s[9]), vfma(x2, v2, s[10]), vfma(x3, v2, s[11]),
            vfma(x0, v3, s[12]), vfma(x1, v3, s[13]), vfma(x2, v3, s[14]),
            vfma(x3, v3, s[15]))


def _conv_task8(xs, w8, b8, masks, masked, kh, kw, sh, base, pstep, jstep, rw, nl, y, n,
                fb):
    # as _conv_task with a wider block: filters 8fb .. 8fb+7 x 3 vectors of outputs, 24
    # accumulators; each tap loads 3 input vectors and 8 broadcast weights for 24
    # multiply-adds. w8 (F8/8, kw, C, kh, 8).
    c_ = xs.shape[1]
    oh = y.shape[2]
    nl = lanes(xs[n, 0])
    bq = _BLOCK_VECTORS_8 * nl
    nb = (oh * rw + bq - 1) // bq
    acc = np.empty((8, nb * bq), dtype=y.dtype)
    a0, f0 = acc[0], 8 * fb
    c0, c1, c2, c3 = (vsplat(a0, b8[f0]), vsplat(a0, b8[f0 + 1]), vsplat(a0, b8[f0 + 2]),
                      vsplat(a0, b8[f0 + 3]))  # the bias, the sums' start
    c4, c5, c6, c7 = (vsplat(a0, b8[f0 + 4]), vsplat(a0, b8[f0 + 5]), vsplat(a0, b8[f0 + 6]),
                      vsplat(a0, b8[f0 + 7]))
    for b in range(nb):
        q = b * bq
        v = 3 * b
        s = (c0, c0, c0, c1, c1, c1, c2, c2, c2, c3, c3, c3,
             c4, c4, c4, c5, c5, c5, c6, c6, c6, c7, c7, c7)
        if masked:
            for j in range(kw):
                m0, m1, m2 = masks[v, j], masks[v + 1, j], masks[v + 2, j]
                edge = (m0 & m1 & m2) != -1
                for c in range(c_):
                    r = xs[n, c]
                    for i in range(kh):
                        o = base + q + i % sh * pstep + i // sh * rw + j * jstep
                        if edge:
                            x0 = vload_masked(r, o, m0)
                            x1 = vload_masked(r, o + nl, m1)
                            x2 = vload_masked(r, o + 2 * nl, m2)
                        else:
                            x0, x1, x2 = vload(r, o), vload(r, o + nl), vload(r, o + 2 * nl)
                        s = _fma8x3(x0, x1, x2, w8[fb, j, c, i], r, s)
        else:
            for c in range(c_):
                r = xs[n, c]
                for i in range(kh):
                    for j in range(kw):
                        o = base + q + i % sh * pstep + i // sh * rw + j * jstep
                        x0, x1, x2 = vload(r, o), vload(r, o + nl), vload(r, o + 2 * nl)
                        s = _fma8x3(x0, x1, x2, w8[fb, j, c, i], r, s)
        for k in range(8):
            _store3(acc[k], q, nl, s[3 * k], s[3 * k + 1], s[3 * k + 2])
    _write_outputs(acc, rw, y, n, f0)


def _fma8x3(x0, x1, x2, u, r, s):
    """The 8 x 3 register block s (24 vectors, filter-major) plus x0, x1, x2 times each of the
    8 weights u, broadcast."""
    v0, v1, v2, v3 = vsplat(r, u[0]), vsplat(r, u[1]), vsplat(r, u[2]), vsplat(r, u[3])
    v4, v5, v6, v7 = vsplat(r, u[4]), vsplat(r, u[5]), vsplat(r, u[6]), vsplat(r, u[7])
    return (vfma(x0, v0, s[0]), vfma(x1, v0, s[1]), vfma(x2, v0, s[2]),
            vfma(x0, v1, s[3]), vfma(x1, v1, s[4]), vfma(x2, v1, s[5]),
            vfma(x0, v2, s[6]), vfma(x1, v2, s[7]), vfma(x2, v2, s[8]),
            vfma(x0, v3, s[9]), vfma(x1, v3, s[10]), vfma(x2, v3, s[11]),
            vfma(x0, v4, s[12]), vfma(x1, v4, s[13]), vfma(x2, v4, s[14]),
            vfma(x0, v5, s[15]), vfma(x1, v5, s[16]), vfma(x2, v5, s[17]),
            vfma(x0, v6, s[18]), vfma(x1, v6, s[19]), vfma(x2, v6, s[20]),
            vfma(x0, v7, s[21]), vfma(x1, v7, s[22]), vfma(x2, v7, s[23]))


def _write_outputs(acc, rw, y, n, f0):
    """y[n, f0 + k] = the kept outputs of block row acc[k] (rows rw apart)."""
    oh, ow = y.shape[2], y.shape[3]
    for k in range(min(acc.shape[0], y.shape[1] - f0)):
        for oy in range(oh):
            y[n, f0 + k, oy, :] = acc[k, oy * rw:oy * rw + ow]


def _fma3(x0, x1, x2, v, s0, s1, s2):
    """(x0 v + s0, x1 v + s1, x2 v + s2): one row of a register block."""
    return vfma(x0, v, s0), vfma(x1, v, s1), vfma(x2, v, s2)


def _store3(a, q, nl, v0, v1, v2):
    """a[q : q + 3 nl] = the vectors v0, v1, v2."""
    vstore(a, q, v0)
    vstore(a, q + nl, v1)
    vstore(a, q + 2 * nl, v2)


def _conv_rows8(xs, w8, b8, masks, masked, base, rw, nl, y):
    # the direct forward's tasks, (image, eight filters), on row planes: tap (i, j) at offset
    # base + i*rw + j (constant steps, which LLVM folds)
    n_, nfb = xs.shape[0], w8.shape[0]
    kw, kh = w8.shape[1], w8.shape[3]
    for t in prange(n_ * nfb):
        if kh == 3 and kw == 3 and not masked:  # constant trip counts: LLVM unrolls the taps
            # (7-15% faster: 16->16 at 32x32 0.87 against 0.95 ms, 3x3/2 0.54 against 0.63)
            _conv_task8(xs, w8, b8, masks, False, 3, 3, 1, base, 0, 1, rw, nl, y, t // nfb,
                        t % nfb)
        else:
            _conv_task8(xs, w8, b8, masks, masked, kh, kw, 1, base, 0, 1, rw, nl, y, t // nfb,
                        t % nfb)


def _conv_rows4(xs, w4, b4, masks, masked, base, rw, nl, y):
    # ... with the 4 x 4 block, (image, four filters)
    n_, nfb = xs.shape[0], w4.shape[0]
    kw, kh = w4.shape[1], w4.shape[3]
    for t in prange(n_ * nfb):
        if kh == 3 and kw == 3 and not masked:
            _conv_task(xs, w4, b4, masks, False, 3, 3, 1, base, 0, 1, rw, nl, y, t // nfb,
                       t % nfb)
        else:
            _conv_task(xs, w4, b4, masks, masked, kh, kw, 1, base, 0, 1, rw, nl, y, t // nfb,
                       t % nfb)


def _conv_phases4(xs, w4, b4, masks, sh, pstep, jstep, rw, nl, y):
    # the same on phase planes (no masks, 4 x 4 blocks): tap (i, j) in plane (i % sh, j), at
    # row offset i // sh
    n_, nfb = xs.shape[0], w4.shape[0]
    kw, kh = w4.shape[1], w4.shape[3]
    for t in prange(n_ * nfb):
        if kh == 3 and kw == 3:
            _conv_task(xs, w4, b4, masks, False, 3, 3, sh, 0, pstep, jstep, rw, nl, y, t // nfb,
                       t % nfb)
        else:
            _conv_task(xs, w4, b4, masks, False, kh, kw, sh, 0, pstep, jstep, rw, nl, y,
                       t // nfb, t % nfb)


def _widen_rows(gy, rw, out):
    # gy (N, F, oh, ow) -> out[n, f, oy*rw + ox] (N, F8, size), zeros elsewhere, F8 >= F
    n_, f_, oh, ow = gy.shape
    f8 = out.shape[1]
    for r in prange(n_ * f8):
        n = r // f8
        f = r - n * f8
        o = out[n, f]
        if f >= f_:
            o[:] = 0
            continue
        for oy in range(oh):
            o[oy * rw:oy * rw + ow] = gy[n, f, oy]
            o[oy * rw + ow:(oy + 1) * rw] = 0
        o[oh * rw:] = 0


def _weight_grad_task(xs, gt, masks, masked, sh, base, pstep, jstep, rw, per_row, skip, nl,
                      part, ch, fb):
    # one task of the direct weight gradient: the images of chunk ch (of len(part), as even as
    # can be), filters 8fb .. 8fb+7. xs (N, C, J*P) the input planes of the forward (tap
    # (i, j) of output q at base + q + (i % sh)*pstep + (i // sh)*rw + j*jstep of xs[n, c],
    # lanes kept by masks[v, j], v the vector of x's row planes); gt (N, F8, S) g_y, row
    # width rw (or per_row vectors per row, x's skip longer), zeros past F, in
    # the dropped columns and past the outputs (S a whole number of vectors); nl lanes per
    # vector; part (chunks, F8, C, kh, kw3) the partial sums (kw3: kw rounded up to 3);
    # masked: whether any load needs its mask (else all plain, as in _conv_task).
    # Per (channel, window row, 3 columns): 24 vector partial sums over the chunk's q; each
    # step loads 3 shifted input vectors and 8 g_y vectors for 24 multiply-adds.
    n_, c_ = xs.shape[0], xs.shape[1]
    kh, kw3 = part.shape[3], part.shape[4]
    nv = gt.shape[2] // nl
    m0 = ch * n_ // part.shape[0]
    m1 = (ch + 1) * n_ // part.shape[0]
    f0 = 8 * fb
    zero = vsplat(gt[0, 0], 0.0)
    for c in range(c_):
        for i in range(kh):
            for j0 in range(0, kw3, 3):
                off = base + i % sh * pstep + i // sh * rw + j0 * jstep
                s00, s01, s02 = zero, zero, zero
                s10, s11, s12 = zero, zero, zero
                s20, s21, s22 = zero, zero, zero
                s30, s31, s32 = zero, zero, zero
                s40, s41, s42 = zero, zero, zero
                s50, s51, s52 = zero, zero, zero
                s60, s61, s62 = zero, zero, zero
                s70, s71, s72 = zero, zero, zero
                for m in range(m0, m1):
                    r = xs[m, c]
                    g0, g1, g2, g3 = gt[m, f0], gt[m, f0 + 1], gt[m, f0 + 2], gt[m, f0 + 3]
                    g4, g5, g6, g7 = gt[m, f0 + 4], gt[m, f0 + 5], gt[m, f0 + 6], gt[m, f0 + 7]
                    o = off
                    k = 0
                    for v in range(nv):
                        q = v * nl
                        if k == per_row:  # the next row of g_y: past x's gap
                            k = 0
                            o += skip
                        k += 1
                        if masked:
                            x0 = vload_masked(r, o, masks[v, j0])
                            x1 = vload_masked(r, o + jstep, masks[v, j0 + 1])
                            x2 = vload_masked(r, o + 2 * jstep, masks[v, j0 + 2])
                        else:
                            x0, x1, x2 = vload(r, o), vload(r, o + jstep), vload(r, o + 2 * jstep)
                        s00, s01, s02 = _fma3(x0, x1, x2, vload(g0, q), s00, s01, s02)
                        s10, s11, s12 = _fma3(x0, x1, x2, vload(g1, q), s10, s11, s12)
                        s20, s21, s22 = _fma3(x0, x1, x2, vload(g2, q), s20, s21, s22)
                        s30, s31, s32 = _fma3(x0, x1, x2, vload(g3, q), s30, s31, s32)
                        s40, s41, s42 = _fma3(x0, x1, x2, vload(g4, q), s40, s41, s42)
                        s50, s51, s52 = _fma3(x0, x1, x2, vload(g5, q), s50, s51, s52)
                        s60, s61, s62 = _fma3(x0, x1, x2, vload(g6, q), s60, s61, s62)
                        s70, s71, s72 = _fma3(x0, x1, x2, vload(g7, q), s70, s71, s72)
                        o += nl
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


def _weight_grad_rows(xs, gt, masks, masked, base, rw, per_row, skip, nl, part):
    # the direct weight gradient's tasks, (chunk, eight filters), on row planes: tap (i, j)
    # at offset base + i*rw + j (constant steps, as _conv_rows8); g_y's rows per_row vectors
    # long, x's skip elements longer
    nfb = gt.shape[1] // 8
    for t in prange(part.shape[0] * nfb):
        if masked:  # (two loops, each with its loads)
            _weight_grad_task(xs, gt, masks, True, 1, base, 0, 1, rw, per_row, skip, nl, part,
                              t // nfb, t % nfb)
        else:
            _weight_grad_task(xs, gt, masks, False, 1, base, 0, 1, rw, per_row, skip, nl, part,
                              t // nfb, t % nfb)


def _weight_grad_phases(xs, gt, masks, sh, pstep, jstep, rw, nl, part):
    # the same on phase planes: tap (i, j) in plane (i % sh, j), at row offset i // sh
    nfb = gt.shape[1] // 8
    nv = gt.shape[2] // nl
    for t in prange(part.shape[0] * nfb):
        _weight_grad_task(xs, gt, masks, False, sh, 0, pstep, jstep, rw, nv, 0, nl, part,
                          t // nfb, t % nfb)


_rows_jit = njit(parallel=True, cache=True)(_row_planes)
_rows_serial = serial_twin(_row_planes)  # for forked children (threads.py)
_phase_jit = njit(parallel=True, cache=True)(_phase_planes)
_phase_serial = serial_twin(_phase_planes)
_conv_task = njit(inline="always", cache=True)(_conv_task)
_fma4x4 = njit(inline="always", cache=True)(_fma4x4)
_write_outputs = njit(inline="always", cache=True)(_write_outputs)
_fma3 = njit(inline="always", cache=True)(_fma3)
_store3 = njit(inline="always", cache=True)(_store3)
_conv_task8 = njit(inline="always", cache=True)(_conv_task8)
_fma8x3 = njit(inline="always", cache=True)(_fma8x3)
_rows8_conv_jit = njit(parallel=True, cache=True)(_conv_rows8)
_rows8_conv_serial = serial_twin(_conv_rows8)
_rows4_conv_jit = njit(parallel=True, cache=True)(_conv_rows4)
_rows4_conv_serial = serial_twin(_conv_rows4)
_phases4_conv_jit = njit(parallel=True, cache=True)(_conv_phases4)
_phases4_conv_serial = serial_twin(_conv_phases4)
_widen_jit = njit(parallel=True, cache=True)(_widen_rows)
_widen_serial = serial_twin(_widen_rows)
_sums3 = njit(inline="always", cache=True)(_sums3)
_weight_grad_task = njit(inline="always", cache=True)(_weight_grad_task)
_rows_grad_jit = njit(parallel=True, cache=True)(_weight_grad_rows)
_rows_grad_serial = serial_twin(_weight_grad_rows)
_phases_grad_jit = njit(parallel=True, cache=True)(_weight_grad_phases)
_phases_grad_serial = serial_twin(_weight_grad_phases)


class Layout(NamedTuple):
    """Where :func:`direct_planes` puts a conv's input, and how its kernels find the taps: tap
    (i, j) of the vector of outputs ``q = o_y rw + o_x`` (and the next nl - 1) is the vector at
    ``base + q + (i % sh) pstep + (i // sh) rw + j jstep`` of an image's channel's planes,
    lanes kept where ``masks[q // nl, j]`` has their bit."""

    rows: bool  #: row planes (stride 1), else phase planes
    shape: tuple[int, int, int, int]  #: the input's (N, C, H, W)
    dtype: np.dtype
    kernel_size: Pair  #: the conv's, as given to direct_layout
    padding: Pair
    stride: Pair
    rw: int  #: row width of the planes' rows and of the outputs q
    lead: int  #: row planes: zeros before a plane's first row
    planes: int  #: planes per channel (J)
    size: int  #: elements per plane (P)
    sh: int
    base: int
    pstep: int
    jstep: int
    vectors: int  #: g_y's vectors of outputs per image (oh rw, rounded up)
    masked: bool  #: whether any load needs its mask (else every load is plain)
    masks: np.ndarray  #: (vectors of the longest reach, kw rounded up to 3) lane masks


def direct_layout(shape: tuple[int, ...], dtype: np.dtype, kernel_size: Pair, padding: Pair,
                  stride: Pair = (1, 1)) -> Layout:
    """The planes of :func:`direct_planes` for an input of ``shape`` and ``dtype``: the same
    for the forward and the weight gradient, which may share them.

    Row planes (stride 1): each plane with ph rows of zeros above and below and its rows rw
    apart, flat, so tap (i, j) is the offset i rw + j - pw. Gapped, rw = W + max(pw,
    kw - 1 - pw): the zero columns between rows hold every tap past a row's edge, no masks,
    and rw - ow outputs of each row are computed and dropped; taken where that costs at most
    10% more vectors than tight rows, rw = max(W, ow), whose vectors' lanes with a column
    o_x + j - pw outside 0..W-1 (a neighbouring row's element) are masked off as they are
    loaded (masks[v, j] = -1 where no lane of vector v needs it: a plain load). Either way
    x is copied once, not once per window column. Phase
    planes (strides above 1): for each row phase pr < min(sh, kh) and window column j, the
    plane of rows pr, pr + sh, ... and columns j, j + sw, ... of the padded input, row width
    ow, so that tap (i, j) is at row offset i // sh of plane (i % sh, j); min(sh, kh) kw /
    (sh sw) times the input is copied, no masks needed.
    """
    return _layout(tuple(int(d) for d in shape), np.dtype(dtype),
                   *((int(a), int(b)) for a, b in (kernel_size, padding, stride)))


@functools.lru_cache(maxsize=256)
def _layout(shape: tuple[int, ...], dtype: np.dtype, kernel_size: Pair, padding: Pair,
            stride: Pair) -> Layout:
    n, c, h, wd = shape
    (kh, kw), (ph, pw), (sh, sw) = kernel_size, padding, stride
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    nl = VECTOR_BYTES // dtype.itemsize
    kw3 = -(-kw // 3) * 3
    rows = (sh, sw) == (1, 1)
    rw = ow
    if rows:  # tight rows (rw = W: masked loads at the edges) or gapped (zero columns between
        # rows, as many as the window reaches past an edge: no masks, a few dropped outputs)
        rw = max(wd, ow)
        gapped = wd + max(pw, kw - 1 - pw)
        if 10 * -(-oh * gapped // nl) <= 11 * -(-oh * rw // nl):
            rw = gapped
    vectors = -(-oh * rw // nl)
    # the last vector a block of the forward (3 or 4 vectors) or the weight gradient reads
    last = max(-(-vectors // _BLOCK_VECTORS) * _BLOCK_VECTORS,
               -(-vectors // _BLOCK_VECTORS_8) * _BLOCK_VECTORS_8)
    if rows:
        lead = -(-pw // nl) * nl  # (whole vectors: aligned rows when rw is)
        reach = lead - pw + last * nl + (kh - 1) * rw + kw3 - 1  # one past the furthest read
        size = max(lead + (h + 2 * ph) * rw, reach)
        planes, base, pstep, jstep = 1, lead - pw, 0, 1
    else:
        lead, planes, base = 0, min(sh, kh) * kw3, 0
        size = max((oh + (kh - 1) // sh) * ow, last * nl + (kh - 1) // sh * ow)
        pstep, jstep = kw3 * size, size
    masks = np.full((last, kw3), -1, dtype=np.int64)
    if rows:  # lane l of vector v: output column (v nl + l) mod rw; tap j reads column
        # col + j - pw, right when in 0..W-1 (x) or in a gap of zeros (-gap..-1 or W..rw-1),
        # or when the output is dropped (col >= ow): a vector all right loads plainly (-1),
        # else with only the lanes in 0..W-1 kept
        col = (np.arange(last * nl) % rw).reshape(last, nl)
        for j in range(kw3):
            src = col + j - pw
            keep = (src >= 0) & (src < wd)
            right = ((src >= wd - rw) & (src < rw)) | (col >= ow)
            bits = (keep.astype(np.int64) << np.arange(nl)).sum(axis=1)
            masks[:, j] = np.where(right.all(axis=1), -1, bits)
    masks.flags.writeable = False  # (cached: one table per conv shape)
    return Layout(rows, shape, dtype, kernel_size, padding, stride, rw, lead, planes, size, sh,
                  base, pstep, jstep, vectors, bool((masks != -1).any()), masks)


def direct_planes(x: np.ndarray, kernel_size: Pair, padding: Pair,
                  stride: Pair = (1, 1)) -> tuple[Layout, np.ndarray]:
    """x (N, C, H, W) laid out for the direct kernels (see :func:`direct_layout`): the layout
    and the planes (N, C, J*P), for :func:`conv2d_direct` and
    :func:`conv2d_direct_weight_grad` (``planes=``), which then copy nothing of x."""
    lay = direct_layout(x.shape, x.dtype, kernel_size, padding, stride)
    n, c = x.shape[:2]
    xs = aligned_empty((n, c, lay.planes * lay.size), x.dtype)
    if xs.size == 0:
        return lay, xs
    x = np.ascontiguousarray(x)
    if lay.rows:
        pick(_rows_jit, _rows_serial)(x, int(padding[0]), lay.lead, lay.rw, xs)
    else:
        pick(_phase_jit, _phase_serial)(x, int(padding[0]), int(padding[1]), lay.sh,
                                        int(stride[1]), lay.planes // min(lay.sh, kernel_size[0]),
                                        lay.rw, xs.reshape(n, c, lay.planes, lay.size))
    return lay, xs


def _given_planes(planes: tuple[Layout, np.ndarray] | None, x: np.ndarray, kernel_size: Pair,
                  padding: Pair, stride: Pair) -> tuple[Layout, np.ndarray]:
    """``planes`` if they are x's for this conv, else x's planes laid out now."""
    if planes is None:
        return direct_planes(x, kernel_size, padding, stride)
    want = direct_layout(x.shape, x.dtype, kernel_size, padding, stride)
    lay, xs = planes
    if lay is not want and (lay[:6] != want[:6] or xs.shape != (x.shape[0], x.shape[1],
                                                                 want.planes * want.size)):
        raise ValueError(f"planes: laid out for an input {lay.shape} {lay.dtype}, kernel "
                         f"{lay.kernel_size}, padding {lay.padding}, stride {lay.stride}; this "
                         f"conv's input is {x.shape} {x.dtype}, kernel {tuple(kernel_size)}, "
                         f"padding {tuple(padding)}, stride {tuple(stride)}")
    return want, xs


def conv2d_direct(x: np.ndarray, w: np.ndarray, padding: Pair, stride: Pair = (1, 1),
                  bias: np.ndarray | None = None,
                  planes: tuple[Layout, np.ndarray] | None = None) -> np.ndarray:
    """y (N, F, oh, ow) = the kh x kw cross-correlation of x (N, C, H, W) with w (F, C, kh, kw),
    zero padding ``padding`` = (ph, pw), stride ``stride``, plus ``bias`` (F,) if given (each
    sum starts from it, which saves a pass over y: 0.3 ms of 2 at 16 channels, 32x32, batch
    64). ``planes``: x's from :func:`direct_planes`, if laid out already.

    The caller (``minicnn.ops.conv``) checks the shapes: padding below the kernel, x and w of
    one float dtype, the padded input at least the kernel. On row planes, tasks of 8 filters
    x 3 vectors of outputs where that wastes few outputs (F >= 8; blocks of 3 vectors against
    4, on 8x8 planes: 6 vectors for 4), else of 4 x 4; on phase planes always 4 x 4.
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    lay, xs = _given_planes(planes, x, (kh, kw), padding, stride)
    ph, pw = int(padding[0]), int(padding[1])
    sh, sw = int(stride[0]), int(stride[1])
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    if n * oh * ow == 0:  # no outputs (an empty batch or plane): nothing to compute
        return np.empty((n, f, oh, ow), dtype=x.dtype)
    nl = VECTOR_BYTES // x.dtype.itemsize
    v = lay.vectors
    # (on phase planes 4 x 4 wins: 16->32 3x3/2 at 32x32, 0.54 against 0.73 ms)
    wide = lay.rows and f >= 8 and 4 * -(-v // 3) * 3 <= 5 * -(-v // 4) * 4  # <= 25% more
    group = 8 if wide else 4  # filters per task
    nfb = -(-f // group)
    wg = np.zeros((nfb * group, c, kh, kw), dtype=x.dtype)
    wg[:f] = w
    wg = np.ascontiguousarray(wg.reshape(nfb, group, c, kh, kw).transpose(0, 4, 2, 3, 1))
    bg = np.zeros(nfb * group, dtype=x.dtype)
    if bias is not None:
        bg[:f] = bias
    y = np.empty((n, f, oh, ow), dtype=x.dtype)
    if lay.rows:
        conv = (pick(_rows8_conv_jit, _rows8_conv_serial) if wide
                else pick(_rows4_conv_jit, _rows4_conv_serial))
        conv(xs, wg, bg, lay.masks, lay.masked, lay.base, lay.rw, nl, y)
    else:
        pick(_phases4_conv_jit, _phases4_conv_serial)(xs, wg, bg, lay.masks, lay.sh, lay.pstep,
                                                      lay.jstep, lay.rw, nl, y)
    return y


def conv2d_direct_weight_grad(x: np.ndarray, gy: np.ndarray, kernel_size: Pair,
                              padding: Pair, stride: Pair = (1, 1),
                              planes: tuple[Layout, np.ndarray] | None = None) -> np.ndarray:
    """g_W (F, C, kh, kw) of the kh x kw cross-correlation y of x (N, C, H, W) with padding
    ``padding`` and stride ``stride``, from g_y (N, F, oh, ow): the sum over images and outputs
    of g_y times the input under each tap. Same checks by the caller as :func:`conv2d_direct`.
    ``planes``: x's from :func:`direct_planes` (the forward's), if laid out already.

    The input in the forward's planes; g_y as it is when it is 64-byte aligned and of x's
    dtype, its filters a multiple of 8, an image's outputs a whole number of vectors, and its
    rows fill the planes' row width or (on gapped rows, unmasked) are whole vectors, x's gap
    skipped after each (a "same" conv of 16 to 64 filters on 8x8 to 32x32 planes); else
    widened to the planes' row width with zeros.
    Tasks: (chunk of images, 8 filters), each summing over its images' planes; the chunks'
    sums are added at the end.
    """
    n, c = x.shape[:2]
    f, oh, ow = gy.shape[1:]
    kh, kw = int(kernel_size[0]), int(kernel_size[1])
    if n * oh * ow == 0:  # no outputs: a zero gradient
        return np.zeros((f, c, kh, kw), dtype=x.dtype)
    lay, xs = _given_planes(planes, x, (kh, kw), padding, stride)
    nl = VECTOR_BYTES // x.dtype.itemsize
    kw3 = -(-kw // 3) * 3
    f8 = -(-f // 8) * 8  # tasks of 8 filters
    size, per_row, skip = lay.vectors * nl, lay.vectors, 0
    aligned = gy.flags.c_contiguous and gy.ctypes.data % VECTOR_BYTES == 0
    if (f8 == f and aligned and gy.dtype == x.dtype and (oh * ow) % nl == 0
            and (ow == lay.rw or (ow % nl == 0 and not lay.masked))):
        # g_y as it is: its rows fill x's rows, or are whole vectors on gapped rows (x's gap
        # skipped after each; the masks, indexed by x's vectors, are then all -1)
        gt = gy.reshape(n, f, oh * ow)
        if ow != lay.rw:
            size, per_row, skip = oh * ow, ow // nl, lay.rw - ow
    else:  # (misaligned, a vector load would span two cache lines: 8x8, 64->64, 1.65 -> 1.2 ms)
        gt = aligned_empty((n, f8, size), x.dtype)
        pick(_widen_jit, _widen_serial)(np.ascontiguousarray(gy), lay.rw, gt)
    chunks = _chunks(n, (8 * size + lay.planes * lay.size) * x.dtype.itemsize)
    part = np.empty((chunks, f8, c, kh, kw3), dtype=x.dtype)
    if lay.rows:
        pick(_rows_grad_jit, _rows_grad_serial)(xs, gt, lay.masks, lay.masked, lay.base,
                                                lay.rw, per_row, skip, nl, part)
    else:
        pick(_phases_grad_jit, _phases_grad_serial)(xs, gt, lay.masks, lay.sh, lay.pstep,
                                                    lay.jstep, lay.rw, nl, part)
    return np.ascontiguousarray(part.sum(axis=0)[:f, :, :, :kw])


def _chunks(n: int, hot: int) -> int:
    """The weight gradient's chunks of a batch of n images: as many as keep a chunk's
    ``hot`` bytes per image (a task's g_y and one channel's planes, read again for every
    channel and tap) within _CHUNK_BYTES, rounded up to a multiple of the threads (Numba hands
    each thread a run of equal tasks: chunks as even as can be, the same count per thread),
    and at most n."""
    threads = numba.get_num_threads()
    chunks = -(-n // max(1, _CHUNK_BYTES // hot))
    return min(n, -(-chunks // threads) * threads)

"""Winograd F(2x2, 3x3) convolution (stride 1, no dilation, no groups): Numba transforms
around one batched GEMM.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016). Each 2x2 block
of outputs is computed from the 4x4 input tile d under it (tiles overlap by 2) as

.. math:: Y = A^T \\left[ (G g G^T) \\odot (B^T d B) \\right] A

with the 3x3 filter g and the constant matrices of :data:`B_T`, :data:`G` and :data:`A_T`.
Summed over input channels, the elementwise product becomes, for each of the 16 positions
(a, b) of the 4x4 transformed tile, one GEMM ``M[ab] (F, P) = U[ab] (F, C) @ V[ab] (C, P)``
over all P tiles of the batch: 16 * F * C * P multiply-adds, against 36 * F * C * P for the
direct sum over 2x2 outputs, 2.25x fewer. The transforms are additions only
(:func:`winograd_input`, :func:`winograd_output`: B and A hold 0 and +-1; G holds 1/2,
applied once per weight in :func:`winograd_weights`). The op (``minicnn.ops.conv``) runs the
GEMMs between them, into reused buffers: fresh ones of this size (4x the input) paid page
faults that cost more than the GEMMs on this VM.

It pays where the GEMMs are large (many channels, large planes): measured here on 2 cores,
float32, the forward of VGG-16's 256->256 3x3 layer at 56x56 (batch 1) takes 9.8 ms against
17.0 for im2col + GEMM, 512->512 at 28x28 10.5 against 14.9, 64->64 at 56x56 (batch 8) 9.6
against 14.2; on 16x16 and smaller outputs the transforms' per-plane work and the small
GEMMs cost more and im2col wins (``WINOGRAD_WHEN`` in ``minicnn.ops.conv``).

Rounding: each output is a different sum than the direct one (the transforms add and
subtract inputs first), with an error a few times the direct sum's (Lavin & Gray, sec. 5;
measured here: 7e-7 of the output's largest magnitude in float32, against 3e-7 for im2col).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.numba_cpu.threads import pick, serial_twin

Pair = tuple[int, int]

#: B^T (4x4), G (4x3), A^T (2x4) of F(2x2, 3x3) (Lavin & Gray 2016, sec. 4.1)
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
_KG = np.kron(G, G)  # (16, 9): vec(G g G^T) = (G kron G) vec(g), both row-major


def tiles(oh: int, ow: int) -> Pair:
    """The number of 2x2 output tiles (th, tw) covering an oh x ow output."""
    return (oh + 1) // 2, (ow + 1) // 2


def winograd_weights(w: np.ndarray) -> np.ndarray:
    """w (F, C, 3, 3) -> U (16, F, C), ``U[4a + b] = (G w G^T)[a, b]``, in w's dtype (one GEMM)."""
    f, c = w.shape[:2]
    kg = _KG.astype(w.dtype)
    return (kg @ np.ascontiguousarray(w).reshape(f * c, 9).T).reshape(16, f, c)


def _input_transform(x, ph, pw, th, tw, v):
    # x (N, C, H, W) -> v (16, C, N*th*tw): B^T d B of every 4x4 tile (stride 2) of the
    # zero-padded plane; tile (ty, tx) of image n is column (n*th + ty)*tw + tx.
    n_, c_, h_, w_ = x.shape
    hp, wp = 2 * th + 2, 2 * tw + 2  # the padding, plus a zero row/column for odd sizes
    t_ = th * tw
    for r in prange(n_ * c_):
        n = r // c_
        c = r - n * c_
        pl = np.zeros((hp, wp), dtype=x.dtype)
        pl[ph:ph + h_, pw:pw + w_] = x[n, c]
        t = np.empty((4, wp), dtype=x.dtype)
        for ty in range(th):
            r0, r1, r2, r3 = pl[2 * ty], pl[2 * ty + 1], pl[2 * ty + 2], pl[2 * ty + 3]
            for xx in range(wp):  # B^T d: the rows of the tile strip
                t[0, xx] = r0[xx] - r2[xx]
                t[1, xx] = r1[xx] + r2[xx]
                t[2, xx] = r2[xx] - r1[xx]
                t[3, xx] = r1[xx] - r3[xx]
            base = n * t_ + ty * tw
            for a in range(4):  # (B^T d) B: the columns, tile by tile
                ta = t[a]
                v0 = v[4 * a, c, base:base + tw]
                v1 = v[4 * a + 1, c, base:base + tw]
                v2 = v[4 * a + 2, c, base:base + tw]
                v3 = v[4 * a + 3, c, base:base + tw]
                for tx in range(tw):
                    d0, d1, d2, d3 = ta[2 * tx], ta[2 * tx + 1], ta[2 * tx + 2], ta[2 * tx + 3]
                    v0[tx] = d0 - d2
                    v1[tx] = d1 + d2
                    v2[tx] = d2 - d1
                    v3[tx] = d1 - d3


def _output_transform(m, th, tw, y):
    # m (16, F, N*th*tw) -> y (N, F, oh, ow): A^T m A of every tile, clipped at odd sizes
    n_, f_, oh, ow = y.shape
    t_ = th * tw
    for r in prange(n_ * f_):
        n = r // f_
        f = r - n * f_
        s = np.empty((8, tw), dtype=y.dtype)  # A^T m: rows 0-3 and 4-7 of the tile strip
        for ty in range(th):
            base = n * t_ + ty * tw
            for b in range(4):
                m0 = m[b, f, base:base + tw]
                m1 = m[4 + b, f, base:base + tw]
                m2 = m[8 + b, f, base:base + tw]
                m3 = m[12 + b, f, base:base + tw]
                s0, s1 = s[b], s[4 + b]
                for tx in range(tw):
                    s0[tx] = m0[tx] + m1[tx] + m2[tx]
                    s1[tx] = m1[tx] - m2[tx] - m3[tx]
            for half in range(min(2, oh - 2 * ty)):  # (A^T m) A: two output rows
                a0, a1, a2, a3 = s[4 * half], s[4 * half + 1], s[4 * half + 2], s[4 * half + 3]
                yr = y[n, f, 2 * ty + half]
                for tx in range(ow // 2):
                    yr[2 * tx] = a0[tx] + a1[tx] + a2[tx]
                    yr[2 * tx + 1] = a1[tx] - a2[tx] - a3[tx]
                if ow % 2:
                    tx = tw - 1
                    yr[2 * tx] = a0[tx] + a1[tx] + a2[tx]


_input_jit = njit(parallel=True, cache=True)(_input_transform)
_output_jit = njit(parallel=True, cache=True)(_output_transform)
_input_serial = serial_twin(_input_transform)  # for forked children (threads.py)
_output_serial = serial_twin(_output_transform)


def winograd_input(x: np.ndarray, padding: Pair, th: int, tw: int,
                   out: np.ndarray | None = None) -> np.ndarray:
    """x (N, C, H, W) -> V (16, C, N*th*tw), ``V[4a + b, c, tile] = (B^T d B)[a, b]`` for the
    4x4 tile d at rows 2ty-ph.., columns 2tx-pw.. (zero outside x); tile (ty, tx) of image n
    is column ``(n*th + ty)*tw + tx``. ``out``: a C-contiguous buffer of that shape and dtype
    to write into (and return)."""
    n, c = x.shape[:2]
    if out is None:
        out = np.empty((16, c, n * th * tw), dtype=x.dtype)
    pick(_input_jit, _input_serial)(np.ascontiguousarray(x), int(padding[0]), int(padding[1]),
                                    int(th), int(tw), out)
    return out


def winograd_output(m: np.ndarray, th: int, tw: int, y: np.ndarray) -> np.ndarray:
    """M (16, F, N*th*tw) -> y (N, F, oh, ow), written in place and returned: each tile's
    ``A^T M A``, the 2x2 outputs at rows 2ty, 2ty+1 and columns 2tx, 2tx+1 (clipped at odd
    sizes)."""
    pick(_output_jit, _output_serial)(np.ascontiguousarray(m), int(th), int(tw), y)
    return y

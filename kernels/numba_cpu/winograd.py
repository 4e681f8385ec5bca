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

It pays from 64 channels, 8x8 outputs and enough tiles: measured here on 2 cores, float32,
the forward of VGG-16's 256->256 3x3 layer at 56x56 (batch 1) takes 9.8 ms against 17.0 for
im2col + GEMM, 512->512 at 28x28 9.0 against 12.3, 64->64 at 8x8 (batch 64) 2.4 against 2.6,
128->128 at 8x8 5.6 against 7.1; with fewer tiles (small batches of small planes) or fewer
channels the GEMMs are too small, and im2col or the direct kernel (up to 128 channels) wins
(``WINOGRAD_MIN_CHANNELS`` in ``minicnn.ops.conv``). The transforms are scalar code per tile: on 8x8
to 16x16 planes, 1.5-3.3x faster than the strips of 4-tile runs they replaced (64 channels
at 8x8, batch 64: input 1.0 -> 0.5 ms, output 1.24 -> 0.38 ms).

Rounding: each output is a different sum than the direct one (the transforms add and
subtract inputs first), with an error a few times the direct sum's (Lavin & Gray, sec. 5;
measured here: 7e-7 of the output's largest magnitude in float32, against 3e-7 for im2col).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.numba_cpu.threads import pick, serial_twin

Pair = tuple[int, int]

_TASK = 4096  # values per prange task of the input transform, about

#: B^T (4x4), G (4x3), A^T (2x4) of F(2x2, 3x3) (Lavin & Gray 2016, sec. 4.1)
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
_KG = np.kron(G, G)  # (16, 9): vec(G g G^T) = (G kron G) vec(g), both row-major
_KG_FLIP = np.kron(G[:, ::-1], G[:, ::-1])  # the same for the flipped g: (G P) g (G P)^T


def tiles(oh: int, ow: int) -> Pair:
    """The number of 2x2 output tiles (th, tw) covering an oh x ow output."""
    return (oh + 1) // 2, (ow + 1) // 2


def winograd_weights(w: np.ndarray, flip: bool = False) -> np.ndarray:
    """w (F, C, 3, 3) -> U (16, F, C), ``U[4a + b] = (G w G^T)[a, b]``, in w's dtype (one GEMM).

    ``flip=True``: the U of the input gradient's convolution, whose weights are w transposed
    and flipped, ``w'[c, f, i, j] = w[f, c, 2 - i, 2 - j]``: (16, C, F), as a transposed view
    (the GEMMs take it as it is), from ``G P`` (G with its columns reversed) in place of G, so
    that w' is never copied (9.4 MB for 512 channels: a 1.8 ms strided gather here).
    """
    f, c = w.shape[:2]
    kg = (_KG_FLIP if flip else _KG).astype(w.dtype)
    u = (kg @ np.ascontiguousarray(w).reshape(f * c, 9).T).reshape(16, f, c)
    return u.transpose(0, 2, 1) if flip else u


def _input_transform(x, ph, pw, th, tw, v):
    # x (N, C, H, W) -> v (16, C, N*th*tw): B^T d B of every 4x4 tile (stride 2) of the
    # zero-padded plane; tile (ty, tx) of image n is column (n*th + ty)*tw + tx.
    # A task takes planes of about _TASK values; each plane is copied into a zeroed scratch
    # (its border stays zero), its tiles are transformed with scalars into a (16, th*tw)
    # scratch, then written as 16 runs: on 8x8 to 16x16 planes, 2x faster than writing
    # 4-tile runs to the 16 rows of v strip by strip.
    n_, c_, h_, w_ = x.shape
    hp, wp = 2 * th + 2, 2 * tw + 2  # the padding, plus a zero row/column for odd sizes
    t_ = th * tw
    planes = n_ * c_
    per = _planes_per_task(planes, hp * wp)
    for task in prange((planes + per - 1) // per):
        pl = np.zeros((hp, wp), dtype=x.dtype)
        buf = np.empty((16, th * tw), dtype=x.dtype)  # (16, t_) compiled 1.7x slower here
        for r in range(task * per, min(planes, (task + 1) * per)):
            n = r // c_
            c = r - n * c_
            pl[ph:ph + h_, pw:pw + w_] = x[n, c]
            for ty in range(th):
                q0, q1, q2, q3 = pl[2 * ty], pl[2 * ty + 1], pl[2 * ty + 2], pl[2 * ty + 3]
                for tx in range(tw):
                    j = 2 * tx
                    p = ty * tw + tx
                    # B^T d, a column at a time: c_k = (t[0, k], .., t[3, k])
                    c0 = _bt(q0[j], q1[j], q2[j], q3[j])
                    c1 = _bt(q0[j + 1], q1[j + 1], q2[j + 1], q3[j + 1])
                    c2 = _bt(q0[j + 2], q1[j + 2], q2[j + 2], q3[j + 2])
                    c3 = _bt(q0[j + 3], q1[j + 3], q2[j + 3], q3[j + 3])
                    # (B^T d) B: row a of the tile is B^T applied to (t[a, 0], .., t[a, 3])
                    _put(buf, 0, p, _bt(c0[0], c1[0], c2[0], c3[0]))
                    _put(buf, 4, p, _bt(c0[1], c1[1], c2[1], c3[1]))
                    _put(buf, 8, p, _bt(c0[2], c1[2], c2[2], c3[2]))
                    _put(buf, 12, p, _bt(c0[3], c1[3], c2[3], c3[3]))
            base = n * t_
            for k in range(16):
                v[k, c, base:base + t_] = buf[k]


def _output_transform(m, th, tw, y):
    # m (16, F, N*th*tw) -> y (N, F, oh, ow): A^T m A of every tile, clipped at odd sizes.
    # Scalars per tile: on 8x8 to 16x16 planes 2.3-3.3x faster than strips of 4-tile runs.
    n_, f_, oh, ow = y.shape
    t_ = th * tw
    for r in prange(n_ * f_):
        n = r // f_
        f = r - n * f_
        for ty in range(th):
            base = n * t_ + ty * tw
            two = oh - 2 * ty >= 2  # the tile's second output row is inside y
            yr0 = y[n, f, 2 * ty]
            yr1 = y[n, f, 2 * ty + 1 if two else 2 * ty]
            for tx in range(tw):
                p = base + tx
                # A^T m: s[b] = m[b] + m[4+b] + m[8+b], s[4+b] = m[4+b] - m[8+b] - m[12+b]
                s0 = m[0, f, p] + m[4, f, p] + m[8, f, p]
                s1 = m[1, f, p] + m[5, f, p] + m[9, f, p]
                s2 = m[2, f, p] + m[6, f, p] + m[10, f, p]
                s3 = m[3, f, p] + m[7, f, p] + m[11, f, p]
                s4 = m[4, f, p] - m[8, f, p] - m[12, f, p]
                s5 = m[5, f, p] - m[9, f, p] - m[13, f, p]
                s6 = m[6, f, p] - m[10, f, p] - m[14, f, p]
                s7 = m[7, f, p] - m[11, f, p] - m[15, f, p]
                j = 2 * tx  # (A^T m) A: the two output columns
                yr0[j] = s0 + s1 + s2
                if j + 1 < ow:
                    yr0[j + 1] = s1 - s2 - s3
                if two:
                    yr1[j] = s4 + s5 + s6
                    if j + 1 < ow:
                        yr1[j + 1] = s5 - s6 - s7


def _bt(d0, d1, d2, d3):
    """B^T (d0, d1, d2, d3): the 4-point input transform of F(2x2, 3x3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _put(buf, k, p, vals):
    """buf[k .. k+3, p] = vals."""
    buf[k, p] = vals[0]
    buf[k + 1, p] = vals[1]
    buf[k + 2, p] = vals[2]
    buf[k + 3, p] = vals[3]


def _planes_per_task(planes, size):
    """Planes of ``size`` values per prange task: about _TASK values (at least one plane), so
    that the scratch arrays are allocated once per task, not once per small plane; evened out
    over the tasks (64 planes of 100 values: two tasks of 32, not 40 and 24)."""
    per = max(1, _TASK // max(size, 1))
    tasks = (planes + per - 1) // per
    return (planes + tasks - 1) // max(tasks, 1) if planes else 1


_planes_per_task = njit(inline="always", cache=True)(_planes_per_task)
_bt = njit(inline="always", cache=True)(_bt)
_put = njit(inline="always", cache=True)(_put)
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

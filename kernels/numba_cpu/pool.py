"""Max and average pooling, Numba CPU kernels (same names and signatures as the reference).

Every ``prange`` runs over the (n, c) planes, and an iteration writes only into its own plane:
the backward kernels scatter into the plane they own, so no two threads touch one cell.
Windows are clipped to the input, which is the same as padding with -inf (max) or zeros (avg);
float32 and float64 arrays, no fastmath.

Max pooling is separable: the best of each window's columns along every input row first (rows
shared by overlapping windows are done once), then the best of those down the window's rows.
Taking a later value only when it is strictly greater (or NaN) in both passes keeps the
reference's rule, the first maximum in row-major window order wins and the last NaN
propagates. Each row is split into its ``stride`` phases (``x[.., q::sw]``, -inf beyond the
edges) so that both passes are contiguous loops over output columns, which LLVM vectorises.
The common 3x3/2 window (padding 0 or 1) skips the split: its three columns are read with
literal strides from a loop counter that starts at 0, which LLVM vectorises directly (AlexNet's
pool1, 32x96x55x55 float32: 15.4 -> 6.1 ms forward); only the windows clipped by a row's end
are done one at a time.
The loops index arrays in full rather than through views: each view costs a reference count
update that the threads contend for (measured: 14 ms -> 6 ms on 64x64x32x32).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.numba_cpu.threads import pick, serial_twin

Pair = tuple[int, int]

#: the max pool forward's tasks: runs of whole planes, each allocating its scratch rows once
#: rather than per plane (float32 3x3/2 forward, 64x64x32x32: 3.18 -> 3.11 ms; AlexNet's pool1
#: 6.69 -> 6.50)
_TASKS = 64


def _check_dtype(name: str, a: np.ndarray) -> None:
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"{name}: the numba kernels take float32 or float64 arrays, got {a.dtype}; "
            "use MINICNN_KERNELS=numpy for other dtypes"
        )


@njit(inline="always", cache=True)
def _best3(v0, v1, v2, c0):  # pragma: no cover - jit
    """The best of three consecutive cells and its column, by the reference's rule: the first
    maximum wins, the last NaN propagates."""
    t1 = (v1 > v0) | (v1 != v1)
    bo = v1 if t1 else v0
    io = c0 + 1 if t1 else c0
    t2 = (v2 > bo) | (v2 != v2)
    return (v2 if t2 else bo), (c0 + 2 if t2 else io)


@njit(parallel=True, cache=True)
def _max_pool2d_planes(x, kh, kw, sh, sw, ph, pw, y, argmax):  # pragma: no cover - jit
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    ninf = -np.inf
    # window column j of output column ox reads input column ox*sw + j - pw
    #   = phase[(j - pw) % sw, ox + (j - pw) // sw - lo], phase[q, t] = x[.., (t + lo)*sw + q]
    lo = min(0, -pw) // sw
    plen = ow - lo + (kw - 1 - pw) // sw + 1
    # 3x3/2 (padding 0 or 1): the output columns [ox_a, ox_b) whose three input columns
    # 2*ox - pw + (0, 1, 2) are all inside the row
    ox_b = max(min(ow, (w - 3 + pw) // 2 + 1), 0)
    ox_a = min(pw, ox_b)
    fast = sw == 2 and kw == 3 and pw <= 1  # the 3x3/2 path below needs no phase buffer
    tasks = min(n * c, _TASKS)  # runs of planes, their scratch rows allocated once
    for task in prange(tasks):
        phase = np.empty((sw, 0 if fast else plen), dtype=x.dtype)
        hm = np.empty((h, ow), dtype=x.dtype)  # 1) best along each row's window columns
        hj = np.empty((h, ow), dtype=np.int64)  #    and its input column
        for p in range(task * (n * c) // tasks, (task + 1) * (n * c) // tasks):
            b = p // c
            ch = p % c
            for r in range(h):
                if fast:
                    # the common 3x3/2 pool: literal strides and offsets from a loop counter that
                    # starts at 0 (so LLVM knows no index is negative), which LLVM vectorises with
                    # wide loads and shuffles, no phase split; windows that leave the row below
                    if pw == 0:
                        for k in range(ox_b):  # ox = k: columns 2k, 2k+1, 2k+2
                            hm[r, k], hj[r, k] = _best3(x[b, ch, r, 2 * k], x[b, ch, r, 2 * k + 1],
                                                        x[b, ch, r, 2 * k + 2], 2 * k)
                    else:
                        for k in range(ox_b - 1):  # ox = k + 1: columns 2k+1, 2k+2, 2k+3
                            hm[r, k + 1], hj[r, k + 1] = _best3(
                                x[b, ch, r, 2 * k + 1], x[b, ch, r, 2 * k + 2],
                                x[b, ch, r, 2 * k + 3], 2 * k + 1)
                    for ox in range(ow):  # windows clipped by the row's ends, one at a time
                        if ox_a <= ox < ox_b:
                            continue
                        w0 = ox * sw - pw
                        w1 = min(w0 + kw, w)
                        w0 = max(w0, 0)
                        bo = x[b, ch, r, w0]  # every window holds at least one input cell
                        io = w0
                        for ww in range(w0 + 1, w1):
                            v = x[b, ch, r, ww]
                            t = (v > bo) | (v != v)
                            bo = v if t else bo
                            io = ww if t else io
                        hm[r, ox] = bo
                        hj[r, ox] = io
                    continue
                for q in range(sw):  # split the row into its sw phases, -inf outside it
                    t0 = min(max(-((lo * sw + q) // sw), 0), plen)  # first t with col >= 0
                    t1 = min(max(-((lo * sw + q - w) // sw), t0), plen)  # first t with col >= w
                    for t in range(t0):
                        phase[q, t] = ninf
                    for t in range(t0, t1):
                        phase[q, t] = x[b, ch, r, (t + lo) * sw + q]
                    for t in range(t1, plen):
                        phase[q, t] = ninf
                for ox in range(ow):
                    hm[r, ox] = ninf
                    hj[r, ox] = max(ox * sw - pw, 0)  # the first input cell of the window
                for j in range(kw):
                    q = (j - pw) % sw
                    t0 = (j - pw) // sw - lo
                    for ox in range(ow):  # contiguous: vectorised; padding (-inf) never wins
                        v = phase[q, t0 + ox]
                        bo = hm[r, ox]
                        # the first maximum wins, the last NaN propagates
                        take = (v > bo) | (v != v)
                        hm[r, ox] = v if take else bo
                        hj[r, ox] = ox * sw + j - pw if take else hj[r, ox]
            # 2) down the window's rows with the same rule, so row-major order is kept
            for oy in range(oh):
                h0 = oy * sh - ph
                h1 = min(h0 + kh, h)
                h0 = max(h0, 0)
                for ox in range(ow):
                    y[b, ch, oy, ox] = hm[h0, ox]
                    argmax[b, ch, oy, ox] = h0 * w + hj[h0, ox]
                for hh in range(h0 + 1, h1):
                    for ox in range(ow):
                        v = hm[hh, ox]
                        bo = y[b, ch, oy, ox]
                        take = (v > bo) | (v != v)
                        y[b, ch, oy, ox] = v if take else bo
                        if take:
                            argmax[b, ch, oy, ox] = hh * w + hj[hh, ox]


_max_pool2d_serial = serial_twin(_max_pool2d_planes)  # for forked children (threads.py)


def max_pool2d(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, H, W) -> (y, argmax (N, C, oh, ow) int64, flat ``h*W + w``); see reference."""
    _check_dtype("max_pool2d", x)
    x = np.ascontiguousarray(x)
    n, c = x.shape[0], x.shape[1]
    y = np.empty((n, c) + tuple(out_size), dtype=x.dtype)
    argmax = np.empty((n, c) + tuple(out_size), dtype=np.int64)
    kernel = pick(_max_pool2d_planes, _max_pool2d_serial)
    kernel(x, kernel_size[0], kernel_size[1], stride[0], stride[1],
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


_max_pool2d_backward_serial = serial_twin(_max_pool2d_backward_planes)


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
    kernel = pick(_max_pool2d_backward_planes, _max_pool2d_backward_serial)
    kernel(np.ascontiguousarray(gy), np.ascontiguousarray(argmax), gx)
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


_avg_pool2d_serial = serial_twin(_avg_pool2d_planes)


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
    kernel = pick(_avg_pool2d_planes, _avg_pool2d_serial)
    kernel(x, kernel_size[0], kernel_size[1], stride[0], stride[1],
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


_avg_pool2d_backward_serial = serial_twin(_avg_pool2d_backward_planes)


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
    kernel = pick(_avg_pool2d_backward_planes, _avg_pool2d_backward_serial)
    kernel(np.ascontiguousarray(gy), kernel_size[0], kernel_size[1],
           stride[0], stride[1], padding[0], padding[1],
           bool(count_include_pad), gx)
    return gx

"""2-D convolution (cross-correlation, as every deep-learning library computes it) by im2col.

.. math:: y[n, f, o_y, o_x] = b[f] + \\sum_{c \\in g(f)} \\sum_{i, j}
          w[f, c, i, j]\\, x_{pad}[n, c, o_y s_h + i d_h, o_x s_w + j d_w]

im2col (Chellapilla, Puri & Simard 2006; cs231n "Convolutional Networks" notes) copies every
receptive field into a column. The columns of a chunk of m images sit side by side, ``cols``
(C*kh*kw, m*oh*ow), so with the weight viewed as (G, F/G, C/G*kh*kw) *one* GEMM
``W @ cols`` per group gives the chunk's output as (F, m*oh*ow), written back as NCHW with the
bias in the same pass. Backward is two more GEMMs and the adjoint of im2col (col2im):

.. math:: g_W^T = \\text{cols}\\, g_y^T, \\qquad
          g_x = \\text{col2im}(W^T g_y), \\qquad g_b = \\sum_{n, o_y, o_x} g_y

with g_y as (F, m*oh*ow). One GEMM per chunk instead of one per image: on small planes
(ResNet's 8x8 to 32x32) per-image GEMMs are too small for BLAS to run near its peak.

Memory: the cols of a whole batch are C*kh*kw times the input (9x for 3x3), so the batch is
processed in chunks whose cols fit in a bound (:func:`set_im2col_limit`, default 256 MiB, or
``MINICNN_IM2COL_MB``), in a workspace buffer kept per thread and dtype and reused across
calls (fresh large buffers pay page faults: measured here, 1700 faults and about 2 ms per
forward of VGG-16's 256-channel 56x56 layer when the GEMM output was fresh each call); the
GEMM's output and g_y^T take a second one. Forward saves only x and W; backward recomputes
cols chunk by chunk (as Caffe does) rather than holding 9x the input per layer until backward.

Algorithms (``algo``), each for the forward and the input gradient (the weight gradient is
im2col's GEMM, or the direct kernel's with the direct forward but for 1x1 kernels): 'auto',
the default, takes the kernel
set's register-blocked direct kernels (``conv2d_direct`` and ``conv2d_direct_weight_grad``,
Numba; any kernel size and stride, no dilation or groups; a strided conv's input gradient
by col2im) for layers of at most :data:`DIRECT_MAX_CHANNELS` channels (but not a 1x1
stride-1 conv, a GEMM on x as it is), which copy the input once (or, on phase planes, about
kw / stride times) instead of writing and reading kh kw / stride^2 times it; Winograd
F(2x2, 3x3) (Lavin & Gray 2016; the Numba set's transforms, 2.25x fewer multiplies in 16
GEMMs) for 3x3 stride-1 layers with more channels and enough tiles
(:data:`WINOGRAD_MIN_CHANNELS`); im2col everywhere else.
'implicit_gemm' is the CUDA set's fused forward.
"""

from __future__ import annotations

import operator
import os
import threading
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import Function, is_grad_enabled
from minicnn.tensor import Tensor

Pair = tuple[int, int]

ALGOS = ("auto", "im2col", "direct", "winograd", "implicit_gemm")
_DEFAULT_LIMIT_MB = 256
#: 'auto' takes the direct kernel when both in and out channels are at most this. Measured on
#: 2 cores, float32, forward / forward+backward in ms (the direct weight gradient up to 64
#: channels, im2col's above), direct against Winograd and im2col (interleaved, medians):
#: 16->16 at 32x32, batch 64: 1.9/7.2 against 4.2/13.6 and 4.6/14.5; 64->64 at 32x32, batch
#: 32: 9.8/33.6 against 13.5/45.1 and 16.3/50.1; 64->64 at 56x56, batch 8: 7.0/24.6 against
#: 9.2/31.3 and 13.0/36.9; 64->64 at 8x8, batch 64: 1.7/6.4 against 2.5/7.6 and 2.7/8.5;
#: 128->128 at 16x16, batch 32: 8.9/32.9 against 10.9/36.2 and 12.7/38.6; at 8x8, batch 64:
#: 5.0/20.1 against 6.7/20.3; 96->128 at 28x28, batch 8: 5.4/19.5 against 6.1/19.7. From
#: 256 channels Winograd wins: 256->256 at 14x14, batch 8: 7.6/25.7 against 6.2/19.9.
DIRECT_MAX_CHANNELS = 128
# 'auto', having taken the direct kernel for the forward and the input gradient, takes its
# weight gradient too (``conv2d_direct_weight_grad``, on the forward's planes), but not for a
# 1x1 kernel (whose im2col is a strided view or copy of x: one GEMM). Measured, float32, a
# whole layer's forward+backward in ms, the direct weight gradient against im2col + GEMM:
# 128->128 at 16x16, batch 32: 23.9 against 27.8; at 8x8, batch 64: 14.7 against 17.6;
# 96->128 at 28x28, batch 8: 13.1 against 14.7; 128->128 at 32x32, batch 16: 45.4 against
# 52.7; on small planes 64->64 at 4x4, batch 64: 2.1 against 2.5; at 7x7: 3.7 against 4.1;
# 32->32 at 6x6, batch 32: 0.57 against 0.76. (Before the planes were shared and the
# weight gradient's chunks evened out, im2col won above 64 channels and below 8x8.)
#: 'auto' takes Winograd F(2x2, 3x3) for a 3x3 stride-1 layer when both in and out channels are
#: at least WINOGRAD_MIN_CHANNELS, the output at least WINOGRAD_MIN_SIZE on each side, and
#: min(channels) times the number of 2x2 output tiles of the batch (the work of each of the 16
#: GEMMs, over F) at least WINOGRAD_MIN_WORK. Measured on 2 cores, float32, forward and
#: forward+backward in ms, Winograd against im2col (interleaved, medians): 64 channels at 8x8,
#: batch 64 (1024 tiles): 2.40/7.8 against 2.56/8.5; at 16x16, batch 64: 7.3/24.6 against
#: 8.6/25.6; 128 at 8x8, batch 64: 5.6/20.3 against 7.1/23.9; 256 at 14x14, batch 8:
#: 6.5/25.7 against 8.8/28.5; 96->128 at 28x28, batch 8: 5.8/20.3 against 7.3/21.1; 512 at
#: 28x28, batch 1 (196 tiles): 9.0 against 12.3 forward. With less work the 16 GEMMs are
#: too small: 64 at 16x16, batch 4 (256 tiles): 0.84/2.48 against 0.64/2.16; 256 at 14x14,
#: batch 1 (49 tiles): 1.31/3.73 against 1.17/3.07; 512 at 7x7, batch 8 (128 tiles, odd
#: sizes waste a quarter of them): 8.9/51.9 against 9.0/49.4. With fewer channels the direct
#: kernel (up to 128) or im2col is faster.
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_SIZE = 8
WINOGRAD_MIN_WORK = 1 << 16

#: On the CPU, the weight gradient's GEMM gives g_W^T as (K, F) = cols @ g_y below this many
#: filters (per group), g_W as (F, K) = g_y^T @ cols^T from it. Measured on 2 cores, float32:
#: (K, F) runs up to 2x faster on few filters (K=144, F=16, 65536 columns: 2.4 against 4.7
#: ms; F=64: 1.3 against 1.7 ms), but must be transposed back, and numpy's transposing copy
#: of a large weight is slow (256x2304: 2.5 ms; 512x4608: 16.9 ms, against a 0.3 ms longer
#: GEMM). The GPU always takes (K, F) (:func:`_gw_as_fk`).
GW_AS_FK_FROM = 256

_conv_algo = "auto"
_im2col_limit: int | None = None  # None: from MINICNN_IM2COL_MB, else the default
_tls = threading.local()


# -- settings ------------------------------------------------------------------------------
def set_conv_algo(name: str) -> None:
    """Set the default ``algo`` of :func:`conv2d`: 'auto' (the default), 'im2col', 'direct',
    'winograd' or 'implicit_gemm'.

    The default is a preference: where the kernel set has no such kernel, or the layer does
    not fit it, im2col is used. An explicit ``algo=`` argument to :func:`conv2d` is strict.
    """
    global _conv_algo
    if name not in ALGOS:
        raise ValueError(f"set_conv_algo: name must be one of {ALGOS}, got {name!r}")
    _conv_algo = name


def get_conv_algo() -> str:
    """The default convolution algorithm set by :func:`set_conv_algo`."""
    return _conv_algo


def set_im2col_limit(nbytes: int | None) -> None:
    """Bound the im2col buffer to ``nbytes`` (``None``: back to the env/default bound).

    Batches whose cols would exceed it run in chunks of images; a single image is never split,
    so one image's cols may exceed a bound smaller than them. This thread's cached workspaces
    are dropped.
    """
    global _im2col_limit
    if nbytes is not None:
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 1:
            raise ValueError(
                f"set_im2col_limit: nbytes must be a positive int or None, got {nbytes!r}"
            )
        nbytes = int(nbytes)
    _im2col_limit = nbytes
    _tls.__dict__.clear()


def get_im2col_limit() -> int:
    """The im2col buffer bound in bytes: set_im2col_limit, else MINICNN_IM2COL_MB, else 256 MiB."""
    if _im2col_limit is not None:
        return _im2col_limit
    env = os.environ.get("MINICNN_IM2COL_MB", "").strip()
    if not env:
        return _DEFAULT_LIMIT_MB << 20
    try:
        mb = float(env)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ValueError(f"MINICNN_IM2COL_MB must be a positive number of MiB, got {env!r}")
    return max(1, int(mb * (1 << 20)))


def _workspace(x: Any, shape: tuple[int, ...], slot: int = 0) -> Any:
    """A reused C-contiguous buffer of ``shape`` in x's array module, device and dtype; one per
    ``slot`` (two buffers in use at once take two slots)."""
    xp = backend.get_array_module(x)
    size = int(np.prod(shape))
    key = (backend.device_of(x), getattr(getattr(x, "device", None), "id", 0), x.dtype.str,
           slot)
    buf = _tls.__dict__.get(key)
    if buf is None or buf.size < size:
        buf = None  # let the old one go before allocating the new one
        _tls.__dict__.pop(key, None)
        buf = xp.empty(size, dtype=x.dtype)
        _tls.__dict__[key] = buf
    return buf[:size].reshape(shape)


def _chunk(n: int, per_image: int) -> int:
    """Images per chunk so that ``chunk * per_image`` bytes fit the im2col bound (at least 1)."""
    return max(1, min(n, get_im2col_limit() // max(per_image, 1)))


# -- the op ----------------------------------------------------------------------------------
class Conv2d(Function):
    """y (N, F, oh, ow) = conv(x (N, C, H, W), w (F, C/G, kh, kw)) + b (F,), by im2col + GEMM.

    The cols of a chunk of m images are (C kh kw, m oh ow), so each GEMM covers the chunk:

    * forward: y^T (F, m L) = W (F, K) @ cols (K, m L), written back as NCHW with the bias
      added in the same pass;
    * backward: g_W^T (K, F) = cols @ g_y^T (the long dimension m L is the reduction: as
      (K, F) it runs about twice as fast in OpenBLAS as (F, K) on small F; on the CPU from
      :data:`GW_AS_FK_FROM` filters g_W (F, K) = g_y^T @ cols^T, which needs no transposing
      copy), and g_cols = W^T @ g_y^T, summed back into the image by col2im.

    Saves x and w; backward recomputes cols chunk by chunk into the reused workspace.
    A 1x1, stride-1, unpadded, undilated conv is a batched GEMM on a view of x (no im2col).
    With the direct kernels and their weight gradient, x is laid out once, for both
    (``direct_planes``: about 1.1x x on row planes, 1.5x on the phase planes of a 3x3/2
    conv), and those planes are held until backward instead of laid out again there.
    """

    def forward(
        self, x: Any, w: Any, b: Any, stride: Pair, padding: Pair, dilation: Pair,
        groups: int, algo: str, direct_weight_grad: bool = False,
    ) -> Any:
        k = backend.kernels_for(x)
        self.save_for_backward(x, w, stride, padding, dilation, groups, algo)
        self.direct_weight_grad = direct_weight_grad
        self.planes = None  # (x laid out by the direct kernels, when kept for backward)
        if algo == "implicit_gemm":
            return k.conv2d_implicit_gemm(x, w, b, stride, padding, dilation, groups)
        if algo in ("direct", "winograd"):
            if (direct_weight_grad and algo == "direct" and hasattr(k, "direct_planes")
                    and is_grad_enabled() and self.needs_input_grad[1]):
                # x laid out once, for the forward and the weight gradient: held until backward
                self.planes = k.direct_planes(x, w.shape[2:], padding, stride)
            return _fast_conv(k, algo, x, w, padding, stride, bias=b, planes=self.planes)
        xp = backend.get_array_module(x)
        n, c, h, wd = x.shape
        f, cg, kh, kw = w.shape
        oh, ow = _out_size(h, wd, (kh, kw), stride, padding, dilation)
        g, fg, kk, ll = groups, f // groups, cg * kh * kw, oh * ow
        wg = w.reshape(g, fg, kk)
        y = xp.empty((n, f, oh, ow), dtype=x.dtype)
        if _is_pointwise(kh, kw, stride, padding, dilation):
            xp.matmul(wg, x.reshape(n, g, cg, ll), out=y.reshape(n, g, fg, ll))
            if b is not None:
                y += b.reshape(1, f, 1, 1)
            return y
        m = _chunk(n, c * kh * kw * ll * x.dtype.itemsize)
        y3 = y.reshape(n, f, ll)
        for n0 in range(0, n, m):
            n1 = min(n, n0 + m)
            cols = k.im2col(x[n0:n1], (kh, kw), stride, padding, dilation,
                            out=_workspace(x, (c * kh * kw, (n1 - n0) * ll)))
            yt = xp.matmul(wg, cols.reshape(g, kk, (n1 - n0) * ll),  # (G, F/G, m L)
                           out=_workspace(x, (g, fg, (n1 - n0) * ll), slot=1))
            yt = yt.reshape(f, n1 - n0, ll).transpose(1, 0, 2)
            if b is None:
                y3[n0:n1] = yt
            else:
                xp.add(yt, b.reshape(1, f, 1), out=y3[n0:n1])
        return y

    def release(self) -> None:
        super().release()
        self.planes = None

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x, w, stride, padding, dilation, groups, algo = self.saved_tensors
        need_x, need_w, need_b = self.needs_input_grad[:3]
        k = backend.kernels_for(gy)
        xp = backend.get_array_module(gy)
        n = x.shape[0]
        f, cg, kh, kw = w.shape
        g, fg, kk = groups, f // groups, cg * kh * kw
        ll = gy.shape[2] * gy.shape[3]
        gwg = gx = None  # gwg: the weight gradient as (G, F/G, K/G)
        if _is_pointwise(kh, kw, stride, padding, dilation):
            wt = _weight_t(w, g)  # (G, C/G, F/G)
            gy = xp.ascontiguousarray(gy)
            gyg = gy.reshape(n, g, fg, ll)
            if need_w:  # sum_n gy[n] (F/G, L) @ x[n]^T, or its transpose (_gw_as_fk)
                xg = x.reshape(n, g, cg, ll)
                if _gw_as_fk(xp, fg):
                    gwg = xp.matmul(gyg, xg.transpose(0, 1, 3, 2)).sum(axis=0)
                else:
                    gwg = _transposed(xp.matmul(xg, gyg.transpose(0, 1, 3, 2)).sum(axis=0))
            if need_x:
                gx = xp.matmul(wt, gyg).reshape(x.shape)
        else:
            if need_w and self.direct_weight_grad and hasattr(k, "conv2d_direct_weight_grad"):
                # (a kernel set switched since forward may lack it: then im2col below)
                gwg = k.conv2d_direct_weight_grad(x, gy, (kh, kw), padding, stride,
                                                  planes=self.planes).reshape(g, fg, kk)
                self.planes = None  # (a second backward lays x out again)
                need_w = False
            cols_x = need_x  # g_x by col2im (else by the direct or Winograd kernel, or not needed)
            if (need_x and algo in ("direct", "winograd") and stride == (1, 1)
                    and hasattr(k, _FAST_KERNEL[algo])):
                # (a kernel set switched since forward may lack it: then col2im below)
                # g_x is the full correlation of g_y with the flipped, transposed weights (of a
                # strided conv, a correlation with holes: col2im's)
                gx = _fast_conv(k, algo, gy, w, (kh - 1 - padding[0], kw - 1 - padding[1]),
                                flip=True)
                cols_x = False
            if need_w or cols_x:
                gw_cols, gx_cols = self._backward_im2col(k, xp, gy, need_w, cols_x)
                gwg = gw_cols if need_w else gwg
                gx = gx_cols if cols_x else gx
        gw = None
        if self.needs_input_grad[1]:
            if gwg is None:  # an empty batch
                gwg = xp.zeros((g, fg, kk), dtype=w.dtype)
            gw = gwg.reshape(w.shape)
        gb = gy.sum(axis=(0, 2, 3)) if need_b else None
        return gx, gw, gb, None, None, None, None, None, None

    def _backward_im2col(self, k: Any, xp: Any, gy: Any, need_w: bool,
                         need_x: bool) -> tuple[Any, Any]:
        """(g_W (G, F/G, K/G) or None, g_x or None) by im2col chunks and GEMMs."""
        x, w, stride, padding, dilation, groups, _ = self.saved_tensors
        n, c, h, wd = x.shape
        f, cg, kh, kw = w.shape
        g, fg, kk = groups, f // groups, cg * kh * kw
        ll = gy.shape[2] * gy.shape[3]
        if need_x:
            wt = _weight_t(w, g)  # (G, K/G, F/G)
        gw = gx = None
        fk = _gw_as_fk(xp, fg)
        m = _chunk(n, c * kh * kw * ll * x.dtype.itemsize)
        if need_x and m < n:
            gx = xp.empty(x.shape, dtype=x.dtype)
        for n0 in range(0, n, m):
            n1 = min(n, n0 + m)
            mm = (n1 - n0) * ll
            # g_y^T of the chunk: (F, m L), grouped (G, F/G, m L)
            gyt = _workspace(gy, (f, n1 - n0, ll), slot=1)
            gyt[...] = gy[n0:n1].reshape(n1 - n0, f, ll).transpose(1, 0, 2)
            gyt = gyt.reshape(g, fg, mm)
            buf = _workspace(gy, (c * kh * kw, mm))
            if need_w:
                cols = k.im2col(x[n0:n1], (kh, kw), stride, padding, dilation, out=buf)
                colsg = cols.reshape(g, kk, mm)
                if fk:  # g_W (F/G, K/G) = g_y^T (F/G, m L) @ cols^T
                    part = xp.matmul(gyt, colsg.transpose(0, 2, 1))
                else:  # g_W^T (K/G, F/G) = cols @ g_y (m L, F/G)
                    part = xp.matmul(colsg, gyt.transpose(0, 2, 1))
                gw = part if gw is None else gw + part
            if need_x:  # cols are spent: the same buffer takes W^T g_y^T
                xp.matmul(wt, gyt, out=buf.reshape(g, kk, mm))
                part = k.col2im(buf, (n1 - n0, c, h, wd), (kh, kw), stride, padding, dilation)
                if gx is None:
                    gx = part
                else:
                    gx[n0:n1] = part
        if need_x and gx is None:  # an empty batch
            gx = xp.zeros(x.shape, dtype=x.dtype)
        if gw is not None and not fk:
            gw = _transposed(gw)
        return gw, gx


#: the kernel a kernel set must define for each of these algorithms
_FAST_KERNEL = {"direct": "conv2d_direct", "winograd": "winograd_input"}


def _fast_conv(k: Any, algo: str, x: Any, w: Any, padding: Pair, stride: Pair = (1, 1),
               flip: bool = False, bias: Any = None, planes: Any = None) -> Any:
    """The convolution of x with w, plus ``bias`` if given, by the kernel set's direct kernel,
    or (stride 1) by Winograd F(2x2, 3x3) (Lavin & Gray 2016;
    ``kernels/numba_cpu/winograd.py``): the input and output transforms are kernels, and
    between them 16 GEMMs
    ``M[ab] (F, P) = U[ab] (F, C) @ V[ab] (C, P)`` over the P tiles of a chunk of images whose
    V and M fit the im2col bound, in reused workspaces. ``flip``: convolve with w transposed
    and flipped, ``w'[c, f, i, j] = w[f, c, kh-1-i, kw-1-j]`` (the input gradient's weights).
    ``planes``: x laid out by the direct kernels' ``direct_planes``, if it was already."""
    if flip and algo == "direct":  # a view: the kernel lays the weights out in its blocks
        w = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    if algo == "direct":
        return k.conv2d_direct(x, w, padding, stride, bias, planes=planes)
    xp = backend.get_array_module(x)
    n, c, h, wd = x.shape
    u = k.winograd_weights(w, flip=flip)  # (16, F, C) (a transposed view when flipped)
    f = u.shape[1]
    oh, ow = h + 2 * padding[0] - 2, wd + 2 * padding[1] - 2
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    y = xp.empty((n, f, oh, ow), dtype=x.dtype)
    m = _chunk(n, 16 * (c + f) * th * tw * x.dtype.itemsize)
    for n0 in range(0, n, m):
        n1 = min(n, n0 + m)
        p = (n1 - n0) * th * tw
        v = k.winograd_input(x[n0:n1], padding, th, tw, out=_workspace(x, (16, c, p)))
        mt = xp.matmul(u, v, out=_workspace(x, (16, f, p), slot=1))
        k.winograd_output(mt, th, tw, y[n0:n1])
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def _gw_as_fk(xp: Any, filters: int) -> bool:
    """Whether the weight gradient's GEMM yields g_W as (F, K) rather than g_W^T as (K, F): on
    the CPU from :data:`GW_AS_FK_FROM` filters; never on the GPU, where the transpose costs
    microseconds and cuBLAS ran VGG-16's 256- and 512-channel layers' forward+backward 8-16%
    slower as (F, K) (H200)."""
    return xp is np and filters >= GW_AS_FK_FROM


def _weight_t(w: Any, groups: int) -> Any:
    """W^T per group, (G, K/G, F/G): on the CPU a transposed view, which numpy hands to BLAS as
    it is (512 channels: a 3.3 ms copy saved); on the GPU a contiguous copy, as cuBLAS was
    measured with."""
    f = w.shape[0]
    wt = w.reshape(groups, f // groups, -1).transpose(0, 2, 1)
    xp = backend.get_array_module(w)
    return wt if xp is np else xp.ascontiguousarray(wt)


def _transposed(a: Any) -> Any:
    """(G, R, S) -> a C-contiguous (G, S, R) copy; small: only for (K, F) weight gradients of
    fewer than :data:`GW_AS_FK_FROM` filters."""
    return backend.get_array_module(a).ascontiguousarray(a.transpose(0, 2, 1))


def _is_pointwise(kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair) -> bool:
    return (kh, kw) == (1, 1) and stride == (1, 1) and padding == (0, 0) and dilation == (1, 1)


def _out_size(h: int, w: int, k: Pair, s: Pair, p: Pair, d: Pair) -> Pair:
    return (
        (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1,
        (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1,
    )


# -- the public function -----------------------------------------------------------------------
def _fast_misfit(k: Any, algo: str, weight: Tensor, s: Pair, p: Pair, d: Pair,
                 groups: int) -> str:
    """Why the direct or Winograd kernel (``algo``) cannot run this conv ('' when it can)."""
    if not hasattr(k, _FAST_KERNEL[algo]):
        return f"{getattr(k, '__name__', 'the kernel set')} has no {_FAST_KERNEL[algo]}"
    kh, kw = weight.shape[2:]
    if algo == "direct" and (d != (1, 1) or groups != 1):
        return (f"it takes dilation 1 and groups 1, got dilation {d}, groups {groups}")
    if algo == "winograd" and ((kh, kw) != (3, 3) or s != (1, 1) or d != (1, 1) or groups != 1):
        return (f"it takes 3x3 kernels with stride 1, dilation 1 and groups 1, got "
                f"kernel {kh}x{kw}, stride {s}, dilation {d}, groups {groups}")
    if p[0] > kh - 1 or p[1] > kw - 1:
        return (f"it takes padding 0 to {kh - 1} (rows) and 0 to {kw - 1} (columns) with a "
                f"{kh}x{kw} kernel, got {p}")
    return ""


def _winograd_pays(x_shape: tuple[int, ...], f: int, c: int, p: Pair) -> bool:
    """Whether 'auto' takes Winograd for a 3x3 stride-1 conv of x_shape, c -> f channels,
    padding p (see WINOGRAD_MIN_CHANNELS)."""
    oh, ow = x_shape[2] + 2 * p[0] - 2, x_shape[3] + 2 * p[1] - 2  # a 3x3 output
    tiles = x_shape[0] * ((oh + 1) // 2) * ((ow + 1) // 2)
    ch = min(f, c)
    return (ch >= WINOGRAD_MIN_CHANNELS and min(oh, ow) >= WINOGRAD_MIN_SIZE
            and ch * tiles >= WINOGRAD_MIN_WORK)


def _resolve_algo(algo: str | None, x: Tensor, w: Tensor, s: Pair, p: Pair, d: Pair,
                  groups: int) -> str:
    """The algorithm that runs: an explicit ``algo`` strictly, else the default's preference."""
    k = backend.kernels_for(x.data)
    if algo is None:
        algo = _conv_algo
        if algo == "implicit_gemm" and not hasattr(k, "conv2d_implicit_gemm"):
            return "im2col"
        if algo in ("direct", "winograd") and _fast_misfit(k, algo, w, s, p, d, groups):
            return "im2col"
    if algo == "auto":
        f, c = w.shape[0], w.shape[1] * groups
        if (max(f, c) <= DIRECT_MAX_CHANNELS and not _is_pointwise(*w.shape[2:], s, p, d)
                and not _fast_misfit(k, "direct", w, s, p, d, groups)):
            return "direct"
        if _winograd_pays(x.shape, f, c, p) and not _fast_misfit(k, "winograd", w, s, p, d,
                                                                    groups):
            return "winograd"
        return "im2col"
    if algo == "implicit_gemm" and not hasattr(k, "conv2d_implicit_gemm"):
        raise ValueError(
            f"conv2d: algo='implicit_gemm' needs a kernel set that defines "
            f"conv2d_implicit_gemm; {k.__name__} (serving this {x.device} input) does "
            "not; use algo='im2col'"
        )
    if algo in ("direct", "winograd"):
        why = _fast_misfit(k, algo, w, s, p, d, groups)
        if why:
            raise ValueError(f"conv2d: algo='{algo}' cannot run this conv: {why}; use "
                             "algo='im2col'")
    return algo



def _pair(name: str, v: Any) -> Pair:
    """An int or a pair of ints -> (h, w); ValueError naming ``name`` otherwise."""
    vals = v if isinstance(v, (tuple, list)) else (v, v)
    if len(vals) != 2 or any(isinstance(e, bool) for e in vals):
        raise ValueError(f"conv2d: {name} must be an int or a pair of ints, got {v!r}")
    try:
        return operator.index(vals[0]), operator.index(vals[1])
    except TypeError:
        raise ValueError(f"conv2d: {name} must be an int or a pair of ints, got {v!r}") from None


def conv2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
    padding: Any = 0, dilation: Any = 1, groups: int = 1, *, algo: str | None = None,
) -> Tensor:
    """2-D convolution, as ``torch.nn.functional.conv2d``: x (N, C, H, W) -> (N, F, oh, ow).

    .. math:: y[n, f] = b[f] + \\sum_{c \\in \\text{group}(f)} w[f, c] \\star x_{pad}[n, c],
              \\quad o_h = \\lfloor (H + 2 p_h - d_h (k_h - 1) - 1) / s_h \\rfloor + 1

    ``weight`` is (F, C/groups, kh, kw), ``bias`` (F,) or None; ``stride``, ``padding`` and
    ``dilation`` are ints or (h, w) pairs. ``algo``: None (the :func:`set_conv_algo` default),
    'auto' (direct or Winograd where they pay, else im2col), 'im2col' (unrolled windows + one
    GEMM per chunk of images and group; Chellapilla et al. 2006, cs231n), 'direct' (the kernel
    set's direct kernels, where it has them: Numba; forward and weight gradient, and at
    stride 1 the input gradient), 'winograd' (F(2x2, 3x3) for 3x3 stride-1 convs,
    Lavin & Gray 2016, where the kernel set has its transforms: Numba; forward and input
    gradient, the weight gradient by im2col), or 'implicit_gemm' (the kernel set's fused
    kernel, where it has one, e.g. CUDA; its backward uses im2col).
    """
    if not isinstance(input, Tensor):
        raise ValueError(f"conv2d: input must be a Tensor, got {type(input).__name__}")
    if not isinstance(weight, Tensor):
        raise ValueError(f"conv2d: weight must be a Tensor, got {type(weight).__name__}")
    if input.ndim != 4:
        raise ValueError(f"conv2d: input must be 4-D (N, C, H, W), got shape {input.shape}")
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: weight must be 4-D (out_channels, in_channels/groups, kh, kw), got "
            f"shape {weight.shape}"
        )
    if input.dtype not in (np.float32, np.float64):
        raise ValueError(f"conv2d: input dtype must be float32 or float64, got {input.dtype}")
    if weight.dtype != input.dtype:
        raise ValueError(
            f"conv2d: weight dtype {weight.dtype} does not match input dtype {input.dtype}"
        )
    s, p, d = _pair("stride", stride), _pair("padding", padding), _pair("dilation", dilation)
    if min(s) < 1:
        raise ValueError(f"conv2d: stride must be >= 1, got {stride!r}")
    if min(p) < 0:
        raise ValueError(f"conv2d: padding must be >= 0, got {padding!r}")
    if min(d) < 1:
        raise ValueError(f"conv2d: dilation must be >= 1, got {dilation!r}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    n, c, h, w = input.shape
    f, cg, kh, kw = weight.shape
    if c % groups:
        raise ValueError(
            f"conv2d: groups={groups} must divide the input channels, got {c} input channels"
        )
    if f % groups:
        raise ValueError(
            f"conv2d: groups={groups} must divide the output channels, got weight shape "
            f"{weight.shape} ({f} output channels)"
        )
    if cg * groups != c:
        raise ValueError(
            f"conv2d: input has {c} channels but weight shape {weight.shape} with "
            f"groups={groups} expects {cg * groups} (in_channels = weight.shape[1] * groups)"
        )
    if kh < 1 or kw < 1 or f < 1:
        raise ValueError(
            f"conv2d: weight must have out_channels and kernel sizes >= 1, got shape "
            f"{weight.shape}"
        )
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise ValueError(f"conv2d: bias must be a Tensor or None, got {type(bias).__name__}")
        if bias.shape != (f,):
            raise ValueError(
                f"conv2d: bias must have shape ({f},) (one per output channel), got {bias.shape}"
            )
        if bias.dtype != input.dtype:
            raise ValueError(
                f"conv2d: bias dtype {bias.dtype} does not match input dtype {input.dtype}"
            )
    ekh, ekw = d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1
    if ekh > h + 2 * p[0] or ekw > w + 2 * p[1]:
        raise ValueError(
            f"conv2d: the dilated kernel ({ekh}x{ekw}: kernel {kh}x{kw}, dilation {d}) is larger "
            f"than the padded input ({h + 2 * p[0]}x{w + 2 * p[1]}: input {h}x{w}, padding {p})"
        )
    if algo is not None and algo not in ALGOS:
        raise ValueError(f"conv2d: algo must be None or one of {ALGOS}, got {algo!r}")
    requested = _conv_algo if algo is None else algo
    algo = _resolve_algo(algo, input, weight, s, p, d, groups)
    # (a pointwise conv's backward is a batched GEMM on x as it is, whatever the forward ran)
    direct_weight_grad = (algo == "direct" and not _is_pointwise(kh, kw, s, p, d)
                          and (requested == "direct" or kh * kw > 1))
    return Conv2d.apply(input, weight, bias, s, p, d, groups, algo, direct_weight_grad)

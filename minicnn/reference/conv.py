"""im2col and col2im: the NumPy reference (the specification the other kernel sets match).

im2col unrolls every receptive field of ``x`` (N, C, H, W) into a column, so that a
convolution becomes one matrix product (Chellapilla, Puri & Simard 2006, "High Performance
Convolutional Neural Networks for Document Processing"; cs231n assignment 2). The columns of
the whole batch sit side by side, image after image:

.. math:: \\text{cols}[c k_h k_w + i k_w + j,\\ (n o_h + o_y) o_w + o_x]
          = x_{pad}[n,\\ c,\\ o_y s_h + i d_h,\\ o_x s_w + j d_w]

with ``o_h = (H + 2 p_h - d_h (k_h - 1) - 1) // s_h + 1`` (and alike for ``o_w``). So the
forward conv of a batch is *one* GEMM, W (F, C kh kw) @ cols (C kh kw, N oh ow), and so are
both GEMMs of its backward, instead of N small ones: on small planes (ResNet's 8x8 to 32x32)
the per-image GEMMs are too small for BLAS to run near its peak. col2im is the adjoint of
im2col: it sums every column entry back into the input cell it was read from.

Both loop only over the ``kh*kw`` kernel offsets; each offset is one strided whole-array copy
(or add) over (N, C, oh, ow).
"""

from __future__ import annotations

from typing import Any

from minicnn.backend import get_array_module

Pair = tuple[int, int]


def _out_size(h: int, w: int, k: Pair, s: Pair, p: Pair, d: Pair) -> Pair:
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    return oh, ow


def im2col(
    x: Any, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out: Any = None
) -> Any:
    """x (N, C, H, W) -> cols (C*kh*kw, N*oh*ow); zero where a window reads padding.

    ``out``, when given, is a C-contiguous buffer of that shape and dtype; every element of it
    is written (no need to clear it first) and it is returned.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    if out is None:
        out = xp.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    o6 = out.reshape(c, kh, kw, n, oh, ow)
    xpad_t = xpad.transpose(1, 0, 2, 3)  # (C, N, H + 2ph, W + 2pw), a view
    for i in range(kh):
        y0 = i * dh
        for j in range(kw):
            x0 = j * dw
            o6[:, i, j] = xpad_t[:, :, y0 : y0 + sh * (oh - 1) + 1 : sh,
                                 x0 : x0 + sw * (ow - 1) + 1 : sw]
    return out


def col2im(
    cols: Any, x_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair,
    padding: Pair, dilation: Pair,
) -> Any:
    """cols (C*kh*kw, N*oh*ow) -> x (N, C, H, W), the adjoint of :func:`im2col`.

    ``x[n, c, y, x] = sum of cols[c*kh*kw + i*kw + j, (n*oh + oy)*ow + ox]`` over every
    (i, j, oy, ox) whose window position reads (y, x); entries that read padding are dropped.
    Sums run over (i, j) in row-major order, starting from zero.
    """
    xp = get_array_module(cols)
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    xpad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    c6 = cols.reshape(c, kh, kw, n, oh, ow)
    xpad_t = xpad.transpose(1, 0, 2, 3)  # a view: adding into it adds into xpad
    for i in range(kh):
        y0 = i * dh
        for j in range(kw):
            x0 = j * dw
            xpad_t[:, :, y0 : y0 + sh * (oh - 1) + 1 : sh,
                   x0 : x0 + sw * (ow - 1) + 1 : sw] += c6[:, i, j]
    if ph or pw:
        return xp.ascontiguousarray(xpad[:, :, ph : ph + h, pw : pw + w])
    return xpad

"""Max, average and adaptive average pooling over (N, C, H, W) or unbatched (C, H, W) inputs.

Output size along each axis, as PyTorch computes it:

.. math:: o = \\lfloor (H + 2p - k) / s \\rfloor + 1 \\quad (\\lceil\\,\\rceil \\text{ with
          ceil\\_mode, dropping a last window that would start past } H + p - 1)

Overlapping max pooling (k=3, s=2) is AlexNet's (Krizhevsky et al. 2012, sec. 3.4). The
kernels (``max_pool2d``, ``avg_pool2d`` and their backwards) come from the kernel set that
serves the input, chosen once in forward; adaptive pooling is written once against ``xp``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import Function
from minicnn.tensor import Tensor

Pair = tuple[int, int]


# -- the ops -----------------------------------------------------------------------------------
class MaxPool2d(Function):
    """y (N, C, oh, ow) = max over each window of x (N, C, H, W) padded with -inf.

    Saves the argmax (flat ``h*W + w`` per plane); backward sends each gy to its argmax,
    summing where overlapping windows share a maximum.
    """

    def forward(self, x: Any, kernel_size: Pair, stride: Pair, padding: Pair,
                out_size: Pair, indices: list[Any] | None = None) -> Any:
        k = backend.kernels_for(x)
        y, argmax = k.max_pool2d(x, kernel_size, stride, padding, out_size)
        self.save_for_backward(k, argmax, x.shape, kernel_size, stride, padding)
        if indices is not None:  # return_indices: hand the argmax to the caller
            indices.append(argmax)
        return y

    def backward(self, gy: Any) -> Any:
        k, argmax, x_shape, kernel_size, stride, padding = self.saved_tensors
        return k.max_pool2d_backward(gy, argmax, x_shape, kernel_size, stride, padding)


class AvgPool2d(Function):
    """y (N, C, oh, ow) = sum over each window of x (N, C, H, W) / the window's divisor
    (its cells inside the padded input, or inside the input when not count_include_pad)."""

    def forward(self, x: Any, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair,
                count_include_pad: bool) -> Any:
        k = backend.kernels_for(x)
        self.save_for_backward(k, x.shape, kernel_size, stride, padding, count_include_pad)
        return k.avg_pool2d(x, kernel_size, stride, padding, out_size, count_include_pad)

    def backward(self, gy: Any) -> Any:
        k, x_shape, kernel_size, stride, padding, count_include_pad = self.saved_tensors
        return k.avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding,
                                     count_include_pad)


def _bin_matrix(xp: Any, size: int, out: int, dtype: Any) -> Any:
    """P (out, size) with P[i, start_i:end_i] = 1/(end_i - start_i): PyTorch's adaptive bins
    start_i = floor(i*size/out), end_i = ceil((i+1)*size/out)."""
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    cols = np.arange(size)
    p = ((cols >= start[:, None]) & (cols < end[:, None])) / (end - start)[:, None]
    return xp.asarray(p.astype(dtype))


class AdaptiveAvgPool2d(Function):
    """y (N, C, oh, ow) = mean of x (N, C, H, W) over PyTorch's adaptive bins,
    y = P_h x P_w^T with the bin-averaging matrices P (see ``_bin_matrix``);
    global average pooling, output (1, 1), is a plain mean."""

    def forward(self, x: Any, out_size: Pair) -> Any:
        xp = backend.get_array_module(x)
        n, c, h, w = x.shape
        oh, ow = out_size
        self.save_for_backward(x.shape)
        if (oh, ow) == (1, 1):
            return x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype)
        ph, pw = _bin_matrix(xp, h, oh, x.dtype), _bin_matrix(xp, w, ow, x.dtype)
        self.mats = (ph, pw)
        t = (x.reshape(n * c * h, w) @ pw.T).reshape(n * c, h, ow)
        return xp.matmul(ph, t).reshape(n, c, oh, ow)

    def backward(self, gy: Any) -> Any:
        (x_shape,) = self.saved_tensors
        xp = backend.get_array_module(gy)
        n, c, h, w = x_shape
        oh, ow = gy.shape[2], gy.shape[3]
        if (oh, ow) == (1, 1):
            g = gy * gy.dtype.type(1.0 / (h * w))
            return xp.broadcast_to(g, x_shape).copy()
        ph, pw = self.mats
        t = xp.matmul(ph.T, gy.reshape(n * c, oh, ow))  # (n*c, h, ow)
        return (t.reshape(n * c * h, ow) @ pw).reshape(x_shape)


# -- argument checks ---------------------------------------------------------------------------
def _check_input(fn: str, input: Any) -> None:
    if not isinstance(input, Tensor):
        raise ValueError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ValueError(
            f"{fn}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {input.shape}"
        )
    if input.dtype not in (np.float32, np.float64):
        raise ValueError(f"{fn}: input dtype must be float32 or float64, got {input.dtype}")
    if min(input.shape[-3:]) < 1:
        raise ValueError(
            f"{fn}: input must have non-empty C, H and W, got shape {input.shape}"
        )


def _pair(fn: str, name: str, v: Any) -> Pair:
    """An int or a pair of ints -> (h, w); ValueError naming ``name`` otherwise."""
    vals = v if isinstance(v, (tuple, list)) else (v, v)
    msg = f"{fn}: {name} must be an int or a pair of ints, got {v!r}"
    if len(vals) != 2 or any(isinstance(e, bool) for e in vals):
        raise ValueError(msg)
    try:
        return operator.index(vals[0]), operator.index(vals[1])
    except TypeError:
        raise ValueError(msg) from None


def _pool_out(size: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """floor or ceil((size + 2p - k)/s) + 1; with ceil_mode the last window must start
    inside the input or the left padding (PyTorch's rule)."""
    num = size + 2 * p - k
    o = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_args(fn: str, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
               ceil_mode: Any) -> tuple[Pair, Pair, Pair, Pair]:
    """Validate the window arguments; returns kernel, stride, padding and output size."""
    _check_input(fn, input)
    k = _pair(fn, "kernel_size", kernel_size)
    if min(k) < 1:
        raise ValueError(f"{fn}: kernel_size must be >= 1, got {kernel_size!r}")
    s = k if stride is None or stride == () or stride == [] else _pair(fn, "stride", stride)
    if min(s) < 1:
        raise ValueError(f"{fn}: stride must be >= 1, got {stride!r}")
    p = _pair(fn, "padding", padding)
    if min(p) < 0:
        raise ValueError(f"{fn}: padding must be >= 0, got {padding!r}")
    if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
        raise ValueError(
            f"{fn}: padding must be at most half the kernel size, got padding {p} for "
            f"kernel_size {k}"
        )
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise ValueError(f"{fn}: ceil_mode must be a bool, got {ceil_mode!r}")
    h, w = input.shape[-2:]
    if k[0] > h + 2 * p[0] or k[1] > w + 2 * p[1]:
        raise ValueError(
            f"{fn}: kernel_size {k} is larger than the padded input "
            f"({h + 2 * p[0]}x{w + 2 * p[1]}: input {h}x{w}, padding {p})"
        )
    out = (_pool_out(h, k[0], s[0], p[0], bool(ceil_mode)),
           _pool_out(w, k[1], s[1], p[1], bool(ceil_mode)))
    return k, s, p, out


def _batched(input: Tensor) -> Tensor:
    return input if input.ndim == 4 else input.unsqueeze(0)


def _unbatched(y: Tensor, input: Tensor) -> Tensor:
    return y if input.ndim == 4 else y.squeeze(0)


# -- the public functions ----------------------------------------------------------------------
def max_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
    ceil_mode: bool = False, return_indices: bool = False,
) -> Any:
    """2-D max pooling, as ``torch.nn.functional.max_pool2d`` (same argument order).

    .. math:: y[n, c, o_y, o_x] = \\max_{0 \\le i < k_h,\\ 0 \\le j < k_w}
              x_{pad}[n, c, o_y s_h + i, o_x s_w + j]

    with x padded by -inf. ``stride`` None means ``kernel_size``; ``kernel_size=3, stride=2``
    is AlexNet's overlapping pooling (Krizhevsky et al. 2012, sec. 3.4). ``padding`` is at most
    half the kernel. On ties the first maximum in row-major window order wins; NaN propagates.
    ``dilation`` must be 1 (dilated pooling is not implemented). With ``return_indices``,
    returns ``(y, indices)``: indices (int64) of the maxima, flat ``h*W + w`` in each plane.
    """
    k, s, p, out = _pool_args("max_pool2d", input, kernel_size, stride, padding, ceil_mode)
    if _pair("max_pool2d", "dilation", dilation) != (1, 1):
        raise ValueError(f"max_pool2d: only dilation=1 is implemented, got {dilation!r}")
    if not isinstance(return_indices, (bool, np.bool_)):
        raise ValueError(f"max_pool2d: return_indices must be a bool, got {return_indices!r}")
    indices: list[Any] | None = [] if return_indices else None
    y = MaxPool2d.apply(_batched(input), kernel_size=k, stride=s, padding=p, out_size=out,
                        indices=indices)
    if indices is None:
        return _unbatched(y, input)
    argmax = indices[0] if input.ndim == 4 else indices[0][0]
    return _unbatched(y, input), Tensor._wrap(argmax)


def avg_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
) -> Tensor:
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d`` (same argument order).

    .. math:: y[n, c, o_y, o_x] = \\frac{1}{d(o_y, o_x)} \\sum_{i, j}
              x_{pad}[n, c, o_y s_h + i, o_x s_w + j]

    with x padded by zeros. The divisor d is PyTorch's: per axis, a window starting at
    ``a = o*s - p`` ends at ``b = min(a + k, H + p)``; with ``count_include_pad`` d is
    ``(b - a)`` per axis (the window clipped to the padded input; a ceil_mode window hanging
    past it counts less), else the number of input cells in the window.
    """
    k, s, p, out = _pool_args("avg_pool2d", input, kernel_size, stride, padding, ceil_mode)
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise ValueError(
            f"avg_pool2d: count_include_pad must be a bool, got {count_include_pad!r}"
        )
    y = AvgPool2d.apply(_batched(input), kernel_size=k, stride=s, padding=p, out_size=out,
                        count_include_pad=bool(count_include_pad))
    return _unbatched(y, input)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output row i averages input rows ``floor(i*H/oh) .. ceil((i+1)*H/oh) - 1`` (likewise
    columns), so any (oh, ow) fits any input. ``output_size`` is an int or a pair whose None
    entries keep the input size; (1, 1) is global average pooling (Lin et al. 2014, NIN
    sec. 3.2; GoogLeNet, ResNet heads), computed as a plain mean.
    """
    _check_input("adaptive_avg_pool2d", input)
    h, w = input.shape[-2:]
    vals = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    msg = (f"adaptive_avg_pool2d: output_size must be an int or a pair of ints or None, "
           f"got {output_size!r}")
    if len(vals) != 2 or any(isinstance(e, bool) for e in vals):
        raise ValueError(msg)
    try:
        oh, ow = (size if v is None else operator.index(v) for v, size in zip(vals, (h, w)))
    except TypeError:
        raise ValueError(msg) from None
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be >= 1, got {output_size!r}")
    y = AdaptiveAvgPool2d.apply(_batched(input), out_size=(oh, ow))
    return _unbatched(y, input)


def pool_output_size(size: int, kernel_size: int, stride: int, padding: int,
                     ceil_mode: bool) -> int:
    """Output length of a pooling window along one axis (see the module docstring)."""
    if min(size, kernel_size, stride) < 1 or padding < 0 or kernel_size > size + 2 * padding:
        raise ValueError(
            f"pool_output_size: need size, kernel_size, stride >= 1, padding >= 0 and "
            f"kernel_size <= size + 2*padding, got size={size}, kernel_size={kernel_size}, "
            f"stride={stride}, padding={padding}"
        )
    return _pool_out(size, kernel_size, stride, padding, ceil_mode)


__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d", "adaptive_avg_pool2d", "avg_pool2d",
    "max_pool2d", "pool_output_size",
]

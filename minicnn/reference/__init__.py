"""The NumPy reference kernels: the specification every Numba and CUDA kernel must match.

Vectorised NumPy, no Python loops over pixels. Every kernel set (``kernels.numba_cpu``,
``kernels.cuda``) defines these same functions with these same signatures. Shapes and sizes
are computed and validated by the ops (``minicnn/ops``); kernels trust their arguments.
Pairs are ``(h, w)`` tuples of ints.

Convolution (``conv.py``)
  im2col(x, kernel_size, stride, padding, dilation, out=None) -> cols
      x (N, C, H, W) -> cols (N, C*kh*kw, oh*ow); row ``c*kh*kw + i*kw + j``, column
      ``oy*ow + ox``; zero where the window reads padding. ``out``, when given, is a
      C-contiguous buffer of that shape and dtype to write into (and is returned).
  col2im(cols, x_shape, kernel_size, stride, padding, dilation) -> x
      the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>.

Pooling (``pool.py``); ``out_size`` = (oh, ow) as the op computed it (ceil_mode included)
  max_pool2d(x, kernel_size, stride, padding, out_size) -> (y, argmax)
      argmax (N, C, oh, ow) int64: flat index ``h*W + w`` of the maximum in its input plane;
      padding counts as -inf; on ties the first maximum in row-major window order wins.
  max_pool2d_backward(gy, argmax, x_shape, kernel_size, stride, padding) -> gx
  avg_pool2d(x, kernel_size, stride, padding, out_size, count_include_pad) -> y
      divisor as PyTorch's: the window clipped to the padded input when count_include_pad,
      else the number of input cells in the window.
  avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, count_include_pad) -> gx

Local response normalization (``lrn.py``), PyTorch's convention
  local_response_norm(x, size, alpha, beta, k) -> (y, scale)
      scale = k + alpha/size * sum_{c' in window(c)} x[c']^2, window padded size//2 before
      and (size-1)//2 after; y = x * scale^-beta.
  local_response_norm_backward(x, y, scale, gy, size, alpha, beta, k) -> gx
"""

from minicnn.reference.conv import col2im, im2col
from minicnn.reference.lrn import local_response_norm, local_response_norm_backward
from minicnn.reference.pool import (
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "col2im",
    "im2col",
    "local_response_norm",
    "local_response_norm_backward",
    "max_pool2d",
    "max_pool2d_backward",
]

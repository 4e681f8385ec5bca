"""The NumPy reference kernels: the specification every Numba and CUDA kernel must match.

Vectorised NumPy, no Python loops over pixels. Every kernel set (``kernels.numba_cpu``,
``kernels.cuda``) defines these same functions with these same signatures. Shapes and sizes
are computed and validated by the ops (``minicnn/ops``); kernels trust their arguments.
Pairs are ``(h, w)`` tuples of ints.

Convolution (``conv.py``)
  im2col(x, kernel_size, stride, padding, dilation, out=None) -> cols
      x (N, C, H, W) -> cols (C*kh*kw, N*oh*ow); row ``c*kh*kw + i*kw + j``, column
      ``(n*oh + oy)*ow + ox`` (the images side by side); zero where the window reads
      padding. ``out``, when given, is a C-contiguous buffer of that shape and dtype to
      write into (and is returned).
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

Batch normalization (``norm.py``), Ioffe & Szegedy 2015; x (N, C, ...), statistics float64 (C,)
  batch_norm_stats(x) -> (mean, var)
      per channel over every other axis (m values): mean = sum x / m and the biased
      var = sum (x - mean)^2 / m, summed in float64. The op takes inv_std = 1/sqrt(var + eps)
      (or the running statistics, in eval).
  batch_norm(x, weight, bias, mean, inv_std) -> y
      y = (x - mean) * (weight * inv_std) + bias, shaped and typed as x; weight and bias are
      (C,) arrays of x's dtype, or None (1 and 0).
  batch_norm_backward(gy, x, weight, mean, inv_std, training) -> (gx, gw, gb)
      xhat = (x - mean) * inv_std; gb = sum gy, gw = sum gy*xhat, (C,) in x's dtype, both
      always returned; gx = weight*inv_std * (gy - gb/m - xhat*gw/m) when training (the
      statistics are the batch's), weight*inv_std * gy otherwise.

Arithmetic (``arith.py``)
  add(a, b) -> a + b
      a and b of one shape (NumPy's type promotion); a residual add, or two gradients of one
      tensor meeting in backward.

Activations (``activation.py``)
  relu(x) -> y
      y = max(x, 0), shaped and typed as x; NaN stays NaN, -0 becomes 0.
  relu_backward(gy, y) -> gx
      y = max(x, 0) as the op computed it; gx = gy where y > 0, else 0.
"""

from minicnn.reference.activation import relu, relu_backward
from minicnn.reference.arith import add
from minicnn.reference.conv import col2im, im2col
from minicnn.reference.lrn import local_response_norm, local_response_norm_backward
from minicnn.reference.norm import batch_norm, batch_norm_backward, batch_norm_stats
from minicnn.reference.pool import (
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)

__all__ = [
    "add",
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_stats",
    "col2im",
    "im2col",
    "local_response_norm",
    "local_response_norm_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "relu",
    "relu_backward",
]

"""CUDA kernels, compiled by CuPy (``RawModule``, once per device): the same names and
signatures as ``minicnn.reference`` (the spec), plus an implicit-GEMM convolution forward
(``conv2d_implicit_gemm``) and a fused ``bias_relu``. Batch norm, ReLU and the add are the
reference's own code (``minicnn.reference.norm``, ``.activation``, ``.arith``), which CuPy runs
as it is.

Each ``.cu`` source sits beside the Python that launches it; kernel names start with
``minicnn_``. Importing this package needs neither CuPy nor a GPU: CuPy is imported, and the
sources compiled, at the first launch.
"""

from kernels.cuda.bias_relu import bias_relu
from kernels.cuda.conv import col2im, im2col
from kernels.cuda.implicit_gemm import conv2d_implicit_gemm
from kernels.cuda.lrn import local_response_norm, local_response_norm_backward
from kernels.cuda.pool import (
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from minicnn.reference.activation import relu, relu_backward
from minicnn.reference.arith import add
from minicnn.reference.norm import batch_norm, batch_norm_backward, batch_norm_stats

__all__ = [
    "add",
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_stats",
    "bias_relu",
    "col2im",
    "conv2d_implicit_gemm",
    "im2col",
    "local_response_norm",
    "local_response_norm_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "relu",
    "relu_backward",
]

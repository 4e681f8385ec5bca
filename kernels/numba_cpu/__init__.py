"""Numba CPU kernels: the same names and signatures as ``minicnn.reference`` (the spec).

Each kernel is a plain Python function wrapped by ``numba.njit(parallel=True, cache=True)``;
with ``NUMBA_DISABLE_JIT=1`` the same code runs as Python, so tests cover it.
"""

from kernels.numba_cpu.conv import col2im, im2col
from kernels.numba_cpu.lrn import local_response_norm, local_response_norm_backward
from kernels.numba_cpu.pool import (
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

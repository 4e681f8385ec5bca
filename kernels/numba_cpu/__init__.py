"""Numba CPU kernels: the same names and signatures as ``minicnn.reference`` (the spec), plus
``conv2d_direct`` and ``conv2d_direct_weight_grad`` (direct convolutions, register-blocked
on the explicit vectors of ``simd.py``; ``direct_planes`` lays out an input for both) and
the Winograd F(2x2, 3x3) transforms ``winograd_weights``, ``winograd_input`` and
``winograd_output``, chosen by ``conv2d(algo='auto')``.

Each kernel is a plain Python function wrapped by ``numba.njit(parallel=True, cache=True)``;
with ``NUMBA_DISABLE_JIT=1`` the same code runs as Python, so tests cover it.

Threading: see :mod:`kernels.numba_cpu.threads` (Numba's OpenMP layer, set up not to spin
against OpenBLAS; single-thread twins in processes forked after it started).
"""

from kernels.numba_cpu.activation import relu, relu_backward
from kernels.numba_cpu.arith import add
from kernels.numba_cpu.conv import col2im, im2col
from kernels.numba_cpu.direct import conv2d_direct, conv2d_direct_weight_grad, direct_planes
from kernels.numba_cpu.lrn import local_response_norm, local_response_norm_backward
from kernels.numba_cpu.norm import batch_norm, batch_norm_backward, batch_norm_stats
from kernels.numba_cpu.pool import (
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from kernels.numba_cpu.threads import start_threads
from kernels.numba_cpu.winograd import winograd_input, winograd_output, winograd_weights

__all__ = [
    "add",
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_stats",
    "col2im",
    "conv2d_direct",
    "conv2d_direct_weight_grad",
    "direct_planes",
    "im2col",
    "local_response_norm",
    "local_response_norm_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "relu",
    "relu_backward",
    "winograd_input",
    "winograd_output",
    "winograd_weights",
]

start_threads()  # before any kernel runs (importing the kernels above compiles nothing)

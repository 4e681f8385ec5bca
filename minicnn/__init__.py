"""minicnn: a deep-learning engine written from scratch on NumPy, Numba and CuPy.

A hand-written reverse-mode autograd, im2col convolutions, pooling, LRN, batch norm and the
classic ImageNet case-study networks, each gradient-checked. The API follows PyTorch.
"""

import os as _os
import sys as _sys

# After each GEMM, OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) before they
# sleep, and take the two cores from the Numba kernels that run next: measured here, a CIFAR
# ResNet-20 training step took 490 ms with the default and 370-390 ms with 2^12 to 2^20
# (2^4 made many small back-to-back GEMMs 40% slower). OpenBLAS reads the timeout once, when
# numpy loads it, so it is set only when numpy is not loaded yet and the user has not set it;
# import minicnn before numpy, or export OPENBLAS_THREAD_TIMEOUT=16, to get it.
if "numpy" not in _sys.modules:
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

from minicnn import functional, nn, optim
from minicnn.backend import get_kernels, set_kernels, use_kernels
from minicnn.function import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minicnn.gradcheck import GradcheckError, gradcheck
from minicnn.random import manual_seed
from minicnn.serialization import load, save
from minicnn.summary import summary
from minicnn.tensor import (
    Tensor,
    arange,
    cat,
    empty,
    float32,
    float64,
    from_numpy,
    full,
    int64,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    stack,
    tensor,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

__all__ = [
    "Function", "GradcheckError", "Tensor", "arange", "cat", "empty", "enable_grad",
    "float32", "float64", "from_numpy", "full", "functional", "get_kernels", "gradcheck",
    "int64", "is_grad_enabled", "load", "manual_seed", "nn", "no_grad", "ones", "ones_like",
    "optim", "rand", "randint", "randn", "save", "set_grad_enabled", "set_kernels", "stack",
    "summary", "tensor", "use_kernels", "zeros", "zeros_like",
]

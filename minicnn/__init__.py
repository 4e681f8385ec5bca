"""minicnn: a deep-learning engine written from scratch on NumPy, Numba and CuPy.

A hand-written reverse-mode autograd, im2col convolutions, pooling, LRN, batch norm and the
classic ImageNet case-study networks, each gradient-checked. The API follows PyTorch.
"""

# first: the idle spins of OpenBLAS and OpenMP, and glibc's thresholds for large arrays
from minicnn import _blas, _malloc  # noqa: F401

# isort: split
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

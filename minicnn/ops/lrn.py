"""Local response normalization across channels (Krizhevsky, Sutskever & Hinton 2012,
sec. 3.3), in PyTorch's convention: alpha is divided by the window size."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import Function
from minicnn.tensor import Tensor


class LocalResponseNorm(Function):
    """y (N, C, ...) = x * scale^-beta, scale = k + alpha/size * sum_{window} x^2.

    Saves x, y and scale; backward (kernel ``local_response_norm_backward``):
    gx = gy scale^-beta - 2 alpha beta/size * x * sum_{window'} gy y / scale.
    """

    def forward(self, x: Any, size: int, alpha: float, beta: float, k: float) -> Any:
        kern = backend.kernels_for(x)
        y, scale = kern.local_response_norm(x, size, alpha, beta, k)
        self.save_for_backward(kern, x, y, scale, (size, alpha, beta, k))
        return y

    def backward(self, gy: Any) -> Any:
        kern, x, y, scale, (size, alpha, beta, k) = self.saved_tensors
        return kern.local_response_norm_backward(x, y, scale, gy, size, alpha, beta, k)


def _real(name: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                              np.floating)):
        raise ValueError(f"local_response_norm: {name} must be a real number, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"local_response_norm: {name} must be finite, got {v!r}")
    return float(v)


def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """Local response normalization across channels, as
    ``torch.nn.functional.local_response_norm``: input (N, C, ...) -> the same shape.

    .. math:: b_c = a_c \\Big(k + \\frac{\\alpha}{n} \\sum_{c'=c-\\lfloor n/2 \\rfloor}
              ^{c+\\lfloor (n-1)/2 \\rfloor} a_{c'}^2\\Big)^{-\\beta}

    with n = ``size`` and channels outside 0..C-1 counting as zero (the window is centred
    for odd n; for even n it reaches one channel further back than forward).

    Krizhevsky et al. 2012 (AlexNet), sec. 3.3, write ``k + alpha * sum`` without dividing by
    n and use k=2, n=5, alpha=1e-4, beta=0.75. Here alpha is divided by ``size``, as in
    PyTorch and Caffe, so the paper's layer is
    ``local_response_norm(x, size=5, alpha=5e-4, beta=0.75, k=2.0)``.
    """
    if not isinstance(input, Tensor):
        raise ValueError(
            f"local_response_norm: input must be a Tensor, got {type(input).__name__}"
        )
    if input.ndim < 3:
        raise ValueError(
            f"local_response_norm: input must have 3 or more dimensions (N, C, ...), got "
            f"shape {input.shape}"
        )
    if input.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"local_response_norm: input dtype must be float32 or float64, got {input.dtype}"
        )
    if isinstance(size, (bool, np.bool_)):
        raise ValueError(f"local_response_norm: size must be an int >= 1, got {size!r}")
    try:
        size = operator.index(size)
    except TypeError:
        raise ValueError(f"local_response_norm: size must be an int >= 1, got {size!r}") from None
    if size < 1:
        raise ValueError(f"local_response_norm: size must be an int >= 1, got {size!r}")
    alpha, beta, k = _real("alpha", alpha), _real("beta", beta), _real("k", k)
    if alpha < 0:
        raise ValueError(f"local_response_norm: alpha must be >= 0, got {alpha!r}")
    if k <= 0:
        raise ValueError(
            f"local_response_norm: k must be > 0 (it keeps the base of scale^-beta "
            f"positive), got {k!r}"
        )
    return LocalResponseNorm.apply(input, size=size, alpha=alpha, beta=beta, k=k)


__all__ = ["LocalResponseNorm", "local_response_norm"]

"""Inverted dropout (Srivastava et al. 2014; AlexNet, Krizhevsky et al. 2012, sec. 4.2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import Function
from minicnn.tensor import Tensor, rand


class Dropout(Function):
    """y = x * m / (1 - p), m ~ Bernoulli(1 - p) elementwise. x (*) -> y (*)."""

    def forward(self, x: Any, p: float) -> Any:
        if p == 1.0:
            scale = backend.get_array_module(x).zeros(x.shape, dtype=x.dtype)
        else:
            # float64 uniforms so that P(u >= p) = 1 - p holds to float64 precision
            u = rand(x.shape, dtype=np.float64, device=backend.device_of(x)).data
            scale = (u >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
        self.save_for_backward(scale)
        return x * scale

    def backward(self, gy: Any) -> tuple[Any, None]:
        (scale,) = self.saved_tensors
        return gy * scale, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    .. math:: y = \\frac{m \\odot x}{1 - p}, \\quad m_i \\sim \\mathrm{Bernoulli}(1 - p)

    Inverted dropout, as ``torch.nn.functional.dropout``: the expectation of ``y`` is ``x``,
    so evaluation needs no rescaling. The mask is drawn from
    ``minicnn.random.generator(input.device)``, so ``minicnn.manual_seed`` makes it
    reproducible. Returns ``input`` itself when ``training`` is False or ``p == 0``; ``p == 1``
    gives zeros. ``inplace`` is accepted for torch compatibility; the result is a new tensor.
    """
    if not isinstance(input, Tensor):
        raise ValueError(f"dropout: input must be a Tensor, got {type(input).__name__}")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ValueError(f"dropout: p must be a number in [0, 1], got {p!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    if input.dtype.kind != "f":
        raise ValueError(f"dropout: input must be floating, got dtype {input.dtype}")
    return Dropout.apply(input, float(p))

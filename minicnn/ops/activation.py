"""Pointwise activations."""

from __future__ import annotations

from typing import Any

from minicnn import backend
from minicnn.function import Function


class ReLU(Function):
    """y = max(x, 0) (Nair & Hinton 2010; AlexNet, Krizhevsky et al. 2012, sec. 3.1).

    Forward: kernel ``relu``. Backward: gx = gy where y > 0, else 0 (kernel ``relu_backward``);
    the gradient at exactly 0 is 0, as in PyTorch. The output y is saved instead of a mask:
    the forward is one pass, and the next op (conv, linear, batch norm) usually keeps y alive
    anyway.
    """

    def forward(self, x: Any) -> Any:
        y = backend.kernels_for(x).relu(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_tensors
        return backend.kernels_for(gy).relu_backward(gy, y)


def relu(input: Any, inplace: bool = False) -> Any:
    """relu(x) = max(x, 0), elementwise. ``inplace`` is accepted for torch compatibility."""
    from minicnn.tensor import Tensor

    if not isinstance(input, Tensor):
        raise ValueError(f"relu: input must be a Tensor, got {type(input).__name__}")
    return ReLU.apply(input)

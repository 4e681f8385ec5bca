"""Pointwise activations."""

from __future__ import annotations

from typing import Any

from minicnn.function import Function


class ReLU(Function):
    """y = max(x, 0) (Nair & Hinton 2010; AlexNet, Krizhevsky et al. 2012, sec. 3.1).

    The gradient at exactly 0 is 0, as in PyTorch.
    """

    def forward(self, x: Any) -> Any:
        mask = x > 0
        self.save_for_backward(mask)
        return x * mask

    def backward(self, gy: Any) -> Any:
        (mask,) = self.saved_tensors
        return gy * mask


def relu(input: Any, inplace: bool = False) -> Any:
    """relu(x) = max(x, 0), elementwise. ``inplace`` is accepted for torch compatibility."""
    from minicnn.tensor import Tensor

    if not isinstance(input, Tensor):
        raise ValueError(f"relu: input must be a Tensor, got {type(input).__name__}")
    return ReLU.apply(input)

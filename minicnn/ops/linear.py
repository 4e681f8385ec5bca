"""Fully connected layer: y = x W^T + b."""

from __future__ import annotations

from typing import Any

from minicnn.function import Function
from minicnn.tensor import Tensor


class Linear(Function):
    """y = x W^T + b. x (*, in), W (out, in), b (out,) or None -> y (*, out)."""

    def forward(self, x: Any, w: Any, b: Any) -> Any:
        self.save_for_backward(x, w)
        y = x @ w.T
        if b is not None:
            y = y + b
        return y

    def backward(self, gy: Any) -> tuple[Any, Any, Any]:
        x, w = self.saved_tensors
        nx, nw, nb = self.needs_input_grad
        gx = gy @ w if nx else None
        # flatten the leading dims so one matrix product sums over every sample
        gy2 = gy.reshape(-1, w.shape[0])
        gw = gy2.T @ x.reshape(-1, w.shape[1]) if nw else None
        gb = gy2.sum(axis=0) if nb else None
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map of the last dimension, as ``torch.nn.functional.linear``.

    .. math:: y = x W^\\top + b

    ``input`` (*, in_features), ``weight`` (out_features, in_features), ``bias``
    (out_features,) or None; the result is (*, out_features).
    """
    if not isinstance(input, Tensor):
        raise ValueError(f"linear: input must be a Tensor, got {type(input).__name__}")
    if not isinstance(weight, Tensor):
        raise ValueError(f"linear: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 2:
        raise ValueError(
            f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}"
        )
    if input.ndim < 1:
        raise ValueError("linear: input must have at least 1 dimension, got a 0-d tensor")
    out_features, in_features = weight.shape
    if input.shape[-1] != in_features:
        raise ValueError(
            f"linear: input has shape {input.shape}; its last dimension must equal "
            f"weight's in_features {in_features} (weight shape {weight.shape})"
        )
    if input.dtype != weight.dtype:
        raise ValueError(
            f"linear: input is {input.dtype} but weight is {weight.dtype}; expected one dtype"
        )
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise ValueError(
                f"linear: bias must be a Tensor or None, got {type(bias).__name__}"
            )
        if bias.shape != (out_features,):
            raise ValueError(
                f"linear: bias has shape {bias.shape}, expected ({out_features},)"
            )
        if bias.dtype != weight.dtype:
            raise ValueError(
                f"linear: bias is {bias.dtype} but weight is {weight.dtype}; "
                "expected one dtype"
            )
    return Linear.apply(input, weight, bias)

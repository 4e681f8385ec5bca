"""Pointwise activations, the NumPy reference: ReLU forward and backward (Nair & Hinton 2010)."""

from __future__ import annotations

from typing import Any

from minicnn.backend import get_array_module


def relu(x: Any) -> Any:
    """y = max(x, 0), shaped and typed as x; NaN stays NaN and -0 becomes 0, as
    ``numpy.maximum`` and PyTorch's relu."""
    xp = get_array_module(x)
    return xp.maximum(x, xp.zeros((), dtype=x.dtype))


def relu_backward(gy: Any, y: Any) -> Any:
    """gy, y = relu(x) -> gx, shaped as gy: gx = gy where y > 0, else 0 (0 at x = 0 too, and
    0 where y <= 0 even when gy is inf or NaN: a select, not ``gy * (y > 0)``, as PyTorch)."""
    xp = get_array_module(gy)
    return xp.where(y > 0, gy, xp.zeros((), dtype=gy.dtype))

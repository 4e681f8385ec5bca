"""Pointwise activations, the NumPy reference. Forward (y = max(x, 0)) is one ufunc and stays
in the op (minicnn/ops/activation.py); the backward is a kernel, as the Numba one is faster."""

from __future__ import annotations

from typing import Any

from minicnn.backend import get_array_module


def relu_backward(gy: Any, y: Any) -> Any:
    """gy, y = relu(x) -> gx, shaped as gy: gx = gy where y > 0, else 0 (0 at x = 0 too, and
    0 where y <= 0 even when gy is inf or NaN: a select, not ``gy * (y > 0)``, as PyTorch)."""
    xp = get_array_module(gy)
    return xp.where(y > 0, gy, xp.zeros((), dtype=gy.dtype))

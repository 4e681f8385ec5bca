"""Pointwise activations, the NumPy reference. Forward (y = max(x, 0)) is one ufunc and stays
in the op (minicnn/ops/activation.py); the backward is a kernel, as the Numba one is faster."""

from __future__ import annotations

from typing import Any


def relu_backward(gy: Any, y: Any) -> Any:
    """gy, y = relu(x) -> gx, shaped as gy: gx = gy where y > 0, else 0 (0 at x = 0 too)."""
    return gy * (y > 0)

"""Elementwise arithmetic on same-shape arrays, the NumPy reference: the residual add."""

from __future__ import annotations

from typing import Any


def add(a: Any, b: Any) -> Any:
    """a + b for arrays of one shape (a residual connection, or two gradients of one tensor
    meeting in backward), with NumPy's type promotion."""
    return a + b

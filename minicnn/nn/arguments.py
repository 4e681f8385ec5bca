"""Checks for layer constructor arguments: each error names the layer, the argument, what
came and what was expected."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def int_at_least(layer: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, which must be >= ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{layer}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def pair(layer: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``, as an (h, w) tuple."""
    items = (value, value) if _is_int(value) else value
    if (not isinstance(items, (tuple, list)) or len(items) != 2
            or not all(_is_int(v) and v >= minimum for v in items)):
        raise ValueError(
            f"{layer}: {name} must be an int or a pair of ints, each >= {minimum}, "
            f"got {value!r}"
        )
    return int(items[0]), int(items[1])


def number(layer: str, name: str, value: Any, low: float | None = None,
           high: float | None = None, low_open: bool = False) -> float:
    """A finite real number in [low, high] (or (low, high] with ``low_open``)."""
    ok = (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, bool) and math.isfinite(float(value)))
    if ok and low is not None:
        ok = float(value) > low if low_open else float(value) >= low
    if ok and high is not None:
        ok = float(value) <= high
    if not ok:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        bracket = "(" if low_open or low is None else "["
        raise ValueError(
            f"{layer}: {name} must be a number in {bracket}{lo}, {hi}], got {value!r}"
        )
    return float(value)


def boolean(layer: str, name: str, value: Any) -> bool:
    """A bool (not an int standing in for one)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{layer}: {name} must be a bool, got {value!r}")
    return bool(value)

"""Hypothesis strategies and array helpers shared by the tests (one place for all of them)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import minicnn


def tie_free(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> np.ndarray:
    """float64 values that are all distinct and spaced (no max-pool ties), shuffled."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    vals = (np.arange(n, dtype=np.float64) - n / 2) * (scale / max(n, 1)) * 4
    return rng.permutation(vals).reshape(shape)


def away_from_zero(shape: tuple[int, ...], seed: int, gap: float = 0.1) -> np.ndarray:
    """float64 normal values pushed at least ``gap`` away from 0 (no ReLU kinks)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + gap, x - gap)


def t64(a: np.ndarray, requires_grad: bool = True) -> minicnn.Tensor:
    return minicnn.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


seeds = st.integers(min_value=0, max_value=2**31 - 1)
pair = st.integers(min_value=1, max_value=3)

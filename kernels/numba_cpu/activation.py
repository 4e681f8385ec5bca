"""Pointwise activations, Numba CPU kernels (same names and signatures as the reference).

The ReLU backward is one pass over memory, reading gy and y and writing gx, where NumPy needs
two (the mask y > 0, then the product): measured here on float32, 0.47 ms against 0.73 ms for
2^20 values, 9 us against 26 us for 2^16. It runs on one thread: the pass is memory-bound, and
waking the workqueue threads (30-170 us on this 2-core machine) cost more than it saved at
every size measured. Dtypes other than float32 and float64, which the kernel is not compiled
for, are left to the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from minicnn.reference import activation as _reference


@njit(cache=True)
def _relu_backward(gy, y, gx):  # pragma: no cover - jit
    for i in range(gy.size):
        gx[i] = gy[i] if y[i] > 0 else 0.0


def relu_backward(gy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """gy, y = relu(x) -> gx: gx = gy where y > 0, else 0; see the reference."""
    if gy.dtype not in (np.float32, np.float64) or y.dtype not in (np.float32, np.float64):
        return _reference.relu_backward(gy, y)
    g = np.ascontiguousarray(gy).reshape(-1)
    gx = np.empty_like(g)
    _relu_backward(g, np.ascontiguousarray(y).reshape(-1), gx)
    return gx.reshape(gy.shape)

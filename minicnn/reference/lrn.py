"""Local response normalization across channels, the NumPy reference (PyTorch's convention).

x has shape (N, C, ...): channels on axis 1, any number of trailing axes. Channel c's window
is ``c - size//2 .. c + (size-1)//2`` clipped to the channels that exist, and

    scale[c] = k + alpha/size * sum_{c' in window(c)} x[c']^2,    y[c] = x[c] * scale[c]^-beta.

The kernels loop over the ``size`` offsets of the window only; each is a slice of the
zero-padded channel axis.
"""

from __future__ import annotations

import numpy as np


def _window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[:, c] = sum of a[:, c'] for c' in [c - before, c + after] within [0, C)."""
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    ap = np.pad(a, pad)
    out = ap[:, 0:c].copy()
    for j in range(1, before + after + 1):
        out += ap[:, j : j + c]
    return out


def _pow_neg_beta(scale: np.ndarray, beta: float) -> np.ndarray:
    """scale^-beta in scale's dtype. NumPy 2's SIMD power is correctly rounded to within an
    ulp and, measured here, faster than the beta=0.75 shortcut r*sqrt(r), r = 1/sqrt(scale)
    (which is up to 3 ulps off); the Numba kernels take the shortcut, where it pays."""
    return scale ** scale.dtype.type(-beta)


def local_response_norm(
    x: np.ndarray, size: int, alpha: float, beta: float, k: float
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, ...) -> (y, scale), both shaped as x:
    scale = k + alpha/size * sum_{window} x^2 (window padded size//2 before and (size-1)//2
    after), y = x * scale^-beta."""
    dt = x.dtype.type
    scale = _window_sum(x * x, size // 2, (size - 1) // 2)
    scale *= dt(alpha / size)
    scale += dt(k)
    y = x * _pow_neg_beta(scale, beta)
    return y, scale


def local_response_norm_backward(
    x: np.ndarray,
    y: np.ndarray,
    scale: np.ndarray,
    gy: np.ndarray,
    size: int,
    alpha: float,
    beta: float,
    k: float,
) -> np.ndarray:
    """gx = gy * scale^-beta - 2*alpha*beta/size * x * sum_{window'} gy*y/scale.

    window'(c) = {c' : c in window(c')} = c - (size-1)//2 .. c + size//2: the forward window
    transposed, so the padding is reversed (it differs from the forward one for even sizes).
    """
    dt = x.dtype.type
    t = gy * y / scale
    win = _window_sum(t, (size - 1) // 2, size // 2)
    gx = gy * _pow_neg_beta(scale, beta)
    gx -= dt(2 * alpha * beta / size) * x * win
    return gx

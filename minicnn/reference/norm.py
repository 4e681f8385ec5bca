"""Batch normalisation (Ioffe & Szegedy 2015, Algorithm 1 and sec. 3), the NumPy reference.

x has shape (N, C, ...): channels on axis 1, any trailing axes. Channel c is normalised over
the m = N * prod(trailing) values it holds:

    mean_c = 1/m sum x,    var_c = 1/m sum (x - mean_c)^2     (biased, two passes)
    inv_std_c = 1 / sqrt(var_c + eps)                           (taken by the op)
    xhat = (x - mean_c) * inv_std_c,    y = gamma_c xhat + beta_c

Backward, with sums over the m values of each channel:

    gbeta = sum gy,    ggamma = sum gy xhat
    training: gx = gamma inv_std (gy - gbeta/m - xhat ggamma/m)   (mean, var depend on x)
    eval:     gx = gamma inv_std gy                              (mean, var are constants)

The statistics (mean, var, inv_std) are float64 (C,) arrays whatever x's dtype, and every
sum over a channel is accumulated in float64, as PyTorch's CPU kernels do; the elementwise
work is done in x's dtype. Written against the array module, so CuPy arrays work too.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _axes(x: Any) -> tuple[int, ...]:
    """Every axis but the channels'."""
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(a: Any, x: Any) -> Any:
    """A (C,) array as x's dtype, shaped (1, C, 1, ...) to broadcast against x."""
    return a.astype(x.dtype, copy=False).reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm_stats(x: Any) -> tuple[Any, Any]:
    """x (N, C, ...) -> (mean, var), float64 (C,): the mean and the biased variance of each
    channel over every other axis, the variance by two passes (sum (x - mean)^2 / m)."""
    axes = _axes(x)
    mean = x.mean(axis=axes, dtype=np.float64)
    xc = x - _per_channel(mean, x)
    var = (xc * xc).mean(axis=axes, dtype=np.float64)
    return mean, var


def batch_norm(x: Any, weight: Any, bias: Any, mean: Any, inv_std: Any) -> Any:
    """x (N, C, ...) -> y, same shape and dtype: y = (x - mean) * scale + bias per channel,
    scale = weight * inv_std (float64, then x's dtype); weight, bias (C,) or None."""
    scale = inv_std if weight is None else inv_std * weight
    y = (x - _per_channel(mean, x)) * _per_channel(scale, x)
    if bias is not None:
        y += _per_channel(bias, x)
    return y


def batch_norm_backward(
    gy: Any, x: Any, weight: Any, mean: Any, inv_std: Any, training: bool
) -> tuple[Any, Any, Any]:
    """gy, x (N, C, ...) -> (gx, gw, gb): gx shaped as x; gw = sum gy*xhat and gb = sum gy,
    (C,) in x's dtype (returned even where weight or bias is None). In training,
    gx = scale (gy - gb/m - xhat gw/m), scale = weight * inv_std; in eval, gx = scale gy."""
    axes = _axes(x)
    xhat = (x - _per_channel(mean, x)) * _per_channel(inv_std, x)
    gb = gy.sum(axis=axes, dtype=np.float64)
    gw = (gy * xhat).sum(axis=axes, dtype=np.float64)
    scale = inv_std if weight is None else inv_std * weight
    if training:
        m = x.size // x.shape[1]
        gx = _per_channel(scale, x) * (
            gy - _per_channel(gb / m, x) - xhat * _per_channel(gw / m, x)
        )
    else:
        gx = gy * _per_channel(scale, x)
    return gx, gw.astype(x.dtype), gb.astype(x.dtype)

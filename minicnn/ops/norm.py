"""Batch normalisation (Ioffe & Szegedy 2015), over (N, C) and (N, C, H, W) inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import Function
from minicnn.tensor import Tensor


class BatchNorm(Function):
    """y = w (x - mu) / sqrt(var + eps) + b per channel. x (N,C) or (N,C,H,W) -> y, same shape.

    In training, mu and var are the batch's (biased var) and the running stats, when given,
    move toward them in place (unbiased var, as PyTorch); in eval, mu and var are the running
    stats, which are constants for backward. The math is in the kernels
    (``batch_norm_stats``, ``batch_norm``, ``batch_norm_backward``; see minicnn/reference);
    backward recomputes xhat from the saved x, mu and 1/sqrt(var + eps).
    """

    def forward(self, x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                training: bool, momentum: float, eps: float) -> Any:
        xp = backend.get_array_module(x)
        k = backend.kernels_for(x)
        if training:
            mean, var = k.batch_norm_stats(x)
            m = x.size // x.shape[1]
            if running_mean is not None:
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            if running_var is not None:
                running_var[...] = (1 - momentum) * running_var + momentum * var * (m / (m - 1))
        else:
            mean = running_mean.astype(xp.float64)  # copies: later updates leave them be
            var = running_var.astype(xp.float64)
        inv_std = 1.0 / xp.sqrt(var + eps)
        self.save_for_backward(x, weight, mean, inv_std, training)
        return k.batch_norm(x, weight, bias, mean, inv_std)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x, weight, mean, inv_std, training = self.saved_tensors
        nx, nw, nb = self.needs_input_grad[:3]
        gx, gw, gb = backend.kernels_for(gy).batch_norm_backward(
            gy, x, weight, mean, inv_std, training
        )
        return (gx if nx else None, gw if nw else None, gb if nb else None,
                None, None, None, None, None)


def _running_array(name: str, value: Any, c: int, x: Tensor) -> Any:
    """The array behind a running statistic (an array or a Tensor), checked against x."""
    if value is None:
        return None
    arr = value.data if isinstance(value, Tensor) else value
    if not (isinstance(arr, np.ndarray) or backend.is_cupy_array(arr)):
        raise ValueError(
            f"batch_norm: {name} must be an array, a Tensor or None, got {type(value).__name__}"
        )
    if tuple(arr.shape) != (c,):
        raise ValueError(f"batch_norm: {name} has shape {tuple(arr.shape)}, expected ({c},)")
    if arr.dtype.kind != "f":
        raise ValueError(f"batch_norm: {name} must be floating, got dtype {arr.dtype}")
    if backend.device_of(arr) != x.device:
        raise ValueError(
            f"batch_norm: {name} is on {backend.device_of(arr)}, input is on {x.device}"
        )
    return arr


def batch_norm(
    input: Tensor,
    running_mean: Any,
    running_var: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel over the batch (and space), as ``torch.nn.functional.batch_norm``.

    .. math:: y = \\gamma \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

    Ioffe & Szegedy 2015, Algorithm 1. ``input`` is (N, C) or (N, C, H, W). In training,
    mu and sigma^2 are the batch's mean and biased variance over every axis but C, and the
    running statistics (arrays or Tensors of shape (C,), or None) are updated in place:
    ``r = (1 - momentum) r + momentum s``, with the unbiased variance for ``running_var``.
    In eval, the running statistics are used instead. ``weight`` (gamma) and ``bias`` (beta)
    are (C,) Tensors or None.
    """
    if not isinstance(input, Tensor):
        raise ValueError(f"batch_norm: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (2, 4):
        raise ValueError(
            f"batch_norm: input must be 2-D (N, C) or 4-D (N, C, H, W), got shape {input.shape}"
        )
    if input.dtype.kind != "f":
        raise ValueError(f"batch_norm: input must be floating, got dtype {input.dtype}")
    c = input.shape[1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if not isinstance(p, Tensor):
            raise ValueError(
                f"batch_norm: {name} must be a Tensor or None, got {type(p).__name__}"
            )
        if p.shape != (c,):
            raise ValueError(f"batch_norm: {name} has shape {p.shape}, expected ({c},)")
        if p.dtype != input.dtype:
            raise ValueError(
                f"batch_norm: {name} is {p.dtype} but input is {input.dtype}; "
                "expected one dtype"
            )
    rm = _running_array("running_mean", running_mean, c, input)
    rv = _running_array("running_var", running_var, c, input)
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)) \
            or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: momentum must be a number in [0, 1], got {momentum!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not eps >= 0:
        raise ValueError(f"batch_norm: eps must be a non-negative number, got {eps!r}")
    if training:
        if input.numel() // max(c, 1) < 2:
            raise ValueError(
                f"batch_norm: training needs more than 1 value per channel, got input shape "
                f"{input.shape}"
            )
    elif rm is None or rv is None:
        raise ValueError(
            "batch_norm: running_mean and running_var are required when training=False"
        )
    return BatchNorm.apply(
        input, weight, bias, rm, rv, bool(training), float(momentum), float(eps)
    )

"""Softmax, log-softmax and the classification losses built on them (NLL, cross-entropy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import Function
from minicnn.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


class Softmax(Function):
    """y = exp(x - max x) / sum exp(x - max x) along ``dim``. x (*) -> y, same shape."""

    def forward(self, x: Any, dim: int) -> Any:
        xp = backend.get_array_module(x)
        e = xp.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, gy: Any) -> tuple[Any, None]:
        (y,) = self.saved_tensors
        dim = self.inputs[1]
        # Jacobian diag(y) - y y^T applied to gy
        return y * (gy - (gy * y).sum(axis=dim, keepdims=True)), None


class LogSoftmax(Function):
    """y = x - max x - log sum exp(x - max x) along ``dim``. x (*) -> y, same shape."""

    def forward(self, x: Any, dim: int) -> Any:
        xp = backend.get_array_module(x)
        z = x - x.max(axis=dim, keepdims=True)
        y = z - xp.log(xp.exp(z).sum(axis=dim, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, gy: Any) -> tuple[Any, None]:
        (y,) = self.saved_tensors
        xp = backend.get_array_module(y)
        dim = self.inputs[1]
        return gy - xp.exp(y) * gy.sum(axis=dim, keepdims=True), None


class NLLLoss(Function):
    """Negative log-likelihood with label smoothing. logp (N,C), target (N,) -> loss.

    Each row's target distribution is q = (1 - s) onehot(t) + s / C and its loss is
    -sum_c q_c logp_c; s = 0 is the plain NLL, -logp[t], which never reads the other
    classes (so a -inf log-probability there does no harm).
    """

    def forward(self, logp: Any, target: Any, reduction: str, smoothing: float) -> Any:
        xp = backend.get_array_module(logp)
        n, c = logp.shape
        self.save_for_backward(target, logp.shape, logp.dtype)
        losses = -logp[xp.arange(n), target]
        if smoothing:
            losses = (1.0 - smoothing) * losses - (smoothing / c) * logp.sum(axis=1)
        if reduction == "none":
            return losses
        total = losses.sum()
        return xp.asarray(total / n if reduction == "mean" else total)

    def backward(self, gy: Any) -> tuple[Any, None, None, None]:
        target, (n, c), dtype = self.saved_tensors
        reduction, smoothing = self.inputs[2], self.inputs[3]
        xp = backend.get_array_module(gy)
        q = xp.full((n, c), smoothing / c, dtype=dtype)
        q[xp.arange(n), target] += 1.0 - smoothing
        if reduction == "none":
            g = gy[:, None]
        elif reduction == "mean":
            g = gy / n
        else:
            g = gy
        return -q * g, None, None, None


def _check_dim(fname: str, input: Any, dim: Any) -> int:
    if not isinstance(input, Tensor):
        raise ValueError(f"{fname}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim == 0:
        raise ValueError(f"{fname}: input must have at least 1 dimension, got a 0-d tensor")
    if input.dtype.kind != "f":
        raise ValueError(f"{fname}: input must be floating, got dtype {input.dtype}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ValueError(f"{fname}: dim must be an int, got {dim!r}")
    if not -input.ndim <= dim < input.ndim:
        raise ValueError(
            f"{fname}: dim {dim} is out of range for an input of shape {input.shape}"
        )
    return int(dim) % input.ndim


def softmax(input: Tensor, dim: int) -> Tensor:
    """Normalised exponentials along ``dim``, as ``torch.nn.functional.softmax``.

    .. math:: y_i = \\frac{e^{x_i - \\max_j x_j}}{\\sum_k e^{x_k - \\max_j x_j}}

    Subtracting the maximum keeps ``exp`` finite for any logits (Bridle 1990).
    """
    return Softmax.apply(input, _check_dim("softmax", input, dim))


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """Logarithm of the softmax along ``dim``, as ``torch.nn.functional.log_softmax``.

    .. math:: y_i = (x_i - m) - \\log \\sum_k e^{x_k - m}, \\quad m = \\max_j x_j
    """
    return LogSoftmax.apply(input, _check_dim("log_softmax", input, dim))


def _check_classification(fname: str, input: Any, target: Any, reduction: Any) -> Any:
    """Validate (N, C) input, integer (N,) targets in [0, C) and ``reduction``.

    Returns the target as an int64 array on the input's device.
    """
    if not isinstance(input, Tensor):
        raise ValueError(f"{fname}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim != 2:
        raise ValueError(f"{fname}: input must be 2-D (N, C), got shape {input.shape}")
    if input.dtype.kind != "f":
        raise ValueError(f"{fname}: input must be floating, got dtype {input.dtype}")
    n, c = input.shape
    if c == 0:
        raise ValueError(f"{fname}: input must have at least one class, got shape {input.shape}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fname}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if isinstance(target, Tensor):
        t = target.data
    elif isinstance(target, (list, tuple, np.ndarray)) or backend.is_cupy_array(target):
        t = target
    else:
        raise ValueError(
            f"{fname}: target must be a Tensor, array or list of class indices, "
            f"got {type(target).__name__}"
        )
    xp = backend.get_array_module(input.data)
    t = xp.asarray(t)
    if t.size == 0 and isinstance(target, (list, tuple)):
        t = t.astype(np.int64)  # an empty list has no dtype of its own
    if t.dtype.kind not in "iu":
        raise ValueError(
            f"{fname}: target must hold integer class indices, got dtype {t.dtype} "
            "(build it with dtype='int64')"
        )
    if tuple(t.shape) != (n,):
        raise ValueError(f"{fname}: target has shape {tuple(t.shape)}, expected ({n},)")
    if n and (int(t.min()) < 0 or int(t.max()) >= c):
        bad = int(xp.argmax((t < 0) | (t >= c)))
        raise ValueError(
            f"{fname}: target[{bad}] = {int(t[bad])} is out of range; expected class "
            f"indices in [0, {c})"
        )
    if n == 0 and reduction == "mean":
        raise ValueError(f"{fname}: reduction='mean' of an empty batch (N=0) is undefined")
    return t.astype(np.int64, copy=False)


def nll_loss(input: Tensor, target: Any, *, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class targets, as ``torch.nn.functional.nll_loss``.

    .. math:: \\ell_n = -x_{n, t_n}

    ``input`` (N, C) holds log-probabilities, ``target`` (N,) integer classes in [0, C) (a
    Tensor, array or list); ``reduction`` 'mean' | 'sum' | 'none'. ``reduction`` is
    keyword-only: torch's third positional argument is ``weight``, which minicnn lacks.
    """
    t = _check_classification("nll_loss", input, target, reduction)
    return NLLLoss.apply(input, t, reduction, 0.0)


def cross_entropy(input: Tensor, target: Any, *, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits, as ``torch.nn.functional.cross_entropy``.

    .. math:: \\ell_n = -\\sum_c q_{n,c} \\log \\mathrm{softmax}(x_n)_c, \\quad
              q_{n,c} = (1 - s)\\,[c = t_n] + s / C

    ``input`` (N, C) logits, ``target`` (N,) integer classes in [0, C); ``label_smoothing``
    s in [0, 1] (Szegedy et al. 2016, sec. 7). ``reduction`` and ``label_smoothing`` are
    keyword-only (torch's third positional argument is ``weight``, which minicnn lacks).
    """
    t = _check_classification("cross_entropy", input, target, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float, np.floating)
    ) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"cross_entropy: label_smoothing must be a number in [0, 1], got {label_smoothing!r}"
        )
    logp = LogSoftmax.apply(input, 1)
    return NLLLoss.apply(logp, t, reduction, float(label_smoothing))

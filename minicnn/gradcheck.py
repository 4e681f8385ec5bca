"""Numerical gradient checks: central differences against backward().

For every element x_i of every input that requires grad, the numeric derivative of
``L = sum(u * f(x))`` (``u`` a fixed random upstream gradient) is

.. math:: \\frac{\\partial L}{\\partial x_i} \\approx
          \\frac{L(x + \\epsilon e_i) - L(x - \\epsilon e_i)}{2\\epsilon}

and must match the analytic gradient from backward within ``atol + rtol * |numeric|``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minicnn.function import no_grad
from minicnn.tensor import Tensor


class GradcheckError(AssertionError):
    """A gradient check failed; the message names the input, index and both values."""


def _outputs(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [o for o in out if isinstance(o, Tensor)]
    raise ValueError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, got {out!r}")


def _objective(outs: list[Tensor], us: list[Any]) -> float:
    return float(sum(float((o.data.astype(np.float64) * u).sum()) for o, u in zip(outs, us)))


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    upcast: bool = False,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s backward against central differences over every input element.

    ``inputs`` are passed to ``fn`` positionally; those that are Tensors with
    ``requires_grad=True`` are checked, element by element. They must be float64 (float32
    differences are too coarse to trust) unless ``upcast=True``, which checks float64 copies.
    Returns True, or raises :class:`GradcheckError` naming the input, the worst index, the
    analytic and the numeric value.
    """
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True")
    for i in checked:
        x = inputs[i]
        if x.dtype != np.float64:
            if not upcast:
                raise ValueError(
                    f"gradcheck: inputs[{i}] is {x.dtype}; gradient checks need float64 "
                    "(pass float64 tensors, or upcast=True to check float64 copies)"
                )
            inputs[i] = Tensor._wrap(x.data.astype(np.float64), requires_grad=True)
    rng = np.random.default_rng(seed)
    for i in checked:
        inputs[i].grad = None
    outs = _outputs(fn(*inputs))
    xp = type(outs[0].data).__module__.split(".")[0] == "cupy"
    us_np = [rng.standard_normal(o.shape) for o in outs]
    us = us_np
    if xp:
        import cupy  # type: ignore[import-not-found]

        us = [cupy.asarray(u) for u in us_np]
    total: Tensor | None = None
    for o, u in zip(outs, us):
        if not o.requires_grad:
            continue
        term = (o * Tensor._wrap(u.astype(o.dtype))).sum()
        total = term if total is None else total + term
    if total is None:
        raise GradcheckError("gradcheck: no output of fn requires grad")
    total.backward()
    for i in checked:
        x = inputs[i]
        analytic = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.numpy(), np.float64)
        numeric = np.zeros(x.shape)
        if not x.data.flags.c_contiguous:
            x.data = x.data.copy()
        flat = x.data.reshape(-1)
        with no_grad():
            for j in range(flat.size):
                orig = flat[j].item()
                flat[j] = orig + eps
                lp = _objective(_outputs(fn(*inputs)), us)
                flat[j] = orig - eps
                lm = _objective(_outputs(fn(*inputs)), us)
                flat[j] = orig
                numeric.reshape(-1)[j] = (lp - lm) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if (err > 0).any() or not (np.isfinite(analytic).all() and np.isfinite(numeric).all()):
            k = int(np.nanargmax(np.where(np.isfinite(err), err, np.inf)))
            idx = tuple(int(j) for j in np.unravel_index(k, x.shape))
            raise GradcheckError(
                f"gradcheck failed for inputs[{i}] of shape {x.shape} at index {idx}: "
                f"analytic {analytic[idx]:.10g}, numeric {numeric[idx]:.10g} "
                f"(atol={atol}, rtol={rtol}, {int((~(err <= 0)).sum())} of {x.numel()} "
                "elements out of tolerance)"
            )
    return True

"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minicnn.optim.optimizer import Optimizer, check_number
from minicnn.tensor import Tensor


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum and L2 weight decay, PyTorch's exact rule.

    .. math::
        g &\\leftarrow g + \\lambda \\theta \\\\
        b &\\leftarrow \\mu b + (1 - \\tau) g \\quad (b = g \\text{ at the first step}) \\\\
        g &\\leftarrow g + \\mu b \\text{ (nesterov) else } b \\\\
        \\theta &\\leftarrow \\theta - \\eta g

    with lr eta, momentum mu, dampening tau and weight decay lambda. AlexNet (sec. 5) used
    mu = 0.9, lambda = 5e-4. Unlike Sutskever et al. 2013, the learning rate multiplies the
    whole update, not the velocity.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number("SGD", "momentum", group["momentum"])
        check_number("SGD", "dampening", group["dampening"])
        check_number("SGD", "weight_decay", group["weight_decay"])
        if not isinstance(group["nesterov"], bool):
            raise ValueError(f"SGD: nesterov must be a bool, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        momentum, wd = group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * p.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad

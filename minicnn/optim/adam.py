"""Adam and AdamW, as ``torch.optim.Adam`` and ``torch.optim.AdamW``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minicnn import backend
from minicnn.optim.optimizer import Optimizer, check_number
from minicnn.tensor import Tensor


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1) with PyTorch's exact update.

    .. math::
        m &\\leftarrow \\beta_1 m + (1 - \\beta_1) g, \\quad
        v \\leftarrow \\beta_2 v + (1 - \\beta_2) g^2 \\\\
        \\theta &\\leftarrow \\theta - \\frac{\\eta}{1 - \\beta_1^t}
            \\frac{m}{\\sqrt{v} / \\sqrt{1 - \\beta_2^t} + \\epsilon}

    ``weight_decay`` adds lambda * theta to the gradient (L2); ``amsgrad`` uses the running
    maximum of v (Reddi et al. 2018).
    """

    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair of numbers, got {betas!r}")
        check_number(name, "betas[0]", betas[0], 0.0, 1.0, high_open=True)
        check_number(name, "betas[1]", betas[1], 0.0, 1.0, high_open=True)
        check_number(name, "eps", group["eps"])
        check_number(name, "weight_decay", group["weight_decay"])
        if not isinstance(group["amsgrad"], bool):
            raise ValueError(f"{name}: amsgrad must be a bool, got {group['amsgrad']!r}")

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p.data)
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        state["step"] += 1
        step = state["step"]
        if self._decoupled:
            p.data *= 1 - lr * wd
        elif wd != 0:
            grad = grad + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)  # torch's lerp form of beta1 m + (1 - beta1) g
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
            xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        step_size = lr / (1 - beta1**step)
        denom = xp.sqrt(v) / (1 - beta2**step) ** 0.5 + eps
        p.data -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): before the Adam step,
    theta <- theta (1 - eta lambda); the gradient itself is not decayed."""

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

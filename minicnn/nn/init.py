"""Weight initialisation, as ``torch.nn.init``.

Every function fills its tensor in place (without recording a graph), returns it, and draws
from ``minicnn.random.generator(tensor.device)``, so ``minicnn.manual_seed`` makes
initialisation reproducible. The fan of a weight of shape (out, in, *kernel) is
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math
from typing import Any

from minicnn import random as _random
from minicnn.tensor import Tensor

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def _check_tensor(fname: str, tensor: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise ValueError(f"{fname}: tensor must be a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise ValueError(f"{fname}: tensor must be floating, got dtype {tensor.dtype}")
    return tensor


def _check_number(fname: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
        float(value)
    ):
        raise ValueError(f"{fname}: {name} must be a finite number, got {value!r}")
    return float(value)


def _fill(tensor: Tensor, values: Any) -> Tensor:
    tensor.data[...] = values.astype(tensor.dtype, copy=False)
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance steady through ``nonlinearity``.

    linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu with negative slope
    ``param`` (default 0.01): sqrt(2 / (1 + param^2)); selu: 3/4.
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _check_number("calculate_gain", "param", param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    known = _LINEAR + ("tanh", "relu", "leaky_relu", "selu")
    raise ValueError(f"calculate_gain: nonlinearity must be one of {known}, got {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(
            f"fan in and fan out need a tensor of at least 2 dimensions, got shape {tensor.shape}"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(fname: str, tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fname}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{fname}: {mode} of a tensor of shape {tensor.shape} is 0")
    return fan


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples of U(a, b)."""
    _check_tensor("uniform_", tensor)
    a, b = _check_number("uniform_", "a", a), _check_number("uniform_", "b", b)
    if a > b:
        raise ValueError(f"uniform_: a must be <= b, got a={a}, b={b}")
    return _fill(tensor, _random.generator(tensor.device).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    _check_tensor("normal_", tensor)
    mean = _check_number("normal_", "mean", mean)
    std = _check_number("normal_", "std", std)
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill(tensor, _random.generator(tensor.device).normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    _check_tensor("constant_", tensor)
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise ValueError(f"constant_: val must be a number, got {val!r}")
    tensor.data[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio 2010: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_tensor("xavier_uniform_", tensor)
    gain = _check_number("xavier_uniform_", "gain", gain)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio 2010: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor("xavier_normal_", tensor)
    gain = _check_number("xavier_normal_", "gain", gain)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. 2015: U(-bound, bound) with bound = gain * sqrt(3 / fan).

    ``a`` is the leaky-relu slope used by the gain; ``a=sqrt(5)`` (PyTorch's default for
    Conv2d and Linear) gives bound = 1 / sqrt(fan_in).
    """
    _check_tensor("kaiming_uniform_", tensor)
    fan = _fan("kaiming_uniform_", tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. 2015: N(0, std^2) with std = gain / sqrt(fan)."""
    _check_tensor("kaiming_normal_", tensor)
    fan = _fan("kaiming_normal_", tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))

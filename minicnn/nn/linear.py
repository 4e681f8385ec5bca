"""Linear, Flatten and Identity, as in ``torch.nn``."""

from __future__ import annotations

import math
from typing import Any

from minicnn import functional as F
from minicnn.nn import init
from minicnn.nn.arguments import boolean, int_at_least
from minicnn.nn.module import Module
from minicnn.nn.parameter import Parameter
from minicnn.tensor import Tensor, empty


class Linear(Module):
    """Fully connected layer: y = x W^T + b, x (*, in_features) -> y (*, out_features).

    ``weight`` is (out_features, in_features); initialised as PyTorch does,
    ``kaiming_uniform_(weight, a=sqrt(5))`` = U(-1/sqrt(in_features), 1/sqrt(in_features)),
    and the bias from the same bound.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: str | None = None, dtype: Any = None):
        super().__init__()
        self.in_features = int_at_least("Linear", "in_features", in_features, 1)
        self.out_features = int_at_least("Linear", "out_features", out_features, 1)
        boolean("Linear", "bias", bias)
        dev = device or "cpu"
        self.weight = Parameter(empty((self.out_features, self.in_features), dtype=dtype,
                                      device=dev))
        if bias:
            self.bias = Parameter(empty((self.out_features,), dtype=dtype, device=dev))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weight and bias afresh with PyTorch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dimensions ``start_dim`` .. ``end_dim`` into one: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"Flatten: {name} must be an int, got {v!r}")
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input; any constructor arguments are ignored (as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input

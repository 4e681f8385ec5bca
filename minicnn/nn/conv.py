"""Conv2d: a learnable 2-D convolution layer, as ``torch.nn.Conv2d``."""

from __future__ import annotations

import math
from typing import Any

from minicnn import functional as F
from minicnn.nn import init
from minicnn.nn.arguments import boolean, int_at_least, pair
from minicnn.nn.module import Module
from minicnn.nn.parameter import Parameter
from minicnn.tensor import Tensor, empty


class Conv2d(Module):
    """2-D convolution (cross-correlation) over an (N, C_in, H, W) input.

    .. math:: y_{n,o} = b_o + \\sum_{c \\in g(o)} w_{o,c} \\star x_{n,c}

    ``weight`` has shape (out_channels, in_channels / groups, kh, kw) and ``bias``
    (out_channels,). Initialised as PyTorch does: ``kaiming_uniform_(weight, a=sqrt(5))``,
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same bound, where
    fan_in = in_channels / groups * kh * kw. Grouped convolution is Krizhevsky et al. 2012's
    two-GPU split (AlexNet, sec. 3.2).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 device: str | None = None, dtype: Any = None):
        super().__init__()
        name = "Conv2d"
        self.in_channels = int_at_least(name, "in_channels", in_channels, 1)
        self.out_channels = int_at_least(name, "out_channels", out_channels, 1)
        self.kernel_size = pair(name, "kernel_size", kernel_size, 1)
        self.stride = pair(name, "stride", stride, 1)
        self.padding = pair(name, "padding", padding, 0)
        self.dilation = pair(name, "dilation", dilation, 1)
        self.groups = int_at_least(name, "groups", groups, 1)
        boolean(name, "bias", bias)
        for what, n in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise ValueError(
                    f"Conv2d: {what} ({n}) must be divisible by groups ({self.groups})"
                )
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        dev = device or "cpu"
        self.weight = Parameter(empty(shape, dtype=dtype, device=dev))
        if bias:
            self.bias = Parameter(empty((self.out_channels,), dtype=dtype, device=dev))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weight and bias afresh with PyTorch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s

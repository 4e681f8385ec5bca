"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, as in ``torch.nn``."""

from __future__ import annotations

from typing import Any

from minicnn import functional as F
from minicnn.nn.arguments import boolean, pair
from minicnn.nn.module import Module
from minicnn.tensor import Tensor


def _check_padding(layer: str, kernel: tuple[int, int], padding: tuple[int, int]) -> None:
    if any(p > k // 2 for k, p in zip(kernel, padding)):
        raise ValueError(
            f"{layer}: padding must be at most half the kernel size, got padding={padding} "
            f"for kernel_size={kernel}"
        )


class MaxPool2d(Module):
    """Max over each kh x kw window: (N, C, H, W) -> (N, C, oh, ow).

    ``stride`` defaults to ``kernel_size``. AlexNet's overlapping pooling (sec. 3.4) is
    ``MaxPool2d(3, stride=2)``.
    """

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        name = "MaxPool2d"
        k = pair(name, "kernel_size", kernel_size, 1)
        if stride is not None:
            pair(name, "stride", stride, 1)
        _check_padding(name, k, pair(name, "padding", padding, 0))
        if pair(name, "dilation", dilation, 1) != (1, 1):
            # functional.max_pool2d implements dilation=1 only: fail here, not at forward
            raise ValueError(f"MaxPool2d: only dilation=1 is implemented, got {dilation!r}")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = boolean(name, "return_indices", return_indices)
        self.ceil_mode = boolean(name, "ceil_mode", ceil_mode)

    def forward(self, input: Tensor) -> Any:
        return F.max_pool2d(input, self.kernel_size, stride=self.stride, padding=self.padding,
                            dilation=self.dilation, ceil_mode=self.ceil_mode,
                            return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over each kh x kw window: (N, C, H, W) -> (N, C, oh, ow).

    ``stride`` defaults to ``kernel_size``; ``count_include_pad`` counts the zero padding in
    the divisor (PyTorch's default). PyTorch's ``divisor_override`` is not supported.
    """

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        name = "AvgPool2d"
        k = pair(name, "kernel_size", kernel_size, 1)
        if stride is not None:
            pair(name, "stride", stride, 1)
        _check_padding(name, k, pair(name, "padding", padding, 0))
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = boolean(name, "ceil_mode", ceil_mode)
        self.count_include_pad = boolean(name, "count_include_pad", count_include_pad)

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, stride=self.stride, padding=self.padding,
                            ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed (oh, ow) whatever the input size (NIN/GoogLeNet/ResNet's
    global average pool is ``AdaptiveAvgPool2d(1)``). ``None`` in ``output_size`` keeps that
    input dimension."""

    def __init__(self, output_size: int | tuple[int | None, int | None]):
        super().__init__()
        items = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        ok = output_size is not None and len(items) == 2 and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
            for v in items
        )
        if not ok:
            raise ValueError(
                "AdaptiveAvgPool2d: output_size must be an int >= 1 or a pair of ints >= 1 "
                f"(or None), got {output_size!r}"
            )
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

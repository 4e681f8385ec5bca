"""Fused bias + ReLU on the GPU: the launcher of ``bias_relu.cu``."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels.cuda import compiler

SOURCE = "bias_relu.cu"

compiler.register(
    SOURCE,
    tuple(
        f"minicnn_bias_relu<{t}, {i}>" for t in ("float", "double") for i in ("int", "long long")
    ),
)


def bias_relu(x: Any, b: Any = None) -> Any:
    """y = max(x + b[c], 0) for x (N, C, ...) and b (C,) (or None: y = max(x, 0)), in one
    pass. The gradient is ``gy * (y > 0)`` (and its sum over all axes but 1 for b)."""
    cp = compiler.cupy()
    x = compiler.contiguous(x, "bias_relu: x")
    if x.ndim < 2 and b is not None:
        raise ValueError(f"bias_relu: x must be (N, C, ...) to take a bias, got shape {x.shape}")
    c = x.shape[1] if x.ndim >= 2 else 1
    if b is not None:
        b = compiler.contiguous(b, "bias_relu: b")
        if b.shape != (c,) or b.dtype != x.dtype:
            raise ValueError(
                f"bias_relu: b must be {x.dtype} of shape ({c},), got {b.dtype} {b.shape}"
            )
    y = cp.empty_like(x)
    if x.size == 0:
        return y
    s = int(np.prod(x.shape[2:])) if x.ndim >= 2 else 1
    itype, inp = compiler.index_type(x.size)
    fn = compiler.function(SOURCE, f"minicnn_bias_relu<{compiler.c_type(x.dtype)}, {itype}>")
    grid, block = compiler.grid_1d(x.size)
    fn(grid, block, (x, b if b is not None else x, y, inp(x.size), np.int32(c), inp(s),
                     np.int32(b is not None)))
    return y

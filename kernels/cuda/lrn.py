"""Local response normalization on the GPU: launchers of ``lrn.cu`` (contract:
minicnn/reference/lrn.py, PyTorch's convention: alpha is divided by size)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels.cuda import compiler

SOURCE = "lrn.cu"

compiler.register(
    SOURCE,
    tuple(
        f"minicnn_lrn_{name}<{t}, {i}>"
        for name in ("forward", "backward")
        for t in ("float", "double")
        for i in ("int", "long long")
    ),
)


def _split(x: Any) -> tuple[int, int, int]:
    """(N, C, S): x is (N, C, ...) with S the product of the trailing axes."""
    if x.ndim < 2:
        raise ValueError(f"local_response_norm: x must be (N, C, ...), got shape {x.shape}")
    return int(x.shape[0]), int(x.shape[1]), int(np.prod(x.shape[2:]))


def _chunk(n: int, c: int, s: int) -> int:
    """Channels per thread: all of them when N*S threads already fill the GPU, else fewer,
    so that about 8 blocks of 256 threads run per multiprocessor (each thread re-reads
    the size-1 channels that lead into its first window)."""
    target = 8 * 256 * compiler.sm_count()
    want = max(1, -(-target // max(n * s, 1)))
    return max(-(-c // want), min(c, 16))


def _launch(name: str, dtype: Any, arrays: list[Any], n: int, c: int, s: int,
            scalars: list[Any]) -> None:
    chunk = _chunk(n, c, s)
    total = n * (-(-c // chunk)) * s
    itype, inp = compiler.index_type(n * c * s, total)
    ctype = compiler.c_type(dtype)
    fn = compiler.function(SOURCE, f"minicnn_lrn_{name}<{ctype}, {itype}>")
    grid, block = compiler.grid_1d(total)
    fn(grid, block, (*arrays, inp(total), np.int32(c), inp(s), np.int32(chunk), *scalars))


def local_response_norm(x: Any, size: int, alpha: float, beta: float, k: float) -> tuple[Any, Any]:
    """x (N, C, ...) -> (y, scale): scale = k + alpha/size * (window sum of x^2 over
    channels c - size//2 .. c + (size-1)//2), y = x * scale^-beta."""
    cp = compiler.cupy()
    x = compiler.contiguous(x, "local_response_norm: x")
    n, c, s = _split(x)
    y = cp.empty_like(x)
    scale = cp.empty_like(x)
    if x.size:
        t = x.dtype.type
        _launch("forward", x.dtype, [x, y, scale], n, c, s,
                [np.int32(size), t(alpha / size), t(beta), t(k)])
    return y, scale


def local_response_norm_backward(
    x: Any, y: Any, scale: Any, gy: Any, size: int, alpha: float, beta: float, k: float
) -> Any:
    """gx = gy * scale^-beta - 2*alpha*beta/size * x * (window sum of gy*y/scale over
    channels c - (size-1)//2 .. c + size//2, the forward window transposed)."""
    cp = compiler.cupy()
    x = compiler.contiguous(x, "local_response_norm_backward: x")
    y = compiler.contiguous(y, "local_response_norm_backward: y")
    scale = compiler.contiguous(scale, "local_response_norm_backward: scale")
    gy = compiler.contiguous(gy, "local_response_norm_backward: gy")
    for name, a in (("y", y), ("scale", scale), ("gy", gy)):
        if a.shape != x.shape or a.dtype != x.dtype:
            raise ValueError(
                f"local_response_norm_backward: {name} must be {x.dtype} of x's shape "
                f"{x.shape}, got {a.dtype} {a.shape}"
            )
    n, c, s = _split(x)
    gx = cp.empty_like(x)
    if x.size:
        t = x.dtype.type
        _launch("backward", x.dtype, [x, y, scale, gy, gx], n, c, s,
                [np.int32(size), t(beta), t(2 * alpha * beta / size)])
    return gx

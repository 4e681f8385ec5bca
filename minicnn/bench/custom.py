"""Custom conv kernels: load ``module:function`` and prove it right before timing it.

A custom kernel has ``conv2d``'s signature on raw arrays::

    my_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> array

(NumPy arrays in on the CPU, CuPy arrays on the GPU). Before it is timed, :func:`check_kernel`
runs it on random float32 inputs of several shapes and compares it with the reference,
minicnn's ``conv2d`` on the NumPy kernels in float64. A kernel that is wrong on any shape is
refused, with the shape and the largest error it made. A kernel that raises
``NotImplementedError`` for a feature (groups, dilation) is timed on the shapes without it.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from minicnn.bench.shapes import ConvShape

#: Normalized max error max|y - ref| / max|ref| a float32 kernel may make.
TOLERANCE = 1e-4


class KernelCheckError(Exception):
    """A custom kernel gave a wrong result (or failed) on a check shape; it is not timed."""


@dataclasses.dataclass
class CustomKernel:
    """A loaded custom kernel and what its check found."""

    spec: str
    name: str
    fn: Callable[..., Any]
    unsupported: set[str] = dataclasses.field(default_factory=set)
    checks: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def supports(self, shape: ConvShape) -> bool:
        return not (features(shape) & self.unsupported)


def features(s: ConvShape) -> set[str]:
    """The optional conv features a shape uses: 'groups', 'dilation', 'no_bias'."""
    out = set()
    if s.groups != 1:
        out.add("groups")
    if s.dilation != 1:
        out.add("dilation")
    if not s.bias:
        out.add("no_bias")
    return out


def load_kernel(spec: str) -> CustomKernel:
    """``module:function`` or ``path/to/file.py:function`` -> the function.

    A module name is imported with the current directory on ``sys.path`` (as ``python -m``
    would); a path ending in ``.py`` is loaded from that file.
    """
    mod_part, sep, fn_name = spec.rpartition(":")
    if not sep or not mod_part or not fn_name:
        raise ValueError(
            f"--kernel must be 'module:function' or 'path/to/file.py:function', got {spec!r}"
        )
    if mod_part.endswith(".py") or os.sep in mod_part or "/" in mod_part:
        path = Path(mod_part)
        if not path.is_file():
            raise ValueError(f"--kernel {spec!r}: no file {str(path)!r}")
        mod_name = f"minicnn_bench_custom_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ValueError(f"--kernel {spec!r}: cannot load {str(path)!r} as a module")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        loader_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(mod_part)
        except ImportError as e:
            raise ValueError(f"--kernel {spec!r}: cannot import {mod_part!r}: {e}") from e
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ValueError(f"--kernel {spec!r}: {mod_part!r} has no function {fn_name!r}")
    return CustomKernel(spec=spec, name=fn_name, fn=fn)


#: Shapes a custom kernel is checked on: odd sizes, padding, strides, each feature alone.
CHECK_SHAPES: tuple[ConvShape, ...] = (
    ConvShape("check.3x3_pad", 2, 3, 9, 9, 4, 3, 3, padding=1),
    ConvShape("check.1x1", 2, 8, 5, 7, 5, 1, 1),
    ConvShape("check.5x5_stride2", 1, 4, 11, 10, 6, 5, 5, stride=2, padding=2),
    ConvShape("check.11x11_stride4", 1, 3, 23, 23, 4, 11, 11, stride=4),
    ConvShape("check.no_bias", 2, 4, 6, 6, 3, 3, 3, bias=False),
    ConvShape("check.groups", 2, 6, 7, 7, 4, 5, 5, padding=2, groups=2),
    ConvShape("check.dilation", 1, 3, 9, 9, 2, 3, 3, padding=2, dilation=2),
)


def shape_args(s: ConvShape) -> str:
    return (
        f"input {s.x_shape} weight {s.w_shape} bias={'yes' if s.bias else 'None'} "
        f"stride={s.stride} padding={s.padding} dilation={s.dilation} groups={s.groups}"
    )


def reference_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, s: ConvShape
) -> np.ndarray:
    """minicnn's conv2d on the NumPy reference kernels, in float64."""
    from minicnn import backend, functional, no_grad
    from minicnn.tensor import Tensor

    def t(a: np.ndarray | None) -> Tensor | None:
        return None if a is None else Tensor(np.asarray(a, dtype=np.float64))

    with backend.use_kernels("numpy"), no_grad():
        y = functional.conv2d(t(x), t(w), t(b), s.stride, s.padding, s.dilation, s.groups)
    return y.numpy()


def random_inputs(
    s: ConvShape, seed: int, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(s.x_shape).astype(dtype)
    fan_in = (s.c // s.groups) * s.kh * s.kw
    w = (rng.standard_normal(s.w_shape) / np.sqrt(fan_in)).astype(dtype)
    b = rng.standard_normal(s.k).astype(dtype) if s.bias else None
    return x, w, b


def to_numpy(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def check_kernel(
    kernel: CustomKernel, xp: Any = np, shapes: tuple[ConvShape, ...] = CHECK_SHAPES
) -> CustomKernel:
    """Run ``kernel`` on every check shape against the reference; raise if it is wrong.

    Raises :class:`KernelCheckError` naming the shape and the max error (or the exception).
    A ``NotImplementedError`` on a shape that uses one optional feature marks that feature
    unsupported instead. Returns the kernel with ``checks`` and ``unsupported`` filled in.
    """
    for i, s in enumerate(shapes):
        x, w, b = random_inputs(s, seed=1000 + i)
        ref = reference_conv2d(x, w, b, s)
        args = [xp.asarray(x), xp.asarray(w), None if b is None else xp.asarray(b)]
        try:
            y = kernel.fn(*args, s.stride, s.padding, s.dilation, s.groups)
        except NotImplementedError as e:
            feats = features(s)
            if len(feats) == 1:
                kernel.unsupported |= feats
                kernel.checks.append({"shape": s.name, "unsupported": sorted(feats)})
                continue
            raise KernelCheckError(
                f"custom kernel {kernel.spec} raised NotImplementedError on {shape_args(s)}: {e}"
            ) from e
        except Exception as e:
            raise KernelCheckError(
                f"custom kernel {kernel.spec} raised {type(e).__name__} on {shape_args(s)}: {e}"
            ) from e
        y = to_numpy(y)
        if y.shape != ref.shape:
            raise KernelCheckError(
                f"custom kernel {kernel.spec} returned shape {y.shape} on {shape_args(s)}; "
                f"expected {ref.shape}"
            )
        scale = float(np.max(np.abs(ref))) or 1.0
        diff = np.abs(y.astype(np.float64) - ref)
        err = float(np.max(diff)) if np.all(np.isfinite(y)) else float("inf")
        kernel.checks.append(
            {"shape": s.name, "max_abs_error": err, "max_abs_reference": scale,
             "dtype": str(y.dtype)}
        )
        if not err <= TOLERANCE * scale:
            where = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(diff), diff, np.inf))),
                                     diff.shape)
            raise KernelCheckError(
                f"custom kernel {kernel.spec} is wrong on {shape_args(s)}: max abs error "
                f"{err:.3g} at output index {tuple(int(i) for i in where)} (max |reference| "
                f"{scale:.3g}, tolerance {TOLERANCE * scale:.3g}); refusing to time it"
            )
    return kernel

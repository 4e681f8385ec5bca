"""Which kernels serve an array: the NumPy reference, Numba CPU kernels or CuPy GPU kernels.

The backend is chosen once, where an op starts, from the type of its input array:

* a NumPy array is served by the CPU kernel set named by ``MINICNN_KERNELS`` (``numba``, the
  default when numba imports, or ``numpy``, the reference) or by :func:`set_kernels`;
* a CuPy array is served by the CUDA kernels in ``kernels/cuda``.

Every kernel set exposes the same functions with the same signatures as
:mod:`minicnn.reference` (see ``KERNEL_NAMES``); the reference is the specification.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import types
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

#: The kernel contract: every kernel set defines these functions (see minicnn/reference).
KERNEL_NAMES = (
    "im2col",
    "col2im",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "local_response_norm",
    "local_response_norm_backward",
    "batch_norm_stats",
    "batch_norm",
    "batch_norm_backward",
    "relu",
    "relu_backward",
)

_CPU_CHOICES = ("numpy", "numba")

try:  # CuPy is optional: importing minicnn never needs a GPU.
    import cupy as _cupy  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

_cpu_kernels: str | None = None
_loaded: dict[str, types.ModuleType] = {}
_numba_warned = False


def cupy_module() -> types.ModuleType | None:
    """The cupy module when it imports, else None."""
    return _cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def is_cupy_array(x: Any) -> bool:
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def get_array_module(*arrays: Any) -> types.ModuleType:
    """``numpy`` or ``cupy``, from the arrays given (CuPy when any is a CuPy array)."""
    for a in arrays:
        if is_cupy_array(a):
            return _cupy
    return np


def device_of(x: Any) -> str:
    """'cuda' for a CuPy array, 'cpu' otherwise."""
    return "cuda" if is_cupy_array(x) else "cpu"


def _numba_importable() -> bool:
    """True when numba and the Numba kernel set import."""
    try:
        importlib.import_module("numba")
        importlib.import_module("kernels.numba_cpu")
    except ImportError:
        return False
    return True


def _default_cpu_kernels() -> str:
    global _numba_warned
    name = os.environ.get("MINICNN_KERNELS", "").strip().lower() or None
    if name is not None and name not in _CPU_CHOICES:
        raise ValueError(
            f"MINICNN_KERNELS must be one of {_CPU_CHOICES}, got {name!r}"
        )
    if name is None:
        name = "numba"
    if name == "numba" and not _numba_importable():
        if not _numba_warned:
            warnings.warn(
                "minicnn: numba is not importable; using the NumPy reference kernels",
                RuntimeWarning,
                stacklevel=3,
            )
            _numba_warned = True
        name = "numpy"
    return name


def get_kernels() -> str:
    """Name of the CPU kernel set in use: 'numpy' or 'numba'."""
    global _cpu_kernels
    if _cpu_kernels is None:
        _cpu_kernels = _default_cpu_kernels()
    return _cpu_kernels


def set_kernels(name: str) -> None:
    """Select the CPU kernel set: 'numpy' (the reference) or 'numba'."""
    global _cpu_kernels
    if name not in _CPU_CHOICES:
        raise ValueError(f"kernels must be one of {_CPU_CHOICES}, got {name!r}")
    if name == "numba" and not _numba_importable():
        raise RuntimeError("kernels='numba' was asked for, but numba is not importable")
    _cpu_kernels = name


@contextlib.contextmanager
def use_kernels(name: str) -> Iterator[None]:
    """Context manager: run the block with the CPU kernel set ``name``."""
    old = get_kernels()
    set_kernels(name)
    try:
        yield
    finally:
        set_kernels(old)


def _load(name: str) -> types.ModuleType:
    mod = _loaded.get(name)
    if mod is None:
        path = {
            "numpy": "minicnn.reference",
            "numba": "kernels.numba_cpu",
            "cuda": "kernels.cuda",
        }[name]
        mod = importlib.import_module(path)
        _loaded[name] = mod
    return mod


def kernels_for(x: Any) -> types.ModuleType:
    """The kernel module that serves array ``x`` (chosen once, where an op starts)."""
    if is_cupy_array(x):
        return _load("cuda")
    return _load(get_kernels())

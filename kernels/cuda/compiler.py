"""Compile the CUDA sources beside this file with CuPy, once per device, and launch them.

Every ``.cu`` file here is self-contained (no ``#include``: NVRTC has no host headers) and
defines its kernels as templates over the element type ``T`` (float, double) and, where an
array may exceed 2**31 elements, the index type ``I`` (int, long long). The sources
instantiate every variant the launchers ask for explicitly, so ``nvcc -cubin`` generates
and checks all of them (tests/test_cuda_compile.py); at run time CuPy's ``RawModule``
compiles the same text with NVRTC and finds each variant by its name expression, e.g.
``minicnn_im2col<float, int>``.

CuPy is imported here lazily: importing ``kernels.cuda`` never needs CuPy or a GPU.
"""

from __future__ import annotations

import functools
import pathlib
import threading
from typing import Any

import numpy as np

SOURCE_DIR = pathlib.Path(__file__).resolve().parent

#: Source file -> the name expressions of the kernels its launchers call (every one is
#: instantiated explicitly in the source). tests/test_cuda_compile.py checks the two agree.
NAME_EXPRESSIONS: dict[str, tuple[str, ...]] = {}

# NVRTC options: C++17, and IEEE division and square root (the kernels match the reference
# to a few ulps, so no fast math).
_OPTIONS = ("--std=c++17",)

_lock = threading.Lock()
_modules: dict[tuple[str, int], Any] = {}
_functions: dict[tuple[str, str, int], Any] = {}

INT32_SAFE = 2**30  # index with int when every array and grid-stride step stays below 2**31


def cupy() -> Any:
    """The cupy module; RuntimeError naming the fix where it does not import."""
    try:
        import cupy as cp  # type: ignore[import-not-found]
    except Exception as e:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "the CUDA kernels need CuPy (pip install minicnn[gpu]) and a CUDA device"
        ) from e
    return cp


def register(source: str, expressions: tuple[str, ...]) -> None:
    """Declare the kernels a launcher module calls from ``source`` (at import, no GPU)."""
    NAME_EXPRESSIONS[source] = NAME_EXPRESSIONS.get(source, ()) + tuple(expressions)


def source_text(source: str) -> str:
    return (SOURCE_DIR / source).read_text()


def _module(source: str, device: int) -> Any:
    key = (source, device)
    mod = _modules.get(key)
    if mod is None:
        with _lock:
            mod = _modules.get(key)
            if mod is None:
                cp = cupy()
                mod = cp.RawModule(
                    code=source_text(source),
                    options=_OPTIONS,
                    name_expressions=list(NAME_EXPRESSIONS[source]),
                )
                _modules[key] = mod
    return mod


def function(source: str, expression: str) -> Any:
    """The compiled kernel ``expression`` of ``source`` on the current device (memoized)."""
    cp = cupy()
    device = cp.cuda.Device().id
    key = (source, expression, device)
    fn = _functions.get(key)
    if fn is None:
        if expression not in NAME_EXPRESSIONS.get(source, ()):
            raise KeyError(f"{expression!r} is not registered for {source}")
        fn = _module(source, device).get_function(expression)
        _functions[key] = fn
    return fn


def index_type(*sizes: int) -> tuple[str, type]:
    """('int', np.int32) when every size is small enough for 32-bit indexing, else 64-bit."""
    if max(sizes, default=0) < INT32_SAFE:
        return "int", np.int32
    return "long long", np.int64


def c_type(dtype: Any) -> str:
    """'float' or 'double' for a float32/float64 dtype; ValueError otherwise."""
    dt = np.dtype(dtype)
    if dt == np.float32:
        return "float"
    if dt == np.float64:
        return "double"
    raise ValueError(f"the CUDA kernels take float32 or float64 arrays, got {dt}")


@functools.cache
def _sm_count(device: int) -> int:
    cp = cupy()
    return int(cp.cuda.runtime.getDeviceProperties(device)["multiProcessorCount"])


def sm_count() -> int:
    """Multiprocessors of the current device."""
    return _sm_count(cupy().cuda.Device().id)


def grid_1d(total: int, threads: int = 256) -> tuple[tuple[int], tuple[int]]:
    """(grid, block) for a grid-stride loop over ``total`` items: at most 32 blocks per SM."""
    blocks = max(1, min(-(-total // threads), 32 * sm_count()))
    return (blocks,), (threads,)


def contiguous(x: Any, name: str) -> Any:
    """x as a C-contiguous CuPy array; ValueError naming ``name`` for anything else."""
    cp = cupy()
    if not isinstance(x, cp.ndarray):
        raise ValueError(f"{name} must be a cupy.ndarray, got {type(x).__name__}")
    return cp.ascontiguousarray(x)

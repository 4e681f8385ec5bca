"""Run the CUDA sources on the CPU, to test kernel logic where there is no GPU.

A stand-in for the few parts of CuPy the launchers use (:func:`fake_cupy`): arrays are NumPy
arrays and ``RawModule`` compiles the very source text CuPy would get, with a host C++
compiler (g++) and a small shim that defines CUDA's keywords and built-ins. Each block runs
its threads as cooperative contexts (``ucontext``) in one OS thread: ``__syncthreads()``
yields to a scheduler that resumes every thread of the block in turn, so a barrier holds
exactly as on the GPU, and ``__shared__`` arrays (``static`` here) are one per block.

This checks indexing, bounds and arithmetic, not speed, warp behaviour or races between
blocks; tests/test_gpu.py checks the same kernels on a real device.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import types
from typing import Any

import numpy as np

_SHIM = r"""
#include <cmath>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(16) int4 { int x, y, z, w; };

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }

namespace minicnn_emu {
struct Thread { ucontext_t uc; std::vector<char> stack; bool done = false; };
inline ucontext_t scheduler;
inline std::vector<Thread>* threads = nullptr;
inline int current = 0;
inline void (*body)(void**) = nullptr;
inline void** body_args = nullptr;

inline void set_thread_index(int t) {
  threadIdx.x = t % blockDim.x;
  threadIdx.y = (t / blockDim.x) % blockDim.y;
  threadIdx.z = t / (blockDim.x * blockDim.y);
}
inline void entry() {
  body(body_args);
  (*threads)[current].done = true;
}
inline void yield() { swapcontext(&(*threads)[current].uc, &scheduler); }

template <typename... A, std::size_t... I>
void call(void (*k)(A...), void** args, std::index_sequence<I...>) {
  k(*static_cast<std::remove_reference_t<A>*>(args[I])...);
}

template <typename... A>
void launch(void (*k)(A...), const unsigned* geom, void** args) {
  static void (*kernel)(A...);
  kernel = k;
  body = [](void** a) { call(kernel, a, std::index_sequence_for<A...>{}); };
  body_args = args;
  gridDim.x = geom[0]; gridDim.y = geom[1]; gridDim.z = geom[2];
  blockDim.x = geom[3]; blockDim.y = geom[4]; blockDim.z = geom[5];
  const int nt = (int)(blockDim.x * blockDim.y * blockDim.z);
  std::vector<Thread> ts(nt);
  threads = &ts;
  for (unsigned bz = 0; bz < gridDim.z; ++bz)
    for (unsigned by = 0; by < gridDim.y; ++by)
      for (unsigned bx = 0; bx < gridDim.x; ++bx) {
        blockIdx.x = bx; blockIdx.y = by; blockIdx.z = bz;
        for (int t = 0; t < nt; ++t) {
          Thread& th = ts[t];
          th.done = false;
          th.stack.resize(1 << 16);
          getcontext(&th.uc);
          th.uc.uc_stack.ss_sp = th.stack.data();
          th.uc.uc_stack.ss_size = th.stack.size();
          th.uc.uc_link = &scheduler;
          makecontext(&th.uc, entry, 0);
        }
        for (int left = nt; left > 0;) {  // one pass: every thread runs to a barrier or its end
          left = 0;
          for (int t = 0; t < nt; ++t) {
            if (ts[t].done) continue;
            current = t;
            set_thread_index(t);
            swapcontext(&scheduler, &ts[t].uc);
            left += !ts[t].done;
          }
        }
      }
  threads = nullptr;
}
}  // namespace minicnn_emu

inline void __syncthreads() { minicnn_emu::yield(); }
"""

_lock = threading.Lock()
_libs: dict[str, ctypes.CDLL] = {}


def compiler_available() -> bool:
    """True when a host C++ compiler (g++) is on the PATH."""
    return shutil.which(os.environ.get("CXX", "g++")) is not None


def build(code: str, expressions: list[str] | tuple[str, ...]) -> ctypes.CDLL:
    """Compile ``code`` for the host with one launch entry per name expression (memoized)."""
    key = hashlib.sha256((code + "\0" + "\0".join(expressions)).encode()).hexdigest()
    with _lock:
        lib = _libs.get(key)
        if lib is not None:
            return lib
        entries = "".join(
            f'extern "C" void minicnn_emu_launch_{i}(const unsigned* g, void** a) '
            f"{{ minicnn_emu::launch(&{e}, g, a); }}\n"
            for i, e in enumerate(expressions)
        )
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="minicnn-emu-"))
        src = tmp / "kernels.cpp"
        src.write_text(_SHIM + "\n#line 1 \"kernel.cu\"\n" + code + "\n" + entries)
        so = tmp / "kernels.so"
        cmd = [os.environ.get("CXX", "g++"), "-std=c++20", "-O1", "-shared", "-fPIC",
               "-Wno-unknown-pragmas", str(src), "-o", str(so)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"emulator: host compile failed:\n{res.stderr[-4000:]}")
        lib = ctypes.CDLL(str(so))
        _libs[key] = lib
        return lib


def _ctype_arg(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        return ctypes.c_void_p(a.ctypes.data)
    for t, c in ((np.int32, ctypes.c_int32), (np.int64, ctypes.c_int64),
                 (np.float32, ctypes.c_float), (np.float64, ctypes.c_double)):
        if isinstance(a, t):
            return c(a)
    raise TypeError(f"emulator: kernel arguments must be arrays or numpy scalars, got {a!r}")


class _Function:
    def __init__(self, entry: Any) -> None:
        self._entry = entry

    def __call__(self, grid: tuple[int, ...], block: tuple[int, ...], args: tuple) -> None:
        g = tuple(grid) + (1,) * (3 - len(grid))
        b = tuple(block) + (1,) * (3 - len(block))
        geom = (ctypes.c_uint * 6)(*g, *b)
        vals = [_ctype_arg(a) for a in args]
        ptrs = (ctypes.c_void_p * max(len(vals), 1))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in vals]
        )
        self._entry(geom, ptrs)


class RawModule:
    """CuPy's ``RawModule(code=..., options=..., name_expressions=...)``, on the host."""

    def __init__(self, code: str, options: tuple = (), name_expressions: Any = ()) -> None:
        self._expressions = list(name_expressions)
        self._lib = build(code, self._expressions)

    def get_function(self, expression: str) -> _Function:
        i = self._expressions.index(expression)
        return _Function(getattr(self._lib, f"minicnn_emu_launch_{i}"))


def fake_cupy(multiprocessors: int = 2) -> types.SimpleNamespace:
    """A stand-in for the parts of CuPy that kernels/cuda uses, on NumPy arrays."""

    class _Device:
        id = 0

    runtime = types.SimpleNamespace(
        getDeviceProperties=lambda device: {"multiProcessorCount": multiprocessors}
    )
    cuda = types.SimpleNamespace(Device=_Device, runtime=runtime)
    return types.SimpleNamespace(
        ndarray=np.ndarray,
        empty=np.empty,
        empty_like=np.empty_like,
        zeros=np.zeros,
        asarray=np.asarray,
        ascontiguousarray=np.ascontiguousarray,
        RawModule=RawModule,
        cuda=cuda,
    )

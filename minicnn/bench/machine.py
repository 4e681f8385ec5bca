"""The machine a benchmark ran on, and its limits measured in the same run.

* GEMM peak: float32 ``matmul`` of large square matrices (NumPy's BLAS, or cuBLAS through
  CuPy), median GFLOP/s. This is the ceiling of an im2col convolution.
* Copy bandwidth: ``copyto`` of a large array, bytes read + written per second. Pooling and
  LRN cannot beat the bytes they must move over this.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import platform
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from minicnn import _blas, _malloc
from minicnn.bench.timing import median, repeat_times


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The 'model name' line of /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS libraries loaded (kernel = 'architecture')."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [
        {k: d.get(k) for k in keys} for d in threadpool_info() if d.get("user_api") == "blas"
    ]


def gpu_info() -> dict[str, Any] | None:
    from minicnn import backend

    if not backend.gpu_available():
        return None
    cp = backend.cupy_module()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"]
    return {
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "memory_bytes": int(props["totalGlobalMem"]),
        "cuda_runtime": int(cp.cuda.runtime.runtimeGetVersion()),
    }


def describe(threads: int, device: str) -> dict[str, Any]:
    """Everything that explains a number: CPU, cores, threads, BLAS kernel, versions."""
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "threads": threads,
        "blas": blas_info(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "numba": _version("numba"),
        "torch": _version("torch"),
        "cupy": _version("cupy") or _version("cupy-cuda12x") or _version("cupy-cuda11x"),
        "numba_threads": _numba_threads(),
        "openblas_restarted": _blas.OPENBLAS_RESTARTED,
        "malloc_tuned": _malloc.TUNED,
        "env": {
            k: os.environ[k]
            for k in (
                "MINICNN_KERNELS",
                "NUMBA_NUM_THREADS",
                "NUMBA_THREADING_LAYER",
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "OPENBLAS_THREAD_TIMEOUT",
                "GOMP_SPINCOUNT",
                "OMP_WAIT_POLICY",
                "MINICNN_MALLOC_TUNING",
            )
            if k in os.environ
        },
    }
    if device == "cuda":
        info["gpu"] = gpu_info()
    return info


def _numba_threads() -> str | None:
    """The threading layer minicnn chose for the Numba kernels, and why (None: no numba)."""
    try:
        from kernels.numba_cpu import threads
    except ImportError:
        return None
    return threads.CHOICE


@contextlib.contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """Run the block with BLAS and Numba on ``threads`` threads (torch is set by its user)."""
    stack = contextlib.ExitStack()
    try:
        from threadpoolctl import threadpool_limits

        stack.enter_context(threadpool_limits(limits=threads, user_api="blas"))
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass
    old = None
    numba = sys.modules.get("numba") or _try_import("numba")
    if numba is not None:
        old = numba.get_num_threads()
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        with stack:
            yield
    finally:
        if numba is not None and old is not None:
            numba.set_num_threads(old)


def _try_import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _sync(xp: ModuleType) -> Any:
    if xp is np:
        return None
    return xp.cuda.Device().synchronize


def gemm_peak(xp: ModuleType, n: int, repeats: int) -> dict[str, Any]:
    """float32 ``matmul`` of two n x n matrices into a reused output: GFLOP/s per repeat."""
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n), dtype=np.float32))
    b = xp.asarray(rng.standard_normal((n, n), dtype=np.float32))
    c = xp.empty((n, n), dtype=np.float32)
    sync = _sync(xp)

    def step() -> None:
        xp.matmul(a, b, out=c)
        if sync is not None:
            sync()

    times = repeat_times(step, repeats, warmup=2)
    gflops = [2.0 * n**3 / t / 1e9 for t in times]
    return {
        "n": n,
        "gflops": 2.0 * n**3 / median(times) / 1e9,
        "best_gflops": max(gflops),
        "runs_gflops": gflops,
    }


def copy_bandwidth(xp: ModuleType, nbytes: int, repeats: int) -> dict[str, Any]:
    """``copyto`` of an ``nbytes`` float32 array: (read + written) bytes per second."""
    n = nbytes // 4
    src = xp.arange(n, dtype=np.float32)
    dst = xp.zeros(n, dtype=np.float32)  # touched: no page faults in the timed copies
    sync = _sync(xp)

    def step() -> None:
        xp.copyto(dst, src)
        if sync is not None:
            sync()

    times = repeat_times(step, repeats, warmup=2)
    return {
        "bytes": 4 * n,
        "gbytes_per_s": 2 * 4 * n / median(times) / 1e9,
        "best_gbytes_per_s": 2 * 4 * n / min(times) / 1e9,
    }

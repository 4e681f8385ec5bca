"""The idle spins of OpenBLAS's and OpenMP's threads, set when minicnn is imported.

After each GEMM, OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) before they
sleep, and take the two cores from the Numba kernels that run next: measured here, a CIFAR
ResNet-20 training step took 490 ms with the default and 370-390 ms with 2^12 to 2^20
(2^4 made many small back-to-back GEMMs 40% slower). OpenBLAS reads the timeout
(``OPENBLAS_THREAD_TIMEOUT``) from the environment when it loads and uses it when it starts
its threads. So minicnn sets it to 16 when numpy is not loaded yet; when numpy came first
(``import numpy as np`` above ``import minicnn``, the usual order), it sets it and has each
loaded OpenBLAS re-read its environment (``openblas_read_env``) and stop its threads
(``blas_thread_shutdown_``, what OpenBLAS itself does before each fork), which the next GEMM
starts again with the short timeout. Measured here with numpy imported first: the ResNet-20
step took 344-350 ms before, 217-222 ms after; the process's CPU time in the 0.3 s after a
512x512 GEMM went from 0.105 s to 0.0003 s. Both entry points are exported by OpenBLAS
0.3.x (numpy's ``scipy_openblas`` too); a BLAS without them (MKL, Accelerate), or an OpenBLAS
on OpenMP threads, is left alone, and so is a user's own ``OPENBLAS_THREAD_TIMEOUT``. The
restart happens only when minicnn is imported from the main thread; no other thread may be
using BLAS meanwhile (a GEMM runs without the GIL, so holding it does not exclude one):
import minicnn before starting threads that compute.
``BLAS_SHORT_SPIN`` records whether it is in effect (kernels/numba_cpu/threads.py uses it).

GNU OpenMP (libgomp, which runs the Numba kernels) likewise spins 300,000 rounds after each
parallel region, and the GEMM that follows a kernel then ran at half speed (see
kernels/numba_cpu/threads.py). libgomp reads ``GOMP_SPINCOUNT`` once, when it loads, and one
libgomp serves the whole process: when a library imported after minicnn but before the first
Numba kernel loads it (``import torch`` does), it is already too late to set it at that
kernel. So, with the OpenBLAS timeout, minicnn sets ``GOMP_SPINCOUNT=10000`` here, where no
OpenMP runtime is loaded yet and the user has set neither it nor ``OMP_WAIT_POLICY``.
Measured here, a GEMM pair run after an im2col kernel took 3.0 ms, and 5.6-6.4 ms where torch's
libraries loaded libgomp before the spin count was set. Both variables stay in the
environment, so child processes (and PyTorch's OpenMP threads, which share the runtime) get
the short spins too.
"""

import ctypes
import os
import re
import sys
import threading

#: libgomp's spin before its idle threads sleep, when minicnn sets it (see above)
OMP_SPIN_COUNT = "10000"
#: log2 of the cycles OpenBLAS's idle threads spin, when minicnn sets it (see above)
OPENBLAS_TIMEOUT = "16"


def openmp_loaded() -> bool:
    """True when this process has an OpenMP runtime mapped already (GNU's libgomp, also as a
    wheel's hashed copy ``libgomp-<hash>.so.1``, or Intel's libiomp): its settings are fixed."""
    maps = _maps()
    if maps is None:  # not Linux: assume the worst
        return True
    return re.search(r"lib(gomp|iomp5)[-\w.]*\.so", maps) is not None


def _maps() -> str | None:
    """The text of /proc/self/maps (the files mapped in this process), None where there is
    none (not Linux)."""
    try:
        with open("/proc/self/maps") as f:
            return f.read()
    except OSError:
        return None


#: the entry point that says how an OpenBLAS runs its threads (1: its own pthreads pool)
_GET_PARALLEL = ("openblas_get_parallel", "scipy_openblas_get_parallel64_",
                 "scipy_openblas_get_parallel", "openblas_get_parallel64_")


def mapped_blas_paths(maps: str) -> list[str]:
    """The files of the shared libraries in ``maps`` (the text of /proc/self/maps) whose path
    mentions BLAS (libopenblas, numpy's libscipy_openblas64_, Debian's
    openblas-pthread/libblas.so.3), each once, in order."""
    paths: list[str] = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        path = fields[5].removesuffix(" (deleted)")
        if "blas" in path.lower() and ".so" in os.path.basename(path) and path not in paths:
            paths.append(path)
    return paths


def _restart_openblas_threads(maps: str) -> int:
    """Have each OpenBLAS mapped in this process (``maps``: /proc/self/maps) that runs its own
    thread pool re-read its environment and stop its threads, which its next GEMM starts again
    with the settings read; the number restarted.

    Only from the main thread, and through ``ctypes.PyDLL`` (the GIL held during each call);
    no other thread may be using BLAS meanwhile (see the module docstring). An OpenBLAS built
    on OpenMP (its threads are OpenMP's, the timeout means nothing there), a BLAS without
    these entry points, or one that cannot be opened is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return 0
    done = 0
    for path in mapped_blas_paths(maps):
        try:
            lib = ctypes.PyDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
            read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
            get_parallel = next(getattr(lib, n) for n in _GET_PARALLEL if hasattr(lib, n))
        except (OSError, AttributeError, StopIteration):
            continue
        if get_parallel() != 1:  # not the pthreads pool
            continue
        read_env()
        shutdown()
        done += 1
    return done


# In effect: minicnn set it (before numpy loaded, or restarting the OpenBLAS numpy loaded),
# or the user did, in the environment before Python started. Child processes inherit the
# variable, and with it the short spin.
BLAS_SHORT_SPIN = False
#: how many OpenBLAS libraries, loaded before minicnn, it restarted with the short spin
OPENBLAS_RESTARTED = 0
if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_TIMEOUT  # for an OpenBLAS loaded later
    OPENBLAS_RESTARTED = _restart_openblas_threads(_maps() or "")  # those loaded already
    if "numpy" in sys.modules and not OPENBLAS_RESTARTED:  # numpy's BLAS was not told
        del os.environ["OPENBLAS_THREAD_TIMEOUT"]
try:  # OpenBLAS takes 0 (or less) as its default, long, spin
    BLAS_SHORT_SPIN = 0 < int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "28")) <= 20
except ValueError:
    pass
if BLAS_SHORT_SPIN and "OMP_WAIT_POLICY" not in os.environ and not openmp_loaded():
    os.environ.setdefault("GOMP_SPINCOUNT", OMP_SPIN_COUNT)

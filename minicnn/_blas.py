"""The idle spins of OpenBLAS's and OpenMP's threads, set when minicnn is imported.

After each GEMM, OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) before they
sleep, and take the two cores from the Numba kernels that run next: measured here, a CIFAR
ResNet-20 training step took 490 ms with the default and 370-390 ms with 2^12 to 2^20
(2^4 made many small back-to-back GEMMs 40% slower). OpenBLAS reads the timeout
(``OPENBLAS_THREAD_TIMEOUT``) from the environment when it loads and uses it when it starts
its threads. So minicnn sets it to 16 when numpy is not loaded yet; when numpy came first
(``import numpy as np`` above ``import minicnn``, the usual order), it sets it and has each
loaded OpenBLAS re-read its environment (``openblas_read_env``) and stop its threads
(``blas_thread_shutdown_``, what OpenBLAS itself does in a forked child), which the next GEMM
starts again with the short timeout. Measured here with numpy imported first: the ResNet-20
step took 344-350 ms before, 217-222 ms after; the process's CPU time in the 0.3 s after a
512x512 GEMM went from 0.105 s to 0.0003 s. Both entry points are exported by OpenBLAS
0.3.x (numpy's ``scipy_openblas`` too); a BLAS without them (MKL, Accelerate) is left alone.
A user's own ``OPENBLAS_THREAD_TIMEOUT`` is left alone. The restart is meant for import time:
do not import minicnn while another thread is inside a GEMM.
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

#: libgomp's spin before its idle threads sleep, when minicnn sets it (see above)
OMP_SPIN_COUNT = "10000"
#: log2 of the cycles OpenBLAS's idle threads spin, when minicnn sets it (see above)
OPENBLAS_TIMEOUT = "16"


def openmp_loaded() -> bool:
    """True when this process has an OpenMP runtime mapped already (GNU's libgomp, also as a
    wheel's hashed copy ``libgomp-<hash>.so.1``, or Intel's libiomp): its settings are fixed."""
    try:
        with open("/proc/self/maps") as f:
            return re.search(r"lib(gomp|iomp5)[-\w.]*\.so", f.read()) is not None
    except OSError:  # not Linux: assume the worst
        return True


def _restart_openblas_threads() -> int:
    """Have every OpenBLAS mapped in this process re-read its environment and stop its
    threads (restarted by the next GEMM with the settings read); the number restarted."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:  # not Linux
        return 0
    paths = sorted(set(re.findall(r"(/\S*openblas[^/\s]*\.so[\w.]*)$", maps, re.M | re.I)))
    done = 0
    for path in paths:
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
            read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
        except (OSError, AttributeError):  # gone, or not an OpenBLAS with these entry points
            continue
        read_env()
        shutdown()
        done += 1
    return done


# In effect: minicnn set it (before numpy loaded, or restarting the OpenBLAS numpy loaded),
# or the user did, in the environment before Python started. Child processes inherit the
# variable, and with it the short spin.
BLAS_SHORT_SPIN = False
if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_TIMEOUT  # for an OpenBLAS loaded later
    restarted = _restart_openblas_threads()  # and those loaded already
    if "numpy" in sys.modules and not restarted:  # numpy's BLAS is another: nothing was set
        del os.environ["OPENBLAS_THREAD_TIMEOUT"]
try:
    BLAS_SHORT_SPIN = int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "28")) <= 20
except ValueError:
    pass
if BLAS_SHORT_SPIN and "OMP_WAIT_POLICY" not in os.environ and not openmp_loaded():
    os.environ.setdefault("GOMP_SPINCOUNT", OMP_SPIN_COUNT)

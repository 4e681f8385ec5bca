"""The idle spins of OpenBLAS's and OpenMP's threads, which must be set before the libraries
load.

After each GEMM, OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) before they
sleep, and take the two cores from the Numba kernels that run next: measured here, a CIFAR
ResNet-20 training step took 490 ms with the default and 370-390 ms with 2^12 to 2^20
(2^4 made many small back-to-back GEMMs 40% slower). OpenBLAS reads the timeout once, when
numpy loads it, so it is set only when numpy is not loaded yet and the user has not set it;
import minicnn before numpy, or export OPENBLAS_THREAD_TIMEOUT=16, to get it.
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

import os
import re
import sys

#: libgomp's spin before its idle threads sleep, when minicnn sets it (see above)
OMP_SPIN_COUNT = "10000"


def openmp_loaded() -> bool:
    """True when this process has an OpenMP runtime mapped already (GNU's libgomp, also as a
    wheel's hashed copy ``libgomp-<hash>.so.1``, or Intel's libiomp): its settings are fixed."""
    try:
        with open("/proc/self/maps") as f:
            return re.search(r"lib(gomp|iomp5)[-\w.]*\.so", f.read()) is not None
    except OSError:  # not Linux: assume the worst
        return True


# In effect: minicnn set it before numpy loaded, or the user did (in the environment, before
# Python started: the only way it can be in effect when numpy came first). Child processes
# inherit the variable, and with it the short spin.
BLAS_SHORT_SPIN = False
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")
    if "OMP_WAIT_POLICY" not in os.environ and not openmp_loaded():
        os.environ.setdefault("GOMP_SPINCOUNT", OMP_SPIN_COUNT)
try:
    BLAS_SHORT_SPIN = int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "28")) <= 20
except ValueError:
    pass

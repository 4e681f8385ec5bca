"""Which threads run the Numba kernels.

Unless ``NUMBA_THREADING_LAYER`` says otherwise, the kernels run on Numba's OpenMP layer
(fastest here), set up so that its threads and OpenBLAS's do not spin against each other for
the two cores. OpenBLAS spins about 0.1 s after a GEMM unless minicnn shortened that (see
``minicnn/_blas.py``: at import, also where numpy was imported first if its BLAS is an
OpenBLAS on its own threads, which minicnn restarts; unless the user exported
``OPENBLAS_THREAD_TIMEOUT``); libgomp spins a little after each parallel region
unless ``OMP_WAIT_POLICY=PASSIVE``. Training steps measured here on 2 cores (batch 32;
ResNet-20 batch 64), before minicnn could shorten the spin of an OpenBLAS numpy had loaded:

======================================  =========  =====================  ===============
                                        workqueue  OpenMP, default wait   OpenMP, passive
======================================  =========  =====================  ===============
short OpenBLAS spin: small VGG-11       43 ms      19 ms                  22 ms
short OpenBLAS spin: small ResNet-18    127 ms     63 ms                  65 ms
short OpenBLAS spin: CIFAR ResNet-20    380 ms     325 ms                 304 ms
long OpenBLAS spin: small VGG-11        32 ms      144 ms                 27 ms
long OpenBLAS spin: small ResNet-18     90 ms      380 ms                 83 ms
======================================  =========  =====================  ===============

So: with OpenBLAS's spin short, OpenMP with an active wait, but a short one: libgomp's
default spin (300,000 rounds, about 0.1-1 ms) after a Numba kernel made the OpenBLAS GEMM that
followed it run at half speed (a 64-channel 8x8 conv, batch 64: forward GEMM 1.5 -> 3.2-4.7 ms;
its whole forward+backward 8.1 ms with ``GOMP_SPINCOUNT=1000``, 10.3-12.4 ms without). With
``GOMP_SPINCOUNT=10000`` the ResNet-20 step took 251-276 ms against 284-301 ms (three
interleaved runs each); the small VGG-11 and ResNet-18 steps did not move (15-18 and 42-51 ms
either way). ``minicnn/_blas.py`` sets that spin count when minicnn is imported, before any
library can load libgomp (PyTorch's import does), and leaves it in the environment. With
PyTorch imported first, its own copy of libgomp is loaded already, but Numba loads the
system's, which reads the spin count then: the ResNet-20 step took 252-258 ms so, against
295 ms on workqueue. Otherwise (the user's long OpenBLAS spin) OpenMP with a passive wait, set
for Numba's libgomp only: the variable is set while Numba loads libgomp, which reads it then,
and removed afterwards (a PyTorch imported later shares that libgomp, so its threads wait
passively too). A user's ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is left alone. Where a
libgomp is loaded already and OpenBLAS spins long, its wait policy may be fixed, and the
kernels use ``workqueue``.
The choice must be made before the first parallel kernel runs: ``kernels.numba_cpu`` calls
:func:`start_threads` when it is imported. A threading layer set in code
(``numba.config.THREADING_LAYER``) or in the environment is left alone.

Fork: GNU OpenMP cannot run in a process forked after its threads started (Numba kills such a
child: "fork() called from a process already using GNU OpenMP"). So every kernel has a twin
compiled without threads, and :func:`pick` hands the twins to a forked child: a
``multiprocessing`` pool with the fork start method keeps working, on one thread per worker.
"""

import os
import types
from typing import Any

import numba
from numba import njit

from minicnn import _blas

#: what :func:`start_threads` chose, and why (recorded by the benchmark)
CHOICE = "not chosen yet"
_OMP_PID: int | None = None  # the process that started Numba's OpenMP threads


def start_threads() -> None:
    """Pick the threading layer (see the module docstring) and start its threads now."""
    global CHOICE, _OMP_PID
    if "NUMBA_THREADING_LAYER" in os.environ or numba.config.DISABLE_JIT:
        CHOICE = "left to Numba (NUMBA_THREADING_LAYER or NUMBA_DISABLE_JIT set)"
        return
    if numba.config.THREADING_LAYER != "default":
        CHOICE = f"{numba.config.THREADING_LAYER} (numba.config.THREADING_LAYER, set in code)"
        return
    short_blas_spin = _blas.BLAS_SHORT_SPIN
    if not short_blas_spin and _blas.openmp_loaded():
        numba.config.THREADING_LAYER = "workqueue"
        CHOICE = "workqueue (an OpenMP runtime was loaded already and OpenBLAS spins long)"
        return
    numba.config.THREADING_LAYER = "omp"
    passive = False  # OMP_WAIT_POLICY set for Numba's libgomp only, removed after it loaded
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        if short_blas_spin:  # kept, as minicnn/_blas.py keeps it
            os.environ["GOMP_SPINCOUNT"] = _blas.OMP_SPIN_COUNT
        else:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            passive = True
    wait = os.environ.get("OMP_WAIT_POLICY", "default")
    spin = os.environ.get("GOMP_SPINCOUNT", "default")
    try:
        _launch()  # loads Numba's libgomp, which reads the policy now
        _OMP_PID = os.getpid()
        CHOICE = (f"omp (wait policy {wait}, spin count {spin}; OpenBLAS spin "
                  f"{'short' if short_blas_spin else 'long'})")
    except Exception:  # no usable OpenMP layer here
        numba.config.THREADING_LAYER = "workqueue"
        CHOICE = "workqueue (no usable OpenMP layer)"
    finally:
        if passive:
            del os.environ["OMP_WAIT_POLICY"]


def _launch() -> None:
    from numba.np.ufunc import parallel

    parallel._launch_threads()


def forked_from_openmp() -> bool:
    """True in a process forked after its parent started Numba's OpenMP threads."""
    return _OMP_PID is not None and os.getpid() != _OMP_PID


def pick(threaded: Any, serial: Any) -> Any:
    """``threaded``, or its ``serial`` twin in a child forked after OpenMP started."""
    return serial if forked_from_openmp() else threaded


def serial_twin(kernel: Any, **options: Any) -> Any:
    """``kernel`` (a ``parallel=True`` dispatcher or its Python function) compiled without
    threads (``prange`` is then ``range``) with the njit ``options`` given (fastmath...), for
    inputs too small to repay starting the threads and for forked children. A copy of the
    Python function under its own name: Numba's cache keys entries by the function, not by its
    options, so the two compilations must not share one."""
    fn = getattr(kernel, "py_func", kernel)
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                              fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    return njit(cache=True, **options)(twin)

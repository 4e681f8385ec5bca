"""OpenBLAS's idle spin, which must be set before numpy loads OpenBLAS.

After each GEMM, OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) before they
sleep, and take the two cores from the Numba kernels that run next: measured here, a CIFAR
ResNet-20 training step took 490 ms with the default and 370-390 ms with 2^12 to 2^20
(2^4 made many small back-to-back GEMMs 40% slower). OpenBLAS reads the timeout once, when
numpy loads it, so it is set only when numpy is not loaded yet and the user has not set it;
import minicnn before numpy, or export OPENBLAS_THREAD_TIMEOUT=16, to get it.
``BLAS_SHORT_SPIN`` records whether it is in effect (kernels/numba_cpu/threads.py uses it).
"""

import os
import sys

# In effect: minicnn set it before numpy loaded, or the user did (in the environment, before
# Python started: the only way it can be in effect when numpy came first). Child processes
# inherit the variable, and with it the short spin.
BLAS_SHORT_SPIN = False
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")
try:
    BLAS_SHORT_SPIN = int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "28")) <= 20
except ValueError:
    pass

"""glibc malloc thresholds for the large, short-lived arrays of a training step, set when
minicnn is imported.

Every op returns a fresh array; those of a CIFAR ResNet-20 step are 0.25-16 MB. glibc serves
requests above its mmap threshold (128 KiB at start, raised to the size of each mmapped block
freed) with fresh ``mmap`` pages and hands them back on ``free``, and gives the top of its heap
back to the system above its trim threshold, so the next step's arrays come back as fresh pages
that fault on first touch: measured here, 8,160 page faults per ResNet-20 step (every 1 MB
array of its 64-channel stage), and the step took 218-224 ms, against 1 fault and 209-210 ms
with the thresholds fixed at 32 MiB (mmap, glibc's largest) and 256 MiB (trim), back to back.
PyTorch's own step, in a process of its own, took 120-125 ms with glibc's defaults (14,000-
17,600 faults per step) and 102-103 ms with these thresholds. Arrays up to 32 MiB then come
from the heap and are reused. The price: freed memory stays with the process for reuse (the
trim threshold only bounds the free space at the top of the heap; space freed below live
blocks is not returned), so its resident size stays near its peak; ``MINICNN_MALLOC_TUNING=0``
keeps glibc's defaults, and ``malloc_trim(0)`` hands free memory back on demand.

Set with ``mallopt`` on glibc (Linux) only, where glibc's malloc is the one in use (not a
preloaded jemalloc or tcmalloc, whose ``mallopt``, if any, would not be glibc's), and only
when the user has tuned none of it
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``malloc`` in
``GLIBC_TUNABLES``) and has not turned it off with ``MINICNN_MALLOC_TUNING=0``.
"""

import ctypes
import os
import sys

#: mallopt parameters (glibc's malloc.h) and the values set
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
_USER_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def tune() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); True when set."""
    if not sys.platform.startswith("linux") or os.environ.get("MINICNN_MALLOC_TUNING") == "0":
        return False
    if any(v in os.environ for v in _USER_VARS) or "malloc" in os.environ.get(
            "GLIBC_TUNABLES", ""):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt  # glibc's; musl has none
        in_use = ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value
        if in_use != ctypes.cast(libc.malloc, ctypes.c_void_p).value:  # another allocator
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


#: whether minicnn set the thresholds at import
TUNED = tune()

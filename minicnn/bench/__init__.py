"""The conv benchmark behind ``minicnn bench conv`` and ``benchmarks/bench_conv.py``.

How close each conv kernel set (NumPy reference, Numba, CuPy, or a custom kernel) comes to
what the machine can do, on the layer shapes of the case-study networks:

  shapes.py        the layers (AlexNet, VGG-16, GoogLeNet 3a, ResNet-50, 32x32 versions)
  machine.py       CPU/BLAS/versions; GEMM peak and copy bandwidth measured in the run
  timing.py        interleaved rounds, pauses for BLAS threads, medians
  impls.py         minicnn kernel sets, the PyTorch baseline, custom kernels
  custom.py        load ``module:function`` and check it against the reference
  sections.py      conv, pooling/LRN and ResNet-20 training-step sections
  compile_time.py  Numba first-call compile time in fresh processes
  report.py        tables, JSON, % of peak bar chart
  run.py           the arguments and the whole run

Benchmarks print and record; they never assert (pytest does not collect them).
"""

from minicnn.bench.run import add_arguments, main, run

__all__ = ["add_arguments", "main", "run"]

"""Kernel sets beside the NumPy reference: numba_cpu (CPU) and cuda (CuPy RawModules)."""

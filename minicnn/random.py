"""The global random state: ``minicnn.manual_seed(s)`` makes initialisation and dropout
reproducible, as ``torch.manual_seed`` does."""

from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend

_seed: int | None = None
_cpu = np.random.default_rng()
_gpu: Any = None


def manual_seed(seed: int) -> None:
    """Seed the CPU generator (and the GPU generator, when CuPy is present)."""
    global _cpu, _gpu, _seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    _seed = int(seed)
    _cpu = np.random.default_rng(_seed)
    _gpu = None


def generator(device: str = "cpu") -> Any:
    """The generator for ``device``: a NumPy ``Generator`` or a CuPy ``RandomState``."""
    global _gpu
    if device == "cpu":
        return _cpu
    cp = backend.cupy_module()
    if cp is None:
        raise RuntimeError("device='cuda' needs CuPy, which is not importable")
    if _gpu is None:
        seed = _seed if _seed is not None else int(_cpu.integers(2**31))
        _gpu = cp.random.RandomState(seed)
    return _gpu


def get_rng_state() -> dict[str, Any]:
    """The CPU generator's state, a plain dict (for checkpoints)."""
    return _cpu.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the CPU generator's state from :func:`get_rng_state`."""
    _cpu.bit_generator.state = state

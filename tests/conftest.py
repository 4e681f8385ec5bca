"""Shared fixtures: the CPU kernel sets, hypothesis profiles, the GPU marker."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from minicnn import backend

settings.register_profile(
    "default",
    deadline=None,
    max_examples=int(os.environ.get("MINICNN_HYPOTHESIS_EXAMPLES", "20")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.load_profile("default")


def available_kernel_sets() -> list[str]:
    """CPU kernel sets to test: always 'numpy', and 'numba' wherever numba imports.

    Where numba imports, the Numba kernel set must import and define the whole contract: a
    broken kernel module fails the run instead of silently dropping its tests.
    """
    sets = ["numpy"]
    if importlib.util.find_spec("numba") is None:
        return sets
    mod = importlib.import_module("kernels.numba_cpu")
    missing = [n for n in backend.KERNEL_NAMES if not hasattr(mod, n)]
    if missing:
        raise RuntimeError(f"kernels.numba_cpu lacks contract kernels: {missing}")
    return sets + ["numba"]


@pytest.fixture(params=available_kernel_sets())
def kernel_set(request: pytest.FixtureRequest):
    """Run the test once per CPU kernel set (numpy reference, numba)."""
    with backend.use_kernels(request.param):
        yield request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device visible (CuPy missing or no GPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

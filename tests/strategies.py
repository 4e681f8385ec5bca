"""Hypothesis strategies and array helpers shared by the tests (one place for all of them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

import minicnn


def tie_free(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> np.ndarray:
    """float64 values that are all distinct and spaced (no max-pool ties), shuffled."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    vals = (np.arange(n, dtype=np.float64) - n / 2) * (scale / max(n, 1)) * 4
    return rng.permutation(vals).reshape(shape)


def away_from_zero(shape: tuple[int, ...], seed: int, gap: float = 0.1) -> np.ndarray:
    """float64 normal values pushed at least ``gap`` away from 0 (no ReLU kinks)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + gap, x - gap)


def t64(a: np.ndarray, requires_grad: bool = True) -> minicnn.Tensor:
    return minicnn.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


seeds = st.integers(min_value=0, max_value=2**31 - 1)
pair = st.integers(min_value=1, max_value=3)


ROOT = Path(__file__).resolve().parents[1]


def run_without_jit(script: str) -> str:
    """Run ``script`` in a fresh Python with NUMBA_DISABLE_JIT=1 (the Numba kernels are then
    plain Python, so their code is covered) and the reference kernels selected; returns its
    stdout, failing the test with its stderr if it exits non-zero."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", MINICNN_KERNELS="numpy")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


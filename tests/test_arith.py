"""The add kernel: Numba's threads against the reference (NumPy), and where the ops use it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import backend
from minicnn.reference import arith as reference
from tests.strategies import seeds

nb = pytest.importorskip("kernels.numba_cpu.arith")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=seeds, size=st.sampled_from([1, 1000, (1 << 18) - 1, 1 << 18, (1 << 18) + 17]))
def test_matches_reference(dtype, seed, size):
    """Below and past the threads' threshold; exact (one rounding each, as NumPy's)."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(size).astype(dtype), rng.standard_normal(size).astype(dtype)
    got = nb.add(a, b)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, reference.add(a, b))


def test_non_contiguous_shapes_and_mixed_dtypes(rng):
    a = rng.standard_normal((64, 9, 32, 32)).astype(np.float32)[:, ::2]  # a strided view
    b = rng.standard_normal((64, 5, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(nb.add(a, b), a + b)
    c = b.astype(np.float64)  # mixed: NumPy's promotion, by the reference
    assert nb.add(b, c).dtype == np.float64
    np.testing.assert_array_equal(nb.add(b, c), b + c)


def test_ops_use_it(monkeypatch, rng):
    """The Add op's forward and backward's meeting gradients go through the kernel set's add;
    broadcasting adds do not."""
    import kernels.numba_cpu as kn

    calls = []
    real = kn.add
    monkeypatch.setattr(kn, "add", lambda a, b: calls.append(a.shape) or real(a, b))
    x = minicnn.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    with backend.use_kernels("numba"):
        y = x + x * 2.0  # one add forward; x's two gradients meet in backward
        y.sum().backward()
        assert calls == [(2, 3), (2, 3)]
        x + minicnn.Tensor(np.ones(3))  # broadcast: NumPy's +
        assert len(calls) == 2
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3.0))

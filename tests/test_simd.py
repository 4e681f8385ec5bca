"""The explicit SIMD vectors of kernels/numba_cpu/simd.py: jitted against their Python face,
one rounding in vfma, the lane sum's order, masked loads, what they refuse, and their bounds
checks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba")

from numba import njit  # noqa: E402
from numba.core.errors import TypingError  # noqa: E402

from kernels.numba_cpu.simd import (  # noqa: E402
    aligned_empty,
    lanes,
    vfma,
    vload,
    vload_masked,
    vsplat,
    vstore,
    vsum,
)
from tests.strategies import ROOT, seeds  # noqa: E402

DTYPES = [np.float32, np.float64]


@njit
def _axpy(a, x, y, out):  # out = a * x + y, one vector at a time from offset 1
    n = lanes(x)
    for i in range(1, x.size - n + 1, n):
        vstore(out, i, vfma(vsplat(x, a), vload(x, i), vload(y, i)))


@njit
def _lane_sums(x, out):  # out[k] = the lane sum of the vector at k
    for k in range(out.size):
        out[k] = vsum(vload(x, k))


@njit
def _fma_once(a, b, c, out):
    vstore(out, 0, vfma(vload(a, 0), vload(b, 0), vload(c, 0)))


@njit
def _masked_loads(x, masks, out):  # out[k*lanes:(k+1)*lanes] = x's vector at k, masked
    n = lanes(x)
    for k in range(masks.size):
        vstore(out, k * n, vload_masked(x, k, masks[k]))


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=seeds)
def test_vload_masked(dtype, seed):
    """Lane l kept where bit l of the mask is set, else 0, jitted as in Python; a NaN or inf in
    a lane masked off does not show (it is dropped, not multiplied by 0)."""
    rng = np.random.default_rng(seed)
    n = 64 // np.dtype(dtype).itemsize
    x = rng.standard_normal(3 * n).astype(dtype)
    x[rng.integers(0, x.size, 4)] = rng.choice([np.nan, np.inf, -np.inf], 4)
    masks = rng.integers(0, 1 << n, 2 * n).astype(np.int64)
    masks[:3] = (0, (1 << n) - 1, -1)  # none, every lane (as -1 does)
    got = np.full(masks.size * n, 7, dtype)
    _masked_loads(x, masks, got)
    narrow = np.full_like(got, 7)  # masks as integers of as many bits as lanes, or fewer
    _masked_loads(x, masks.astype(np.int16 if n == 16 else np.uint8), narrow)
    if n == 16:
        _masked_loads(x, (masks & 0xFF).astype(np.uint8), np.full_like(got, 7))
    want = np.zeros_like(got)
    for k, m in enumerate(masks):
        keep = [(int(m) >> lane) & 1 == 1 for lane in range(n)]
        want[k * n:(k + 1) * n] = np.where(keep, x[k:k + n], 0)
        np.testing.assert_array_equal(vload_masked(x, k, int(m)), want[k * n:(k + 1) * n])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(narrow, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lanes(dtype):
    a = np.zeros(3, dtype)
    assert lanes(a) == 64 // a.itemsize
    assert njit(lambda a: lanes(a))(a) == lanes(a)


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=seeds, vectors=st.integers(1, 4))
def test_jitted_matches_python(dtype, seed, vectors):
    """Unaligned loads and stores (offset 1), splat and multiply-add, jitted and in Python."""
    rng = np.random.default_rng(seed)
    n = 64 // np.dtype(dtype).itemsize * vectors + 2
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    got, want = np.zeros(n, dtype), np.zeros(n, dtype)
    _axpy(dtype(1.5), x, y, got)
    _axpy.py_func(dtype(1.5), x, y, want)
    # fused (jitted) and unfused (Python) differ by a rounding of the product at most
    bound = 2 * np.finfo(dtype).eps * (1.5 * np.abs(x) + np.abs(y))
    assert np.all(np.abs(got - want) <= bound)
    assert got[0] == 0 and got[-1] == 0  # nothing written outside the vectors


@pytest.mark.parametrize("dtype", DTYPES)
def test_vfma_rounds_once(dtype):
    """(1 + e)(1 - e) - 1 = -e^2 exactly: fused, one rounding keeps it; a multiply rounded
    before the add loses it (1 - e^2 rounds to 1)."""
    e = dtype(2.0 ** (-13 if dtype == np.float32 else -30))
    n = lanes(np.zeros(1, dtype))
    a, b, c = (np.full(n, v, dtype) for v in (1 + e, 1 - e, -1))
    out = np.zeros(n, dtype)
    _fma_once(a, b, c, out)
    np.testing.assert_array_equal(out, np.full(n, -e * e, dtype))
    assert (a * b + c)[0] == 0  # numpy's two roundings


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=seeds)
def test_vsum_is_the_same_tree_jitted_and_in_python(dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(40) * 10.0 ** rng.integers(-6, 6, 40)).astype(dtype)
    n = x.size - lanes(x) + 1
    got = np.zeros(n, dtype)
    _lane_sums(x, got)
    want = np.array([vsum(vload(x, k)) for k in range(n)], dtype)
    np.testing.assert_array_equal(got, want)  # bit for bit: the same order of additions
    np.testing.assert_allclose(got, [x[k:k + lanes(x)].astype(np.float64).sum()
                                     for k in range(n)], rtol=1e-5, atol=1e-5 * np.abs(x).max())


def test_refuses_non_contiguous_and_integer_arrays():
    with pytest.raises(TypingError):
        njit(lambda a: vsum(vload(a, 0)))(np.zeros(64)[::2])
    with pytest.raises(TypingError):
        njit(lambda a: vsum(vload(a, 0)))(np.zeros((4, 16)))
    with pytest.raises(TypingError):
        njit(lambda a: vsum(vload(a, 0)))(np.zeros(64, np.int32))
    with pytest.raises(TypingError):  # a mask is an integer of bits
        njit(lambda a: vsum(vload_masked(a, 0, 1.0)))(np.zeros(64))


def test_python_face_checks_bounds():
    a = np.zeros(20, np.float32)
    vstore(a, 4, vload(a, 4))
    for i in (5, -1):
        with pytest.raises(IndexError, match="vload"):
            vload(a, i)
        with pytest.raises(IndexError, match="vstore"):
            vstore(a, i, np.zeros(16, np.float32))


def test_jitted_bounds_checked_under_numba_boundscheck():
    script = textwrap.dedent(
        """
        import numpy as np
        from numba import njit
        from kernels.numba_cpu.simd import vload, vload_masked, vstore, vsum

        load = njit(lambda a, i: vsum(vload(a, i)))
        store = njit(lambda a, i: vstore(a, i, vload(a, 0)))
        masked = njit(lambda a, i: vsum(vload_masked(a, i, 1)))
        a = np.arange(20, dtype=np.float32)
        assert load(a, 4) == sum(range(4, 20))
        assert masked(a, 4) == 4
        store(a, 4)
        for fn, i in [(load, 5), (load, -1), (store, 5), (store, -1), (masked, 5),
                      (masked, -1)]:
            try:
                fn(a, i)
            except IndexError:
                continue
            raise AssertionError(f"{fn} at {i}: no IndexError")
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", PYTHONPATH=str(ROOT))
    env.pop("NUMBA_CACHE_DIR", None)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("shape", [(0,), (3,), (2, 3, 5), (64, 16, 32, 32)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_aligned_empty(shape, dtype):
    a = aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
    assert a.size == 0 or a.ctypes.data % 64 == 0
    a[...] = 1  # writable
    assert a.sum() == a.size


def test_kernels_feeding_the_weight_gradient_return_aligned_arrays(rng):
    """Batch norm (forward and backward), ReLU (both) and add (from 2^18 values, where it is
    a kernel) give 64-byte aligned outputs: the direct weight gradient reads g_y as it is only
    then (else it copies it)."""
    import kernels.numba_cpu as kn

    x = rng.standard_normal((4, 3, 9, 7)).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    ones, zeros = np.ones(3), np.zeros(3)
    outs = [kn.relu(x), kn.relu_backward(gy, kn.relu(x)),
            kn.add(*rng.standard_normal((2, 64, 16, 16, 16)).astype(np.float32)),  # (threaded)
            kn.batch_norm(x, ones, zeros, zeros, ones),
            kn.batch_norm_backward(gy, x, ones, zeros, ones, True)[0]]
    assert [o.ctypes.data % 64 for o in outs] == [0] * len(outs)

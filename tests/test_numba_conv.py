"""Numba im2col/col2im against the NumPy reference (the specification), jitted and not."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba")

from kernels.numba_cpu import conv as nb  # noqa: E402
from minicnn.reference import conv as ref  # noqa: E402
from tests.strategies import run_without_jit, seeds  # noqa: E402


@st.composite
def im2col_cases(draw):
    """Shapes and arguments, padding up to beyond the kernel, strides past the window."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    lo = [max(1, d[a] * (k[a] - 1) + 1 - 2 * p[a]) for a in (0, 1)]
    h = draw(st.integers(lo[0], lo[0] + 6))
    w = draw(st.integers(lo[1], lo[1] + 6))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), h, w)
    return shape, (k, s, p, d), draw(seeds)


@st.composite
def same_width_cases(draw):
    """Stride 1 with ow == W (the contiguous-run path): 'same' convs, dilated, and pads past
    the plane (windows that read nothing but padding in some rows)."""
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pw2 = d[1] * (k[1] - 1)
    if pw2 % 2:
        k = (k[0], k[1] + 1)
        pw2 = d[1] * (k[1] - 1)
    p = (draw(st.integers(0, 4)), pw2 // 2)
    lo_h = max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0])
    h = draw(st.integers(lo_h, lo_h + 6))
    w = draw(st.integers(1, 9))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)), h, w)
    return shape, (k, (1, 1), p, d), draw(seeds)


def close(a, b, rel):
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * float(np.abs(b).max() + 1e-30))


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(case=im2col_cases())
def test_im2col_matches_reference(dtype, rel, case):
    shape, args, seed = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    expected = ref.im2col(x, *args)
    close(nb.im2col(x, *args), expected, rel)
    # into a dirty reused buffer: every element must be written
    buf = np.full(expected.shape, np.nan, dtype=dtype)
    out = nb.im2col(x, *args, out=buf)
    assert out is buf
    close(buf, expected, rel)


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(case=im2col_cases())
def test_col2im_matches_reference(dtype, rel, case):
    shape, args, seed = case
    cols_shape = ref.im2col(np.zeros(shape), *args).shape
    cols = np.random.default_rng(seed).standard_normal(cols_shape).astype(dtype)
    close(nb.col2im(cols, shape, *args), ref.col2im(cols, shape, *args), rel)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=same_width_cases())
def test_same_width_runs_match_reference_exactly(dtype, case):
    shape, args, seed = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    cols = ref.im2col(x, *args)
    buf = np.full(cols.shape, np.nan, dtype=dtype)
    np.testing.assert_array_equal(nb.im2col(x, *args, out=buf), cols)
    c = np.random.default_rng(seed + 1).standard_normal(cols.shape).astype(dtype)
    np.testing.assert_array_equal(nb.col2im(c, shape, *args), ref.col2im(c, shape, *args))


def test_non_contiguous_input(rng):
    x = rng.standard_normal((2, 3, 9, 8)).transpose(0, 1, 3, 2)
    args = ((3, 2), (2, 1), (1, 2), (2, 1))
    close(nb.im2col(x, *args), ref.im2col(x, *args), 1e-12)
    cols = ref.im2col(x, *args)
    strided = np.zeros((cols.shape[0], 2 * cols.shape[1]))
    strided[:, ::2] = cols
    close(nb.col2im(strided[:, ::2], x.shape, *args), ref.col2im(cols, x.shape, *args), 1e-12)


def test_many_rows_in_parallel(rng):
    """Enough rows for every thread to take several: prange partitions must not overlap."""
    x = rng.standard_normal((4, 16, 13, 11))
    args = ((3, 3), (1, 2), (1, 1), (1, 1))
    cols = nb.im2col(x, *args)
    np.testing.assert_array_equal(cols, ref.im2col(x, *args))
    np.testing.assert_array_equal(nb.col2im(cols, x.shape, *args),
                                  ref.col2im(cols, x.shape, *args))


def test_runs_without_jit():
    """With NUMBA_DISABLE_JIT=1 the kernels are plain Python and still match the reference."""
    script = textwrap.dedent(
        """
        import numpy as np
        from kernels.numba_cpu import conv as nb
        from minicnn.reference import conv as ref

        assert nb._im2col_jit is nb._im2col_planes, "the kernel is still jitted"
        rng = np.random.default_rng(0)
        cases = [((1, 2, 4, 5), ((2, 3), (1, 2), (1, 0), (1, 1))),
                 ((2, 1, 5, 4), ((3, 1), (2, 1), (2, 1), (2, 1))),
                 ((1, 3, 3, 3), ((1, 1), (1, 1), (0, 0), (1, 1))),
                 ((2, 2, 4, 5), ((3, 3), (1, 1), (1, 1), (1, 1))),
                 ((1, 2, 3, 2), ((3, 5), (1, 1), (2, 4), (2, 2)))]
        for shape, args in cases:
            x = rng.standard_normal(shape)
            cols = nb.im2col(x, *args)
            assert np.array_equal(cols, ref.im2col(x, *args)), shape
            c = rng.standard_normal(cols.shape)
            assert np.array_equal(nb.col2im(c, shape, *args), ref.col2im(c, shape, *args))
        print("ok")
        """
    )
    assert run_without_jit(script).strip() == "ok"

"""The Numba pooling and LRN kernels against the NumPy reference (the specification):
float64 to 1e-12 relative, float32 to 1e-5, argmax exactly; and the same kernels as plain
Python under NUMBA_DISABLE_JIT=1 in a subprocess."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba")

import minicnn.reference.lrn as ref_lrn  # noqa: E402
import minicnn.reference.pool as ref_pool  # noqa: E402
from kernels.numba_cpu import lrn as nb_lrn  # noqa: E402
from kernels.numba_cpu import pool as nb_pool  # noqa: E402
from minicnn.ops.pool import pool_output_size  # noqa: E402
from tests.strategies import run_without_jit, seeds  # noqa: E402

TOL = {np.float64: 1e-12, np.float32: 1e-5}


def close(a, b, rel):
    """Elementwise |a - b| <= rel * (|b| + max|b|): relative to the values and their scale."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)


@st.composite
def pool_cases(draw):
    """Kernel arguments as the op passes them: pairs, a valid padding, out_size computed."""
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h = draw(st.integers(max(1, k[0] - 2 * p[0]), k[0] + 8))
    w = draw(st.integers(max(1, k[1] - 2 * p[1]), k[1] + 8))
    ceil_mode = draw(st.booleans())
    out = (pool_output_size(h, k[0], s[0], p[0], ceil_mode),
           pool_output_size(w, k[1], s[1], p[1], ceil_mode))
    return dict(
        x_shape=(draw(st.integers(0, 2)), draw(st.integers(1, 3)), h, w), k=k, s=s, p=p,
        out=out, count_include_pad=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float64, np.float32])),
        ties=draw(st.booleans()), seed=draw(seeds),
    )


def pool_input(case):
    rng = np.random.default_rng(case["seed"])
    if case["ties"]:
        x = rng.integers(-2, 3, case["x_shape"])
    else:
        x = rng.standard_normal(case["x_shape"])
    return x.astype(case["dtype"]), rng


@given(case=pool_cases())
def test_max_pool2d(case):
    x, rng = pool_input(case)
    args = (case["k"], case["s"], case["p"])
    y, argmax = nb_pool.max_pool2d(x, *args, case["out"])
    ry, rargmax = ref_pool.max_pool2d(x, *args, case["out"])
    np.testing.assert_array_equal(y, ry)  # a max is a copy: bit for bit
    assert y.dtype == x.dtype and argmax.dtype == np.int64
    np.testing.assert_array_equal(argmax, rargmax)
    gy = rng.standard_normal(y.shape).astype(case["dtype"])
    close(nb_pool.max_pool2d_backward(gy, argmax, x.shape, *args),
          ref_pool.max_pool2d_backward(gy, rargmax, x.shape, *args), TOL[case["dtype"]])


@given(case=pool_cases())
def test_avg_pool2d(case):
    x, rng = pool_input(case)
    args = (case["k"], case["s"], case["p"])
    cip = case["count_include_pad"]
    close(nb_pool.avg_pool2d(x, *args, case["out"], cip),
          ref_pool.avg_pool2d(x, *args, case["out"], cip), TOL[case["dtype"]])
    gy = rng.standard_normal((x.shape[0], x.shape[1]) + case["out"]).astype(case["dtype"])
    close(nb_pool.avg_pool2d_backward(gy, x.shape, *args, cip),
          ref_pool.avg_pool2d_backward(gy, x.shape, *args, cip), TOL[case["dtype"]])


def test_pool_grid():
    """Every small (kernel, stride, padding, size, ceil_mode, count_include_pad): the windows
    that hang past the padded input in ceil_mode are rare among random draws."""
    rng = np.random.default_rng(0)
    for k in range(1, 5):
        for s in range(1, 4):
            for p in range(k // 2 + 1):
                for h in range(max(1, k - 2 * p), k + 5):
                    w = h + 1
                    x = rng.standard_normal((1, 2, h, w))
                    for ceil_mode in (False, True):
                        out = (pool_output_size(h, k, s, p, ceil_mode),
                               pool_output_size(w, k, s, p, ceil_mode))
                        args = ((k, k), (s, s), (p, p))
                        y, a = nb_pool.max_pool2d(x, *args, out)
                        ry, ra = ref_pool.max_pool2d(x, *args, out)
                        np.testing.assert_array_equal(y, ry)
                        np.testing.assert_array_equal(a, ra)
                        gy = rng.standard_normal(y.shape)
                        close(nb_pool.max_pool2d_backward(gy, a, x.shape, *args),
                              ref_pool.max_pool2d_backward(gy, ra, x.shape, *args), 1e-12)
                        for cip in (False, True):
                            close(nb_pool.avg_pool2d(x, *args, out, cip),
                                  ref_pool.avg_pool2d(x, *args, out, cip), 1e-12)
                            close(nb_pool.avg_pool2d_backward(gy, x.shape, *args, cip),
                                  ref_pool.avg_pool2d_backward(gy, x.shape, *args, cip), 1e-12)


def test_max_pool2d_nan_and_neg_inf():
    x = np.random.default_rng(1).standard_normal((2, 2, 7, 7))
    x[0, 0, 2, 2] = x[0, 0, 2, 3] = np.nan
    x[1, 1] = -np.inf
    for dt in (np.float64, np.float32):
        xd = x.astype(dt)
        y, a = nb_pool.max_pool2d(xd, (3, 3), (2, 2), (1, 1), (4, 4))
        ry, ra = ref_pool.max_pool2d(xd, (3, 3), (2, 2), (1, 1), (4, 4))
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(a, ra)
        assert np.isnan(y).any() and np.isneginf(y).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_3x3_stride_2_ties_nan_inf(dtype):
    """The 3x3/2 fast path (padding 0 and 1) and its clipped edge windows: values from {0, 1,
    2} (ties everywhere: the first maximum in row-major order must win), NaN and -inf
    sprinkled in, odd and even widths, ceil_mode; y and argmax equal to the reference's."""
    rng = np.random.default_rng(5)
    for p in (0, 1):
        for h in range(max(1, 3 - 2 * p), 9):
            for w in range(max(1, 3 - 2 * p), 13):
                x = rng.integers(0, 3, size=(2, 2, h, w)).astype(dtype)
                x.reshape(-1)[rng.integers(0, x.size, 3)] = np.nan
                x.reshape(-1)[rng.integers(0, x.size, 3)] = -np.inf
                for ceil_mode in (False, True):
                    out = (pool_output_size(h, 3, 2, p, ceil_mode),
                           pool_output_size(w, 3, 2, p, ceil_mode))
                    args = ((3, 3), (2, 2), (p, p))
                    y, a = nb_pool.max_pool2d(x, *args, out)
                    ry, ra = ref_pool.max_pool2d(x, *args, out)
                    np.testing.assert_array_equal(y, ry)
                    np.testing.assert_array_equal(a, ra)


def test_pool_non_contiguous_inputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 8)).transpose(0, 1, 3, 2)
    gy = rng.standard_normal((2, 3, 4, 4)).transpose(0, 1, 3, 2)
    args = ((3, 3), (2, 2), (1, 1))
    y, a = nb_pool.max_pool2d(x, *args, (4, 4))
    ry, ra = ref_pool.max_pool2d(x, *args, (4, 4))
    np.testing.assert_array_equal(y, ry)
    close(nb_pool.max_pool2d_backward(gy, a, x.shape, *args),
          ref_pool.max_pool2d_backward(gy, ra, x.shape, *args), 1e-12)
    close(nb_pool.avg_pool2d(x, *args, (4, 4), False),
          ref_pool.avg_pool2d(x, *args, (4, 4), False), 1e-12)
    close(nb_pool.avg_pool2d_backward(gy, x.shape, *args, True),
          ref_pool.avg_pool2d_backward(gy, x.shape, *args, True), 1e-12)


@st.composite
def lrn_cases(draw):
    """Channel counts around and below the window size, trailing dims that straddle the
    kernel's 256-position blocks, sizes 1..7, alpha near 1."""
    trailing = draw(st.sampled_from([(), (1,), (3, 4), (2, 1, 3), (300,), (17, 31)]))
    return dict(
        shape=(draw(st.integers(0, 2)), draw(st.integers(1, 10))) + trailing,
        size=draw(st.integers(1, 7)), alpha=draw(st.floats(1e-4, 2.0)),
        beta=draw(st.sampled_from([0.75, 0.5, 1.0, 1.3])), k=draw(st.sampled_from([1.0, 2.0])),
        dtype=draw(st.sampled_from([np.float64, np.float32])), seed=draw(seeds),
    )


@given(case=lrn_cases())
def test_local_response_norm(case):
    rng = np.random.default_rng(case["seed"])
    x = (rng.standard_normal(case["shape"]) * 2).astype(case["dtype"])
    args = (case["size"], case["alpha"], case["beta"], case["k"])
    tol = TOL[case["dtype"]]
    y, scale = nb_lrn.local_response_norm(x, *args)
    ry, rscale = ref_lrn.local_response_norm(x, *args)
    close(scale, rscale, tol)
    close(y, ry, tol)
    gy = rng.standard_normal(x.shape).astype(case["dtype"])
    close(nb_lrn.local_response_norm_backward(x, ry, rscale, gy, *args),
          ref_lrn.local_response_norm_backward(x, ry, rscale, gy, *args), tol)


def test_lrn_running_sum_error_is_bounded():
    """The running window sum adds and subtracts x^2 in float64: after a large value leaves
    the window, the sum keeps an error of about eps64 * max x^2. With float32 inputs the
    squares are exact in float64 and the error is far below float32's precision."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 64, 50)) * 1e-3
    x[0, ::7] = 1e3  # spikes entering and leaving the window
    for dt, tol in ((np.float64, 1e-9), (np.float32, 1e-6)):
        xd = x.astype(dt)
        y, s = nb_lrn.local_response_norm(xd, 5, 1.0, 0.75, 1.0)
        ry, rs = ref_lrn.local_response_norm(xd, 5, 1.0, 0.75, 1.0)
        np.testing.assert_allclose(s, rs, rtol=tol)
        np.testing.assert_allclose(y, ry, rtol=tol)


def test_lrn_non_contiguous_inputs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 5, 7)).transpose(0, 1, 3, 2)
    gy = rng.standard_normal((2, 6, 5, 7)).transpose(0, 1, 3, 2)
    y, s = nb_lrn.local_response_norm(x, 4, 0.9, 0.75, 2.0)
    ry, rs = ref_lrn.local_response_norm(x, 4, 0.9, 0.75, 2.0)
    close(y, ry, 1e-12)
    close(nb_lrn.local_response_norm_backward(x, y, s, gy, 4, 0.9, 0.75, 2.0),
          ref_lrn.local_response_norm_backward(x, ry, rs, gy, 4, 0.9, 0.75, 2.0), 1e-12)


@pytest.mark.parametrize("fn,args", [
    (nb_pool.max_pool2d, ((2, 2), (2, 2), (0, 0), (2, 2))),
    (nb_pool.avg_pool2d, ((2, 2), (2, 2), (0, 0), (2, 2), True)),
    (nb_lrn.local_response_norm, (3, 1e-4, 0.75, 1.0)),
])
def test_unsupported_dtype(fn, args):
    with pytest.raises(ValueError, match="numba kernels take float32 or float64 arrays, got "
                                         "float16"):
        fn(np.zeros((1, 1, 4, 4), np.float16), *args)


NO_JIT_SCRIPT = textwrap.dedent("""
    import numpy as np
    import kernels.numba_cpu.lrn as nl
    import kernels.numba_cpu.pool as npool
    import minicnn.reference.lrn as rl
    import minicnn.reference.pool as rp

    # without JIT, the kernels are the plain Python functions
    assert type(npool._max_pool2d_planes).__name__ == "function"
    assert type(nl._lrn_backward).__name__ == "function"

    def close(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())

    rng = np.random.default_rng(0)
    for dt in (np.float64, np.float32):
        tol = 1e-12 if dt == np.float64 else 1e-5
        x = rng.standard_normal((2, 3, 7, 6)).astype(dt)
        x[0, 0, 1, 1] = x[0, 0, 1, 2]  # a tie
        for k, s, p, out, cip in [((3, 3), (2, 2), (1, 1), (4, 3), True),
                                  ((2, 3), (1, 2), (0, 1), (6, 3), False),
                                  ((3, 2), (2, 2), (1, 1), (4, 4), False)]:
            y, a = npool.max_pool2d(x, k, s, p, out)
            ry, ra = rp.max_pool2d(x, k, s, p, out)
            assert np.array_equal(y, ry) and np.array_equal(a, ra)
            gy = rng.standard_normal(y.shape).astype(dt)
            np.testing.assert_allclose(npool.max_pool2d_backward(gy, a, x.shape, k, s, p),
                                       rp.max_pool2d_backward(gy, a, x.shape, k, s, p),
                                       rtol=tol, atol=tol)
            np.testing.assert_allclose(npool.avg_pool2d(x, k, s, p, out, cip),
                                       rp.avg_pool2d(x, k, s, p, out, cip), rtol=tol, atol=tol)
            np.testing.assert_allclose(npool.avg_pool2d_backward(gy, x.shape, k, s, p, cip),
                                       rp.avg_pool2d_backward(gy, x.shape, k, s, p, cip),
                                       rtol=tol, atol=tol)
        for size in (1, 2, 5):
            for beta in (0.75, 0.6):
                z = rng.standard_normal((2, 6, 3, 2)).astype(dt)
                y, sc = nl.local_response_norm(z, size, 0.9, beta, 2.0)
                ry, rs = rl.local_response_norm(z, size, 0.9, beta, 2.0)
                np.testing.assert_allclose(y, ry, rtol=tol)
                gy = rng.standard_normal(z.shape).astype(dt)
                np.testing.assert_allclose(
                    nl.local_response_norm_backward(z, y, sc, gy, size, 0.9, beta, 2.0),
                    rl.local_response_norm_backward(z, ry, rs, gy, size, 0.9, beta, 2.0),
                    rtol=tol, atol=tol)
    print("NO_JIT_OK")
""")


def test_kernels_run_without_jit():
    assert "NO_JIT_OK" in run_without_jit(NO_JIT_SCRIPT)

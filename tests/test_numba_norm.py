"""The Numba batch-norm and ReLU-backward kernels against the NumPy reference (the
specification): float64 to 1e-12 relative, float32 to 1e-5; training and eval, weight and bias
None or not, 2-D and 4-D inputs; and the same kernels as plain Python under
NUMBA_DISABLE_JIT=1 in a subprocess."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

import minicnn.reference.activation as ref_act  # noqa: E402
import minicnn.reference.norm as ref  # noqa: E402
from kernels.numba_cpu import activation as nb_act  # noqa: E402
from kernels.numba_cpu import norm as nb  # noqa: E402
from tests.strategies import run_without_jit, seeds  # noqa: E402

TOL = {np.float64: 1e-12, np.float32: 1e-5}
FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["threads", "one thread"])
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the threaded kernels and on their single-thread twins (which serve
    inputs under _PARALLEL_MIN values), whatever the input's size."""
    monkeypatch.setattr(nb, "_PARALLEL_MIN", 0 if request.param == "threads" else 1 << 62)
    return request.param


def close(a, b, rel, scale=None):
    """Elementwise |a - b| <= rel * (|b| + scale), scale max|b| unless given: relative to the
    values and to the size of the terms they were computed from."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    if scale is None:
        scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)


@st.composite
def bn_cases(draw):
    """2-D (N, C) and 4-D (N, C, H, W) inputs: odd sizes, N=1 with H*W > 1, planes longer than
    the kernels' fold width and tasks of several samples; channels offset from 0 by up to
    10 standard deviations."""
    shape = draw(st.one_of(
        st.tuples(st.integers(2, 9), st.integers(1, 6)),
        st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 9), st.integers(1, 9))
        .filter(lambda s: s[0] * s[2] * s[3] > 1),
        st.sampled_from([(1, 2, 13, 11), (3, 2, 64, 1), (70, 3, 8, 8), (2, 1, 67, 65),
                         (130, 2), (5, 17, 3, 1)]),
    ))
    return dict(
        shape=shape, dtype=draw(st.sampled_from([np.float64, np.float32])),
        offset=draw(st.sampled_from([0.0, 1.0, 10.0])), training=draw(st.booleans()),
        affine=draw(st.sampled_from(["both", "weight", "none"])), seed=draw(seeds),
    )


def bn_arrays(case):
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    c = case["shape"][1]
    pshape = (1, c) + (1,) * (len(case["shape"]) - 2)
    scale = rng.uniform(0.1, 3.0, c).reshape(pshape)
    x = (rng.standard_normal(case["shape"]) * scale
         + case["offset"] * scale * rng.standard_normal(c).reshape(pshape)).astype(dt)
    w = (rng.standard_normal(c) + 1.0).astype(dt) if case["affine"] != "none" else None
    b = rng.standard_normal(c).astype(dt) if case["affine"] == "both" else None
    gy = rng.standard_normal(case["shape"]).astype(dt)
    return x, w, b, gy, rng


@FIXTURE_OK
@given(case=bn_cases())
def test_batch_norm_kernels(threads, case):
    x, w, b, gy, rng = bn_arrays(case)
    dt, tol = case["dtype"], TOL[case["dtype"]]
    c = x.shape[1]
    if case["training"]:
        mean, var = nb.batch_norm_stats(x)
        rmean, rvar = ref.batch_norm_stats(x)
        assert mean.dtype == var.dtype == np.float64 and mean.shape == var.shape == (c,)
        # the mean relative to the channel's spread: what the normalised output sees
        close(mean, rmean, tol, scale=float(np.sqrt(rvar).max()))
        close(var, rvar, tol)
        mean = rmean
        inv_std = 1.0 / np.sqrt(rvar + 1e-5)
    else:  # running statistics: any values, constants for backward
        mean = rng.standard_normal(c)
        inv_std = 1.0 / np.sqrt(rng.uniform(0.5, 2.0, c) + 1e-5)
    y = nb.batch_norm(x, w, b, mean, inv_std)
    close(y, ref.batch_norm(x, w, b, mean, inv_std), tol)
    gx, gw, gb = nb.batch_norm_backward(gy, x, w, mean, inv_std, case["training"])
    rgx, rgw, rgb = ref.batch_norm_backward(gy, x, w, mean, inv_std, case["training"])
    assert gw.dtype == gb.dtype == dt and gw.shape == gb.shape == (c,)
    # gx is a difference of terms of size |gy| * |w| * inv_std: compare at that scale
    a = inv_std if w is None else inv_std * np.abs(w)
    close(gx, rgx, tol, scale=float(np.abs(gy).max() * a.max()))
    n_per_c = x.size // c
    close(gb, rgb, tol, scale=float(np.abs(gy).max()) * np.sqrt(n_per_c))
    close(gw, rgw, tol, scale=float(np.abs(gy).max()) * np.sqrt(n_per_c))


def test_batch_norm_stats_are_safe_far_from_zero(threads):
    """Two passes: a channel at 1e4 with unit spread keeps its variance (a one-pass
    E[x^2] - E[x]^2 in float32 would lose it entirely)."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((16, 3, 9, 9)) + 1e4).astype(np.float32)
    mean, var = nb.batch_norm_stats(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)), rtol=1e-9)


@pytest.mark.parametrize("shape", [(70, 3, 8, 8), (3, 2, 67, 65), (9000, 2), (4100, 1, 1, 1)])
def test_batch_norm_stats_combine_tasks(threads, shape):
    """Inputs cut into several tasks per channel (about 4096 values each), with a mean that
    drifts across the batch: the tasks' means differ, and Chan's combination must account
    for it."""
    rng = np.random.default_rng(5)
    n = shape[0]
    drift = np.linspace(-3.0, 5.0, n).reshape((n,) + (1,) * (len(shape) - 1))
    x = rng.standard_normal(shape) + drift
    assert nb._rows_per_task(n, x[0, 0].size) < n  # several tasks per channel
    mean, var = nb.batch_norm_stats(x)
    rmean, rvar = ref.batch_norm_stats(x)
    close(mean, rmean, 1e-12, scale=float(np.sqrt(rvar).max()))
    close(var, rvar, 1e-12)
    gy = rng.standard_normal(shape) * drift
    inv_std = 1.0 / np.sqrt(rvar + 1e-5)
    for got, want in zip(nb.batch_norm_backward(gy, x, None, rmean, inv_std, True),
                         ref.batch_norm_backward(gy, x, None, rmean, inv_std, True)):
        close(got, want, 1e-12, scale=float(np.abs(gy).max()) * np.sqrt(x.size))


def test_batch_norm_non_contiguous_inputs(threads):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 7, 5)).transpose(0, 1, 3, 2)
    gy = rng.standard_normal((3, 4, 7, 5)).transpose(0, 1, 3, 2)
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    mean, var = nb.batch_norm_stats(x)
    rmean, rvar = ref.batch_norm_stats(x)
    close(mean, rmean, 1e-12, scale=1.0)
    close(var, rvar, 1e-12)
    inv_std = 1.0 / np.sqrt(rvar + 1e-5)
    close(nb.batch_norm(x, w, b, rmean, inv_std), ref.batch_norm(x, w, b, rmean, inv_std), 1e-12)
    for got, want in zip(nb.batch_norm_backward(gy, x, w, rmean, inv_std, True),
                         ref.batch_norm_backward(gy, x, w, rmean, inv_std, True)):
        close(got, want, 1e-12, scale=10.0)


def test_the_threads_serve_large_inputs():
    small = np.zeros((nb._PARALLEL_MIN - 1, 1))
    assert nb._pick(nb._stats, nb._stats_serial, small) is nb._stats_serial
    assert nb._pick(nb._stats, nb._stats_serial, np.zeros((nb._PARALLEL_MIN, 1))) is nb._stats


def test_batch_norm_other_dtypes_are_left_to_the_reference():
    x = np.random.default_rng(3).standard_normal((4, 3, 2, 2)).astype(np.float16)
    mean, var = nb.batch_norm_stats(x)
    rmean, rvar = ref.batch_norm_stats(x)
    np.testing.assert_array_equal(mean, rmean)
    np.testing.assert_array_equal(var, rvar)
    inv_std = 1.0 / np.sqrt(var + 1e-5)
    np.testing.assert_array_equal(nb.batch_norm(x, None, None, mean, inv_std),
                                  ref.batch_norm(x, None, None, mean, inv_std))
    for got, want in zip(nb.batch_norm_backward(x, x, None, mean, inv_std, True),
                         ref.batch_norm_backward(x, x, None, mean, inv_std, True)):
        np.testing.assert_array_equal(got, want)


@given(shape=st.sampled_from([(0,), (1,), (7,), (3, 5), (2, 3, 4, 5), (64, 33)]),
       dtype=st.sampled_from([np.float64, np.float32]), seed=seeds)
def test_relu_backward(shape, dtype, seed):
    """A copy of gy where y > 0, else 0: bit for bit, with y at exactly 0, -0, inf and nan."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310])
    x.reshape(-1)[: specials.size] = specials[: x.size]
    with np.errstate(invalid="ignore"):
        y = np.maximum(x, 0).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    # inf, NaN, -inf gradients where y is 0 (x = 0, -0, -inf): gx must still be 0 there
    g_specials = np.array([np.inf, np.nan, 0.5, -np.inf])
    gy.reshape(-1)[: g_specials.size] = g_specials[: gy.size]
    gx = nb_act.relu_backward(gy, y)
    assert gx.dtype == gy.dtype and gx.shape == gy.shape
    np.testing.assert_array_equal(gx, ref_act.relu_backward(gy, y))  # NaN == NaN here
    np.testing.assert_array_equal(gx, np.where(y > 0, gy, 0))
    assert ref_act.relu_backward(gy, y).dtype == gy.dtype


@given(shape=st.sampled_from([(0,), (1,), (7,), (3, 5), (2, 3, 4, 5), (64, 33)]),
       dtype=st.sampled_from([np.float64, np.float32]), seed=seeds,
       parallel_min=st.sampled_from([0, None]))
def test_relu(shape, dtype, seed, parallel_min):
    """max(x, 0) bit for bit, on one thread and on the threads: NaN stays NaN, -0 and -inf
    become +0, inf and denormals pass."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -1e-310], dtype=dtype)
    x.reshape(-1)[: specials.size] = specials[: x.size]
    old = nb_act._PARALLEL_MIN
    nb_act._PARALLEL_MIN = old if parallel_min is None else parallel_min
    try:
        y = nb_act.relu(x)
    finally:
        nb_act._PARALLEL_MIN = old
    want = ref_act.relu(x)
    assert y.dtype == x.dtype == want.dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, want)  # NaN == NaN here
    np.testing.assert_array_equal(np.signbit(y), np.signbit(want))  # no -0 out
    np.testing.assert_array_equal(np.signbit(want), np.isnan(x) & np.signbit(x))


def test_relu_non_contiguous_and_other_dtypes():
    x = np.random.default_rng(5).standard_normal((5, 6)).T[::-1]
    np.testing.assert_array_equal(nb_act.relu(x), np.maximum(x, 0))
    x16 = x.astype(np.float16)
    got = nb_act.relu(x16)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, np.maximum(x16, 0))


@pytest.mark.parametrize("parallel_min", [0, None])
def test_relu_backward_on_threads(parallel_min):
    """The threaded kernel: forced on a small input, and by size on 2^18 + 3 values."""
    rng = np.random.default_rng(6)
    n = 1000 if parallel_min == 0 else (1 << 18) + 3
    x = rng.standard_normal(n)
    x[:3] = [0.0, -0.0, np.nan]
    y, gy = np.maximum(x, 0).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    old = nb_act._PARALLEL_MIN
    nb_act._PARALLEL_MIN = old if parallel_min is None else parallel_min
    try:
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(nb_act.relu_backward(gy, y), np.where(y > 0, gy, 0))
    finally:
        nb_act._PARALLEL_MIN = old


def test_relu_backward_non_contiguous_and_other_dtypes():
    rng = np.random.default_rng(4)
    y = np.maximum(rng.standard_normal((5, 6)), 0).T
    gy = rng.standard_normal((6, 5))[:, ::-1]
    np.testing.assert_array_equal(nb_act.relu_backward(gy, y), gy * (y > 0))
    y16, gy16 = y.astype(np.float16), gy.astype(np.float16)
    np.testing.assert_array_equal(nb_act.relu_backward(gy16, y16), gy16 * (y16 > 0))


NO_JIT_SCRIPT = textwrap.dedent("""
    import numpy as np
    import kernels.numba_cpu.activation as na
    import kernels.numba_cpu.norm as nn
    import minicnn.reference.activation as ra
    import minicnn.reference.norm as rn

    # without JIT, the kernels are the plain Python functions
    assert type(nn._stats).__name__ == "function"
    assert type(nn._backward).__name__ == "function"
    assert type(nn._backward_serial).__name__ == "function"
    assert type(na._relu_backward).__name__ == "function"
    assert type(na._relu_backward_threads).__name__ == "function"
    assert type(na._relu).__name__ == "function"

    rng = np.random.default_rng(0)
    for dt, parallel_min in ((np.float64, 0), (np.float32, 1 << 62)):
        nn._PARALLEL_MIN = parallel_min  # both kernels: threaded and single-thread
        tol = 1e-12 if dt == np.float64 else 1e-5
        for shape in [(2, 3, 5, 1), (1, 2, 3, 3), (5, 2), (3, 1, 70, 1)]:
            c = shape[1]
            x = (rng.standard_normal(shape) + 2.0).astype(dt)
            gy = rng.standard_normal(shape).astype(dt)
            w, b = rng.standard_normal(c).astype(dt), rng.standard_normal(c).astype(dt)
            mean, var = nn.batch_norm_stats(x)
            rmean, rvar = rn.batch_norm_stats(x)
            np.testing.assert_allclose(mean, rmean, rtol=tol, atol=tol)
            np.testing.assert_allclose(var, rvar, rtol=tol)
            inv_std = 1.0 / np.sqrt(rvar + 1e-5)
            for ww, bb in ((w, b), (None, None)):
                np.testing.assert_allclose(nn.batch_norm(x, ww, bb, rmean, inv_std),
                                           rn.batch_norm(x, ww, bb, rmean, inv_std),
                                           rtol=tol, atol=tol)
                for training in (True, False):
                    got = nn.batch_norm_backward(gy, x, ww, rmean, inv_std, training)
                    want = rn.batch_norm_backward(gy, x, ww, rmean, inv_std, training)
                    for g, r in zip(got, want):
                        np.testing.assert_allclose(g, r, rtol=tol, atol=10 * tol)
            y = np.maximum(x - 2.0, 0).astype(dt)
            assert np.array_equal(na.relu(x - 2.0), ra.relu(x - 2.0))
            assert np.array_equal(na.relu_backward(gy, y), ra.relu_backward(gy, y))
    print("NO_JIT_OK")
""")


def test_kernels_run_without_jit():
    assert "NO_JIT_OK" in run_without_jit(NO_JIT_SCRIPT)

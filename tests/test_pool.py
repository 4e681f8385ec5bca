"""max_pool2d, avg_pool2d, adaptive_avg_pool2d: slow loop oracles, gradient checks, PyTorch,
the overlapping-window backward, ceil_mode's last-window rule, argument validation.
Runs under each CPU kernel set (``kernel_set`` fixture)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d, pool_output_size
from tests.strategies import seeds, t64, tie_free

FIXTURE_OK = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large
    ]
)


# -- obviously correct oracles -----------------------------------------------------------------
def starts(size, k, s, p, ceil_mode):
    """Window starts (input coordinates) by enumeration: a window fits in the padded input,
    or with ceil_mode may hang past it if it still starts inside the input or left padding."""
    out = []
    o = 0
    while True:
        a = o * s - p
        fits = a + k <= size + p
        partial = ceil_mode and a < size + p - k + s and a < size
        if not (fits or partial):
            return out
        out.append(a)
        o += 1


def max_pool_loops(x, k, s, p, ceil_mode):
    """Direct definition: y = max over the input cells of each window; first maximum wins."""
    n_, c_, h_, w_ = x.shape
    rows = starts(h_, k[0], s[0], p[0], ceil_mode)
    cols = starts(w_, k[1], s[1], p[1], ceil_mode)
    y = np.empty((n_, c_, len(rows), len(cols)))
    idx = np.empty(y.shape, dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            for a, r0 in enumerate(rows):
                for b, q0 in enumerate(cols):
                    best, arg = None, None
                    for r in range(r0, r0 + k[0]):
                        for q in range(q0, q0 + k[1]):
                            inside = 0 <= r < h_ and 0 <= q < w_
                            if inside and (best is None or x[n, c, r, q] > best):
                                best, arg = x[n, c, r, q], r * w_ + q
                    y[n, c, a, b], idx[n, c, a, b] = best, arg
    return y, idx


def avg_pool_loops(x, k, s, p, ceil_mode, count_include_pad):
    """Direct definition: sum of the input cells of each window / the number of its cells
    inside the padded input (count_include_pad) or inside the input."""
    n_, c_, h_, w_ = x.shape
    rows = starts(h_, k[0], s[0], p[0], ceil_mode)
    cols = starts(w_, k[1], s[1], p[1], ceil_mode)
    y = np.empty((n_, c_, len(rows), len(cols)))
    for n in range(n_):
        for c in range(c_):
            for a, r0 in enumerate(rows):
                for b, q0 in enumerate(cols):
                    total, cells, padded_cells = 0.0, 0, 0
                    for r in range(r0, r0 + k[0]):
                        for q in range(q0, q0 + k[1]):
                            if -p[0] <= r < h_ + p[0] and -p[1] <= q < w_ + p[1]:
                                padded_cells += 1
                            if 0 <= r < h_ and 0 <= q < w_:
                                total += x[n, c, r, q]
                                cells += 1
                    y[n, c, a, b] = total / (padded_cells if count_include_pad else cells)
    return y


def adaptive_loops(x, oh, ow):
    """Direct definition: the mean over rows floor(i*H/oh) .. ceil((i+1)*H/oh) - 1 (and cols)."""
    n_, c_, h_, w_ = x.shape
    y = np.empty((n_, c_, oh, ow))
    for i in range(oh):
        r0, r1 = math.floor(i * h_ / oh), math.ceil((i + 1) * h_ / oh)
        for j in range(ow):
            q0, q1 = math.floor(j * w_ / ow), math.ceil((j + 1) * w_ / ow)
            for n in range(n_):
                for c in range(c_):
                    y[n, c, i, j] = sum(
                        x[n, c, r, q] for r in range(r0, r1) for q in range(q0, q1)
                    ) / ((r1 - r0) * (q1 - q0))
    return y


@st.composite
def pool_cases(draw, max_k: int = 4):
    """A small pooling problem: kernels 1..max_k, strides that need not divide, paddings up to
    half the kernel, ceil_mode, count_include_pad, odd sizes."""
    k = (draw(st.integers(1, max_k)), draw(st.integers(1, max_k)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    lo = [max(1, k[a] - 2 * p[a]) for a in (0, 1)]
    return dict(
        n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)),
        h=draw(st.integers(lo[0], lo[0] + 5)), w=draw(st.integers(lo[1], lo[1] + 5)),
        k=k, stride=s, padding=p, ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()), seed=draw(seeds),
    )


def shape_of(case):
    return (case["n"], case["c"], case["h"], case["w"])


def close(a, b, rel):
    """Elementwise |a - b| <= rel * (|b| + max|b|): relative to the values and their scale."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)


def max_args(case):
    return dict(kernel_size=case["k"], stride=case["stride"], padding=case["padding"],
                ceil_mode=case["ceil_mode"])


def avg_args(case):
    return dict(max_args(case), count_include_pad=case["count_include_pad"])


# -- max pooling -------------------------------------------------------------------------------
@FIXTURE_OK
@given(case=pool_cases())
def test_max_pool_matches_loops_with_ties(kernel_set, case):
    """Small integers make ties common: the first maximum in row-major order must win."""
    x = np.random.default_rng(case["seed"]).integers(-2, 3, shape_of(case)).astype(np.float64)
    y, idx = max_pool2d(t64(x), **max_args(case), return_indices=True)
    ey, eidx = max_pool_loops(x, case["k"], case["stride"], case["padding"], case["ceil_mode"])
    np.testing.assert_array_equal(y.numpy(), ey)
    np.testing.assert_array_equal(idx.numpy(), eidx)
    assert idx.dtype == np.int64


@FIXTURE_OK
@given(case=pool_cases())
def test_max_pool_gradcheck(kernel_set, case):
    x = t64(tie_free(shape_of(case), case["seed"]))
    assert minicnn.gradcheck(lambda t: max_pool2d(t, **max_args(case)), [x])


@FIXTURE_OK
@given(case=pool_cases(), ties=st.booleans())
def test_max_pool_matches_torch(kernel_set, case, ties):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(case["seed"])
    if ties:  # the tie rule and the indices must agree with PyTorch's too
        x = rng.integers(-2, 3, shape_of(case)).astype(np.float64)
    else:
        x = tie_free(shape_of(case), case["seed"])
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, **max_args(case), return_indices=True)
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    mx = t64(x)
    my, midx = max_pool2d(mx, **max_args(case), return_indices=True)
    my.backward(gy)
    close(my.numpy(), ty.detach().numpy(), 1e-10)
    np.testing.assert_array_equal(midx.numpy(), tidx.numpy())
    close(mx.grad.numpy(), tx.grad.numpy(), 1e-10)


@pytest.mark.parametrize("gy_sign", [1.0, -1.0])
def test_max_pool_backward_sums_where_windows_share_a_maximum(kernel_set, gy_sign):
    """3x3/2 windows overlap: x[2, 2] is the maximum of all four windows of a 5x5 input, so
    it must receive the sum of their gradients (an ``=`` instead of ``+=`` keeps one)."""
    x = tie_free((1, 1, 5, 5), seed=3)
    x[0, 0, 2, 2] = 100.0
    mx = t64(x)
    y = max_pool2d(mx, 3, 2)
    assert y.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 1, 2, 2), 100.0))
    gy = gy_sign * np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    y.backward(gy)
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, 2, 2] = gy.sum()
    np.testing.assert_array_equal(mx.grad.numpy(), expected)


def test_max_pool_shared_maximum_alexnet_shape(kernel_set):
    """AlexNet's 3x3/2 on a 13x13 map: the even cells are shared by 2 or 4 windows and hold
    the maxima; the gradient of a sum of outputs counts how many windows each cell tops."""
    x = np.zeros((1, 1, 13, 13))
    x[0, 0, ::2, ::2] = 1.0 + tie_free((7, 7), seed=5) * 0.01  # maxima on the shared cells
    mx = t64(x)
    max_pool2d(mx, 3, 2).sum().backward()
    _, idx = max_pool_loops(x, (3, 3), (2, 2), (0, 0), False)
    expected = np.bincount(idx.ravel(), minlength=169).reshape(13, 13).astype(np.float64)
    assert expected.max() == 4  # the test really has cells topping four windows
    np.testing.assert_array_equal(mx.grad.numpy()[0, 0], expected)


def test_max_pool_nan_propagates_like_torch(kernel_set):
    torch = pytest.importorskip("torch")
    x = tie_free((1, 2, 6, 6), seed=7)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 4, 3] = np.nan
    x[0, 1, 4, 4] = np.nan
    y, idx = max_pool2d(t64(x, requires_grad=False), 3, 2, 1, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(np.isnan(y.numpy()), np.isnan(ty.numpy()))
    assert np.isnan(y.numpy()).sum() == 4 + 2
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


def test_max_pool_stride_defaults_to_kernel_size(kernel_set, rng):
    x = t64(rng.standard_normal((2, 3, 9, 8)))
    a = max_pool2d(x, 3)
    b = max_pool2d(x, 3, stride=3)
    assert a.shape == (2, 3, 3, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(max_pool2d(x, (2, 3), stride=[]).numpy(),
                                  max_pool2d(x, (2, 3), (2, 3)).numpy())


def test_max_pool_all_neg_inf_window(kernel_set):
    """A window of -inf inputs gives -inf and points at its first input cell (as PyTorch)."""
    x = np.full((1, 1, 4, 4), -np.inf)
    y, idx = max_pool2d(t64(x, requires_grad=False), 2, 2, 1, return_indices=True)
    assert np.all(y.numpy() == -np.inf)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 1, 3], [4, 5, 7], [12, 13, 15]])


# -- average pooling ---------------------------------------------------------------------------
@FIXTURE_OK
@given(case=pool_cases())
def test_avg_pool_matches_loops(kernel_set, case):
    x = np.random.default_rng(case["seed"]).standard_normal(shape_of(case))
    y = avg_pool2d(t64(x), **avg_args(case))
    ey = avg_pool_loops(x, case["k"], case["stride"], case["padding"], case["ceil_mode"],
                        case["count_include_pad"])
    close(y.numpy(), ey, 1e-12)


@FIXTURE_OK
@given(case=pool_cases())
def test_avg_pool_gradcheck(kernel_set, case):
    x = t64(np.random.default_rng(case["seed"]).standard_normal(shape_of(case)))
    assert minicnn.gradcheck(lambda t: avg_pool2d(t, **avg_args(case)), [x])


@FIXTURE_OK
@given(case=pool_cases())
def test_avg_pool_matches_torch(kernel_set, case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(shape_of(case))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, **avg_args(case))
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    mx = t64(x)
    my = avg_pool2d(mx, **avg_args(case))
    my.backward(gy)
    close(my.numpy(), ty.detach().numpy(), 1e-10)
    close(mx.grad.numpy(), tx.grad.numpy(), 1e-10)


def test_avg_pool_divisor_rules(kernel_set):
    """Ones in, divisors out: 3x3/2 with padding 1 and ceil_mode on a 4x4 input.
    Windows start at -1, 1, 3; the last hangs past the padded input (ends at 6 > 4 + 1)."""
    x = t64(np.ones((1, 1, 4, 4)), requires_grad=False)
    incl = avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True).numpy()[0, 0]
    excl = avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).numpy()[0, 0]
    # per axis: cells in the window (input) 2, 3, 1; in the padded input 3, 3, 2
    cells = np.array([2.0, 3.0, 1.0])
    padded = np.array([3.0, 3.0, 2.0])
    np.testing.assert_allclose(incl, np.outer(cells, cells) / np.outer(padded, padded))
    np.testing.assert_array_equal(excl, np.ones((3, 3)))


# -- adaptive average pooling ------------------------------------------------------------------
@FIXTURE_OK
@given(
    n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
    oh=st.integers(1, 7), ow=st.integers(1, 7), seed=seeds,
)
def test_adaptive_avg_pool_loops_gradcheck_torch(kernel_set, n, c, h, w, oh, ow, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    mx = t64(x)
    y = adaptive_avg_pool2d(mx, (oh, ow))
    close(y.numpy(), adaptive_loops(x, oh, ow), 1e-12)
    assert minicnn.gradcheck(lambda t: adaptive_avg_pool2d(t, (oh, ow)), [t64(x)])
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, (oh, ow))
    gy = rng.standard_normal((n, c, oh, ow))
    ty.backward(torch.tensor(gy))
    y.backward(gy)
    close(y.numpy(), ty.detach().numpy(), 1e-10)
    close(mx.grad.numpy(), tx.grad.numpy(), 1e-10)


def test_adaptive_global_pool_is_a_mean(kernel_set, rng):
    x = rng.standard_normal((3, 4, 5, 7))
    mx = t64(x)
    y = adaptive_avg_pool2d(mx, 1)
    assert y.shape == (3, 4, 1, 1)
    close(y.numpy(), x.mean(axis=(2, 3), keepdims=True), 1e-14)
    gy = rng.standard_normal((3, 4, 1, 1))
    y.backward(gy)
    close(mx.grad.numpy(), np.broadcast_to(gy / 35, x.shape), 1e-14)


def test_adaptive_output_size_forms(kernel_set, rng):
    x = t64(rng.standard_normal((2, 3, 6, 5)), requires_grad=False)
    assert adaptive_avg_pool2d(x, 2).shape == (2, 3, 2, 2)
    assert adaptive_avg_pool2d(x, (None, 2)).shape == (2, 3, 6, 2)
    assert adaptive_avg_pool2d(x, [3, None]).shape == (2, 3, 3, 5)
    np.testing.assert_allclose(adaptive_avg_pool2d(x, (None, None)).numpy(), x.numpy())
    assert adaptive_avg_pool2d(x[0], (1, 1)).shape == (3, 1, 1)


# -- shapes, dtypes, unbatched input -----------------------------------------------------------
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_size_matches_torch(ceil_mode):
    torch = pytest.importorskip("torch")
    for size in range(1, 12):
        for k in range(1, 6):
            for s in range(1, 5):
                for p in range(0, k // 2 + 1):
                    if k > size + 2 * p:
                        continue
                    o = pool_output_size(size, k, s, p, ceil_mode)
                    t = torch.nn.functional.max_pool2d(
                        torch.zeros(1, 1, size, 1), (k, 1), (s, 1), (p, 0), ceil_mode=ceil_mode
                    )
                    assert o == t.shape[2] == len(starts(size, k, s, p, ceil_mode)), (size, k, s, p)


def test_ceil_mode_drops_a_window_starting_in_the_right_padding(kernel_set):
    """H=3, k=2, s=2, p=1: ceil((3+2-2)/2)+1 = 3 windows, but the third would start at
    padded row 4 = H + p, entirely in the right padding, so PyTorch keeps 2."""
    x = t64(np.arange(9.0).reshape(1, 1, 3, 3))
    assert max_pool2d(x, 2, 2, 1, ceil_mode=True).shape == (1, 1, 2, 2)
    assert avg_pool2d(x, 2, 2, 1, ceil_mode=True).shape == (1, 1, 2, 2)
    assert max_pool2d(x, 2, 2, 0, ceil_mode=True).shape == (1, 1, 2, 2)
    assert max_pool2d(x, 2, 2, 0, ceil_mode=False).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("fn", ["max", "avg", "adaptive"])
def test_float32_keeps_dtype_and_matches_float64(kernel_set, rng, fn):
    x = rng.standard_normal((2, 3, 11, 10))
    if fn == "max":
        def f(t):
            return max_pool2d(t, 3, 2, 1, ceil_mode=True)
    elif fn == "avg":
        def f(t):
            return avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    else:
        def f(t):
            return adaptive_avg_pool2d(t, (4, 3))
    x32 = minicnn.Tensor(x.astype(np.float32), requires_grad=True)
    x64 = t64(x)
    y32, y64 = f(x32), f(x64)
    assert y32.dtype == np.float32
    gy = rng.standard_normal(y64.shape)
    y32.backward(gy.astype(np.float32))
    y64.backward(gy)
    assert x32.grad.dtype == np.float32
    close(y32.numpy(), y64.numpy(), 1e-6)
    close(x32.grad.numpy(), x64.grad.numpy(), 1e-6)


def test_unbatched_input(kernel_set, rng):
    x = rng.standard_normal((3, 7, 6))
    for f in (lambda t: max_pool2d(t, 3, 2), lambda t: avg_pool2d(t, 2, 1, 1),
              lambda t: adaptive_avg_pool2d(t, (2, 4))):
        mx, mb = t64(x), t64(x[None])
        y, yb = f(mx), f(mb)
        assert y.shape == yb.shape[1:]
        np.testing.assert_array_equal(y.numpy(), yb.numpy()[0])
        y.sum().backward()
        yb.sum().backward()
        np.testing.assert_array_equal(mx.grad.numpy(), mb.grad.numpy()[0])
    y, idx = max_pool2d(t64(x), 3, 2, return_indices=True)
    assert idx.shape == y.shape == (3, 3, 2)


def test_return_indices_without_grad(kernel_set, rng):
    x = rng.standard_normal((1, 2, 5, 5))
    with minicnn.no_grad():
        y, idx = max_pool2d(t64(x), 2, return_indices=True)
    ey, eidx = max_pool_loops(x, (2, 2), (2, 2), (0, 0), False)
    np.testing.assert_array_equal(y.numpy(), ey)
    np.testing.assert_array_equal(idx.numpy(), eidx)


def test_functional_exports():
    assert minicnn.functional.max_pool2d is max_pool2d
    assert minicnn.functional.avg_pool2d is avg_pool2d
    assert minicnn.functional.adaptive_avg_pool2d is adaptive_avg_pool2d


# -- argument validation -----------------------------------------------------------------------
X4 = np.zeros((1, 2, 5, 5))

BAD_WINDOW_ARGS = [
    (dict(kernel_size=0), "kernel_size must be >= 1, got 0"),
    (dict(kernel_size=(2, -1)), r"kernel_size must be >= 1, got \(2, -1\)"),
    (dict(kernel_size=2.5), "kernel_size must be an int or a pair of ints, got 2.5"),
    (dict(kernel_size=(2, 2, 2)), r"kernel_size must be an int or a pair of ints, got \(2, 2, 2\)"),
    (dict(kernel_size=True), "kernel_size must be an int or a pair of ints, got True"),
    (dict(kernel_size=2, stride=0), "stride must be >= 1, got 0"),
    (dict(kernel_size=2, stride="2"), "stride must be an int or a pair of ints, got '2'"),
    (dict(kernel_size=3, padding=-1), "padding must be >= 0, got -1"),
    (dict(kernel_size=3, padding=2),
     r"padding must be at most half the kernel size, got padding \(2, 2\) for kernel_size "
     r"\(3, 3\)"),
    (dict(kernel_size=(4, 2), padding=(2, 2)), "padding must be at most half the kernel size"),
    (dict(kernel_size=6), r"kernel_size \(6, 6\) is larger than the padded input \(5x5: "
                          r"input 5x5, padding \(0, 0\)\)"),
    (dict(kernel_size=(2, 8), padding=1), r"kernel_size \(2, 8\) is larger than the padded input "
                                          r"\(7x7"),
    (dict(kernel_size=2, ceil_mode=1), "ceil_mode must be a bool, got 1"),
]


@pytest.mark.parametrize("fn_name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("kwargs,message", BAD_WINDOW_ARGS)
def test_bad_window_arguments(fn_name, kwargs, message):
    fn = {"max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d}[fn_name]
    with pytest.raises(ValueError, match=f"{fn_name}: {message}"):
        fn(t64(X4), **kwargs)


@pytest.mark.parametrize("fn_name", ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"])
@pytest.mark.parametrize("bad,message", [
    (X4, "input must be a Tensor, got ndarray"),
    (t64(np.zeros((5, 5))), r"input must be 3-D \(C, H, W\) or 4-D \(N, C, H, W\), got shape "
                            r"\(5, 5\)"),
    (t64(np.zeros((1, 1, 1, 5, 5))), r"input must be 3-D \(C, H, W\) or 4-D \(N, C, H, W\), "
                                     r"got shape \(1, 1, 1, 5, 5\)"),
    (minicnn.Tensor(np.zeros((1, 2, 5, 5), np.float16)),
     "input dtype must be float32 or float64, got float16"),
    (t64(np.zeros((1, 0, 5, 5))), r"input must have non-empty C, H and W, got shape "
                                  r"\(1, 0, 5, 5\)"),
])
def test_bad_input(fn_name, bad, message):
    fn = {"max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d,
          "adaptive_avg_pool2d": adaptive_avg_pool2d}[fn_name]
    with pytest.raises(ValueError, match=f"{fn_name}: {message}"):
        fn(bad, 2)


def test_bad_max_pool_only_arguments():
    with pytest.raises(ValueError, match=r"max_pool2d: only dilation=1 is implemented, got 2"):
        max_pool2d(t64(X4), 2, dilation=2)
    with pytest.raises(ValueError, match="max_pool2d: dilation must be an int or a pair"):
        max_pool2d(t64(X4), 2, dilation=None)
    with pytest.raises(ValueError, match="max_pool2d: return_indices must be a bool, got 'y'"):
        max_pool2d(t64(X4), 2, return_indices="y")


def test_bad_avg_pool_only_arguments():
    with pytest.raises(ValueError, match="avg_pool2d: count_include_pad must be a bool, got 0"):
        avg_pool2d(t64(X4), 2, count_include_pad=0)


@pytest.mark.parametrize("size,message", [
    (0, "output_size must be >= 1, got 0"),
    ((2, -1), r"output_size must be >= 1, got \(2, -1\)"),
    ((2, 2, 2), r"output_size must be an int or a pair of ints or None, got \(2, 2, 2\)"),
    (2.0, "output_size must be an int or a pair of ints or None, got 2.0"),
    ((True, 2), r"output_size must be an int or a pair of ints or None, got \(True, 2\)"),
])
def test_bad_adaptive_output_size(size, message):
    with pytest.raises(ValueError, match=f"adaptive_avg_pool2d: {message}"):
        adaptive_avg_pool2d(t64(X4), size)


def test_bad_pool_output_size():
    with pytest.raises(ValueError, match="pool_output_size: need size, kernel_size, stride >= 1"):
        pool_output_size(4, 7, 1, 1, False)
    with pytest.raises(ValueError, match="got size=4, kernel_size=2, stride=0, padding=0"):
        pool_output_size(4, 2, 0, 0, False)

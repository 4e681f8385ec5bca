"""local_response_norm: a slow loop oracle, the window's exact extent (even sizes), AlexNet's
constants, gradient checks with alpha near 1, PyTorch, argument validation.
Runs under each CPU kernel set (``kernel_set`` fixture)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn.ops.lrn import local_response_norm
from tests.strategies import seeds, t64

FIXTURE_OK = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large
    ]
)


def lrn_loops(x, size, alpha, beta, k):
    """Direct definition: for each channel c, sum x^2 over c - size//2 .. c + (size-1)//2."""
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    n_, c_, m_ = x3.shape
    y = np.empty_like(x3)
    for n in range(n_):
        for c in range(c_):
            for i in range(m_):
                s = 0.0
                for cc in range(c - size // 2, c + (size - 1) // 2 + 1):
                    if 0 <= cc < c_:
                        s += x3[n, cc, i] ** 2
                y[n, c, i] = x3[n, c, i] / (k + alpha / size * s) ** beta
    return y.reshape(x.shape)


@st.composite
def lrn_cases(draw):
    """Sizes 1..7 (even ones too) against 1..9 channels; alpha near 1 so that the window sum
    dominates k (a window off by one channel changes the result well beyond tolerance)."""
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 9))) + spatial,
        size=draw(st.integers(1, 7)),
        alpha=draw(st.floats(0.5, 2.0)),
        beta=draw(st.sampled_from([0.75, 0.75, 0.5, 1.0, 1.7])),
        k=draw(st.sampled_from([1.0, 2.0])),
        seed=draw(seeds),
    )


def args_of(case):
    return case["size"], case["alpha"], case["beta"], case["k"]


def make(case):
    return np.random.default_rng(case["seed"]).standard_normal(case["shape"])


def close(a, b, rel):
    """Elementwise |a - b| <= rel * (|b| + max|b|): relative to the values and their scale."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)


@FIXTURE_OK
@given(case=lrn_cases())
def test_forward_matches_loops(kernel_set, case):
    x = make(case)
    close(local_response_norm(t64(x), *args_of(case)).numpy(), lrn_loops(x, *args_of(case)),
          1e-12)


@FIXTURE_OK
@given(case=lrn_cases())
def test_gradcheck(kernel_set, case):
    x = t64(make(case))
    assert minicnn.gradcheck(lambda t: local_response_norm(t, *args_of(case)), [x])


@FIXTURE_OK
@given(case=lrn_cases())
def test_matches_torch(kernel_set, case):
    torch = pytest.importorskip("torch")
    x = make(case)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.local_response_norm(tx, *args_of(case))
    gy = np.random.default_rng(case["seed"] + 1).standard_normal(x.shape)
    ty.backward(torch.tensor(gy))
    mx = t64(x)
    my = local_response_norm(mx, *args_of(case))
    my.backward(gy)
    close(my.numpy(), ty.detach().numpy(), 1e-10)
    close(mx.grad.numpy(), tx.grad.numpy(), 1e-10)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7])
def test_window_extent(kernel_set, size):
    """One non-zero channel (c0 = 4 of 10) changes exactly the channels whose window holds
    it: c - size//2 <= c0 <= c + (size-1)//2, so for even sizes one more channel after c0
    than before; and its gradient reaches exactly the transposed window."""
    c0 = 4
    x = np.zeros((1, 10, 1, 1))
    x[0, c0] = 3.0
    ones = t64(np.ones((1, 10, 1, 1)), requires_grad=False)
    # y(ones + 3 e_c0) differs from y(ones) exactly where c0 is in the window
    probe = local_response_norm(t64(np.ones((1, 10, 1, 1)) + x, requires_grad=False),
                                size, 1.0, 0.75, 1.0).numpy().ravel()
    base = local_response_norm(ones, size, 1.0, 0.75, 1.0).numpy().ravel()
    changed = {c for c in range(10) if c != c0 and probe[c] != base[c]}
    expected = {c for c in range(c0 - (size - 1) // 2, c0 + size // 2 + 1) if c != c0}
    assert changed == expected
    # backward: d y[c0] / d x[j] is non-zero exactly for j in the forward window of c0
    gy = np.zeros((1, 10, 1, 1))
    gy[0, c0] = 1.0
    xin = t64(np.ones((1, 10, 1, 1)))
    local_response_norm(xin, size, 1.0, 0.75, 1.0).backward(gy)
    g = xin.grad.numpy().ravel()
    reached = {j for j in range(10) if j != c0 and g[j] != 0}
    assert reached == {j for j in range(c0 - size // 2, c0 + (size - 1) // 2 + 1) if j != c0}


def test_alexnet_constants(kernel_set, rng):
    """The paper's b = a / (2 + 1e-4 * sum_{5 channels} a^2)^0.75 is size=5, alpha=5e-4 here,
    because alpha is divided by size (PyTorch's convention)."""
    a = rng.standard_normal((2, 8, 3, 3)) * 30  # large enough that alpha matters
    c_ = a.shape[1]
    paper = np.empty_like(a)
    for c in range(c_):
        lo, hi = max(0, c - 2), min(c_ - 1, c + 2)
        paper[:, c] = a[:, c] / (2 + 1e-4 * (a[:, lo : hi + 1] ** 2).sum(axis=1)) ** 0.75
    ours = local_response_norm(t64(a), 5, alpha=5e-4, beta=0.75, k=2.0).numpy()
    close(ours, paper, 1e-12)
    wrong = local_response_norm(t64(a), 5, alpha=1e-4, beta=0.75, k=2.0).numpy()
    assert np.abs(wrong - paper).max() > 1e-3 * np.abs(paper).max()


def test_defaults_match_torch(kernel_set, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 6, 4, 4)) * 50
    close(local_response_norm(t64(x), 3).numpy(),
          torch.nn.functional.local_response_norm(torch.tensor(x), 3).numpy(), 1e-10)


@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 7, 3, 4), (1, 6, 2, 3, 4), (2, 5, 1, 2, 2, 3)])
def test_any_trailing_dims(kernel_set, rng, shape):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape)
    gy = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.local_response_norm(tx, 4, 0.9, 0.75, 1.0).backward(torch.tensor(gy))
    mx = t64(x)
    y = local_response_norm(mx, 4, 0.9, 0.75, 1.0)
    y.backward(gy)
    close(y.numpy(), lrn_loops(x, 4, 0.9, 0.75, 1.0), 1e-12)
    close(mx.grad.numpy(), tx.grad.numpy(), 1e-10)


def test_float32_keeps_dtype_and_matches_float64(kernel_set, rng):
    x = rng.standard_normal((2, 9, 5, 6)) * 3
    gy = rng.standard_normal(x.shape)
    x32 = minicnn.Tensor(x.astype(np.float32), requires_grad=True)
    x64 = t64(x)
    y32 = local_response_norm(x32, 5, 0.9, 0.75, 2.0)
    y64 = local_response_norm(x64, 5, 0.9, 0.75, 2.0)
    assert y32.dtype == np.float32
    y32.backward(gy.astype(np.float32))
    y64.backward(gy)
    assert x32.grad.dtype == np.float32
    close(y32.numpy(), y64.numpy(), 1e-6)
    close(x32.grad.numpy(), x64.grad.numpy(), 1e-5)


def test_non_contiguous_input(kernel_set, rng):
    x = rng.standard_normal((2, 4, 6, 5))
    xt = t64(x).permute(0, 1, 3, 2)  # a transposed (non-contiguous) view
    y = local_response_norm(xt, 3, 0.8, 0.75, 1.0)
    close(y.numpy(), lrn_loops(np.ascontiguousarray(x.transpose(0, 1, 3, 2)), 3, 0.8, 0.75, 1.0),
          1e-12)


def test_functional_export():
    assert minicnn.functional.local_response_norm is local_response_norm


X = np.zeros((1, 3, 2, 2))


@pytest.mark.parametrize("kwargs,message", [
    (dict(size=0), "size must be an int >= 1, got 0"),
    (dict(size=2.0), "size must be an int >= 1, got 2.0"),
    (dict(size=True), "size must be an int >= 1, got True"),
    (dict(size=3, alpha=-1e-4), "alpha must be >= 0, got -0.0001"),
    (dict(size=3, alpha="1"), "alpha must be a real number, got '1'"),
    (dict(size=3, beta=float("nan")), "beta must be finite, got nan"),
    (dict(size=3, k=0.0), r"k must be > 0 \(it keeps the base of scale\^-beta positive\), got 0.0"),
    (dict(size=3, k=-2), "k must be > 0"),
    (dict(size=3, k=float("inf")), "k must be finite, got inf"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"local_response_norm: {message}"):
        local_response_norm(t64(X), **kwargs)


@pytest.mark.parametrize("bad,message", [
    (X, "input must be a Tensor, got ndarray"),
    (t64(np.zeros((3, 4))), r"input must have 3 or more dimensions \(N, C, \.\.\.\), got shape "
                            r"\(3, 4\)"),
    (minicnn.Tensor(np.zeros((1, 3, 2, 2), np.float16)),
     "input dtype must be float32 or float64, got float16"),
])
def test_bad_input(bad, message):
    with pytest.raises(ValueError, match=f"local_response_norm: {message}"):
        local_response_norm(bad, 3)

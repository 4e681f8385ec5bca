"""conv2d: gradients, a slow loop oracle, PyTorch, cs231n's vector, im2col adjointness, chunking,
argument validation. Runs under each CPU kernel set (``kernel_set`` fixture)."""

from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import backend
from minicnn.ops import conv as conv_mod
from minicnn.ops.conv import conv2d, set_conv_algo, set_im2col_limit
from tests.strategies import seeds, t64

FIXTURE_OK = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large
    ]
)


# -- an obviously correct oracle -------------------------------------------------------------
def conv_loops(x, w, b, stride, padding, dilation, groups):
    """Direct definition: seven nested loops over a zero-padded copy of x."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n_, c_, h_, w_ = x.shape
    f_, cg, kh, kw = w.shape
    xpad = np.zeros((n_, c_, h_ + 2 * ph, w_ + 2 * pw))
    xpad[:, :, ph : ph + h_, pw : pw + w_] = x
    # every top-left corner whose dilated window stays inside the padded input
    oys = range(0, h_ + 2 * ph - dh * (kh - 1), sh)
    oxs = range(0, w_ + 2 * pw - dw * (kw - 1), sw)
    y = np.zeros((n_, f_, len(oys), len(oxs)))
    fg = f_ // groups
    for n in range(n_):
        for f in range(f_):
            g = f // fg
            for a, y0 in enumerate(oys):
                for bb, x0 in enumerate(oxs):
                    s = 0.0 if b is None else b[f]
                    for cc in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                s += w[f, cc, i, j] * xpad[n, g * cg + cc, y0 + i * dh, x0 + j * dw]
                    y[n, f, a, bb] = s
    return y


@st.composite
def conv_cases(draw, max_extra: int = 4):
    """A small conv problem: odd sizes, strides/paddings/dilations/groups that do not divide."""
    pointwise = draw(st.integers(0, 4)) == 0  # the 1x1 GEMM fast path, one case in five
    g = draw(st.integers(1, 3))
    cg, fg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if pointwise:
        k, s, p, d = (1, 1), (1, 1), (0, 0), (1, 1)
    else:
        k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    lo = [max(1, d[a] * (k[a] - 1) + 1 - 2 * p[a]) for a in (0, 1)]
    h = draw(st.integers(lo[0], lo[0] + max_extra))
    w = draw(st.integers(lo[1], lo[1] + max_extra))
    return dict(
        n=draw(st.integers(1, 2)), c=g * cg, f=g * fg, groups=g, h=h, w=w, k=k, stride=s,
        padding=p, dilation=d, bias=draw(st.booleans()), seed=draw(seeds),
    )


def make(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    wt = rng.standard_normal((case["f"], case["c"] // case["groups"], *case["k"]))
    b = rng.standard_normal(case["f"]) if case["bias"] else None
    return x, wt, b


def args_of(case):
    return case["stride"], case["padding"], case["dilation"], case["groups"]


def close(a, b, rel):
    """Elementwise |a - b| <= rel * (|b| + max|b|): relative to the values and their scale."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)


@pytest.fixture
def restore_settings():
    yield
    set_im2col_limit(None)
    set_conv_algo("auto")


# -- forward ---------------------------------------------------------------------------------
@FIXTURE_OK
@given(case=conv_cases())
def test_forward_matches_loops(kernel_set, case):
    x, w, b = make(case)
    y = conv2d(t64(x), t64(w), None if b is None else t64(b), *args_of(case))
    close(y.numpy(), conv_loops(x, w, b, *args_of(case)), 1e-12)


def test_cs231n_vector(kernel_set):
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    expected = np.array(
        [[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
          [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
          [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
         [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
          [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
          [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]]
    )
    y = conv2d(t64(x), t64(w), t64(b), stride=2, padding=1)
    assert y.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-7, atol=1e-8)


def test_float32_keeps_dtype_and_matches_float64(kernel_set, rng):
    x, w, b = rng.standard_normal((3, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3)), None
    args = ((2, 1), (1, 2), (1, 2), 2)
    x32 = minicnn.Tensor(x.astype(np.float32), requires_grad=True)
    w32 = minicnn.Tensor(w.astype(np.float32), requires_grad=True)
    y = conv2d(x32, w32, b, *args)
    assert y.dtype == np.float32
    close(y.numpy(), conv_loops(x, w, b, *args), 1e-5)
    y.backward(np.ones(y.shape, np.float32))
    assert x32.grad.dtype == np.float32 and w32.grad.dtype == np.float32


def test_non_contiguous_inputs(kernel_set, rng):
    x = rng.standard_normal((2, 3, 7, 6)).transpose(0, 1, 3, 2)  # (2, 3, 6, 7), a view
    w = rng.standard_normal((4, 3, 2, 3)).transpose(0, 1, 3, 2)[:, :, :, :2]  # (4, 3, 3, 2)
    for k, s, p in (((3, 2), 1, 1), ((1, 1), 1, 0)):
        wk = w[:, :, : k[0], : k[1]]
        y = conv2d(t64(x), t64(wk), None, s, p)
        close(y.numpy(), conv_loops(x, wk, None, (s, s), (p, p), (1, 1), 1), 1e-12)


# -- gradients -------------------------------------------------------------------------------
@FIXTURE_OK
@given(case=conv_cases())
def test_gradcheck(kernel_set, case):
    x, w, b = make(case)
    inputs = [t64(x), t64(w)] + ([] if b is None else [t64(b)])

    def fn(xx, ww, bb=None):
        return conv2d(xx, ww, bb, *args_of(case))

    # conv is linear in each input: central differences are exact up to rounding
    assert minicnn.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


@FIXTURE_OK
@given(case=conv_cases(), chunked=st.booleans())
def test_weight_grad_orientations_agree(kernel_set, case, chunked):
    """g_W from the (F, K) GEMM (many filters: GW_AS_FK_FROM) equals g_W from the (K, F) GEMM
    and its transpose, which test_gradcheck covers: pointwise and im2col, groups, chunks."""
    x, w, b = make(case)
    gy = None

    def weight_grad(fk_from):
        nonlocal gy
        old = conv_mod.GW_AS_FK_FROM
        conv_mod.GW_AS_FK_FROM = fk_from
        if chunked:  # one image per chunk: the chunks' parts are summed
            set_im2col_limit(1)
        try:
            tx, tw = t64(x), t64(w)
            y = conv2d(tx, tw, None, *args_of(case), algo="im2col")
            if gy is None:
                gy = np.random.default_rng(case["seed"]).standard_normal(y.shape)
            y.backward(gy)
            return tw.grad.numpy(), tx.grad.numpy()
        finally:
            conv_mod.GW_AS_FK_FROM = old
            set_im2col_limit(None)

    (gw_kf, gx_kf), (gw_fk, gx_fk) = weight_grad(10**9), weight_grad(1)
    close(gw_fk, gw_kf, 1e-12)
    np.testing.assert_array_equal(gx_fk, gx_kf)


def test_only_weight_grad(kernel_set, rng):
    """First layer: x needs no gradient, so backward computes gW (and gb) alone."""
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    xt, wt, bt = t64(x, requires_grad=False), t64(w), t64(np.zeros(4))
    conv2d(xt, wt, bt, 2, 1).sum().backward()
    assert xt.grad is None
    gw = np.zeros_like(w)
    # d sum(y) / d w[f, c, i, j] = sum of the inputs the tap (i, j) reads
    for f in range(4):
        for c in range(3):
            for i in range(3):
                for j in range(3):
                    e = np.zeros_like(w)
                    e[f, c, i, j] = 1.0
                    gw[f, c, i, j] = conv_loops(x, e, None, (2, 2), (1, 1), (1, 1), 1).sum()
    close(wt.grad.numpy(), gw, 1e-12)
    close(bt.grad.numpy(), np.full(4, 3 * 3 * 2.0), 1e-12)


@FIXTURE_OK
@given(case=conv_cases())
def test_matches_torch(kernel_set, case):
    torch = pytest.importorskip("torch")
    x, w, b = make(case)
    s, p, d, g = args_of(case)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, s, p, d, g)
    gy = np.random.default_rng(case["seed"] + 1).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    mx, mw, mb = t64(x), t64(w), None if b is None else t64(b)
    my = conv2d(mx, mw, mb, s, p, d, g)
    my.backward(gy)
    close(my.numpy(), ty.detach().numpy(), 1e-10)
    close(mx.grad.numpy(), tx.grad.numpy(), 1e-10)
    close(mw.grad.numpy(), tw.grad.numpy(), 1e-10)
    if b is not None:
        close(mb.grad.numpy(), tb.grad.numpy(), 1e-10)


def test_workspace_reuse_keeps_results(kernel_set, rng):
    """The im2col workspace is shared between calls: outputs and later backwards stay right."""
    w = rng.standard_normal((3, 2, 3, 3))
    x1, x2 = rng.standard_normal((2, 2, 7, 7)), rng.standard_normal((2, 2, 7, 7))
    tx1, tw = t64(x1), t64(w)
    y1 = conv2d(tx1, tw, None, 1, 1)
    y1_before = y1.numpy().copy()
    conv2d(t64(x2), t64(w), None, 1, 1).sum().backward()  # overwrites the workspace
    np.testing.assert_array_equal(y1.numpy(), y1_before)
    gy = rng.standard_normal(y1.shape)
    y1.backward(gy)
    torch = pytest.importorskip("torch")
    tx, twt = torch.tensor(x1, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(tx, twt, None, 1, 1).backward(torch.tensor(gy))
    close(tx1.grad.numpy(), tx.grad.numpy(), 1e-10)
    close(tw.grad.numpy(), twt.grad.numpy(), 1e-10)


# -- the kernels: adjointness ----------------------------------------------------------------
@FIXTURE_OK
@given(case=conv_cases())
def test_im2col_col2im_adjoint(kernel_set, case):
    x, _, _ = make(case)
    k = backend.kernels_for(x)
    args = (case["k"], case["stride"], case["padding"], case["dilation"])
    cols = k.im2col(x, *args)
    c = np.random.default_rng(case["seed"] + 2).standard_normal(cols.shape)
    lhs, rhs = float((cols * c).sum()), float((x * k.col2im(c, x.shape, *args)).sum())
    assert abs(lhs - rhs) <= 1e-12 * (np.abs(cols * c).sum() + 1e-300)


def test_im2col_layout(kernel_set):
    """Row c*kh*kw + i*kw + j, column (n*oh + oy)*ow + ox; zero where a window reads padding."""
    x = np.arange(1.0, 1 + 2 * 2 * 4 * 5).reshape(2, 2, 4, 5)
    k = backend.kernels_for(x)
    cols = k.im2col(x, (2, 3), (2, 1), (1, 0), (1, 2))  # oh = 3, ow = 1
    assert cols.shape == (2 * 2 * 3, 2 * 3)
    for n in (0, 1):
        c, i, j, oy = 1, 1, 2, 2  # reads x[n, 1, oy*2 - 1 + i, 0 + j*2] = x[n, 1, 4, 4]
        assert cols[c * 6 + i * 3 + j, n * 3 + oy] == 0.0  # row 4 is padding
        assert cols[c * 6 + 0 * 3 + j, n * 3 + oy] == x[n, 1, 3, 4]
        assert cols[0 * 6 + 0 * 3 + 0, n * 3 + 0] == 0.0  # row -1 is padding
        assert cols[0 * 6 + 1 * 3 + 1, n * 3 + 0] == x[n, 0, 0, 2]
    c = np.zeros_like(cols)
    c[1 * 6 + 0 * 3 + 2, 1 * 3 + 2] = 7.0  # the entry that read x[1, 1, 3, 4]
    expected = np.zeros_like(x)
    expected[1, 1, 3, 4] = 7.0
    np.testing.assert_array_equal(k.col2im(c, x.shape, (2, 3), (2, 1), (1, 0), (1, 2)),
                                  expected)


# -- memory bound: chunked == unchunked -------------------------------------------------------
def counting_kernels(real, calls):
    """A kernel set that forwards to ``real`` and records the batch size of each im2col."""

    def im2col(x, *args, **kwargs):
        calls.append(x.shape[0])
        return real.im2col(x, *args, **kwargs)

    ns = {n: getattr(real, n) for n in backend.KERNEL_NAMES}
    ns.update(im2col=im2col, __name__=real.__name__)
    return types.SimpleNamespace(**ns)


@pytest.mark.parametrize("per_chunk", [1, 2])
def test_chunked_equals_unchunked(kernel_set, rng, restore_settings, monkeypatch, per_chunk):
    x, w = rng.standard_normal((5, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2))
    b = rng.standard_normal(6)
    args = ((2, 1), (1, 1), (1, 2), 2)
    gy = None

    def run():
        nonlocal gy
        tx, tw, tb = t64(x), t64(w), t64(b)
        y = conv2d(tx, tw, tb, *args)
        if gy is None:
            gy = rng.standard_normal(y.shape)
        y.backward(gy)
        return y.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()

    full = run()
    oh, ow = 4, 6  # (7 + 2*1 - 1*2 - 1)//2 + 1, (6 + 2*1 - 2*1 - 1)//1 + 1
    per_image = 4 * 3 * 2 * oh * ow * 8  # C*kh*kw * oh*ow * itemsize
    set_im2col_limit(per_chunk * per_image + per_image // 2)
    calls: list[int] = []
    real = backend.kernels_for(x)
    monkeypatch.setattr(backend, "kernels_for", lambda a: counting_kernels(real, calls))
    chunked = run()
    expect = [per_chunk] * (5 // per_chunk) + ([5 % per_chunk] if 5 % per_chunk else [])
    assert calls == expect * 2  # forward, then backward recomputes cols chunk by chunk
    for a, bb in zip(chunked, full):
        np.testing.assert_allclose(a, bb, rtol=1e-13, atol=1e-13)


def test_im2col_limit_from_env(restore_settings, monkeypatch):
    monkeypatch.setenv("MINICNN_IM2COL_MB", "0.5")
    set_im2col_limit(None)
    assert conv_mod.get_im2col_limit() == 1 << 19
    set_im2col_limit(12345)
    assert conv_mod.get_im2col_limit() == 12345
    monkeypatch.delenv("MINICNN_IM2COL_MB")
    set_im2col_limit(None)
    assert conv_mod.get_im2col_limit() == 256 << 20
    monkeypatch.setenv("MINICNN_IM2COL_MB", "lots")
    with pytest.raises(ValueError, match="MINICNN_IM2COL_MB must be a positive number"):
        conv_mod.get_im2col_limit()


# -- the 1x1 fast path and implicit GEMM -------------------------------------------------------
def test_pointwise_is_a_gemm_without_im2col(kernel_set, rng, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the 1x1 fast path must not call im2col/col2im")

    real = backend.kernels_for(np.empty(0))
    ns = {n: getattr(real, n) for n in backend.KERNEL_NAMES}
    ns.update(im2col=refuse, col2im=refuse)
    monkeypatch.setattr(backend, "kernels_for", lambda a: types.SimpleNamespace(**ns))
    x, w, b = rng.standard_normal((3, 4, 5, 3)), rng.standard_normal((6, 2, 1, 1)), None
    tx, tw = t64(x), t64(w)
    y = conv2d(tx, tw, None, groups=2)
    close(y.numpy(), conv_loops(x, w, b, (1, 1), (0, 0), (1, 1), 2), 1e-12)
    assert minicnn.gradcheck(lambda a, c: conv2d(a, c, None, groups=2), [tx, tw],
                             atol=1e-7, rtol=1e-6)


def test_implicit_gemm_uses_kernel_and_im2col_backward(rng, monkeypatch, restore_settings):
    real = backend.kernels_for(np.empty(0))
    calls = []

    def conv2d_implicit_gemm(x, w, b, stride, padding, dilation, groups):
        calls.append((stride, padding, dilation, groups))
        return conv_loops(x, w, b, stride, padding, dilation, groups)

    ns = {n: getattr(real, n) for n in backend.KERNEL_NAMES}
    ns.update(conv2d_implicit_gemm=conv2d_implicit_gemm, __name__="fake_gpu_kernels")
    fake = types.SimpleNamespace(**ns)
    monkeypatch.setattr(backend, "kernels_for", lambda a: fake)
    x, w, b = rng.standard_normal((2, 4, 6, 7)), rng.standard_normal((2, 2, 3, 3)), None
    args = (2, (1, 0), (1, 2), 2)
    tx, tw = t64(x), t64(w)
    y = conv2d(tx, tw, None, *args, algo="implicit_gemm")
    assert calls == [((2, 2), (1, 0), (1, 2), 2)]
    close(y.numpy(), conv_loops(x, w, b, (2, 2), (1, 0), (1, 2), 2), 1e-12)
    assert minicnn.gradcheck(lambda a, c: conv2d(a, c, None, *args, algo="implicit_gemm"),
                             [tx, tw], atol=1e-7, rtol=1e-6)
    set_conv_algo("implicit_gemm")  # the global default reaches the kernel too
    calls.clear()
    conv2d(tx, tw, None, *args)
    assert len(calls) == 1


def test_default_implicit_gemm_falls_back_on_cpu(kernel_set, rng, restore_settings):
    set_conv_algo("implicit_gemm")
    assert conv_mod.get_conv_algo() == "implicit_gemm"
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    y = conv2d(t64(x), t64(w), None, 1, 1)
    close(y.numpy(), conv_loops(x, w, None, (1, 1), (1, 1), (1, 1), 1), 1e-12)


def test_functional_exports_conv2d():
    assert minicnn.functional.conv2d is conv2d


# -- argument validation -----------------------------------------------------------------------
def _t(shape, dtype=np.float64):
    return minicnn.Tensor(np.ones(shape, dtype=dtype))


X, W = _t((2, 4, 6, 6)), _t((3, 4, 3, 3))

BAD = [
    (lambda: conv2d(np.ones((2, 4, 6, 6)), W), r"input must be a Tensor, got ndarray"),
    (lambda: conv2d(X, np.ones((3, 4, 3, 3))), r"weight must be a Tensor"),
    (lambda: conv2d(_t((4, 6, 6)), W), r"input must be 4-D \(N, C, H, W\), got shape \(4, 6, 6\)"),
    (lambda: conv2d(X, _t((3, 4, 3))), r"weight must be 4-D .* got shape \(3, 4, 3\)"),
    (lambda: conv2d(X, _t((3, 2, 3, 3))),
     r"input has 4 channels but weight shape \(3, 2, 3, 3\) with groups=1 expects 2"),
    (lambda: conv2d(X, _t((3, 2, 3, 3)), groups=3), r"groups=3 must divide the input channels"),
    (lambda: conv2d(X, _t((3, 2, 3, 3)), groups=2), r"groups=2 must divide the output channels"),
    (lambda: conv2d(X, W, groups=0), r"groups must be a positive int, got 0"),
    (lambda: conv2d(X, W, _t((4,))), r"bias must have shape \(3,\) .* got \(4,\)"),
    (lambda: conv2d(X, W, _t((3, 1))), r"bias must have shape \(3,\)"),
    (lambda: conv2d(X, W, _t((3,), np.float32)), r"bias dtype float32 does not match"),
    (lambda: conv2d(X, W, padding=-1), r"padding must be >= 0, got -1"),
    (lambda: conv2d(X, W, padding=(1, -2)), r"padding must be >= 0, got \(1, -2\)"),
    (lambda: conv2d(X, W, stride=0), r"stride must be >= 1, got 0"),
    (lambda: conv2d(X, W, stride=(1, 0)), r"stride must be >= 1"),
    (lambda: conv2d(X, W, dilation=0), r"dilation must be >= 1, got 0"),
    (lambda: conv2d(X, W, stride=(1, 2, 3)), r"stride must be an int or a pair of ints"),
    (lambda: conv2d(X, W, padding="same"), r"padding must be an int or a pair of ints"),
    (lambda: conv2d(X, W, dilation=1.5), r"dilation must be an int or a pair of ints"),
    (lambda: conv2d(X, W, dilation=3),
     r"dilated kernel \(7x7.* larger than the padded input \(6x6"),
    (lambda: conv2d(_t((2, 4, 2, 6)), W),
     r"dilated kernel \(3x3.* larger than the padded input \(2x6"),
    (lambda: conv2d(X, _t((3, 4, 3, 3), np.float32)),
     r"weight dtype float32 does not match input dtype float64"),
    (lambda: conv2d(minicnn.Tensor(np.ones((2, 4, 6, 6)), dtype="int64"), W),
     r"input dtype must be float32 or float64, got int64"),
    (lambda: conv2d(X, _t((3, 4, 0, 3))), r"kernel sizes >= 1"),
    (lambda: conv2d(X, W, algo="fft"), r"algo must be None or one of .* got 'fft'"),
    (lambda: set_conv_algo("fft"), r"name must be one of .* got 'fft'"),
    (lambda: set_im2col_limit(0), r"nbytes must be a positive int or None, got 0"),
]


@pytest.mark.parametrize("call,match", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_implicit_gemm_without_kernel_raises(kernel_set):
    with pytest.raises(ValueError, match=r"algo='implicit_gemm' needs a kernel set that defines"):
        conv2d(X, W, algo="implicit_gemm")


def test_pairs_and_lists_accepted(kernel_set, rng):
    x, w = rng.standard_normal((1, 2, 7, 8)), rng.standard_normal((2, 2, 2, 3))
    y = conv2d(t64(x), t64(w), None, [2, 1], (0, 1), np.int64(1))
    close(y.numpy(), conv_loops(x, w, None, (2, 1), (0, 1), (1, 1), 1), 1e-12)

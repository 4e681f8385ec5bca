"""The Numba direct convolutions and weight gradients: against the reference
im2col convolution, their gradients, and when conv2d's ``algo`` takes them. The op-level tests
shared with Winograd (``algo='winograd'``; its own tests are in test_winograd.py) run for both."""

from __future__ import annotations

import itertools
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba")

import minicnn  # noqa: E402
import minicnn.reference as reference  # noqa: E402
from kernels.numba_cpu import direct as kd  # noqa: E402
from kernels.numba_cpu.simd import aligned_empty  # noqa: E402
from minicnn import backend  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn.ops import conv as conv_mod  # noqa: E402
from tests.strategies import run_without_jit, seeds, t64  # noqa: E402


@st.composite
def direct_cases(draw, strided=True, kernels=(1, 2, 3, 5, 7)):
    """Convs the direct kernels take: kernels 1 to 7 per axis (square or not), paddings 0 to
    k-1 per axis, strides 1 to 3 (``strided``), odd and tiny planes (down to the kernel), 1 to
    9 filters (tasks of four or eight and the rest)."""
    kh, kw = draw(st.sampled_from(kernels)), draw(st.sampled_from(kernels))
    p = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if strided else (1, 1)
    h = draw(st.integers(max(1, kh - 2 * p[0]), 9))
    w = draw(st.integers(max(1, kw - 2 * p[1]), 9))
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 9))
    return (n, c, h, w), f, (kh, kw), p, s, draw(seeds)


def reference_conv(x, w, p, s=1):
    with backend.use_kernels("numpy"):
        return F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w), None, s, p, algo="im2col").numpy()


def close(a, b, rel):
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * float(np.abs(b).max() + 1e-30))


@pytest.fixture
def restore_algo():
    yield
    conv_mod.set_conv_algo("auto")


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(case=direct_cases())
def test_kernel_matches_reference(dtype, rel, case):
    shape, f, k, p, s, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((f, shape[1], *k)).astype(dtype)
    close(kd.conv2d_direct(x, w, p, s), reference_conv(x, w, p, s), rel)


#: (shape, stride, layout in float32): gapped rows (planes where one zero column between rows
#: costs little), tight rows (8x8, and 4x12: each row of a vector masked at its edges, vectors
#: that span two rows), phase planes (strides)
LAYOUT_CASES = [((2, 3, 16, 16), (1, 1), "gapped"), ((2, 3, 8, 8), (1, 1), "tight"),
                ((1, 2, 4, 12), (1, 1), "tight"), ((1, 2, 30, 17), (1, 1), "gapped"),
                ((2, 2, 2, 24), (1, 1), "tight"), ((1, 2, 16, 16), (2, 2), "phases"),
                ((2, 3, 9, 16), (1, 2), "phases")]


def layout_kind(shape, dtype, stride):
    lay = kd.direct_layout(shape, dtype, (3, 3), (1, 1), stride)
    return "phases" if not lay.rows else "tight" if lay.rw == shape[3] else "gapped"


@pytest.mark.parametrize("shape,stride,kind", LAYOUT_CASES)
def test_every_layout(shape, stride, kind):
    """Each layout (:func:`direct_layout`) with blocks of 64 (float32) and 32 (float64)
    outputs, several per plane, tasks of 4 and of 8 filters, with a bias."""
    assert layout_kind(shape, np.float32, stride) == kind
    lay = kd.direct_layout(shape, np.float32, (3, 3), (1, 1), stride)
    if kind == "tight":
        assert (lay.masks != -1).any()  # some loads masked
    else:
        assert (lay.masks == -1).all()
    rng = np.random.default_rng(5)
    for (dtype, rel), f in itertools.product([(np.float64, 1e-12), (np.float32, 1e-5)],
                                             [6, 17]):  # tasks of 4 filters, and of 8
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal((f, shape[1], 3, 3)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        b[1] = 0  # (a zero bias is skipped: still right)
        close(kd.conv2d_direct(x, w, (1, 1), stride), reference_conv(x, w, (1, 1), stride), rel)
        close(kd.conv2d_direct(x, w, (1, 1), stride, b),
              reference_conv(x, w, (1, 1), stride) + b.reshape(1, f, 1, 1), rel)


def test_masked_loads_drop_what_they_mask():
    """Tight rows: a tap past a row's edge reads the neighbouring row's element and masks it
    off. An inf there must not reach the sum (a multiply by zero would make it NaN)."""
    for edge in (0, 7):  # column 0, read (masked) by the right-hand taps of column 7 of the
        # row above; column 7, by the left-hand taps of column 0 of the row below
        x = np.ones((2, 1, 8, 8), np.float32)
        x[:, 0, :, edge] = np.inf
        w = np.ones((1, 1, 3, 3), np.float32)
        assert layout_kind(x.shape, x.dtype, (1, 1)) == "tight"
        y = kd.conv2d_direct(x, w, (1, 1))
        np.testing.assert_array_equal(y, reference_conv(x, w, (1, 1)))  # inf where x's are
        far = slice(2, 8) if edge == 0 else slice(0, 6)
        assert np.isfinite(y[:, :, :, far]).all()  # these columns read no inf
        # the weight gradient: the taps that reach the inf column are inf or NaN, as
        # im2col's; the window column on the other side reads it only through masked lanes
        gy = aligned_empty((2, 8, 8, 8), np.float32)
        gy[...] = 1
        gw = kd.conv2d_direct_weight_grad(x, gy, (3, 3), (1, 1))
        ref = reference_weight_grad(x, gy, (3, 3), (1, 1))
        np.testing.assert_array_equal(np.isfinite(gw), np.isfinite(ref))
        assert np.isfinite(gw[..., 2 if edge == 0 else 0]).all()
        close(np.where(np.isfinite(gw), gw, 0), np.where(np.isfinite(ref), ref, 0), 1e-5)


@pytest.mark.parametrize("shape,stride,kind", LAYOUT_CASES)
def test_planes_shared_by_forward_and_weight_grad(shape, stride, kind):
    """x laid out once (direct_planes) serves both kernels; planes of another conv are refused
    with the shapes in the message."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((8, shape[1], 3, 3))
    planes = kd.direct_planes(x, (3, 3), (1, 1), stride)
    y = kd.conv2d_direct(x, w, (1, 1), stride, planes=planes)
    close(y, reference_conv(x, w, (1, 1), stride), 1e-12)
    gy = rng.standard_normal(y.shape)
    close(kd.conv2d_direct_weight_grad(x, gy, (3, 3), (1, 1), stride, planes=planes),
          reference_weight_grad(x, gy, (3, 3), (1, 1), stride), 1e-12)
    with pytest.raises(ValueError, match=r"planes: laid out for an input .* padding \(0, 0\)"):
        kd.conv2d_direct(x, w, (0, 0), stride, planes=planes)
    with pytest.raises(ValueError, match="planes: laid out for an input"):
        kd.conv2d_direct_weight_grad(x.astype(np.float32), gy.astype(np.float32), (3, 3),
                                     (1, 1), stride, planes=planes)


def reference_weight_grad(x, gy, k, p, s=(1, 1)):
    """g_W by the reference im2col: g_y (F, N L) @ cols^T."""
    cols = reference.im2col(x, k, s, p, (1, 1))
    n, f = gy.shape[:2]
    g = gy.reshape(n, f, -1).transpose(1, 0, 2).reshape(f, -1)
    return (g @ cols.T).reshape(f, x.shape[1], *k)


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(case=direct_cases())
def test_weight_grad_kernel_matches_reference(dtype, rel, case):
    shape, f, k, p, s, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    oh, ow = (shape[2] + 2 * p[0] - k[0]) // s[0] + 1, (shape[3] + 2 * p[1] - k[1]) // s[1] + 1
    gy = rng.standard_normal((shape[0], f, oh, ow)).astype(dtype)
    close(kd.conv2d_direct_weight_grad(x, gy, k, p, s), reference_weight_grad(x, gy, k, p, s),
          rel)


@pytest.mark.parametrize("shape,stride,kind", LAYOUT_CASES + [((3, 2, 16, 16), (2, 2), "")])
def test_weight_grad_every_layout(shape, stride, kind):
    """Gapped and tight rows and phase planes, g_y as it is (6 filters: widened to 8), several
    vectors and images per chunk, both dtypes."""
    rng = np.random.default_rng(6)
    for dtype, rel in [(np.float64, 1e-12), (np.float32, 1e-5)]:
        x = rng.standard_normal(shape).astype(dtype)
        y = reference_conv(x, np.zeros((6, shape[1], 3, 3), dtype), (1, 1), stride)
        gy = rng.standard_normal(y.shape).astype(dtype)
        close(kd.conv2d_direct_weight_grad(x, gy, (3, 3), (1, 1), stride),
              reference_weight_grad(x, gy, (3, 3), (1, 1), stride), rel)


@pytest.mark.parametrize("shape,k,p,kind,in_place", [
    ((3, 2, 16, 16), (3, 3), (1, 1), "gapped", True),  # x's gap skipped after g_y's rows
    ((3, 2, 8, 8), (3, 3), (1, 1), "tight", True),
    ((2, 2, 2, 24), (3, 3), (1, 1), "tight", True),
    ((1, 1, 3, 16), (2, 5), (1, 1), "tight", False),  # ow < W on masked rows: widened
])
@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_weight_grad_reads_aligned_gy_as_it_is(monkeypatch, shape, k, p, kind, in_place, dtype,
                                                rel):
    """g_y 64-byte aligned, 8 filters, whole vectors of rows: read in place (on gapped rows,
    skipping x's gap after each of its rows), except where its rows are shorter than x's on
    masked rows (the masks are x's); misaligned: copied first. All right."""
    lay = kd.direct_layout(shape, dtype, k, p)
    assert ("tight" if lay.rw == shape[3] else "gapped") == kind
    widened = []
    real_widen = kd._widen_jit
    monkeypatch.setattr(kd, "_widen_jit", lambda *a: widened.append(1) or real_widen(*a))
    monkeypatch.setattr(kd, "_widen_serial", kd._widen_jit)
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape).astype(dtype)
    oh, ow = shape[2] + 2 * p[0] - k[0] + 1, shape[3] + 2 * p[1] - k[1] + 1
    gy = aligned_empty((shape[0], 8, oh, ow), dtype)
    gy[...] = rng.standard_normal(gy.shape)
    misaligned = np.empty(gy.size + 1, dtype)[1:].reshape(gy.shape)
    misaligned[...] = gy
    want = reference_weight_grad(x, gy, k, p)
    close(kd.conv2d_direct_weight_grad(x, gy, k, p), want, rel)
    assert len(widened) == (0 if in_place else 1)
    close(kd.conv2d_direct_weight_grad(x, misaligned, k, p), want, rel)
    assert len(widened) == (1 if in_place else 2)


def test_weight_grad_kernel_takes_non_contiguous_arrays(rng):
    x = rng.standard_normal((2, 3, 7, 6)).transpose(0, 1, 3, 2)
    gy = rng.standard_normal((2, 5, 12, 5))[:, :, ::2, :]
    close(kd.conv2d_direct_weight_grad(x, gy, (3, 3), (1, 0)),
          reference_weight_grad(np.ascontiguousarray(x), np.ascontiguousarray(gy), (3, 3),
                                (1, 0)), 1e-12)


@pytest.mark.parametrize("n", [1, 3, 9])
def test_weight_grad_kernel_chunks(monkeypatch, rng, n):
    """Chunks of one image and more, the last one short: the sums over images and chunks."""
    monkeypatch.setattr(kd.numba, "get_num_threads", lambda: 2)  # chunks of at most n/2
    monkeypatch.setattr(kd, "_CHUNK_BYTES", 1)  # one image per chunk
    x, gy = rng.standard_normal((n, 3, 7, 5)), rng.standard_normal((n, 6, 7, 5))
    close(kd.conv2d_direct_weight_grad(x, gy, (3, 3), (1, 1)),
          reference_weight_grad(x, gy, (3, 3), (1, 1)), 1e-12)
    monkeypatch.setattr(kd, "_CHUNK_BYTES", 3 * (8 + 3) * 64 * 8)  # three images per chunk
    close(kd.conv2d_direct_weight_grad(x, gy, (3, 3), (1, 1)),
          reference_weight_grad(x, gy, (3, 3), (1, 1)), 1e-12)


def test_no_outputs(rng):
    """A zero-width input (the input gradient of one, through the flipped conv) and an empty
    batch: empty outputs and zero weight gradients, as im2col's."""
    x, w = t64(rng.standard_normal((1, 1, 4, 0))), t64(rng.standard_normal((2, 1, 3, 3)))
    with backend.use_kernels("numba"):
        y = F.conv2d(x, w, None, 1, 2)
        assert y.shape == (1, 2, 6, 2)
        y.backward(np.ones(y.shape))
    assert x.grad.shape == (1, 1, 4, 0)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((2, 1, 3, 3)))
    # (the flipped conv of that input gradient: a plane narrower than the kernel, no columns)
    assert kd.conv2d_direct(np.zeros((1, 2, 5, 2)), np.ones((3, 2, 3, 3)), (1, 0)).shape == \
        (1, 3, 5, 0)


def test_empty_batch(rng):
    x, w = np.zeros((0, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    assert kd.conv2d_direct(x, w, (1, 1)).shape == (0, 4, 5, 5)
    np.testing.assert_array_equal(
        kd.conv2d_direct_weight_grad(x, np.zeros((0, 4, 5, 5)), (3, 3), (1, 1)),
        np.zeros((4, 3, 3, 3)))


@pytest.mark.parametrize("k", [3, 5])
def test_kernel_takes_non_contiguous_arrays(rng, k):
    x = rng.standard_normal((2, 3, 7, 6)).transpose(0, 1, 3, 2)
    w = rng.standard_normal((5, 3, k, k))[:, :, ::-1, :]
    close(kd.conv2d_direct(x, w, (1, 2)), reference_conv(np.ascontiguousarray(x),
                                                       np.ascontiguousarray(w), (1, 2)), 1e-12)


@given(case=direct_cases(), bias=st.booleans())
def test_op_gradients_match_im2col_direct(case, bias):
    """y, g_x and g_W by the direct kernels (of a strided conv: g_x by col2im) and g_b as
    im2col's."""
    _op_gradients_match_im2col("direct", case, bias)


@given(case=direct_cases(strided=False, kernels=(3,)), bias=st.booleans())
def test_op_gradients_match_im2col_winograd(case, bias):
    """y and g_x by Winograd, g_W by im2col, g_b as im2col's."""
    _op_gradients_match_im2col("winograd", case, bias)


def _op_gradients_match_im2col(algo, case, bias):
    shape, f, k, p, s, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape), rng.standard_normal((f, shape[1], *k))
    b = rng.standard_normal(f) if bias else None
    out = {}
    for a in (algo, "im2col"):
        with backend.use_kernels("numba"):
            tx, tw = t64(x), t64(w)
            tb = t64(b) if bias else None
            y = F.conv2d(tx, tw, tb, s, p, algo=a)
            gy = np.random.default_rng(seed + 1).standard_normal(y.shape)
            y.backward(gy)
            out[a] = [y.numpy(), tx.grad.numpy(), tw.grad.numpy()]
            if bias:
                out[a].append(tb.grad.numpy())
    for got, want in zip(out[algo], out["im2col"]):
        close(got, want, 1e-12)


@pytest.mark.parametrize("k,stride", [(3, 1), (5, 1), (3, 2)])
def test_gradcheck_direct(k, stride):
    rng = np.random.default_rng(3)
    x, w, b = t64(rng.standard_normal((2, 3, 5, 4))), t64(rng.standard_normal((5, 3, k, k))), \
        t64(rng.standard_normal(5))
    with backend.use_kernels("numba"):
        assert minicnn.gradcheck(
            lambda a, c, d: F.conv2d(a, c, d, stride, (2, 1), algo="direct"), [x, w, b],
            atol=1e-7, rtol=1e-6)


def test_only_the_input_gradient(rng):
    """A frozen weight: g_x comes from the direct kernel alone, no im2col at all."""
    x = t64(rng.standard_normal((2, 2, 5, 5)))
    w = t64(rng.standard_normal((3, 2, 3, 3)), requires_grad=False)
    with backend.use_kernels("numba"):
        F.conv2d(x, w, None, 1, 1, algo="direct").sum().backward()
        gx = x.grad.numpy()
        x.grad = None
        F.conv2d(x, w, None, 1, 1, algo="im2col").sum().backward()
    close(gx, x.grad.numpy(), 1e-12)


@pytest.mark.parametrize("algo", ["direct", "winograd"])
def test_backward_under_another_kernel_set(rng, algo):
    """Forward by the direct or Winograd kernels (Numba); backward under the reference set,
    which has neither, takes the input gradient by col2im instead."""
    x, w = t64(rng.standard_normal((2, 3, 5, 5))), t64(rng.standard_normal((4, 3, 3, 3)))
    with backend.use_kernels("numba"):
        y = F.conv2d(x, w, None, 1, 1, algo=algo)
    gy = rng.standard_normal(y.shape)
    with backend.use_kernels("numpy"):
        y.backward(gy)
    gx, gw = x.grad.numpy(), w.grad.numpy()
    x.grad = w.grad = None
    with backend.use_kernels("numpy"):
        F.conv2d(x, w, None, 1, 1).backward(gy)
    close(gx, x.grad.numpy(), 1e-12)
    close(gw, w.grad.numpy(), 1e-12)


class _Spy:
    """Counts the calls of the direct kernels (forward and weight gradient) of the Numba set."""

    def __init__(self, monkeypatch):
        import kernels.numba_cpu as kn

        self.calls = self.grad_calls = self.shared = 0
        real, real_grad = kn.conv2d_direct, kn.conv2d_direct_weight_grad

        def spy(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        def grad_spy(*args, **kwargs):
            self.grad_calls += 1
            self.shared += kwargs.get("planes") is not None  # the forward's planes
            return real_grad(*args, **kwargs)

        monkeypatch.setattr(kn, "conv2d_direct", spy)
        monkeypatch.setattr(kn, "conv2d_direct_weight_grad", grad_spy)


def test_auto_takes_direct_where_it_pays(monkeypatch, rng, restore_algo):
    spy = _Spy(monkeypatch)
    x16 = minicnn.Tensor(rng.standard_normal((1, 16, 6, 6)).astype(np.float32))
    w16 = minicnn.Tensor(rng.standard_normal((16, 16, 3, 3)).astype(np.float32))

    def conv(w, stride=1, padding=1, dilation=1, x=x16):
        F.conv2d(x, minicnn.Tensor(rng.standard_normal(w).astype(np.float32)), None, stride,
                 padding, dilation)

    with backend.use_kernels("numba"):
        F.conv2d(x16, w16, None, 1, 1)
        assert spy.calls == 1  # auto, the default
        conv((16, 16, 3, 3), stride=2)  # strides: direct too
        conv((16, 16, 2, 2))  # any kernel size
        conv((16, 16, 5, 5), padding=2)
        conv((128, 16, 7, 7), stride=2, padding=3)  # up to 128 channels
        assert spy.calls == 5
        conv((16, 16, 1, 1), padding=0)  # 1x1, stride 1: a GEMM on x as it is
        conv((16, 16, 3, 3), dilation=2)  # dilation: im2col
        x256 = minicnn.Tensor(rng.standard_normal((1, 256, 6, 6)).astype(np.float32))
        conv((256, 256, 3, 3), x=x256)  # many channels: Winograd or im2col's GEMM
        conv((256, 16, 3, 3))  # 256 out: im2col too
        assert spy.calls == 5
        conv_mod.set_conv_algo("im2col")
        F.conv2d(x16, w16, None, 1, 1)
        assert spy.calls == 5
        conv_mod.set_conv_algo("direct")  # a preference: falls back where it cannot run
        conv((16, 16, 3, 3), dilation=2)
        conv((256, 256, 3, 3), x=x256)
        assert spy.calls == 6
    with backend.use_kernels("numpy"):
        conv_mod.set_conv_algo("auto")
        F.conv2d(x16, w16, None, 1, 1)  # the reference set has no direct kernel
    assert spy.calls == 6


@pytest.mark.parametrize("algo,channels,size,k,stride,calls,grad_calls", [
    ("auto", 16, 16, 3, 1, 1, 1),  # the direct forward: the direct weight gradient too
    ("auto", 64, 16, 3, 1, 1, 1),
    ("auto", 16, 8, 3, 1, 1, 1),
    ("auto", 16, 16, 3, 2, 1, 1),  # strided: 8x8 outputs
    ("auto", 16, 4, 3, 1, 1, 1),  # 4x4 outputs
    ("auto", 16, 16, 1, 2, 1, 0),  # 1x1: im2col's GEMM (a strided view of x)
    ("auto", 96, 16, 3, 1, 1, 1),  # 96 channels
    ("auto", 256, 8, 3, 1, 0, 0),  # 256 channels: no direct kernel (Winograd or im2col)
    ("direct", 16, 4, 3, 1, 1, 1),  # asked for: direct
    ("im2col", 16, 16, 3, 1, 0, 0),
])
def test_weight_gradient_by_the_direct_kernel_where_it_pays(monkeypatch, rng, restore_algo,
                                                            algo, channels, size, k, stride,
                                                            calls, grad_calls):
    spy = _Spy(monkeypatch)
    x = t64(rng.standard_normal((2, channels, size, size)))
    w = t64(rng.standard_normal((channels, channels, k, k)))
    with backend.use_kernels("numba"):
        y = F.conv2d(x, w, None, stride, k // 2, algo=algo)
        y.backward(np.ones(y.shape))
        assert (spy.calls, spy.grad_calls) == (calls + (stride == 1 and calls), grad_calls)
        assert spy.shared == grad_calls  # on the forward's planes
        gw = w.grad.numpy()
        w.grad = None
        F.conv2d(x, w, None, stride, k // 2, algo="im2col").backward(np.ones(y.shape))
    close(gw, w.grad.numpy(), 1e-12)


def test_planes_kept_only_for_a_weight_gradient(monkeypatch, rng):
    """The forward keeps x's planes for backward only when W's gradient will be taken by the
    direct kernel; a released node (or one under no_grad, or with W frozen) holds none."""
    import kernels.numba_cpu as kn

    spy = _Spy(monkeypatch)
    laid_out = []
    real = kn.direct_planes
    monkeypatch.setattr(kn, "direct_planes", lambda *a: laid_out.append(1) or real(*a))
    x = t64(rng.standard_normal((2, 4, 16, 16)))
    w = minicnn.Tensor(rng.standard_normal((8, 4, 3, 3)), requires_grad=True)
    with backend.use_kernels("numba"):
        y = F.conv2d(x, w, None, 1, 1)
        assert y._ctx.planes is not None and len(laid_out) == 1
        y.backward(np.ones(y.shape))
        assert spy.shared == 1 and y._ctx.planes is None
        with minicnn.no_grad():
            assert F.conv2d(x, w, None, 1, 1)._ctx is None
        w.requires_grad = False
        x.requires_grad = True
        assert F.conv2d(x, w, None, 1, 1)._ctx.planes is None
        assert len(laid_out) == 1  # (the kernel laid x out itself, and dropped it)


@pytest.mark.parametrize("algo,kernels,args,msg", [
    ("direct", "numpy", ((3, 3), 1, 1, 1), r"minicnn.reference has no conv2d_direct"),
    ("direct", "numba", ((3, 3), 1, 3, 1), r"padding 0 to 2 \(rows\) and 0 to 2 \(columns\) "
                                           r"with a 3x3 kernel, got \(3, 3\)"),
    ("direct", "numba", ((5, 3), 1, (1, 3), 1), r"0 to 2 \(columns\) with a 5x3 kernel"),
    ("direct", "numba", ((3, 3), 1, 1, 2), r"groups 2"),
    ("winograd", "numpy", ((3, 3), 1, 1, 1), r"minicnn.reference has no winograd_input"),
    ("winograd", "numba", ((5, 5), 1, 2, 1), r"3x3 kernels with stride 1.* got kernel 5x5"),
    ("winograd", "numba", ((3, 3), 2, 1, 1), r"stride \(2, 2\)"),
    ("winograd", "numba", ((3, 3), 1, 3, 1), r"padding 0 to 2 \(rows\)"),
    ("winograd", "numba", ((3, 3), 1, 1, 2), r"groups 2"),
])
def test_explicit_algo_is_strict(algo, kernels, args, msg, rng):
    (kh, kw), stride, padding, groups = args
    x = t64(rng.standard_normal((1, 4, 8, 8)))
    w = t64(rng.standard_normal((4, 4 // groups, kh, kw)))
    with backend.use_kernels(kernels), \
            pytest.raises(ValueError, match=f"algo='{algo}' .*" + msg):
        F.conv2d(x, w, None, stride, padding, 1, groups, algo=algo)


def test_runs_without_jit():
    """With NUMBA_DISABLE_JIT=1 the direct and Winograd kernels are plain Python (the vectors of
    simd.py NumPy arrays, checked against each array's end) and still match the reference."""
    script = textwrap.dedent(
        """
        import numpy as np
        import minicnn
        from minicnn import backend, functional as F
        from kernels.numba_cpu import direct as kd, winograd as kw
        from kernels.numba_cpu.simd import aligned_empty
        from tests.test_direct_conv import reference_conv, reference_weight_grad

        assert kd._rows4_conv_jit is kd._conv_rows4, "the kernel is still jitted"
        assert kd._rows8_conv_jit is kd._conv_rows8, "the kernel is still jitted"
        assert kd._phases4_conv_jit is kd._conv_phases4, "the kernel is still jitted"
        assert kd._rows_grad_jit is kd._weight_grad_rows, "the kernel is still jitted"
        assert kd._phases_grad_jit is kd._weight_grad_phases, "the kernel is still jitted"
        assert kw._input_jit is kw._input_transform, "the kernel is still jitted"
        assert kw._output_jit is kw._output_transform, "the kernel is still jitted"
        rng = np.random.default_rng(0)
        for shape, f, k, p, s in [((1, 2, 3, 4), 2, 3, (1, 0), 1), ((2, 1, 1, 2), 5, 3, (2, 1), 1),
                                  ((1, 2, 3, 4), 5, 5, (1, 2), 1), ((1, 1, 1, 2), 1, 5, (2, 4), 1),
                                  ((1, 2, 17, 16), 5, 3, (1, 1), 1),
                                  ((2, 2, 16, 17), 9, 3, (1, 1), 1),
                                  ((1, 2, 8, 8), 5, 3, (1, 1), 1),  # tight rows, masked
                                  ((1, 2, 5, 6), 3, 3, (1, 1), 2)]:
            for dtype, tol in [(np.float64, 1e-12), (np.float32, 1e-5)]:
                x = rng.standard_normal(shape).astype(dtype)
                w = rng.standard_normal((f, shape[1], k, k)).astype(dtype)
                got, want = kd.conv2d_direct(x, w, p, (s, s)), reference_conv(x, w, p, s)
                assert np.allclose(got, want, rtol=tol, atol=tol * abs(want).max()), (shape, p)
                gy = rng.standard_normal(want.shape).astype(dtype)
                got = kd.conv2d_direct_weight_grad(x, gy, (k, k), p, (s, s))
                want_w = reference_weight_grad(x, gy, (k, k), p, (s, s))
                assert np.allclose(got, want_w, rtol=tol, atol=tol * abs(want_w).max())
                if k == 3 and s == 1 and shape[2:] in ((8, 8), (17, 16)):  # g_y aligned, read
                    # in place (on the gapped 17x16 rows: x's gap skipped after each of its rows)
                    gy8 = aligned_empty((1, 8, *shape[2:]), dtype)
                    gy8[...] = rng.standard_normal(gy8.shape)
                    got = kd.conv2d_direct_weight_grad(x, gy8, (3, 3), p)
                    want_w = reference_weight_grad(x, gy8, (3, 3), p)
                    assert np.allclose(got, want_w, rtol=tol, atol=tol * abs(want_w).max())
                if k == 3 and s == 1 and dtype == np.float64:
                    with backend.use_kernels("numba"):
                        got = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w), None, 1, p,
                                       algo="winograd").numpy()
                    assert np.allclose(got, want, rtol=1e-12, atol=1e-12), (shape, p)
        print("ok")
        """
    )
    assert run_without_jit(script).strip() == "ok"

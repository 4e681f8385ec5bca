"""Winograd F(2x2, 3x3) on the Numba kernel set: each transform against its matrix definition
(Lavin & Gray 2016), the whole convolution against the reference, its gradient check, the
memory bound, and when conv2d's ``algo`` takes it. Gradients against im2col, strictness,
backward under another kernel set and the no-JIT run are shared with the direct kernels in
test_direct_conv.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

pytest.importorskip("numba")

import minicnn  # noqa: E402
from kernels.numba_cpu import winograd as kw  # noqa: E402
from minicnn import backend  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn.ops import conv as conv_mod  # noqa: E402
from tests.strategies import seeds, t64  # noqa: E402
from tests.test_direct_conv import close, reference_conv  # noqa: E402


@st.composite
def winograd_cases(draw):
    """3x3 stride-1 convs: paddings 0-2 per axis, odd and even outputs down to 1x1."""
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(max(1, 3 - 2 * p[0]), 9))
    w = draw(st.integers(max(1, 3 - 2 * p[1]), 9))
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return (n, c, h, w), f, p, draw(seeds)


def tiles_by_definition(x, p, th, tw):
    """The 4x4 input tiles d[n, c, ty, tx] (stride 2) of the zero-padded x."""
    n, c, h, w = x.shape
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    d = np.empty((n, c, th, tw, 4, 4), dtype=x.dtype)
    for ty in range(th):
        for tx in range(tw):
            d[:, :, ty, tx] = xp[:, :, 2 * ty:2 * ty + 4, 2 * tx:2 * tx + 4]
    return d


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(case=winograd_cases())
# many planes: the input transform's several tasks, and a last one with fewer planes
@example(case=((2, 70, 8, 8), 3, (1, 1), 0))
@example(case=((3, 45, 9, 7), 2, (1, 0), 1))
def test_transforms_match_their_matrices(dtype, rel, case):
    shape, f, p, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((f, shape[1], 3, 3)).astype(dtype)
    n, c, h, wd = shape
    oh, ow = h + 2 * p[0] - 2, wd + 2 * p[1] - 2
    th, tw = kw.tiles(oh, ow)
    # U = G g G^T
    want_u = np.einsum("ai,fcij,bj->abfc", kw.G, w.astype(np.float64), kw.G).reshape(16, f, c)
    u = kw.winograd_weights(w)
    assert u.dtype == dtype and u.shape == (16, f, c)
    close(u, want_u.astype(dtype), rel)
    # flip=True: U of the input gradient's weights w'[c, f, i, j] = w[f, c, 2-i, 2-j], (16, C, F)
    wf = w.astype(np.float64).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    want_uf = np.einsum("ai,cfij,bj->abcf", kw.G, wf, kw.G).reshape(16, c, f)
    uf = kw.winograd_weights(w, flip=True)
    assert uf.dtype == dtype and uf.shape == (16, c, f)
    close(uf, want_uf.astype(dtype), rel)
    # V = B^T d B, tile (ty, tx) of image n at column (n th + ty) tw + tx
    d = tiles_by_definition(x.astype(np.float64), p, th, tw)
    want_v = np.einsum("ai,nctuij,bj->abcntu", kw.B_T, d, kw.B_T).reshape(16, c, n * th * tw)
    v = kw.winograd_input(x, p, th, tw)
    assert v.dtype == dtype
    close(v, want_v.astype(dtype), rel)
    # y = A^T M A, clipped to oh x ow
    m = rng.standard_normal((16, f, n * th * tw)).astype(dtype)
    mt = m.astype(np.float64).reshape(4, 4, f, n, th, tw)
    full = np.einsum("ai,ijfntu,bj->nftaub", kw.A_T, mt, kw.A_T).reshape(n, f, 2 * th, 2 * tw)
    y = kw.winograd_output(m, th, tw, np.full((n, f, oh, ow), np.nan, dtype=dtype))
    close(y, full[:, :, :oh, :ow].astype(dtype), rel)


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(case=winograd_cases(), bias=st.booleans())
def test_conv_matches_reference(dtype, rel, case, bias):
    shape, f, p, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((f, shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if bias else None
    with backend.use_kernels("numba"):
        got = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w),
                       minicnn.Tensor(b) if bias else None, 1, p, algo="winograd").numpy()
    want = reference_conv(x, w, p) + (b.reshape(1, -1, 1, 1) if bias else 0)
    close(got, want, rel)


def test_gradcheck_winograd():
    rng = np.random.default_rng(4)
    x, w, b = t64(rng.standard_normal((2, 3, 5, 4))), t64(rng.standard_normal((5, 3, 3, 3))), \
        t64(rng.standard_normal(5))
    with backend.use_kernels("numba"):
        assert minicnn.gradcheck(lambda a, c, d: F.conv2d(a, c, d, 1, (2, 1), algo="winograd"),
                                 [x, w, b], atol=1e-7, rtol=1e-6)


def test_chunks_bound_the_transformed_tiles(rng):
    """A bound smaller than one batch's V and M: chunks of images, the same result."""
    x, w = rng.standard_normal((5, 4, 9, 7)), rng.standard_normal((3, 4, 3, 3))
    want = reference_conv(x, w, (1, 1))
    per_image = 16 * (4 + 3) * 5 * 4 * 8  # V and M of one image, float64
    try:
        conv_mod.set_im2col_limit(2 * per_image)
        with backend.use_kernels("numba"):
            got = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w), None, 1, 1, algo="winograd")
    finally:
        conv_mod.set_im2col_limit(None)
    close(got.numpy(), want, 1e-12)


@pytest.fixture
def restore_algo():
    yield
    conv_mod.set_conv_algo("auto")


def test_auto_takes_winograd_where_it_pays(monkeypatch, rng, restore_algo):
    import kernels.numba_cpu as kn

    calls = []
    real = kn.winograd_input
    monkeypatch.setattr(kn, "winograd_input", lambda *a, **k: calls.append(1) or real(*a, **k))

    def conv(c, f, hw, stride=1, k=3, n=1):
        x = minicnn.Tensor(rng.standard_normal((n, c, hw, hw)).astype(np.float32))
        w = minicnn.Tensor(rng.standard_normal((f, c, k, k)).astype(np.float32))
        F.conv2d(x, w, None, stride, k // 2)

    with backend.use_kernels("numba"):
        conv(160, 160, 24, n=4)  # 160 channels x 576 tiles: Winograd
        conv(64, 160, 32)  # 64 channels x 256 tiles (one 32x32 image): 4x too little: im2col
        conv(64, 160, 32, n=4)  # 64 x 1024: Winograd
        conv(160, 160, 8, n=64)  # 160 channels, 8x8 outputs, batch 64: Winograd
        assert len(calls) == 3
        conv(160, 160, 7, n=128)  # 7x7 outputs: im2col
        conv(32, 160, 32, n=4)  # 32 in: im2col
        conv(128, 128, 32, n=4)  # up to 128 channels: the direct kernel
        conv(160, 160, 24, stride=2, n=4)  # stride 2: im2col
        conv(160, 160, 24, k=5, n=4)  # 5x5: im2col
        assert len(calls) == 3
        conv_mod.set_conv_algo("winograd")  # a preference: falls back where it cannot run
        conv(4, 4, 6)
        conv(4, 4, 6, stride=2)
        assert len(calls) == 4
    with backend.use_kernels("numpy"):
        conv(4, 4, 6)  # the reference set has no Winograd transforms: im2col
    assert len(calls) == 4

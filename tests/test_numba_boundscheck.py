"""Every Numba kernel under NUMBA_BOUNDSCHECK=1, on geometries chosen to reach the edges.

Numba checks no bounds by default: a kernel that reads past an array (in a masked lane, a
dropped output column, a padding border) can still return right values, so comparisons with
the reference cannot see it. With bounds checking on, such a read raises IndexError. One
subprocess, float64 (and float32 where the vector width matters), a fresh compile cache (the
checks are compiled in).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import itertools
    import numpy as np
    import kernels.numba_cpu as nb
    import minicnn.reference as ref
    from kernels.numba_cpu import direct, winograd
    from kernels.numba_cpu.simd import aligned_empty

    rng = np.random.default_rng(0)
    checked = 0

    def same(a, b):
        global checked
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        checked += 1

    # im2col / col2im: the contiguous-run path (stride 1, ow == W) and the row path, with
    # padding past the kernel, dilation, width 1, kernels wider than the plane
    for (h, w), (kh, kw), ph, (dh, dw), s in itertools.product(
            [(1, 1), (1, 4), (3, 1), (4, 5)], [(1, 1), (2, 3), (3, 3)], [0, 1, 3],
            [(1, 1), (2, 1)], [1, 2]):
        pw = dw * (kw - 1) // 2 if (dw * (kw - 1)) % 2 == 0 else 0
        if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
            continue
        x = rng.standard_normal((2, 2, h, w))
        g = ((kh, kw), (s, s), (ph, pw), (dh, dw))
        cols = nb.im2col(x, *g)
        same(cols, ref.im2col(x, *g))
        same(nb.col2im(cols, x.shape, *g), ref.col2im(cols, x.shape, *g))

    # the direct kernels (their vector loads and stores are checked too, see simd.py) and
    # weight gradients: paddings 0 to k-1, planes down to the kernel, strides 1 and 2 (the
    # row and the phase planes), float32 (blocks of 64 outputs) and float64 (32)
    for k, (h, w), ph, pw in itertools.product([3, 5], [(1, 1), (1, 3), (3, 3), (4, 6)],
                                               [0, 1, 2, 4], [0, 1, 2, 4]):
        if h + 2 * ph < k or w + 2 * pw < k or max(ph, pw) > k - 1:
            continue
        # 5 filters: one block of four, one alone
        x, wt = rng.standard_normal((2, 3, h, w)), rng.standard_normal((5, 3, k, k))
        cols = ref.im2col(x, (k, k), (1, 1), (ph, pw), (1, 1))
        want = (wt.reshape(5, -1) @ cols).reshape(5, 2, h + 2 * ph - k + 1, w + 2 * pw - k + 1)
        same(direct.conv2d_direct(x, wt, (ph, pw)), want.transpose(1, 0, 2, 3))
        for s in (1, 2):
            y32 = direct.conv2d_direct(x.astype(np.float32), wt.astype(np.float32), (ph, pw),
                                       (s, s))
            np.testing.assert_allclose(y32, want.transpose(1, 0, 2, 3)[:, :, ::s, ::s],
                                       rtol=1e-5, atol=1e-4)
        same(direct.conv2d_direct(x, wt, (ph, pw), (2, 1)),
             want.transpose(1, 0, 2, 3)[:, :, ::2, :])
        w9 = rng.standard_normal((9, 3, k, k))  # tasks of 8 filters and a short one
        cols9 = ref.im2col(x, (k, k), (1, 1), (ph, pw), (1, 1))
        want9 = (w9.reshape(9, -1) @ cols9).reshape(9, 2, *want.shape[2:])
        same(direct.conv2d_direct(x, w9, (ph, pw)), want9.transpose(1, 0, 2, 3))
        y9 = direct.conv2d_direct(x.astype(np.float32), w9.astype(np.float32), (ph, pw))
        np.testing.assert_allclose(y9, want9.transpose(1, 0, 2, 3), rtol=1e-5, atol=1e-4)
        gy = rng.standard_normal(want.shape).transpose(1, 0, 2, 3)  # (N, F, oh, ow)
        g = gy.transpose(1, 0, 2, 3).reshape(5, -1)
        same(direct.conv2d_direct_weight_grad(x, gy, (k, k), (ph, pw)),
             (g @ cols.T).reshape(wt.shape))
        g32 = direct.conv2d_direct_weight_grad(x.astype(np.float32), gy.astype(np.float32),
                                               (k, k), (ph, pw))
        np.testing.assert_allclose(g32, (g @ cols.T).reshape(wt.shape), rtol=1e-5, atol=1e-4)
        if k == 3:  # Winograd F(2x2, 3x3): odd and even outputs, down to 1x1
            oh, ow = h + 2 * ph - 2, w + 2 * pw - 2
            th, tw = winograd.tiles(oh, ow)
            v = winograd.winograd_input(x, (ph, pw), th, tw)
            y = np.empty((2, 5, oh, ow))
            winograd.winograd_output(np.matmul(winograd.winograd_weights(wt), v), th, tw, y)
            same(y, want.transpose(1, 0, 2, 3))

    # the direct kernels' other geometries: rectangular kernels of 1 to 7 (weight-gradient
    # groups of 3 taps reading planes past kw), strides 1 to 3 and past the kernel (phase
    # planes with several row phases), 9 filters (a second task of the weight gradient)
    for (kh, kw), (sh, sw), (h, w) in itertools.product(
            [(1, 2), (2, 3), (7, 4), (3, 1)], [(1, 1), (2, 2), (2, 1), (3, 2)],
            [(7, 5), (9, 9)]):
        ph, pw = kh // 2, kw // 2
        x, wt = rng.standard_normal((2, 3, h, w)), rng.standard_normal((9, 3, kh, kw))
        cols = ref.im2col(x, (kh, kw), (sh, sw), (ph, pw), (1, 1))
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        want = (wt.reshape(9, -1) @ cols).reshape(9, 2, oh, ow).transpose(1, 0, 2, 3)
        for dtype, check in [(np.float64, same), (np.float32, None)]:
            xd, wd = x.astype(dtype), wt.astype(dtype)
            gy = rng.standard_normal(want.shape).astype(dtype)
            gwant = (gy.transpose(1, 0, 2, 3).reshape(9, -1).astype(np.float64)
                     @ cols.T).reshape(wt.shape)
            got_y = direct.conv2d_direct(xd, wd, (ph, pw), (sh, sw))
            got_w = direct.conv2d_direct_weight_grad(xd, gy, (kh, kw), (ph, pw), (sh, sw))
            if check:
                check(got_y, want)
                check(got_w, gwant)
            else:
                np.testing.assert_allclose(got_y, want, rtol=1e-4, atol=1e-4)
                np.testing.assert_allclose(got_w, gwant, rtol=1e-4, atol=1e-3)

    # every layout of the direct kernels at sizes with several blocks: gapped rows (16x16),
    # tight rows (8x8: vectors of two rows; 2x24: vectors across a row's end), phase planes;
    # 16 filters, so g_y is read as it is where its rows fill the planes; the planes shared
    for shape, s in [((2, 3, 16, 16), 1), ((2, 3, 8, 8), 1), ((1, 2, 2, 24), 1),
                     ((2, 3, 16, 16), 2)]:
        x, wt = rng.standard_normal(shape), rng.standard_normal((16, shape[1], 3, 3))
        cols = ref.im2col(x, (3, 3), (s, s), (1, 1), (1, 1))
        oh, ow = (shape[2] - 1) // s + 1, (shape[3] - 1) // s + 1
        want = (wt.reshape(16, -1) @ cols).reshape(16, shape[0], oh, ow).transpose(1, 0, 2, 3)
        for dtype in (np.float64, np.float32):
            xd, wd = x.astype(dtype), wt.astype(dtype)
            gy = aligned_empty(want.shape, dtype)  # read in place (gapped rows: gaps skipped)
            gy[...] = rng.standard_normal(want.shape)
            gwant = (gy.transpose(1, 0, 2, 3).reshape(16, -1).astype(np.float64)
                     @ cols.T).reshape(wt.shape)
            planes = direct.direct_planes(xd, (3, 3), (1, 1), (s, s))
            got_y = direct.conv2d_direct(xd, wd, (1, 1), (s, s), planes=planes)
            np.testing.assert_allclose(got_y, want, rtol=1e-4, atol=1e-4)
            for g in (gy, np.ascontiguousarray(gy[:, ::-1])[:, ::-1]):  # in place, copied
                got_w = direct.conv2d_direct_weight_grad(xd, g, (3, 3), (1, 1), (s, s),
                                                         planes=planes)
                np.testing.assert_allclose(got_w, gwant, rtol=1e-4, atol=1e-3)

    # pooling: padding, stride past the window, ceil-mode sizes
    for (h, w), k, s, p in itertools.product([(1, 1), (2, 5), (5, 4)], [1, 2, 3], [1, 2, 3],
                                             [0, 1]):
        if p > k // 2:
            continue
        for extra in (0, 1):
            oh = (h + 2 * p - k) // s + 1 + extra
            ow = (w + 2 * p - k) // s + 1 + extra
            if oh < 1 or ow < 1 or (oh - 1) * s >= h + p or (ow - 1) * s >= w + p:
                continue
            x = rng.standard_normal((2, 2, h, w))
            geo = ((k, k), (s, s), (p, p))
            y, am = nb.max_pool2d(x, *geo, (oh, ow))
            y2, am2 = ref.max_pool2d(x, *geo, (oh, ow))
            same(y, y2)
            assert np.array_equal(am, am2)
            gy = rng.standard_normal(y.shape)
            same(nb.max_pool2d_backward(gy, am, x.shape, *geo),
                 ref.max_pool2d_backward(gy, am2, x.shape, *geo))
            for cip in (True, False):
                same(nb.avg_pool2d(x, *geo, (oh, ow), cip), ref.avg_pool2d(x, *geo, (oh, ow), cip))
                same(nb.avg_pool2d_backward(gy, x.shape, *geo, cip),
                     ref.avg_pool2d_backward(gy, x.shape, *geo, cip))

    # LRN, batch norm, ReLU
    for c, size in [(1, 5), (3, 2), (7, 5)]:
        x = rng.standard_normal((2, c, 3, 2))
        y, sc = nb.local_response_norm(x, size, 0.9, 0.75, 1.0)
        y2, sc2 = ref.local_response_norm(x, size, 0.9, 0.75, 1.0)
        same(y, y2)
        gy = rng.standard_normal(x.shape)
        same(nb.local_response_norm_backward(x, y, sc, gy, size, 0.9, 0.75, 1.0),
             ref.local_response_norm_backward(x, y2, sc2, gy, size, 0.9, 0.75, 1.0))
    for shape in [(1, 1), (3, 2), (2, 3, 1, 5)]:
        x, gy = rng.standard_normal(shape), rng.standard_normal(shape)
        m, v = nb.batch_norm_stats(x)
        m2, v2 = ref.batch_norm_stats(x)
        same(m, m2)
        inv = 1.0 / np.sqrt(v + 1e-5)
        w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
        same(nb.batch_norm(x, w, b, m, inv), ref.batch_norm(x, w, b, m, inv))
        for a, e in zip(nb.batch_norm_backward(gy, x, w, m, inv, True),
                        ref.batch_norm_backward(gy, x, w, m, inv, True)):
            same(a, e)
        y = np.maximum(x, 0)
        same(nb.relu(x), ref.relu(x))
        same(nb.relu_backward(gy, y), ref.relu_backward(gy, y))
    print("ok", checked)
    """
)


def test_kernels_stay_in_bounds(tmp_path):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path),
               PYTHONPATH=str(ROOT))
    env.pop("NUMBA_DISABLE_JIT", None)
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    words = r.stdout.split()
    assert words[0] == "ok" and int(words[1]) > 200, r.stdout

"""A custom conv kernel for ``minicnn bench conv --kernel``: stride tricks + one tensordot.

No Python loop over pixels, windows or kernel offsets: ``as_strided`` gives a read-only view
``win[n, c, i, j, oy, ox] = x_pad[n, c, oy*sh + i*dh, ox*sw + j*dw]`` of every receptive field
without copying, and one ``tensordot`` (im2col + GEMM in a single call: NumPy copies the view
into a matrix, then calls BLAS) contracts it with the weight over (c, i, j):

.. math:: y[n, f, o_y, o_x] = b[f] + \\sum_{c, i, j} w[f, c, i, j]\\, win[n, c, i, j, o_y, o_x]

Groups run as a batch dimension of ``einsum``. Works on NumPy and CuPy arrays alike.

Try it::

    minicnn bench conv --kernel benchmarks/examples/my_conv.py:my_conv2d --shapes small --quick
    # or, as a module on the path:
    PYTHONPATH=benchmarks/examples minicnn bench conv --kernel my_conv:my_conv2d
"""

from __future__ import annotations

from typing import Any


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _xp(a: Any) -> Any:
    if type(a).__module__.startswith("cupy"):
        import cupy

        return cupy
    import numpy

    return numpy


def my_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d on arrays: input (N, C, H, W), weight (F, C/groups, kh, kw) -> (N, F, oh, ow)."""
    xp = _xp(input)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    n, c, h, w = input.shape
    f, cg, kh, kw = weight.shape
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = input
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    x = xp.ascontiguousarray(x)
    s0, s1, s2, s3 = x.strides
    win = xp.lib.stride_tricks.as_strided(
        x, shape=(n, c, kh, kw, oh, ow), strides=(s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw)
    )
    if groups == 1:
        # (n, oh, ow, f) -> NCHW
        y = xp.tensordot(win, weight, axes=([1, 2, 3], [1, 2, 3])).transpose(0, 3, 1, 2)
    else:
        win = win.reshape(n, groups, cg, kh, kw, oh, ow)
        wg = weight.reshape(groups, f // groups, cg, kh, kw)
        y = xp.einsum("gfcij,ngcijyx->ngfyx", wg, win, optimize=True).reshape(n, f, oh, ow)
    y = xp.ascontiguousarray(y)
    if bias is not None:
        y += bias.reshape(1, f, 1, 1)
    return y

"""Explicit SIMD vectors in Numba kernels: a 512-bit vector type and four operations.

LLVM's loop vectoriser, which Numba relies on, keeps 256-bit vectors on the Intel CPUs with
AVX-512 (their ``prefer-256-bit`` tuning) and keeps a convolution's partial sums in memory, one
load and store per multiply-add row. A register-blocked kernel (as oneDNN's JIT kernels,
and BLIS's micro-kernels, are written) needs its accumulators in registers across the whole
reduction. Here they are values of an LLVM vector type: 16 float32 or 8 float64 lanes (64
bytes), held by ordinary local variables, which LLVM keeps in registers (zmm with AVX-512;
pairs of ymm, or spills, on CPUs without it: the same results, slower).

========================  ====================================================================
``vload(a, i)``           the vector ``a[i : i + lanes(a)]`` (``a`` 1-D, C-contiguous)
``vload_masked(a, i, m)``  the same, lane l kept where bit l of the integer ``m`` is set, else 0
``vstore(a, i, v)``       ``a[i : i + lanes(a)] = v``
``vsplat(a, s)``          every lane ``s`` (of ``a``'s dtype)
``vfma(x, y, z)``         ``x * y + z`` lane by lane, one rounding (``llvm.fma``)
``vsum(v)``               the sum of v's lanes (a tree: halves added, log2(lanes) steps)
``lanes(a)``              64 bytes over ``a``'s item size (16 for float32, 8 for float64)
========================  ====================================================================

In jitted code they are Numba intrinsics (``numba.extending``: a vector type, its data model,
LLVM IR for each operation); called from Python, as under ``NUMBA_DISABLE_JIT=1``, they are
the NumPy code beside each, so the kernels still run, and a vector past an array's end fails
there. Jitted loads and stores check no bounds, unless Numba's bounds checking is on
(``NUMBA_BOUNDSCHECK=1``), when they raise IndexError as an array index would.

Two caveats of Numba's on-disk cache (``cache=True``), which keys a kernel by its own file:
it does not record the bounds-check setting, so run checked kernels with a fresh
``NUMBA_CACHE_DIR`` (as ``tests/test_numba_boundscheck.py`` does); and it does not see edits to
this file, so after changing an operation here clear the kernels' cache (``__pycache__/*.nbi``
and ``*.nbc`` under ``kernels/``) or use a fresh ``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

#: the bytes of one vector
VECTOR_BYTES = 64


class SimdVector(types.Type):
    """The Numba type of a vector of ``count`` lanes of ``dtype`` (a Numba float type)."""

    def __init__(self, dtype: types.Type, count: int) -> None:
        self.dtype = dtype
        self.count = count
        super().__init__(name=f"SimdVector({dtype} x {count})")


@register_model(SimdVector)
class _SimdVectorModel(models.PrimitiveModel):
    def __init__(self, dmm: Any, fe_type: SimdVector) -> None:
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.count))


def _vector_of(arr: Any) -> SimdVector | None:
    """The vector type of a 1-D C-contiguous float array's elements, else None."""
    if (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and isinstance(arr.dtype, types.Float)):
        return SimdVector(arr.dtype, VECTOR_BYTES * 8 // arr.dtype.bitwidth)
    return None


def _element_pointer(context: Any, builder: Any, aryty: Any, ary: Any, idx: Any,
                     vty: Any) -> Any:
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [idx]), vty.as_pointer())


@intrinsic
def _vload(typingctx: Any, arr: Any, idx: Any) -> Any:
    vt = _vector_of(arr)
    if vt is None or not isinstance(idx, types.Integer):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        vty = context.get_value_type(sig.return_type)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], vty)
        return builder.load(ptr, align=arr.dtype.bitwidth // 8)

    return vt(arr, idx), codegen


@intrinsic
def _vload_masked(typingctx: Any, arr: Any, idx: Any, mask: Any) -> Any:
    vt = _vector_of(arr)
    if vt is None or not isinstance(idx, types.Integer) or not isinstance(mask, types.Integer):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        vty = context.get_value_type(sig.return_type)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], vty)
        v = builder.load(ptr, align=arr.dtype.bitwidth // 8)
        width = args[2].type.width  # the mask's integer: to one bit per lane
        lanes_t = ir.IntType(vty.count)
        bits = (builder.trunc(args[2], lanes_t) if width > vty.count
                else builder.zext(args[2], lanes_t) if width < vty.count else args[2])
        keep = builder.bitcast(bits, ir.VectorType(ir.IntType(1), vty.count))
        return builder.select(keep, v, ir.Constant(vty, None))  # (one zero-masked load)

    return vt(arr, idx, mask), codegen


@intrinsic
def _vstore(typingctx: Any, arr: Any, idx: Any, v: Any) -> Any:
    vt = _vector_of(arr)
    if vt is None or not isinstance(idx, types.Integer) or v != vt:
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], args[2].type)
        builder.store(args[2], ptr, align=arr.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(arr, idx, v), codegen


@intrinsic
def _vsplat(typingctx: Any, arr: Any, s: Any) -> Any:
    vt = _vector_of(arr)
    if vt is None or not isinstance(s, (types.Float, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        vty = context.get_value_type(sig.return_type)
        value = context.cast(builder, args[1], sig.args[1], sig.return_type.dtype)
        one = builder.insert_element(ir.Constant(vty, ir.Undefined), value,
                                     ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), vty.count), [0] * vty.count)
        return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined), zeros)

    return vt(arr, s), codegen


@intrinsic
def _vfma(typingctx: Any, x: Any, y: Any, z: Any) -> Any:
    if not isinstance(x, SimdVector) or not x == y == z:
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        vty = args[0].type
        suffix = f"v{vty.count}f{sig.return_type.dtype.bitwidth}"
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3),
                                             f"llvm.fma.{suffix}")
        return builder.call(fma, args)

    return x(x, y, z), codegen


@intrinsic
def _vsum(typingctx: Any, v: Any) -> Any:
    if not isinstance(v, SimdVector):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        acc = args[0]
        width = acc.type.count
        while width > 1:  # the upper half onto the lower, as vsum's Python face
            width //= 2
            lo = builder.shuffle_vector(acc, acc, ir.Constant(
                ir.VectorType(ir.IntType(32), width), list(range(width))))
            hi = builder.shuffle_vector(acc, acc, ir.Constant(
                ir.VectorType(ir.IntType(32), width), list(range(width, 2 * width))))
            acc = builder.fadd(lo, hi)
        return builder.extract_element(acc, ir.Constant(ir.IntType(32), 0))

    return v.dtype(v), codegen


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a vector (64-byte) boundary,
    as PyTorch's CPU allocator aligns every tensor. numpy's large allocations start 16 or 48
    bytes past one here (glibc's heap, with minicnn's malloc thresholds), so that every vector
    load from them spans two cache lines: the direct weight gradient reads g_y so (64->64 at
    8x8, batch 64: 1.65 ms misaligned, 1.2 aligned). The kernels whose outputs feed it (batch
    norm, ReLU, add) allocate them with this."""
    size = int(np.prod(shape, dtype=np.int64))
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(size + VECTOR_BYTES // itemsize, dtype=dtype)
    skip = (-raw.ctypes.data % VECTOR_BYTES) // itemsize
    return raw[skip:skip + size].reshape(shape)


# -- the Python face (NUMBA_DISABLE_JIT=1, and the specification) --------------------------------
def lanes(a: np.ndarray) -> int:
    """The lanes of a vector of ``a``'s dtype: 16 for float32, 8 for float64."""
    return VECTOR_BYTES // a.itemsize


def vload(a: np.ndarray, i: int) -> np.ndarray:
    """The vector ``a[i : i + lanes(a)]``."""
    v = a[i:i + lanes(a)]
    if i < 0 or v.size != lanes(a):
        raise IndexError(f"vload: elements {i}..{i + lanes(a) - 1} of an array of {a.size}")
    return v.copy()


def vload_masked(a: np.ndarray, i: int, mask: int) -> np.ndarray:
    """The vector ``a[i : i + lanes(a)]`` with lane l set to 0 where bit l of ``mask`` is 0
    (the whole range must be in bounds; the lanes masked off are read and dropped, so a NaN
    there does not show)."""
    v = vload(a, i)
    v[[(mask >> k) & 1 == 0 for k in range(v.size)]] = 0
    return v


def vstore(a: np.ndarray, i: int, v: np.ndarray) -> None:
    """``a[i : i + lanes(a)] = v``."""
    if i < 0 or i + lanes(a) > a.size or v.shape != (lanes(a),):
        raise IndexError(f"vstore: elements {i}..{i + lanes(a) - 1} of an array of {a.size}")
    a[i:i + lanes(a)] = v


def vsplat(a: np.ndarray, s: float) -> np.ndarray:
    """A vector of ``a``'s dtype with every lane ``s``."""
    return np.full(lanes(a), s, dtype=a.dtype)


def vfma(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``x * y + z`` lane by lane (in Python with two roundings, jitted with one)."""
    return x * y + z


def vsum(v: np.ndarray) -> float:
    """The sum of v's lanes, as a tree: the upper half added onto the lower, until one lane
    is left (log2(lanes) vector adds; the same order jitted and in Python)."""
    while v.size > 1:
        v = v[:v.size // 2] + v[v.size // 2:]
    return v[0]


# -- the jitted face ------------------------------------------------------------------------------
@overload(lanes, inline="always")
def _lanes_impl(a):
    vt = _vector_of(a)
    if vt is None:
        return None
    count = vt.count
    return lambda a: count


def _checked(count: int) -> Any:
    """An in-bounds check of elements i .. i + count - 1 (under NUMBA_BOUNDSCHECK=1)."""

    @numba.njit(inline="always")
    def check(a, i):
        if i < 0 or i + count > a.size:
            raise IndexError("vector index out of bounds")

    return check


@overload(vload, inline="always")
def _vload_impl(a, i):
    vt = _vector_of(a)
    if vt is None:
        return None
    if numba.config.BOUNDSCHECK:
        check = _checked(vt.count)

        def checked_load(a, i):
            check(a, i)
            return _vload(a, i)

        return checked_load
    return lambda a, i: _vload(a, i)


@overload(vload_masked, inline="always")
def _vload_masked_impl(a, i, mask):
    vt = _vector_of(a)
    if vt is None:
        return None
    if numba.config.BOUNDSCHECK:
        check = _checked(vt.count)

        def checked_load(a, i, mask):
            check(a, i)
            return _vload_masked(a, i, mask)

        return checked_load
    return lambda a, i, mask: _vload_masked(a, i, mask)


@overload(vstore, inline="always")
def _vstore_impl(a, i, v):
    vt = _vector_of(a)
    if vt is None:
        return None
    if numba.config.BOUNDSCHECK:
        check = _checked(vt.count)

        def checked_store(a, i, v):
            check(a, i)
            _vstore(a, i, v)

        return checked_store
    return lambda a, i, v: _vstore(a, i, v)


@overload(vsplat, inline="always")
def _vsplat_impl(a, s):
    return lambda a, s: _vsplat(a, s)


@overload(vsum, inline="always")
def _vsum_impl(v):
    return lambda v: _vsum(v)


@overload(vfma, inline="always")
def _vfma_impl(x, y, z):
    return lambda x, y, z: _vfma(x, y, z)

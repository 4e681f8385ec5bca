"""Tensor: an array (NumPy or CuPy) with reverse-mode automatic differentiation.

``backward()`` walks the graph in reverse topological order, found iteratively so that very
deep networks (ResNet-152) never meet Python's recursion limit. Gradients accumulate where a
tensor feeds several ops; leaves keep theirs in ``.grad``.
"""

from __future__ import annotations

import sys
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from minicnn import backend
from minicnn import random as _random
from minicnn.function import Function, is_grad_enabled

ArrayLike = Any

_DTYPES = {
    "float32": np.float32,
    "float": np.float32,
    "float64": np.float64,
    "double": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "long": np.int64,
    "int32": np.int32,
    "bool": np.bool_,
}

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _as_dtype(dtype: Any) -> np.dtype:
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        return np.dtype(_DTYPES[dtype])
    return np.dtype(dtype)


def _is_float(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "f"


# Reference counts as CPython 3.11-3.13 keep them; 3.14 leaves out some stack references, which
# would let a shared array pass (numpy#28681). Elsewhere leaf gradients are always copied.
_REFCOUNTS_KNOWN = sys.implementation.name == "cpython" and (3, 11) <= sys.version_info < (3, 14)


def _sole_owner(a: Any) -> bool:
    """True when leaf gradient ``a`` can become ``.grad`` without a copy, as PyTorch's
    AccumulateGrad takes a gradient no one else holds (a copy of a 37 MB input gradient cost
    8.6 ms of a 29 ms max-pool forward+backward). It must be a writeable, C-contiguous array
    that nothing refers to but the caller's one local name, owning its memory or viewing all
    of a base array that only it holds (a kernel's reshaped result). The caller's own ``grad``
    array, one array handed to two inputs, an array a Function keeps, a broadcast, transposed
    or partial view: all are copied. (A 64-byte aligned view of a base 64 bytes longer counts
    as all of it: the Numba kernels' results, from ``aligned_empty``.)
    """
    if not _REFCOUNTS_KNOWN:
        return False
    try:
        # references: the caller's name, this function's argument, getrefcount's argument
        if sys.getrefcount(a) > 3 or not (a.flags.writeable and a.flags.c_contiguous):
            return False
        b = a.base
        if b is None:
            return bool(a.flags.owndata)
        # a's base: referenced by a.base, the name b and getrefcount's argument
        whole = b.nbytes == a.nbytes or (b.nbytes - a.nbytes == 64 and a.ctypes.data % 64 == 0)
        return (b.base is None and bool(b.flags.owndata) and whole
                and sys.getrefcount(b) <= 3)
    except AttributeError:  # not an array: copy
        return False


class Tensor:
    """An n-dimensional array that records the ops applied to it for ``backward()``.

    ``Tensor(data, requires_grad=False, dtype=None)``: a floating NumPy/CuPy array keeps its
    dtype and is shared, not copied; Python lists, scalars and integer data become float32
    unless ``dtype`` says otherwise (as ``torch.tensor`` does).
    """

    __array_priority__ = 1000  # numpy scalars defer to Tensor's operators

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        if backend.is_cupy_array(data):
            arr = data
        elif isinstance(data, (np.ndarray, np.generic)):
            arr = np.asarray(data)
        else:
            arr = np.asarray(data)
            if dtype is None and arr.dtype.kind in "fiub":
                dtype = np.float32
            elif dtype is None:
                raise ValueError(
                    f"Tensor: data must be numeric, got an array of dtype {arr.dtype}"
                )
        if dtype is not None:
            dt = _as_dtype(dtype)
            if arr.dtype != dt:
                arr = arr.astype(dt)
        elif not _is_float(arr.dtype):
            arr = arr.astype(np.float32)
        self._init(arr, requires_grad)

    def _init(self, arr: Any, requires_grad: bool) -> None:
        if requires_grad and not _is_float(arr.dtype):
            raise ValueError(
                f"requires_grad=True needs a floating dtype, got {arr.dtype}"
            )
        self.data = arr
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self._retain_grad = False

    @classmethod
    def _wrap(cls, arr: Any, requires_grad: bool = False) -> Tensor:
        """Wrap an array as it is (any dtype, no copy): used by ops."""
        t = cls.__new__(cls)
        arr = np.asarray(arr) if isinstance(arr, np.generic) else arr  # numpy scalar -> 0-d
        t._init(arr, requires_grad and _is_float(arr.dtype))
        return t

    # -- properties ----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        return self._ctx

    @property
    def T(self) -> Tensor:
        if self.ndim != 2:
            raise ValueError(f"T needs a 2-D tensor, got shape {self.shape}")
        return self.transpose(0, 1)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), separator=", ", threshold=50, precision=4)
        return f"tensor({body}, dtype={self.dtype}{dev}{grad})"

    # -- conversion ----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU where needed)."""
        if backend.is_cupy_array(self.data):
            return self.data.get()
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, got shape {self.shape}"
            )
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not _is_float(self.dtype):
            raise ValueError(f"requires_grad needs a floating dtype, got {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retain_grad = True

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    def astype(self, dtype: Any) -> Tensor:
        """A copy in another dtype; differentiable between floating dtypes."""
        from minicnn.ops.basic import Cast

        dt = _as_dtype(dtype)
        if dt == self.dtype:
            return self
        if _is_float(dt):
            return Cast.apply(self, dt)
        return Tensor._wrap(self.data.astype(dt))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def to(self, target: Any) -> Tensor:
        """``t.to('cuda')``, ``t.to('cpu')`` or ``t.to(dtype)``."""
        if isinstance(target, str) and target.split(":")[0] in ("cpu", "cuda"):
            return self._to_device(target.split(":")[0])
        return self.astype(target)

    def cuda(self) -> Tensor:
        return self._to_device("cuda")

    def cpu(self) -> Tensor:
        return self._to_device("cpu")

    def _to_device(self, device: str) -> Tensor:
        from minicnn.ops.basic import ToDevice

        if device == self.device:
            return self
        if device == "cuda" and backend.cupy_module() is None:
            raise RuntimeError("device 'cuda' needs CuPy (pip install minicnn[gpu])")
        return ToDevice.apply(self, device)

    def contiguous(self) -> Tensor:
        return self

    # -- autograd ------------------------------------------------------------------------
    def backward(self, grad: ArrayLike = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the gradient of some scalar with respect to this tensor (an array or a
        Tensor of this tensor's shape); it may be omitted only when this tensor has one
        element. The graph is freed afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad "
                "(no input had requires_grad=True, or it was built under no_grad)"
            )
        from minicnn.ops.basic import add_arrays  # (ops import tensor)

        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without grad needs a one-element tensor, got shape "
                    f"{self.shape}; pass grad= of that shape"
                )
            g = xp.ones_like(self.data)
        else:
            g = grad.data if isinstance(grad, Tensor) else xp.asarray(grad)
            if tuple(g.shape) != self.shape:
                raise ValueError(
                    f"backward(grad=...): grad has shape {tuple(g.shape)}, expected "
                    f"{self.shape}"
                )
            g = g.astype(self.dtype, copy=False)
        # reverse topological order, found without recursion
        topo: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            t, done = stack.pop()
            if done:
                topo.append(t)
                continue
            if id(t) in visited:
                continue
            visited.add(id(t))
            stack.append((t, True))
            if t._ctx is not None:
                for p in t._ctx.inputs:
                    if isinstance(p, Tensor) and p.requires_grad and id(p) not in visited:
                        stack.append((p, False))
        grads: dict[int, Any] = {id(self): g}
        for t in reversed(topo):
            gt = grads.pop(id(t), None)
            if gt is None:
                continue
            fn = t._ctx
            if fn is None or t._retain_grad:
                gt = gt.astype(t.dtype, copy=False)
                if t.grad is None:  # a leaf's gradient no one else holds: .grad as it is
                    # (a retain_grad non-leaf passes gt on to its backward: always a copy)
                    own = fn is None and _sole_owner(gt)
                    t.grad = Tensor._wrap(gt if own else gt.copy())
                else:
                    t.grad = Tensor._wrap(t.grad.data + gt)
            if fn is None:
                continue
            if fn.released:
                raise RuntimeError(
                    f"backward through {type(fn).__name__} a second time: its saved "
                    "values were freed; pass retain_graph=True to the first backward()"
                )
            gins = fn.backward(gt)
            if not isinstance(gins, tuple):
                gins = (gins,)
            if len(gins) != len(fn.inputs):
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned {len(gins)} gradients for "
                    f"{len(fn.inputs)} inputs"
                )
            for inp, gi in zip(fn.inputs, gins):
                if gi is None or not isinstance(inp, Tensor) or not inp.requires_grad:
                    continue
                if tuple(gi.shape) != inp.shape:
                    raise RuntimeError(
                        f"{type(fn).__name__}.backward returned a gradient of shape "
                        f"{tuple(gi.shape)} for an input of shape {inp.shape}"
                    )
                prev = grads.get(id(inp))
                grads[id(inp)] = gi if prev is None else add_arrays(prev, gi)
            gins = gi = prev = None  # hold no gradient past its entry in grads (_sole_owner)
            if not retain_graph:
                fn.release()

    # -- operators -----------------------------------------------------------------------
    def _other(self, other: Any) -> Any:
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, bool, np.number)):
            return self.data.dtype.type(other) if _is_float(self.dtype) else other
        return Tensor(other, dtype=other.dtype if hasattr(other, "dtype") else None)

    def __add__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Add

        return Add.apply(self, self._other(other))

    def __radd__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Add

        return Add.apply(self._other(other), self)

    def __sub__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Sub

        return Sub.apply(self, self._other(other))

    def __rsub__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Sub

        return Sub.apply(self._other(other), self)

    def __mul__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Mul

        return Mul.apply(self, self._other(other))

    def __rmul__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Mul

        return Mul.apply(self._other(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Div

        return Div.apply(self, self._other(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Div

        return Div.apply(self._other(other), self)

    def __pow__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Pow

        return Pow.apply(self, self._other(other))

    def __rpow__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import Pow

        return Pow.apply(self._other(other), self)

    def __matmul__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import MatMul

        return MatMul.apply(self, self._other(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        from minicnn.ops.basic import MatMul

        return MatMul.apply(self._other(other), self)

    def __neg__(self) -> Tensor:
        from minicnn.ops.basic import Neg

        return Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def __getitem__(self, index: Any) -> Tensor:
        from minicnn.ops.basic import GetItem

        return GetItem.apply(self, _unwrap_index(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                "in-place assignment into a tensor that requires grad is not supported"
            )
        self.data[_unwrap_index(index)] = value.data if isinstance(value, Tensor) else value

    def _compare(self, other: Any, op: str) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(getattr(self.data, op)(o))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "__eq__")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "__ne__")

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, "__lt__")

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, "__le__")

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, "__gt__")

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, "__ge__")

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous"
            )
        return bool(self.data.reshape(()))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    # -- math ----------------------------------------------------------------------------
    def exp(self) -> Tensor:
        from minicnn.ops.basic import Exp

        return Exp.apply(self)

    def log(self) -> Tensor:
        from minicnn.ops.basic import Log

        return Log.apply(self)

    def sqrt(self) -> Tensor:
        from minicnn.ops.basic import Sqrt

        return Sqrt.apply(self)

    def abs(self) -> Tensor:
        from minicnn.ops.basic import Abs

        return Abs.apply(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        from minicnn.ops.basic import Clamp

        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return Clamp.apply(self, min, max)

    clip = clamp

    def relu(self) -> Tensor:
        from minicnn.ops.activation import ReLU

        return ReLU.apply(self)

    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        from minicnn.ops.basic import Sum

        return Sum.apply(self, _norm_dims(dim, self.ndim), keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        from minicnn.ops.basic import Mean

        return Mean.apply(self, _norm_dims(dim, self.ndim), keepdim)

    def amax(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        """Largest values over ``dim``; ties share the gradient equally."""
        from minicnn.ops.basic import Max

        return Max.apply(self, _norm_dims(dim, self.ndim), keepdim)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """``max()`` is the largest element; ``max(dim)`` is ``(values, indices)``, as in torch."""
        if dim is None:
            return self.amax()
        if not isinstance(dim, (int, np.integer)):
            raise ValueError(f"max(dim): dim must be an int, got {dim!r}; use amax")
        from minicnn.ops.basic import MaxDim

        d = _dim(dim, self.ndim)
        return MaxResult(MaxDim.apply(self, d, keepdim), self.argmax(d, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        if dim is None:
            return Tensor._wrap(self.data.argmax().astype(np.int64))
        d = _norm_dims(dim, self.ndim)[0]
        idx = self.data.argmax(axis=d)
        if keepdim:
            idx = idx.reshape(idx.shape[:d] + (1,) + idx.shape[d:])
        return Tensor._wrap(idx.astype(np.int64))

    # -- shape ---------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        from minicnn.ops.basic import Reshape

        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape.apply(self, tuple(int(s) for s in shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        nd = max(self.ndim, 1)
        s, e = _dim(start_dim, nd, "start_dim"), _dim(end_dim, nd, "end_dim")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} is after end_dim {end_dim}")
        shape = self.shape if self.ndim else (1,)
        new = shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :]
        return self.reshape(new)

    def permute(self, *dims: Any) -> Tensor:
        from minicnn.ops.basic import Permute

        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        norm = tuple(_dim(d, self.ndim) for d in dims)
        if sorted(norm) != list(range(self.ndim)):
            raise ValueError(
                f"permute: dims {dims} are not a permutation of {self.ndim} dimensions"
            )
        return Permute.apply(self, norm)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        d0, d1 = _dim(dim0, self.ndim, "dim0"), _dim(dim1, self.ndim, "dim1")
        if self.ndim == 0:
            return self
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.permute(tuple(dims))

    def unsqueeze(self, dim: int) -> Tensor:
        d = _dim(dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        d = _dim(dim, self.ndim)
        if self.ndim == 0 or self.shape[d] != 1:
            return self
        return self.reshape(self.shape[:d] + self.shape[d + 1 :])


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _dim(dim: Any, ndim: int, name: str = "dim") -> int:
    """``dim`` in [-ndim, ndim) as an index in [0, ndim) (a 0-d tensor takes 0 and -1)."""
    n = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -n <= dim < n:
        raise ValueError(
            f"{name} {dim!r} is out of range for a tensor of {ndim} dimensions "
            f"(expected an int in [{-n}, {n - 1}])"
        )
    return int(dim) % n


def _norm_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise ValueError(f"dim {d} is out of range for a tensor of {ndim} dimensions")
        out.append(int(d) % max(ndim, 1))
    return tuple(sorted(set(out)))


# -- factories -----------------------------------------------------------------------------
def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = tuple(int(s) for s in shape)
    if any(s < 0 for s in out):
        raise ValueError(f"shape must not be negative, got {out}")
    return out


def _xp(device: str) -> Any:
    if device == "cpu":
        return np
    if device == "cuda":
        cp = backend.cupy_module()
        if cp is None:
            raise RuntimeError("device='cuda' needs CuPy (pip install minicnn[gpu])")
        return cp
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def tensor(
    data: ArrayLike, dtype: Any = None, requires_grad: bool = False, device: str = "cpu"
) -> Tensor:
    """A new tensor from ``data`` (copied), as ``torch.tensor``."""
    src = data.data if isinstance(data, Tensor) else data
    t = Tensor(src.copy() if hasattr(src, "copy") else src, dtype=dtype)
    if device != t.device:
        t = Tensor._wrap(t.to(device).data)
    return t.requires_grad_(requires_grad) if requires_grad else t


def from_numpy(array: np.ndarray) -> Tensor:
    """Share a NumPy array's memory and dtype (any dtype)."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"from_numpy needs a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def _factory(fill: Any, shape: tuple[Any, ...], dtype: Any, requires_grad: bool,
             device: str) -> Tensor:
    xp = _xp(device)
    dt = _as_dtype(dtype) if dtype is not None else float32
    return Tensor._wrap(fill(xp, _shape(shape), dt), requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False,
          device: str = "cpu") -> Tensor:
    return _factory(lambda xp, s, d: xp.zeros(s, d), shape, dtype, requires_grad, device)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False,
         device: str = "cpu") -> Tensor:
    return _factory(lambda xp, s, d: xp.ones(s, d), shape, dtype, requires_grad, device)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False,
          device: str = "cpu") -> Tensor:
    return _factory(lambda xp, s, d: xp.empty(s, d), shape, dtype, requires_grad, device)


def full(shape: Sequence[int], fill_value: float, dtype: Any = None,
         requires_grad: bool = False, device: str = "cpu") -> Tensor:
    return _factory(lambda xp, s, d: xp.full(s, fill_value, d), (tuple(shape),), dtype,
                    requires_grad, device)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                 device=t.device)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                device=t.device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: str = "cpu") -> Tensor:
    if end is None:
        start, end = 0, start
    xp = _xp(device)
    arr = xp.arange(start, end, step)
    if dtype is not None:
        arr = arr.astype(_as_dtype(dtype))
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    else:
        arr = arr.astype(np.int64)
    return Tensor._wrap(arr)


def _random_tensor(kind: str, shape: tuple[Any, ...], dtype: Any, requires_grad: bool,
                   device: str) -> Tensor:
    s = _shape(shape)
    dt = _as_dtype(dtype) if dtype is not None else float32
    gen = _random.generator(device)
    if device == "cpu":
        arr = gen.standard_normal(s) if kind == "randn" else gen.random(s)
    else:
        arr = gen.standard_normal(s) if kind == "randn" else gen.random_sample(s)
    return Tensor._wrap(arr.astype(dt), requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False,
          device: str = "cpu") -> Tensor:
    """Standard normal samples from the global generator (see ``manual_seed``)."""
    return _random_tensor("randn", shape, dtype, requires_grad, device)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False,
         device: str = "cpu") -> Tensor:
    """Uniform samples in [0, 1) from the global generator (see ``manual_seed``)."""
    return _random_tensor("rand", shape, dtype, requires_grad, device)


def randint(low: int, high: int, size: Sequence[int], device: str = "cpu") -> Tensor:
    gen = _random.generator(device)
    if device == "cpu":
        arr = gen.integers(low, high, size=tuple(size))
    else:
        arr = gen.randint(low, high, size=tuple(size))
    return Tensor._wrap(arr.astype(np.int64))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along ``dim`` (GoogLeNet's inception branches meet here)."""
    from minicnn.ops.basic import Cat

    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: tensors must not be empty")
    nd = tensors[0].ndim
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise ValueError(f"cat: tensors[{i}] is a {type(t).__name__}, not a Tensor")
        if t.ndim != nd:
            raise ValueError(
                f"cat: tensors[{i}] has {t.ndim} dimensions, tensors[0] has {nd}"
            )
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = _dim(dim, nd)
    for i, t in enumerate(tensors):
        if t.shape[:d] + t.shape[d + 1 :] != tensors[0].shape[:d] + tensors[0].shape[d + 1 :]:
            raise ValueError(
                f"cat: shapes must match except in dim {dim}: tensors[0] has "
                f"{tensors[0].shape}, tensors[{i}] has {t.shape}"
            )
    return Cat.apply(d, *tensors)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: tensors must not be empty")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(
                f"stack: all tensors must have one shape: tensors[0] has "
                f"{tensors[0].shape}, tensors[{i}] has {t.shape}"
            )
    d = _dim(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)

"""Elementwise arithmetic, reductions and shape ops, with broadcasting gradients.

Each op is written once against the array module (``xp``: numpy or cupy) of its input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import Function


def _xp(*arrays: Any) -> Any:
    return backend.get_array_module(*arrays)


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def add_arrays(a: Any, b: Any) -> Any:
    """a + b: by the kernel set's ``add`` when both are arrays of one shape, else NumPy's
    (CuPy's) broadcasting ``+``."""
    if hasattr(a, "dtype") and hasattr(b, "dtype") and a.shape == b.shape:
        return backend.kernels_for(a).add(a, b)
    return a + b


def _shape_of(a: Any) -> tuple[int, ...]:
    return tuple(getattr(a, "shape", ()))


class Add(Function):
    """y = a + b (same shapes: the kernel set's ``add``, on threads for large Numba arrays)."""

    def forward(self, a: Any, b: Any) -> Any:
        self.save_for_backward(_shape_of(a), _shape_of(b))
        return add_arrays(a, b)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        sa, sb = self.saved_tensors
        na, nb = self.needs_input_grad
        return (unbroadcast(gy, sa) if na else None, unbroadcast(gy, sb) if nb else None)


class Sub(Function):
    """y = a - b."""

    def forward(self, a: Any, b: Any) -> Any:
        self.save_for_backward(_shape_of(a), _shape_of(b))
        return a - b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        sa, sb = self.saved_tensors
        na, nb = self.needs_input_grad
        return (unbroadcast(gy, sa) if na else None, unbroadcast(-gy, sb) if nb else None)


class Mul(Function):
    """y = a * b."""

    def forward(self, a: Any, b: Any) -> Any:
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        a, b = self.saved_tensors
        na, nb = self.needs_input_grad
        return (
            unbroadcast(gy * b, _shape_of(a)) if na else None,
            unbroadcast(gy * a, _shape_of(b)) if nb else None,
        )


class Div(Function):
    """y = a / b."""

    def forward(self, a: Any, b: Any) -> Any:
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        a, b = self.saved_tensors
        na, nb = self.needs_input_grad
        return (
            unbroadcast(gy / b, _shape_of(a)) if na else None,
            unbroadcast(-gy * a / (b * b), _shape_of(b)) if nb else None,
        )


class Pow(Function):
    """y = a ** b; dy/da = b a^(b-1), dy/db = a^b log a."""

    def forward(self, a: Any, b: Any) -> Any:
        y = a**b
        self.save_for_backward(a, b, y)
        return y

    def backward(self, gy: Any) -> tuple[Any, Any]:
        a, b, y = self.saved_tensors
        na, nb = self.needs_input_grad
        xp = _xp(gy)
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):  # the masked points, as torch
            if na:
                ga = unbroadcast(gy * xp.where(b == 0, 0, b * a ** (b - 1)), _shape_of(a))
            if nb:
                gb = unbroadcast(gy * xp.where((a == 0) & (b >= 0), 0, y * xp.log(a)),
                                 _shape_of(b))
        return ga, gb


class Neg(Function):
    def forward(self, a: Any) -> Any:
        return -a

    def backward(self, gy: Any) -> Any:
        return -gy


class Exp(Function):
    def forward(self, a: Any) -> Any:
        y = _xp(a).exp(a)
        self.save_for_backward(y)
        return y

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_tensors
        return gy * y


class Log(Function):
    def forward(self, a: Any) -> Any:
        self.save_for_backward(a)
        return _xp(a).log(a)

    def backward(self, gy: Any) -> Any:
        (a,) = self.saved_tensors
        return gy / a


class Sqrt(Function):
    def forward(self, a: Any) -> Any:
        y = _xp(a).sqrt(a)
        self.save_for_backward(y)
        return y

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_tensors
        return gy / (2 * y)


class Abs(Function):
    """y = |a|; the gradient at 0 is 0 (as in torch)."""

    def forward(self, a: Any) -> Any:
        self.save_for_backward(a)
        return abs(a)

    def backward(self, gy: Any) -> Any:
        (a,) = self.saved_tensors
        return gy * _xp(a).sign(a)


class Clamp(Function):
    """y = min(max(a, lo), hi); the gradient flows where lo <= a <= hi."""

    def forward(self, a: Any, lo: float | None, hi: float | None) -> Any:
        xp = _xp(a)
        mask = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        self.save_for_backward(mask)
        return xp.clip(a, lo, hi)

    def backward(self, gy: Any) -> tuple[Any, None, None]:
        (mask,) = self.saved_tensors
        return gy * mask, None, None


class Cast(Function):
    """A floating copy in another dtype."""

    def forward(self, a: Any, dtype: Any) -> Any:
        self.save_for_backward(a.dtype)
        return a.astype(dtype)

    def backward(self, gy: Any) -> tuple[Any, None]:
        (dt,) = self.saved_tensors
        return gy.astype(dt), None


class ToDevice(Function):
    """Copy between host (NumPy) and GPU (CuPy)."""

    def forward(self, a: Any, device: str) -> Any:
        self.save_for_backward(backend.device_of(a))
        return _move(a, device)

    def backward(self, gy: Any) -> tuple[Any, None]:
        (src,) = self.saved_tensors
        return _move(gy, src), None


def _move(a: Any, device: str) -> Any:
    if device == "cpu":
        return a.get() if backend.is_cupy_array(a) else a
    return backend.cupy_module().asarray(a)


def _reduced_shape(shape: tuple[int, ...], dims: tuple[int, ...] | None) -> tuple[int, ...]:
    if dims is None:
        return tuple(1 for _ in shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


class Sum(Function):
    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.save_for_backward(a.shape)
        return a.sum(axis=dims, keepdims=keepdim)

    def backward(self, gy: Any) -> tuple[Any, None, None]:
        (shape,) = self.saved_tensors
        xp = _xp(gy)
        dims = self.inputs[1]
        g = gy.reshape(_reduced_shape(shape, dims))
        return xp.broadcast_to(g, shape).copy(), None, None


class Mean(Function):
    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.save_for_backward(a.shape)
        return a.mean(axis=dims, keepdims=keepdim)

    def backward(self, gy: Any) -> tuple[Any, None, None]:
        (shape,) = self.saved_tensors
        xp = _xp(gy)
        dims = self.inputs[1]
        n = int(np.prod(shape)) if dims is None else int(np.prod([shape[d] for d in dims]))
        g = gy.reshape(_reduced_shape(shape, dims)) / n
        return xp.broadcast_to(g, shape).astype(gy.dtype), None, None


class Max(Function):
    """Largest value over ``dims``; tied maxima share the gradient equally."""

    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        y = a.max(axis=dims, keepdims=True)
        self.save_for_backward(a, y)
        return y if keepdim else y.reshape(a.max(axis=dims).shape)

    def backward(self, gy: Any) -> tuple[Any, None, None]:
        a, y = self.saved_tensors
        mask = a == y
        count = mask.sum(axis=self.inputs[1], keepdims=True)
        return mask * (gy.reshape(y.shape) / count), None, None


class MaxDim(Function):
    """``max(dim)``'s values, as torch: the whole gradient goes to the index argmax returns."""

    def forward(self, a: Any, dim: int, keepdim: bool) -> Any:
        xp = _xp(a)
        idx = xp.expand_dims(a.argmax(axis=dim), dim)
        y = xp.take_along_axis(a, idx, axis=dim)
        self.save_for_backward(idx, a.shape)
        return y if keepdim else y.squeeze(dim)

    def backward(self, gy: Any) -> tuple[Any, None, None]:
        idx, shape = self.saved_tensors
        dim, keepdim = self.inputs[1], self.inputs[2]
        xp = _xp(gy)
        pos = xp.arange(shape[dim]).reshape([-1 if i == dim else 1 for i in range(len(shape))])
        g = gy if keepdim else xp.expand_dims(gy, dim)
        return (pos == idx) * g, None, None


class MatMul(Function):
    """y = a @ b (batched, broadcasting leading dims; 1-D operands as in numpy)."""

    def forward(self, a: Any, b: Any) -> Any:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both operands need at least one dimension")
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        a, b = self.saved_tensors
        na, nb = self.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = gy
        if b.ndim == 1:  # first, so that 1-D @ 1-D (a 0-d gy) becomes (1, 1)
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if na:
            ga = unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


class Reshape(Function):
    def forward(self, a: Any, shape: tuple[int, ...]) -> Any:
        self.save_for_backward(a.shape)
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {a.shape} to {shape}"
            ) from None

    def backward(self, gy: Any) -> tuple[Any, None]:
        (shape,) = self.saved_tensors
        return gy.reshape(shape), None


class Permute(Function):
    def forward(self, a: Any, dims: tuple[int, ...]) -> Any:
        return a.transpose(dims)

    def backward(self, gy: Any) -> tuple[Any, None]:
        inv = np.argsort(self.inputs[1])
        return gy.transpose(tuple(int(i) for i in inv)), None


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )


class GetItem(Function):
    """y = a[index]; repeated indices accumulate their gradients."""

    def forward(self, a: Any, index: Any) -> Any:
        self.save_for_backward(a.shape, a.dtype)
        return a[index]

    def backward(self, gy: Any) -> tuple[Any, None]:
        shape, dtype = self.saved_tensors
        index = self.inputs[1]
        xp = _xp(gy)
        g = xp.zeros(shape, dtype=dtype)
        if _is_basic_index(index):
            g[index] = gy
        elif xp is np:
            np.add.at(g, index, gy)
        else:  # pragma: no cover - GPU only
            import cupyx  # type: ignore[import-not-found]

            cupyx.scatter_add(g, index, gy)
        return g, None


class Cat(Function):
    """Concatenation along ``dim`` of tensors of equal shape elsewhere."""

    def forward(self, dim: int, *arrays: Any) -> Any:
        self.save_for_backward(dim, [a.shape[dim] for a in arrays])
        return _xp(*arrays).concatenate(arrays, axis=dim)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        dim, sizes = self.saved_tensors
        out: list[Any] = [None]
        start = 0
        for s, need in zip(sizes, self.needs_input_grad[1:]):
            if need:
                idx = [slice(None)] * gy.ndim
                idx[dim] = slice(start, start + s)
                out.append(gy[tuple(idx)])
            else:
                out.append(None)
            start += s
        return tuple(out)

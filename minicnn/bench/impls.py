"""What the benchmark times: minicnn kernel sets, PyTorch as the baseline, custom kernels.

Each implementation turns a layer shape and its input arrays into a :class:`Case`: a forward
call, a forward+backward call (None where there is none) and a ``sync`` for GPUs. Forward is
timed without recording the graph (no_grad in both libraries); forward+backward builds it,
runs backward with a fixed upstream gradient and leaves grads in x, w and b (cleared before
each call). minicnn itself never imports torch: only :class:`TorchBaseline` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minicnn.bench.custom import CustomKernel, to_numpy
from minicnn.bench.shapes import ConvShape, PoolShape


@dataclasses.dataclass
class Case:
    fwd: Callable[[], Any]
    fwdbwd: Callable[[], Any] | None
    sync: Callable[[], Any] | None = None

    def output(self) -> np.ndarray:
        """Run forward once and return its output as a NumPy array (checks; warm-up)."""
        y = self.fwd()
        if self.sync is not None:
            self.sync()
        return as_numpy(y)


def as_numpy(y: Any) -> np.ndarray:
    """A torch tensor, minicnn Tensor, CuPy or NumPy array -> a NumPy array."""
    module = type(y).__module__
    if module.startswith("torch"):
        return y.detach().cpu().numpy()
    if module.startswith("minicnn"):
        return y.numpy()
    return to_numpy(y)


class Impl:
    """Base: ``name`` in tables, ``kind`` ('minicnn' | 'torch' | 'custom')."""

    name = "?"
    kind = "?"

    def conv(self, s: ConvShape, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
             gy: np.ndarray) -> Case:
        raise NotImplementedError

    def pool(self, s: PoolShape, x: np.ndarray, gy: np.ndarray) -> Case:
        raise NotImplementedError

    def supports(self, s: Any) -> bool:
        return True


class MinicnnSet(Impl):
    """minicnn's public API on one kernel set: 'numpy', 'numba' (CPU) or 'cupy' (CUDA).

    ``algo`` is passed to conv2d ('implicit_gemm' for the CUDA fused kernel).
    """

    kind = "minicnn"

    def __init__(self, kernels: str, algo: str | None = None):
        from minicnn import backend

        self.kernels = kernels
        self.algo = algo
        self.name = kernels if algo is None else f"{kernels}-{algo}"
        self.device = "cuda" if kernels == "cupy" else "cpu"
        if self.device == "cuda":
            if not backend.gpu_available():
                raise RuntimeError("kernel set 'cupy' needs CuPy and a CUDA device")
            self._xp = backend.cupy_module()
        else:
            self._xp = np
            with backend.use_kernels(kernels):  # raises where numba does not import
                pass

    @contextlib.contextmanager
    def _kernels(self) -> Iterator[None]:
        from minicnn import backend

        if self.device == "cuda":
            yield
        else:
            with backend.use_kernels(self.kernels):
                yield

    def _sync(self) -> Callable[[], Any] | None:
        return self._xp.cuda.Device().synchronize if self.device == "cuda" else None

    def _leaf(self, a: np.ndarray | None, grad: bool) -> Any:
        from minicnn.tensor import Tensor

        if a is None:
            return None
        return Tensor(self._xp.asarray(a).copy(), requires_grad=grad)

    def _train_call(self, call: Callable[..., Any], leaves: list[Any], gy: Any) -> Callable:
        def fwdbwd() -> None:
            for t in leaves:
                if t is not None:
                    t.grad = None
            with self._kernels():
                call(*leaves).backward(gy)

        return fwdbwd

    def _infer_call(self, call: Callable[..., Any], args: list[Any]) -> Callable:
        from minicnn import no_grad

        def fwd() -> Any:
            with self._kernels(), no_grad():
                return call(*args)

        return fwd

    def conv(self, s, x, w, b, gy):
        from minicnn import functional as F

        kw = {} if self.algo is None else {"algo": self.algo}

        def call(xt: Any, wt: Any, bt: Any) -> Any:
            return F.conv2d(xt, wt, bt, s.stride, s.padding, s.dilation, s.groups, **kw)

        fwd = self._infer_call(call, [self._leaf(x, False), self._leaf(w, False),
                                      self._leaf(b, False)])
        leaves = [self._leaf(x, True), self._leaf(w, True), self._leaf(b, True)]
        fb = self._train_call(call, leaves, self._xp.asarray(gy))
        return Case(fwd, fb, self._sync())

    def pool(self, s, x, gy):
        call = _pool_call(importlib.import_module("minicnn.functional"), s)
        fwd = self._infer_call(call, [self._leaf(x, False)])
        fb = self._train_call(call, [self._leaf(x, True)], self._xp.asarray(gy))
        return Case(fwd, fb, self._sync())


def _pool_call(F: Any, s: PoolShape) -> Callable[[Any], Any]:
    """The torch-named functional call of a pool/LRN shape (same for minicnn and torch)."""
    if s.op == "max_pool2d":
        return lambda t: F.max_pool2d(t, s.kernel_size, s.stride, s.padding,
                                      ceil_mode=s.ceil_mode)
    if s.op == "avg_pool2d":
        return lambda t: F.avg_pool2d(t, s.kernel_size, s.stride, s.padding,
                                      ceil_mode=s.ceil_mode)
    return lambda t: F.local_response_norm(t, s.size, alpha=s.alpha, beta=s.beta, k=s.lrn_k)


class TorchBaseline(Impl):
    """PyTorch's conv2d / pooling / LRN on the same data and thread count (the baseline)."""

    kind = "torch"
    name = "torch"

    def __init__(self, device: str, threads: int):
        import torch  # the benchmark's baseline; minicnn proper never imports torch

        self.torch = torch
        torch.set_num_threads(threads)
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("this PyTorch build sees no CUDA device")
        self.device = device

    def _t(self, a: np.ndarray | None, grad: bool) -> Any:
        if a is None:
            return None
        return self.torch.from_numpy(a.copy()).to(self.device).requires_grad_(grad)

    def _sync(self) -> Callable[[], Any] | None:
        return self.torch.cuda.synchronize if self.device == "cuda" else None

    def _case(self, call: Callable[..., Any], arrays: list[Any], gy: np.ndarray) -> Case:
        torch = self.torch
        inputs = [self._t(a, False) for a in arrays]
        leaves = [self._t(a, True) for a in arrays]
        g = self._t(gy, False)

        def fwd() -> Any:
            with torch.no_grad():
                return call(*inputs)

        def fwdbwd() -> None:
            for t in leaves:
                if t is not None:
                    t.grad = None
            call(*leaves).backward(g)

        return Case(fwd, fwdbwd, self._sync())

    def conv(self, s, x, w, b, gy):
        F = self.torch.nn.functional

        def call(xt: Any, wt: Any, bt: Any) -> Any:
            return F.conv2d(xt, wt, bt, s.stride, s.padding, s.dilation, s.groups)

        return self._case(call, [x, w, b], gy)

    def pool(self, s, x, gy):
        return self._case(_pool_call(self.torch.nn.functional, s), [x], gy)


class CustomImpl(Impl):
    """A user's conv kernel on raw arrays: forward only (it has no backward to time)."""

    kind = "custom"

    def __init__(self, kernel: CustomKernel, device: str):
        from minicnn import backend

        self.kernel = kernel
        self.name = kernel.name
        self.device = device
        self._xp = backend.cupy_module() if device == "cuda" else np

    def supports(self, s: Any) -> bool:
        return isinstance(s, ConvShape) and self.kernel.supports(s)

    def conv(self, s, x, w, b, gy):
        xp = self._xp
        args = [xp.asarray(x), xp.asarray(w), None if b is None else xp.asarray(b),
                s.stride, s.padding, s.dilation, s.groups]
        fn = self.kernel.fn
        sync = xp.cuda.Device().synchronize if self.device == "cuda" else None
        return Case(lambda: fn(*args), None, sync)

"""Function: one differentiable op, its forward beside its backward.

A subclass computes on raw arrays (NumPy or CuPy): ``forward(*args)`` gets the inputs with
every :class:`~minicnn.tensor.Tensor` unwrapped to its array, and returns one array;
``backward(gy)`` gets the gradient of the output and returns one gradient per positional input
(``None`` where none is needed). ``Function.apply`` does the wrapping and records the graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from minicnn import backend

if TYPE_CHECKING:
    from minicnn.tensor import Tensor

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when operations record the graph for backward."""
    return _grad_enabled


@contextlib.contextmanager
def set_grad_enabled(mode: bool) -> Iterator[None]:
    """Context manager that turns graph recording on or off for its block."""
    global _grad_enabled
    old = _grad_enabled
    _grad_enabled = bool(mode)
    try:
        yield
    finally:
        _grad_enabled = old


def no_grad() -> contextlib.AbstractContextManager[None]:
    """``with minicnn.no_grad():`` runs its block without recording the graph."""
    return set_grad_enabled(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """``with minicnn.enable_grad():`` records the graph even inside ``no_grad``."""
    return set_grad_enabled(True)


class Function:
    """Base class of every differentiable op.

    Attributes set by :meth:`apply`:
      inputs            the positional arguments (Tensors and plain values) of the call
      needs_input_grad  one bool per positional argument: does it need a gradient?
    """

    def __init__(self) -> None:
        self.inputs: tuple[Any, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.saved_tensors: tuple[Any, ...] = ()
        self.released = False

    # -- the two halves ------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def backward(self, gy: Any) -> Any:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------
    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (or anything) for backward; freed after backward unless retained."""
        self.saved_tensors = values

    def release(self) -> None:
        """Free what forward saved; a later backward through this node raises."""
        self.saved_tensors = ()
        self.released = True

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run forward on unwrapped arrays and, when grad is on, record the node."""
        from minicnn.tensor import Tensor

        fn = cls()
        devices = {backend.device_of(a.data) for a in args if isinstance(a, Tensor)}
        if len(devices) > 1:
            shapes = [
                (type(a).__name__, a.device) for a in args if isinstance(a, Tensor)
            ]
            raise ValueError(
                f"{cls.__name__}: all tensors must be on one device, got {shapes}"
            )
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        track = _grad_enabled and any(needs)
        fn.needs_input_grad = needs
        out = fn.forward(*raw, **kwargs)
        result = Tensor._wrap(out, requires_grad=track)
        if track:
            fn.inputs = args
            result._ctx = fn
        return result

"""Parameter: a Tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

import numpy as np

from minicnn.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that ``Module`` collects in ``parameters()``; ``requires_grad`` defaults to True.

    ``Parameter(data)`` shares the array of a Tensor or a floating NumPy/CuPy array (no copy);
    lists and scalars become float32, as with ``Tensor``.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        arr = data.data if isinstance(data, Tensor) else Tensor(data).data
        self._init(arr, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

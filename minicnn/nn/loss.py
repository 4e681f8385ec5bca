"""Loss layers: CrossEntropyLoss, as in ``torch.nn``."""

from __future__ import annotations

from typing import Any

from minicnn import functional as F
from minicnn.nn.arguments import number
from minicnn.nn.module import Module
from minicnn.tensor import Tensor


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits (N, C) against integer classes (N,).

    A thin wrapper over ``functional.cross_entropy``. ``reduction`` and ``label_smoothing``
    are keyword-only: torch's first positional argument is ``weight``, which minicnn lacks.
    """

    def __init__(self, *, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
            )
        number("CrossEntropyLoss", "label_smoothing", label_smoothing, low=0.0, high=1.0)
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)

"""Activation and regularisation layers: ReLU and Dropout, as in ``torch.nn``."""

from __future__ import annotations

from minicnn import functional as F
from minicnn.nn.arguments import boolean, number
from minicnn.nn.module import Module
from minicnn.tensor import Tensor


class ReLU(Module):
    """y = max(x, 0) (Nair & Hinton 2010; AlexNet sec. 3.1). ``inplace`` is accepted for
    PyTorch compatibility; the result is a new tensor."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = boolean("ReLU", "inplace", inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014; AlexNet sec. 4.2): in training, zero each
    element with probability ``p`` and scale the rest by 1/(1-p); in eval, the identity."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        number("Dropout", "p", p, low=0.0, high=1.0)
        self.p = p
        self.inplace = boolean("Dropout", "inplace", inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

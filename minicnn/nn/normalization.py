"""Normalisation layers: BatchNorm1d, BatchNorm2d and LocalResponseNorm, as in ``torch.nn``."""

from __future__ import annotations

from typing import Any

import numpy as np

from minicnn import functional as F
from minicnn.nn import init
from minicnn.nn.arguments import boolean, int_at_least, number
from minicnn.nn.module import Module
from minicnn.nn.parameter import Parameter
from minicnn.tensor import Tensor, empty, ones, zeros


class _BatchNorm(Module):
    """Batch normalisation (Ioffe & Szegedy 2015, Algorithm 1) with running statistics.

    .. math:: y = \\gamma \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

    In training, mu and sigma^2 are the batch's statistics per channel, and (with
    ``track_running_stats``) ``running_mean``/``running_var`` are updated as
    ``r = (1 - momentum) r + momentum s``; ``momentum=None`` gives the cumulative average
    (factor 1 / num_batches_tracked). In eval the running statistics are used. ``affine``
    learns gamma and beta; the keyword ``bias=False`` (as in PyTorch 2.x) keeps gamma only.
    """

    _expected_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: str | None = None, dtype: Any = None, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        self.num_features = int_at_least(name, "num_features", num_features, 1)
        number(name, "eps", eps, low=0.0, low_open=True)
        if momentum is not None:
            number(name, "momentum", momentum, low=0.0, high=1.0)
        self.eps = eps
        self.momentum = momentum
        self.affine = boolean(name, "affine", affine)
        self.track_running_stats = boolean(name, "track_running_stats", track_running_stats)
        boolean(name, "bias", bias)
        dev = device or "cpu"
        c = self.num_features
        if affine:
            self.weight = Parameter(empty((c,), dtype=dtype, device=dev))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(empty((c,), dtype=dtype, device=dev))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(c, dtype=dtype, device=dev))
            self.register_buffer("running_var", ones(c, dtype=dtype, device=dev))
            self.register_buffer("num_batches_tracked",
                                 zeros((), dtype=np.int64, device=dev))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Reset the running statistics, and gamma to 1 and beta to 0."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, input: Any) -> None:
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise ValueError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}-D" for d in self._expected_dims)
            raise ValueError(f"{name}: expected {dims} input, got shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: input has {input.shape[1]} channels (dim 1), expected "
                f"num_features={self.num_features}"
            )

    def _batch_norm(self, input: Tensor) -> Tensor:
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or (self.running_mean is None
                                            and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        return self._batch_norm(input)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C (see ``_BatchNorm``)."""

    _expected_dims = (2, 3)

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        if input.ndim == 3:
            n, c, length = input.shape
            return self._batch_norm(input.reshape(n, c, length, 1)).reshape(n, c, length)
        return self._batch_norm(input)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C (see ``_BatchNorm``)."""

    _expected_dims = (4,)


class LocalResponseNorm(Module):
    """Local response normalisation across channels (AlexNet, Krizhevsky et al. 2012, sec. 3.3).

    .. math:: b_c = a_c \\left(k + \\frac{\\alpha}{n} \\sum_{c'} a_{c'}^2\\right)^{-\\beta}

    over the ``size`` = n channels centred on c. PyTorch's convention divides alpha by n;
    AlexNet's paper does not, so the paper's (n=5, alpha=1e-4, beta=0.75, k=2) is
    ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)`` here.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        name = "LocalResponseNorm"
        self.size = int_at_least(name, "size", size, 1)
        number(name, "alpha", alpha)
        number(name, "beta", beta)
        number(name, "k", k)
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

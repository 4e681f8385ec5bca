"""End to end: one training step of the CIFAR ResNet-20 in minicnn and in PyTorch.

ResNet-20 (He et al. 2016, sec. 4.2): a 3x3 conv to 16 channels, three stages of three basic
blocks (16, 32, 64 channels; the first block of stages 2 and 3 strides by 2), global average
pooling and a 10-way linear layer, BN after every conv. The shortcut that changes shape is a
1x1 conv + BN (option B), so both libraries build it from the same layers: Conv2d,
BatchNorm2d, ReLU, AdaptiveAvgPool2d, Linear. The network is written once against the
torch-named API and built from ``minicnn.nn`` and from ``torch.nn``.

One step: forward, cross-entropy, backward, SGD with momentum 0.9. Throughput is images/s of
the median step, after two warm-up steps, the libraries interleaved round by round.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def build_resnet20(nn: ModuleType, num_classes: int = 10) -> Any:
    """The CIFAR ResNet-20 from ``nn`` (``minicnn.nn`` or ``torch.nn``)."""

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.project = stride != 1 or cin != cout
            if self.project:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (self.shortcut(x) if self.project else x))

    class ResNet20(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
            )
            blocks = []
            cin = 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, num_classes)

        def forward(self, x: Any) -> Any:
            return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))

    return ResNet20()


class _MomentumSGD:
    """SGD with momentum on minicnn Parameters, used when minicnn.optim has no SGD yet.

    v = mu v + g; p -= lr v (PyTorch's form).
    """

    def __init__(self, params: list[Any], lr: float, momentum: float):
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.v = [None] * len(params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            self.v[i] = g.copy() if self.v[i] is None else self.v[i] * self.momentum + g
            p.data -= self.lr * self.v[i]


def minicnn_step(kernels: str, batch: int, seed: int = 0) -> tuple[Any, str]:
    """A training-step closure of ResNet-20 on minicnn kernel set ``kernels``; and the optimizer
    used ('minicnn.optim.SGD' or the benchmark's own momentum SGD)."""
    import minicnn
    from minicnn import backend, nn
    from minicnn import functional as F

    rng = np.random.default_rng(seed)
    with backend.use_kernels(kernels):
        minicnn.manual_seed(seed)
        model = build_resnet20(nn)
        model.train()
    params = list(model.parameters())
    sgd = getattr(minicnn.optim, "SGD", None)
    if sgd is not None:
        opt = sgd(params, lr=0.01, momentum=0.9)
        opt_name = "minicnn.optim.SGD"
    else:
        opt = _MomentumSGD(params, lr=0.01, momentum=0.9)
        opt_name = "benchmark momentum SGD (minicnn.optim.SGD missing)"
    x = minicnn.Tensor(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32))
    y = rng.integers(0, 10, size=batch).astype(np.int64)

    def step() -> float:
        with backend.use_kernels(kernels):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return loss

    return step, opt_name


def torch_step(batch: int, threads: int, seed: int = 0) -> Any:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_resnet20(torch.nn)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, size=batch).astype(np.int64))
    F = torch.nn.functional

    def step() -> Any:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step

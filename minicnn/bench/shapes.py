"""The layer shapes the benchmark times, taken from the case-study networks.

Batch sizes are chosen per shape so that a full run on 2 cores stays near 10 minutes (each
conv forward is 0.3-3.7 GFLOP) and every shape fits 24 GB many times over; ``--batch``
overrides them. ``quick`` versions shrink every shape to a few MFLOP to test the script.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Sequence

GiB = 1 << 30
MEMORY_BOUND = 24 * GiB  # batch sizes must fit this, with room to spare


def _out(size: int, k: int, stride: int, pad: int, dil: int = 1, ceil: bool = False) -> int:
    span = size + 2 * pad - dil * (k - 1) - 1
    o = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (o - 1) * stride >= size + pad:  # PyTorch: the last window starts inside
        o -= 1
    return o


@dataclasses.dataclass(frozen=True)
class ConvShape:
    """One conv layer: input (n, c, h, w), k filters of kh x kw, stride, padding, groups."""

    name: str
    n: int
    c: int
    h: int
    w: int
    k: int
    kh: int
    kw: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = True

    @property
    def out_hw(self) -> tuple[int, int]:
        return (
            _out(self.h, self.kh, self.stride, self.padding, self.dilation),
            _out(self.w, self.kw, self.stride, self.padding, self.dilation),
        )

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.k, self.c // self.groups, self.kh, self.kw)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.k, *self.out_hw)

    @property
    def flops(self) -> int:
        """Forward multiply-adds times 2: 2 N K (C/g) kh kw oh ow (bias not counted).

        Backward computes two products of the same size (grad input, grad weight), so
        forward+backward is 3 times this.
        """
        oh, ow = self.out_hw
        return 2 * self.n * self.k * (self.c // self.groups) * self.kh * self.kw * oh * ow

    def memory_bytes(self, itemsize: int = 4) -> int:
        """Upper estimate of a training step's working set: x, y, their grads, im2col."""
        oh, ow = self.out_hw
        x = self.n * self.c * self.h * self.w
        y = self.n * self.k * oh * ow
        cols = self.n * self.c * self.kh * self.kw * oh * ow
        w = self.k * (self.c // self.groups) * self.kh * self.kw
        return itemsize * (2 * x + 2 * y + 2 * cols + 2 * w)

    @property
    def kind(self) -> str:
        """'1x1', '3x3', ... the kernel size, as the goals group the shapes."""
        return f"{self.kh}x{self.kw}"

    def describe(self) -> str:
        s = f"{self.c}->{self.k} {self.kh}x{self.kw}"
        if self.stride != 1:
            s += f"/{self.stride}"
        if self.padding:
            s += f" p{self.padding}"
        if self.dilation != 1:
            s += f" d{self.dilation}"
        if self.groups != 1:
            s += f" g{self.groups}"
        return s + f" @{self.h}x{self.w}"

    def with_batch(self, n: int) -> ConvShape:
        return dataclasses.replace(self, n=n)

    def quick(self) -> ConvShape:
        """A tiny version with the same kernel, stride, padding and groups."""
        g = self.groups
        c = max(g, min(self.c, 8 * g) // g * g)
        k = max(g, min(self.k, 8 * g) // g * g)
        reach = self.dilation * (self.kh - 1) + 1
        h = min(self.h, max(12, reach + 3 * self.stride))
        w = min(self.w, max(12, self.dilation * (self.kw - 1) + 1 + 3 * self.stride))
        return dataclasses.replace(self, n=min(self.n, 2), c=c, k=k, h=h, w=w)


@dataclasses.dataclass(frozen=True)
class PoolShape:
    """A pooling or LRN layer on input (n, c, h, w)."""

    name: str
    op: str  # 'max_pool2d' | 'avg_pool2d' | 'local_response_norm'
    n: int
    c: int
    h: int
    w: int
    kernel_size: int = 3
    stride: int = 2
    padding: int = 0
    ceil_mode: bool = False
    size: int = 5  # LRN window
    alpha: float = 1e-4
    beta: float = 0.75
    lrn_k: float = 2.0

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def out_hw(self) -> tuple[int, int]:
        if self.op == "local_response_norm":
            return (self.h, self.w)
        return (
            _out(self.h, self.kernel_size, self.stride, self.padding, 1, self.ceil_mode),
            _out(self.w, self.kernel_size, self.stride, self.padding, 1, self.ceil_mode),
        )

    def traffic_bytes(self, itemsize: int = 4) -> dict[str, int]:
        """Bytes the kernels of the contract (minicnn/reference) must read plus write.

        max pool: forward reads x, writes y and the int64 argmax; backward reads gy and
        argmax, writes gx. avg pool: x -> y, gy -> gx. LRN: forward reads x, writes y and
        scale; backward reads x, y, scale, gy and writes gx.
        """
        x = self.n * self.c * self.h * self.w
        oh, ow = self.out_hw
        y = self.n * self.c * oh * ow
        if self.op == "max_pool2d":
            fwd = itemsize * (x + y) + 8 * y
            bwd = itemsize * (y + x) + 8 * y
        elif self.op == "avg_pool2d":
            fwd = itemsize * (x + y)
            bwd = itemsize * (y + x)
        else:
            fwd = itemsize * 3 * x
            bwd = itemsize * 5 * x
        return {"fwd": fwd, "fwdbwd": fwd + bwd}

    def describe(self) -> str:
        if self.op == "local_response_norm":
            return f"LRN size {self.size} {self.c}ch @{self.h}x{self.w}"
        op = "max" if self.op == "max_pool2d" else "avg"
        s = f"{op} {self.kernel_size}x{self.kernel_size}/{self.stride}"
        if self.padding:
            s += f" p{self.padding}"
        if self.ceil_mode:
            s += " ceil"
        return s + f" {self.c}ch @{self.h}x{self.w}"

    def with_batch(self, n: int) -> PoolShape:
        return dataclasses.replace(self, n=n)

    def quick(self) -> PoolShape:
        return dataclasses.replace(
            self, n=min(self.n, 2), c=min(self.c, 8), h=min(self.h, 15), w=min(self.w, 15)
        )


def _c(name: str, n: int, c: int, hw: int, k: int, ks: int, **kw: int) -> ConvShape:
    return ConvShape(name, n, c, hw, hw, k, ks, ks, **kw)


#: Conv layers of the case studies (NCHW, float32).
CONV_SHAPES: tuple[ConvShape, ...] = (
    # AlexNet (Krizhevsky et al. 2012): conv1 227x227 11x11/4 96; conv2 5x5 in two groups
    _c("alexnet.conv1", 8, 3, 227, 96, 11, stride=4),
    _c("alexnet.conv2", 4, 96, 27, 256, 5, padding=2, groups=2),
    # VGG-16 (Simonyan & Zisserman 2015): the 3x3 convs of stages 3 and 4
    _c("vgg16.conv3", 1, 256, 56, 256, 3, padding=1),
    _c("vgg16.conv4", 1, 512, 28, 512, 3, padding=1),
    # GoogLeNet inception 3a (Szegedy et al. 2015), input 28x28x192: every branch's conv
    _c("googlenet.3a.1x1", 8, 192, 28, 64, 1),
    _c("googlenet.3a.3x3_reduce", 8, 192, 28, 96, 1),
    _c("googlenet.3a.3x3", 8, 96, 28, 128, 3, padding=1),
    _c("googlenet.3a.5x5_reduce", 8, 192, 28, 16, 1),
    _c("googlenet.3a.5x5", 8, 16, 28, 32, 5, padding=2),
    _c("googlenet.3a.pool_proj", 8, 192, 28, 32, 1),
    # ResNet-50 bottleneck (He et al. 2016) 1x1/3x3/1x1 at 56x56 (conv2_x) and 14x14 (conv4_x)
    _c("resnet50.conv2.1x1_reduce", 8, 256, 56, 64, 1, bias=False),
    _c("resnet50.conv2.3x3", 8, 64, 56, 64, 3, padding=1, bias=False),
    _c("resnet50.conv2.1x1_expand", 8, 64, 56, 256, 1, bias=False),
    _c("resnet50.conv4.1x1_reduce", 8, 1024, 14, 256, 1, bias=False),
    _c("resnet50.conv4.3x3", 8, 256, 14, 256, 3, padding=1, bias=False),
    _c("resnet50.conv4.1x1_expand", 8, 256, 14, 1024, 1, bias=False),
    # The 32x32 small versions (CIFAR-sized AlexNet/VGG/ResNet), as in shared/PERF-NOTES.md
    _c("small.conv5x5_3_64", 32, 3, 32, 64, 5, padding=2),
    _c("small.conv3x3_64", 32, 64, 32, 64, 3, padding=1),
    _c("small.conv3x3_128", 32, 128, 16, 128, 3, padding=1),
    _c("small.conv1x1_256_64", 32, 256, 16, 64, 1),
    # CIFAR ResNet-20's first and last stage (batch 64 as in its training step)
    _c("resnet20.conv3x3_16", 64, 16, 32, 16, 3, padding=1, bias=False),
    _c("resnet20.conv3x3_64", 64, 64, 8, 64, 3, padding=1, bias=False),
)

#: Pooling and LRN layers: AlexNet after conv1/conv2, GoogLeNet after its stem, CIFAR.
POOL_SHAPES: tuple[PoolShape, ...] = (
    PoolShape("alexnet.pool1", "max_pool2d", 32, 96, 55, 55),
    PoolShape("googlenet.pool2", "max_pool2d", 16, 192, 56, 56, ceil_mode=True),
    PoolShape("small.maxpool", "max_pool2d", 64, 64, 32, 32, padding=1),
    PoolShape("alexnet.avgpool1", "avg_pool2d", 32, 96, 55, 55),
    PoolShape("small.avgpool", "avg_pool2d", 64, 64, 32, 32, padding=1),
    PoolShape("alexnet.lrn1", "local_response_norm", 32, 96, 55, 55),
    PoolShape("alexnet.lrn2", "local_response_norm", 32, 256, 27, 27),
)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    for p in patterns:
        if any(ch in p for ch in "*?[") and fnmatch.fnmatchcase(name, p):
            return True
        if p in name:
            return True
    return False


def select(
    shapes: Iterable, patterns: Sequence[str] | None, quick: bool, batch: int | None
) -> list:
    """The shapes whose name contains one of ``patterns`` (or matches it as a glob)."""
    out = []
    for s in shapes:
        if patterns and not _matches(s.name, patterns):
            continue
        if quick:
            s = s.quick()
        if batch is not None:
            s = s.with_batch(batch)
        out.append(s)
    return out

"""Residual networks and their relatives.

* ResNet: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
  (Table 1 for ImageNet, sec. 4.2 for CIFAR, Figure 5 for the bottleneck block).
* Pre-activation ResNet: He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks",
  ECCV 2016 (Figure 4(e): BN-ReLU-conv, nothing after the addition).
* Wide ResNet: Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016 (Table 1), and
  torchvision's ``wide_resnet50_2`` (the bottleneck's inner width doubled).
* Plain nets: the same stacks without shortcuts (sec. 4.1 and 4.2, Figures 4 and 6: the deeper
  plain net has the higher training error, the degradation problem).

Small versions (``small=True``) take 32x32 inputs: the stem is one 3x3/1 convolution (no max
pool), the stages keep their block type and stride pattern at narrow widths; see each builder.
"""

from __future__ import annotations

from collections.abc import Sequence

from minicnn import nn
from minicnn.models.initialization import init_weights
from minicnn.tensor import Tensor, cat, zeros

# -- blocks ------------------------------------------------------------------------------------


def conv3x3(in_ch: int, out_ch: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a batch norm follows)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, groups=groups,
                     bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


class PadShortcut(nn.Module):
    """The CIFAR ResNet's parameter-free shortcut (option A, sec. 4.2): subsample by
    ``stride`` and append zero maps up to ``out_ch`` channels."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.in_ch, self.out_ch, self.stride = in_ch, out_ch, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.out_ch == self.in_ch:
            return x
        n, _, h, w = x.shape
        pad = zeros(n, self.out_ch - self.in_ch, h, w, dtype=x.dtype, device=x.device)
        return cat([x, pad], 1)


def _projection(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """Projection shortcut (option B): 1x1 convolution with stride, then batch norm."""
    return nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BN (Figure 5 left): y = ReLU(F(x) + shortcut(x)), F =
    conv-BN-ReLU-conv-BN. The first convolution carries the stride. ``shortcut``: "B" (a
    1x1 projection where the shape changes, identity elsewhere), "A" (zero-padding identity),
    or None (a plain block: y = ReLU(F(x)))."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, shortcut: str | None = "B",
                 v1: bool = False, base_width: int = 64):
        super().__init__()
        if base_width != 64:
            raise ValueError(f"BasicBlock: base_width must be 64, got {base_width}")
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.shortcut = _make_shortcut(shortcut, in_ch, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu2(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), each with BN (Figure 5 right): y = ReLU(F(x) +
    shortcut(x)). The stride sits on the 3x3 ("ResNet v1.5", torchvision) or, with
    ``v1=True``, on the first 1x1 as in the paper. ``base_width=128`` doubles the inner width
    (wide_resnet50_2)."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, shortcut: str | None = "B",
                 v1: bool = False, base_width: int = 64):
        super().__init__()
        width = planes * base_width // 64
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, width, stride if v1 else 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(width, width, 1 if v1 else stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = conv1x1(width, out_ch)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu3 = nn.ReLU(inplace=True)
        self.shortcut = _make_shortcut(shortcut, in_ch, out_ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu3(out)


def _make_shortcut(kind: str | None, in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    if kind is None:
        return None
    if kind == "B":
        if stride != 1 or in_ch != out_ch:
            return _projection(in_ch, out_ch, stride)
        return nn.Identity()
    if kind == "A":
        return PadShortcut(in_ch, out_ch, stride)
    raise ValueError(f"shortcut must be 'A', 'B' or None, got {kind!r}")


class PreActBasicBlock(nn.Module):
    """Pre-activation basic block (Identity Mappings, Figure 4(e)): y = x + F(x), F =
    BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3, no ReLU after the addition.

    ``preact``: "branch" (BN-ReLU on the residual branch only, identity shortcut on x),
    "both" (the shortcut, a 1x1 projection where the shape changes, also sees BN-ReLU(x)), or
    "none" (the input is already activated, as after the ImageNet stem). ``dropout`` between
    the convolutions is Wide ResNet's.
    """

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, preact: str = "branch",
                 dropout: float = 0.0):
        super().__init__()
        self.preact = _check_preact(preact, in_ch, planes, stride)
        if preact != "none":
            self.bn1 = nn.BatchNorm2d(in_ch)
            self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = _preact_shortcut(in_ch, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        a = x if self.preact == "none" else self.relu1(self.bn1(x))
        out = self.conv1(a)
        out = self.conv2(self.dropout(self.relu2(self.bn2(out))))
        return out + self.shortcut(a if self.preact == "both" else x)


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck (Identity Mappings, Figure 4(e)): y = x + F(x), F =
    BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1 (x4); ``preact`` as in
    :class:`PreActBasicBlock`; the stride sits on the 3x3."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, preact: str = "branch",
                 dropout: float = 0.0):
        super().__init__()
        out_ch = planes * self.expansion
        self.preact = _check_preact(preact, in_ch, out_ch, stride)
        if preact != "none":
            self.bn1 = nn.BatchNorm2d(in_ch)
            self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(in_ch, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu3 = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv3 = conv1x1(planes, out_ch)
        self.shortcut = _preact_shortcut(in_ch, out_ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        a = x if self.preact == "none" else self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(a)))
        out = self.dropout(self.relu3(self.bn3(self.conv2(out))))
        return self.conv3(out) + self.shortcut(a if self.preact == "both" else x)


def _check_preact(preact: str, in_ch: int, out_ch: int, stride: int) -> str:
    if preact not in ("branch", "both", "none"):
        raise ValueError(f"preact must be 'branch', 'both' or 'none', got {preact!r}")
    if preact == "branch" and (stride != 1 or in_ch != out_ch):
        raise ValueError("preact='branch' needs an identity shortcut (same shape); "
                         f"got {in_ch}->{out_ch} channels, stride {stride}")
    return preact


def _preact_shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    # Identity Mappings (sec. 3.1): the projection is a bare 1x1 convolution, no BN.
    if stride != 1 or in_ch != out_ch:
        return conv1x1(in_ch, out_ch, stride)
    return nn.Identity()


# -- networks ----------------------------------------------------------------------------------


class ResNet(nn.Module):
    """A residual network of post-activation blocks (the ResNet paper, Table 1).

    ImageNet layout: 7x7/2 conv 64, BN, ReLU, 3x3/2 max pool; four stages of ``layers[i]``
    blocks with ``planes`` 64-128-256-512 and strides 1-2-2-2 (56, 28, 14, 7 on 224x224);
    global average pool; fc. ``shortcut=None`` drops every shortcut (a plain net).

    ``small=True``: 3x3/1 stem conv to 8 maps, no max pool, planes 8-16-32-64 (basic) or
    4-8-16-32 (bottleneck, 16-128 maps after the x4 expansion), at 32, 16, 8 and 4 pixels.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
                 base_width: int = 64, shortcut: str | None = "B", small: bool = False):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must have 4 entries, got {list(layers)}")
        if small:
            planes = (8, 16, 32, 64) if block is BasicBlock else (4, 8, 16, 32)
            stem_ch = 8
            self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_ch, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(stem_ch), nn.ReLU(inplace=True))
        else:
            planes, stem_ch = (64, 128, 256, 512), 64
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, stem_ch, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(stem_ch), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        in_ch = stem_ch
        stages = []
        for i, (p, n) in enumerate(zip(planes, layers)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(in_ch, p, stride, shortcut, v1, base_width))
                in_ch = p * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.flatten(self.avgpool(x)))


class CifarResNet(nn.Module):
    """The ResNet paper's CIFAR-10 nets (sec. 4.2): 3x3 conv 16, BN, ReLU; three stages of
    ``n`` basic blocks with 16-32-64 maps at 32, 16 and 8 pixels (depth 6n+2); global average
    pool; fc. ``shortcut="A"`` is the paper's zero-padding identity (no extra parameters),
    None a plain net. ``small=True``: 8-16-32 maps, same depth."""

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3,
                 shortcut: str | None = "A", small: bool = False):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CifarResNet: depth must be 6n+2 (20, 32, 44, 56, 110), "
                             f"got {depth!r}")
        n = (depth - 2) // 6
        widths = (8, 16, 32) if small else (16, 32, 64)
        self.stem = nn.Sequential(conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        in_ch = widths[0]
        stages = []
        for i, w in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(in_ch, w, 2 if (i > 0 and j == 0) else 1, shortcut))
                in_ch = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(self.flatten(self.avgpool(x)))


class PreActResNet(nn.Module):
    """A pre-activation residual network (Identity Mappings): blocks of BN-ReLU-conv, no
    ReLU after the additions, and one extra BN-ReLU before the global pool.

    ``layout="imagenet"``: 7x7/2 conv 64, BN, ReLU, 3x3/2 max pool (the first block then
    skips its own BN-ReLU), four stages with planes 64-128-256-512 and strides 1-2-2-2.
    ``layout="cifar"``: one 3x3 conv to ``widths[0]`` maps, then ``len(widths)`` stages at
    strides 1-2-2 (the CIFAR nets and Wide ResNets). The first block of each stage gives its
    BN-ReLU to the shortcut too (``preact="both"``), where a 1x1 projection adapts the shape.
    """

    def __init__(self, block: type[PreActBasicBlock] | type[PreActBottleneck],
                 layers: Sequence[int], widths: Sequence[int], num_classes: int = 1000,
                 in_channels: int = 3, layout: str = "imagenet", stem_channels: int = 64,
                 dropout: float = 0.0):
        super().__init__()
        if layout not in ("imagenet", "cifar"):
            raise ValueError(f"PreActResNet: layout must be 'imagenet' or 'cifar', got {layout!r}")
        if len(layers) != len(widths):
            raise ValueError(f"PreActResNet: {len(layers)} stage depths for {len(widths)} widths")
        if layout == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(stem_channels), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(conv3x3(in_channels, stem_channels))
        in_ch = stem_channels
        stages = []
        for i, (w, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                if j > 0:
                    preact = "branch"
                elif i == 0 and layout == "imagenet":
                    preact = "none"
                else:
                    preact = "both"
                blocks.append(block(in_ch, w, stride, preact, dropout))
                in_ch = w * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(in_ch)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn(self.stages(self.stem(x))))
        return self.fc(self.flatten(self.avgpool(x)))


# -- builders ----------------------------------------------------------------------------------

#: Table 1 of the ResNet paper: blocks per stage.
IMAGENET_LAYERS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}

#: Blocks per stage of the small versions: 18, 34 and 50 keep the paper's counts; 101 and
#: 152 shrink their third (and 152 its second) stage so that an epoch stays short, keeping
#: 101 < 152 in depth.
SMALL_LAYERS: dict[int, tuple[int, ...]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 10, 3),
    152: (3, 6, 12, 3),
}


def _imagenet_layers(depth: int, small: bool) -> tuple[type, tuple[int, ...]]:
    if depth not in IMAGENET_LAYERS:
        raise ValueError(f"depth must be one of {sorted(IMAGENET_LAYERS)}, got {depth!r}")
    block, layers = IMAGENET_LAYERS[depth]
    return block, SMALL_LAYERS[depth] if small else layers


def _resnet(depth: int, num_classes: int, in_channels: int, v1: bool, small: bool,
            base_width: int = 64) -> ResNet:
    block, layers = _imagenet_layers(depth, small)
    return ResNet(block, layers, num_classes, in_channels, v1, base_width, "B", small)


def resnet18(num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
             small: bool = False) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2): 11,689,512 parameters; see :class:`ResNet`."""
    return _resnet(18, num_classes, in_channels, v1, small)


def resnet34(num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
             small: bool = False) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3): 21,797,672 parameters; see :class:`ResNet`."""
    return _resnet(34, num_classes, in_channels, v1, small)


def resnet50(num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
             small: bool = False) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3): 25,557,032 parameters; ``v1=True`` puts the stride
    on the first 1x1 as in the paper (same parameters); see :class:`ResNet`."""
    return _resnet(50, num_classes, in_channels, v1, small)


def resnet101(num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
              small: bool = False) -> ResNet:
    """ResNet-101 (bottlenecks 3-4-23-3): 44,549,160 parameters; small: 3-4-10-3."""
    return _resnet(101, num_classes, in_channels, v1, small)


def resnet152(num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
              small: bool = False) -> ResNet:
    """ResNet-152 (bottlenecks 3-8-36-3): 60,192,808 parameters; small: 3-6-12-3."""
    return _resnet(152, num_classes, in_channels, v1, small)


def wide_resnet50_2(num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
                    small: bool = False) -> ResNet:
    """Wide ResNet-50-2 (torchvision): ResNet-50 with the bottlenecks' inner width doubled,
    68,883,240 parameters; small: ResNet-50 small with inner widths 8-16-32-64."""
    return _resnet(50, num_classes, in_channels, v1, small, base_width=128)


def wide_resnet101_2(num_classes: int = 1000, in_channels: int = 3, v1: bool = False,
                     small: bool = False) -> ResNet:
    """Wide ResNet-101-2 (torchvision): ResNet-101 with doubled inner width, 126,886,696
    parameters; small: as ResNet-101 small with doubled inner width."""
    return _resnet(101, num_classes, in_channels, v1, small, base_width=128)


def _preact_imagenet(depth: int, num_classes: int, in_channels: int,
                     small: bool) -> PreActResNet:
    block, layers = _imagenet_layers(depth, small)
    pblock = PreActBasicBlock if block is BasicBlock else PreActBottleneck
    if small:
        widths = (8, 16, 32, 64) if pblock is PreActBasicBlock else (4, 8, 16, 32)
        return PreActResNet(pblock, layers, widths, num_classes, in_channels, "cifar", 8)
    return PreActResNet(pblock, layers, (64, 128, 256, 512), num_classes, in_channels)


def preact_resnet18(num_classes: int = 1000, in_channels: int = 3,
                    small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-18: 11,687,720 parameters (ImageNet); see :class:`PreActResNet`.

    Small versions of the ImageNet pre-act nets use the CIFAR layout (one 3x3 stem conv to 8
    maps) with four stages of the small ResNet's blocks and widths."""
    return _preact_imagenet(18, num_classes, in_channels, small)


def preact_resnet34(num_classes: int = 1000, in_channels: int = 3,
                    small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-34 (basic blocks 3-4-6-3); see :func:`preact_resnet18`."""
    return _preact_imagenet(34, num_classes, in_channels, small)


def preact_resnet50(num_classes: int = 1000, in_channels: int = 3,
                    small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-50 (bottlenecks 3-4-6-3); see :func:`preact_resnet18`."""
    return _preact_imagenet(50, num_classes, in_channels, small)


def preact_resnet101(num_classes: int = 1000, in_channels: int = 3,
                     small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-101 (bottlenecks 3-4-23-3); see :func:`preact_resnet18`."""
    return _preact_imagenet(101, num_classes, in_channels, small)


def preact_resnet152(num_classes: int = 1000, in_channels: int = 3,
                     small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-152 (bottlenecks 3-8-36-3); see :func:`preact_resnet18`."""
    return _preact_imagenet(152, num_classes, in_channels, small)


#: Small versions of the CIFAR pre-act nets: (block, blocks per stage, widths).
_SMALL_CIFAR_PREACT = {
    110: (PreActBasicBlock, 3, (8, 16, 32)),
    164: (PreActBottleneck, 3, (4, 8, 16)),
    1001: (PreActBottleneck, 6, (4, 8, 16)),
}


def _preact_cifar(depth: int, num_classes: int, in_channels: int, small: bool) -> PreActResNet:
    if small:
        block, n, widths = _SMALL_CIFAR_PREACT[depth]
    elif depth == 110:
        block, n, widths = PreActBasicBlock, 18, (16, 32, 64)
    else:
        block, n, widths = PreActBottleneck, (depth - 2) // 9, (16, 32, 64)
    return PreActResNet(block, (n, n, n), widths, num_classes, in_channels, "cifar", widths[0])


def preact_resnet110(num_classes: int = 10, in_channels: int = 3,
                     small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-110 for CIFAR (Identity Mappings, Table 2): 3x18 basic blocks
    with 16-32-64 maps, 1,730,522 parameters (10 classes); small: 3x3 blocks, 8-16-32 maps."""
    return _preact_cifar(110, num_classes, in_channels, small)


def preact_resnet164(num_classes: int = 10, in_channels: int = 3,
                     small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-164 for CIFAR: 3x18 bottlenecks (16-32-64, x4), 1,703,258
    parameters (10 classes); small: 3x3 bottlenecks with planes 4-8-16."""
    return _preact_cifar(164, num_classes, in_channels, small)


def preact_resnet1001(num_classes: int = 10, in_channels: int = 3,
                      small: bool = False) -> PreActResNet:
    """Pre-activation ResNet-1001 for CIFAR: 3x111 bottlenecks (16-32-64, x4), 10,327,706
    parameters (10 classes); small: 3x6 bottlenecks with planes 4-8-16 (depth 56)."""
    return _preact_cifar(1001, num_classes, in_channels, small)


def wrn(depth: int, widen_factor: int, dropout: float = 0.0, num_classes: int = 10,
        in_channels: int = 3, small: bool = False) -> PreActResNet:
    """Wide ResNet WRN-``depth``-``widen_factor`` for CIFAR (Zagoruyko & Komodakis, Table 1):
    a 3x3 conv to 16 maps, three stages of (depth-4)/6 pre-activation basic blocks with
    16k-32k-64k maps, dropout between the convolutions when ``dropout > 0``. WRN-28-10:
    36,479,194 parameters; WRN-16-8: 10,961,370 (10 classes).

    ``small=True``: one block per stage (WRN-10) with 4k'-8k'-16k' maps, k' = k/2 rounded
    up (WRN-28-10 small: 20-40-80 maps): the widening over a thin base is kept.
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"wrn: depth must be 6n+4 (10, 16, 22, 28, 40), got {depth!r}")
    if widen_factor < 1:
        raise ValueError(f"wrn: widen_factor must be >= 1, got {widen_factor!r}")
    if small:
        k = -(-widen_factor // 2)
        n, widths, stem = 1, (4 * k, 8 * k, 16 * k), 4
    else:
        n = (depth - 4) // 6
        widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        stem = 16
    return PreActResNet(PreActBasicBlock, (n, n, n), widths, num_classes, in_channels,
                        "cifar", stem, dropout)


def plain_resnet(depth: int, num_classes: int | None = None, in_channels: int = 3,
                 small: bool = False, cifar: bool | None = None) -> nn.Module:
    """A plain net: a ResNet's stack with every shortcut removed (the ResNet paper's plain
    baselines). Depths 18, 34, 50, 101, 152 give the ImageNet stacks (1000 classes by
    default); depths 6n+2 (20, 32, 44, 56, 110) the CIFAR stacks (10 classes). ``cifar``
    forces one layout. Small versions as in :class:`ResNet` and :class:`CifarResNet`.
    Training plain-20 and plain-56 side by side shows the degradation problem: the deeper
    plain net has the higher training error (the paper's Figure 6)."""
    if cifar is None:
        cifar = depth not in IMAGENET_LAYERS
    if cifar:
        return CifarResNet(depth, 10 if num_classes is None else num_classes, in_channels,
                           None, small)
    block, layers = _imagenet_layers(depth, small)
    return ResNet(block, layers, 1000 if num_classes is None else num_classes, in_channels,
                  False, 64, None, small)


def resnet_cifar(depth: int, num_classes: int = 10, in_channels: int = 3,
                 small: bool = False) -> CifarResNet:
    """The ResNet paper's CIFAR-10 ResNet-``depth`` (6n+2) with zero-padding shortcuts:
    ResNet-20 has 269,722 parameters, ResNet-56 853,018 (10 classes); the residual
    counterpart of :func:`plain_resnet` with the same depth."""
    return CifarResNet(depth, num_classes, in_channels, "A", small)

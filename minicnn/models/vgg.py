"""VGG: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (Table 1, configurations A, B, D, E)."""

from __future__ import annotations

from minicnn import nn
from minicnn.models.initialization import init_weights
from minicnn.tensor import Tensor

#: Table 1 of the paper: output channels of each 3x3 convolution, "M" a 2x2/2 max pool.
CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}

#: Small versions divide the widths 64-128-256-512-512 by 8 (to 8-16-32-64-64).
_SMALL_WIDTH = {64: 8, 128: 16, 256: 32, 512: 64}


class VGG(nn.Module):
    """VGG-11/13/16/19: stacks of 3x3 convolutions (pad 1) and 2x2/2 max pools, then
    fc 4096-4096-``num_classes`` with ReLU and dropout 0.5 (the paper's Table 1).

    Two stacked 3x3 convolutions see 5x5 of their input and three see 7x7, with 27C^2 weights
    where one 7x7 layer would have 49C^2 (sec. 2.3). On 224x224 inputs the last pool leaves
    7x7x512. Parameters with 1000 classes: 132,863,336 (11), 133,047,848 (13), 138,357,544
    (16), 143,667,240 (19). ``batch_norm=True`` puts BatchNorm2d after every convolution (not
    in the paper; torchvision's ``vgg*_bn``).

    ``small=True``: for 32x32 inputs, the same configuration (every 3x3 convolution and all
    five pools) at widths 8-16-32-64-64, leaving 1x1x64, and fc 128-128.
    """

    def __init__(self, depth: int = 16, num_classes: int = 1000, in_channels: int = 3,
                 batch_norm: bool = False, dropout: float = 0.5, small: bool = False):
        super().__init__()
        if depth not in CONFIGS:
            raise ValueError(f"VGG: depth must be one of {sorted(CONFIGS)}, got {depth!r}")
        layers: list[nn.Module] = []
        c = in_channels
        for v in CONFIGS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            out = _SMALL_WIDTH[v] if small else v
            layers.append(nn.Conv2d(c, out, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            c = out
        fc, side = (128, 1) if small else (4096, 7)
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(c * side * side, fc),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc, fc),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc, num_classes),
        )
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.features(x)))


def vgg11(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          dropout: float = 0.5, small: bool = False) -> VGG:
    """VGG-11 (configuration A); see :class:`VGG`."""
    return VGG(11, num_classes, in_channels, batch_norm, dropout, small)


def vgg13(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          dropout: float = 0.5, small: bool = False) -> VGG:
    """VGG-13 (configuration B); see :class:`VGG`."""
    return VGG(13, num_classes, in_channels, batch_norm, dropout, small)


def vgg16(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          dropout: float = 0.5, small: bool = False) -> VGG:
    """VGG-16 (configuration D); see :class:`VGG`."""
    return VGG(16, num_classes, in_channels, batch_norm, dropout, small)


def vgg19(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          dropout: float = 0.5, small: bool = False) -> VGG:
    """VGG-19 (configuration E); see :class:`VGG`."""
    return VGG(19, num_classes, in_channels, batch_norm, dropout, small)

"""Network in Network: Lin, Chen & Yan, "Network In Network", ICLR 2014 (sec. 3), with the
layer sizes of the authors' ImageNet model (the Caffe model zoo's ``nin_imagenet``)."""

from __future__ import annotations

from minicnn import nn
from minicnn.models.initialization import init_weights
from minicnn.tensor import Tensor


def mlpconv(in_channels: int, channels: tuple[int, int, int], kernel_size: int,
            stride: int = 1, padding: int = 0) -> nn.Sequential:
    """One mlpconv layer (sec. 3.1): a kxk convolution then two 1x1 convolutions, each with
    ReLU; the 1x1 convolutions are a small MLP slid over every position ("cccp" layers)."""
    c1, c2, c3 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, kernel_size, stride=stride, padding=padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(c1, c2, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c2, c3, kernel_size=1),
        nn.ReLU(inplace=True),
    )


class NiN(nn.Module):
    """Network in Network: four mlpconv layers and global average pooling, no fully
    connected layer (sec. 3.2: the last mlpconv makes one map per class and the average of
    each map is that class's score).

    ==========  =================================  =====================
    stage       layers                             output (224x224x3)
    ==========  =================================  =====================
    mlpconv1    11x11/4 96, 1x1 96, 1x1 96         54x54x96
    pool        max 3x3/2 (ceil)                   27x27x96
    mlpconv2    5x5 pad 2 256, 1x1 256, 1x1 256    27x27x256
    pool        max 3x3/2 (ceil)                   13x13x256
    mlpconv3    3x3 pad 1 384, 1x1 384, 1x1 384    13x13x384
    pool        max 3x3/2 (ceil), dropout 0.5      6x6x384
    mlpconv4    3x3 pad 1 1024, 1x1 1024, 1x1 C    6x6xC
    pool        global average                     C
    ==========  =================================  =====================

    7,595,176 parameters with 1000 classes. As in the released model, ReLU follows every
    convolution, the last one included.

    ``small=True``: for 32x32 inputs, mlpconv 5x5 16-16-16, 5x5 32-32-32, 3x3 48-48-48,
    3x3 64-64-C with the same pools and dropout: 32 -> 16 -> 8 -> 4 -> global pool.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 small: bool = False):
        super().__init__()
        if small:
            w1, w2, w3, w4 = 16, 32, 48, 64
            first = mlpconv(in_channels, (w1, w1, w1), kernel_size=5, padding=2)
        else:
            w1, w2, w3, w4 = 96, 256, 384, 1024
            first = mlpconv(in_channels, (w1, w1, w1), kernel_size=11, stride=4)
        self.features = nn.Sequential(
            first,
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            mlpconv(w1, (w2, w2, w2), kernel_size=5, padding=2),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            mlpconv(w2, (w3, w3, w3), kernel_size=3, padding=1),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            nn.Dropout(dropout),
            mlpconv(w3, (w4, w4, num_classes), kernel_size=3, padding=1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.flatten(self.pool(self.features(x)))


def nin(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
        small: bool = False) -> NiN:
    """Network in Network (Lin et al. 2014); see :class:`NiN`."""
    return NiN(num_classes, in_channels, dropout, small)

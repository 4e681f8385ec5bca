"""ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(sec. 4 and Figure 3)."""

from __future__ import annotations

from minicnn import nn
from minicnn.models.alexnet import PAPER_LRN, fc_classifier
from minicnn.models.initialization import init_weights
from minicnn.tensor import Tensor


class ZFNet(nn.Module):
    """ZFNet: AlexNet with a smaller first filter and stride (the paper's Figure 3).

    Visualising AlexNet's first layers showed aliasing from the 11x11/4 filters; ZF use 7x7/2
    in layer 1 and stride 2 in layer 2, and no two-GPU split (dense connections):

    ================  ===============================  ==================
    layer             paper                            output (224x224x3)
    ================  ===============================  ==================
    conv1             7x7/2 pad 1, 96, ReLU, LRN       110x110x96
    pool1             max 3x3/2 (ceil)                 55x55x96
    conv2             5x5/2, 256, ReLU, LRN            26x26x256
    pool2             max 3x3/2 (ceil)                 13x13x256
    conv3, conv4      3x3 pad 1, 384                   13x13x384
    conv5             3x3 pad 1, 256                   13x13x256
    pool5             max 3x3/2                        6x6x256
    fc6, fc7          4096, ReLU, dropout 0.5          4096
    fc8               ``num_classes``                  1000
    ================  ===============================  ==================

    The pools round up (Caffe's rule), which gives the paper's 110 -> 55 and 26 -> 13.
    62,357,608 parameters with 1000 classes. Normalisation is AlexNet's LRN.

    ``small=True``: for 32x32 inputs, conv1 3x3/1 (smaller than small AlexNet's 5x5, as ZF's
    is smaller than AlexNet's), conv2 5x5/2, widths 16-32-48-48-32, fc 128-128, no groups:
    32 -> 32 -> 16 -> 8 -> 4 -> 4 -> 2; 96,106 parameters with 10 classes.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 small: bool = False):
        super().__init__()
        if small:
            c1, c2, c3, c4, c5, fc = 16, 32, 48, 48, 32, 128
            conv1 = nn.Conv2d(in_channels, c1, kernel_size=3, stride=1, padding=1)
            conv2 = nn.Conv2d(c1, c2, kernel_size=5, stride=2, padding=2)
            flat = c5 * 2 * 2
        else:
            c1, c2, c3, c4, c5, fc = 96, 256, 384, 384, 256, 4096
            conv1 = nn.Conv2d(in_channels, c1, kernel_size=7, stride=2, padding=1)
            conv2 = nn.Conv2d(c1, c2, kernel_size=5, stride=2)
            flat = c5 * 6 * 6
        self.features = nn.Sequential(
            conv1,
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**PAPER_LRN),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            conv2,
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**PAPER_LRN),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        )
        self.flatten = nn.Flatten()
        self.classifier = fc_classifier(flat, fc, num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.features(x)))


def zfnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
          small: bool = False) -> ZFNet:
    """ZFNet (Zeiler & Fergus 2014); see :class:`ZFNet`."""
    return ZFNet(num_classes, in_channels, dropout, small)

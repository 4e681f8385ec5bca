"""AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NIPS 2012 (sec. 3 and Figure 2)."""

from __future__ import annotations

from minicnn import nn
from minicnn.models.initialization import init_weights
from minicnn.tensor import Tensor

#: The paper's response normalisation (sec. 3.3): n=5, alpha=1e-4, beta=0.75, k=2, with
#: b = a / (k + alpha * sum a^2)^beta. PyTorch's LocalResponseNorm divides alpha by the window
#: size, so the paper's alpha=1e-4 is alpha=5e-4 here.
PAPER_LRN = {"size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}


def fc_classifier(flat: int, fc: int, num_classes: int, dropout: float) -> nn.Sequential:
    """AlexNet's head (also ZFNet's): two ReLU fc layers of ``fc`` units with dropout, then
    the ``num_classes``-way output (Krizhevsky et al. 2012, sec. 3.5 and 4.2)."""
    return nn.Sequential(
        nn.Linear(flat, fc),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(fc, fc),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(fc, num_classes),
    )


class AlexNet(nn.Module):
    """AlexNet as in the paper (Figure 2): five convolutions, three fully connected layers.

    ================  ===============================  ==================
    layer             paper                            output (227x227x3)
    ================  ===============================  ==================
    conv1             11x11/4, 96, ReLU, LRN           55x55x96
    pool1             max 3x3/2 (overlapping, 3.4)     27x27x96
    conv2             5x5 pad 2, 256, groups 2, LRN    27x27x256
    pool2             max 3x3/2                        13x13x256
    conv3             3x3 pad 1, 384 (all maps)        13x13x384
    conv4             3x3 pad 1, 384, groups 2         13x13x384
    conv5             3x3 pad 1, 256, groups 2         13x13x256
    pool5             max 3x3/2                        6x6x256
    fc6, fc7          4096, ReLU, dropout 0.5          4096
    fc8               ``num_classes``                  1000
    ================  ===============================  ==================

    ``groups=2`` keeps the paper's two-GPU split (conv2, conv4 and conv5 see only the maps on
    their own GPU); ``groups=1`` joins them. 60,965,224 parameters with 1000 classes and
    groups=2. The input is 227x227 (the paper's "224" does not give 55x55 with an 11x11/4
    convolution and no padding).

    ``small=True``: for 32x32 inputs, same layer sequence (LRN, overlapping 3x3/2 pools,
    groups) at widths 16-32-48-48-32, conv1 5x5/1 pad 2, fc 128-128: 32 -> 32 -> 15 -> 15 ->
    7 -> 7 -> 3; 93,674 parameters with 10 classes.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, groups: int = 2,
                 dropout: float = 0.5, small: bool = False):
        super().__init__()
        if groups not in (1, 2):
            raise ValueError(f"AlexNet: groups must be 1 or 2, got {groups!r}")
        if small:
            c1, c2, c3, c4, c5, fc = 16, 32, 48, 48, 32, 128
            conv1 = nn.Conv2d(in_channels, c1, kernel_size=5, stride=1, padding=2)
            flat = c5 * 3 * 3
        else:
            c1, c2, c3, c4, c5, fc = 96, 256, 384, 384, 256, 4096
            conv1 = nn.Conv2d(in_channels, c1, kernel_size=11, stride=4)
            flat = c5 * 6 * 6
        self.features = nn.Sequential(
            conv1,
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**PAPER_LRN),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups),
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**PAPER_LRN),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.flatten = nn.Flatten()
        self.classifier = fc_classifier(flat, fc, num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.features(x)))


def alexnet(num_classes: int = 1000, in_channels: int = 3, groups: int = 2,
            dropout: float = 0.5, small: bool = False) -> AlexNet:
    """AlexNet (Krizhevsky et al. 2012); see :class:`AlexNet`."""
    return AlexNet(num_classes, in_channels, groups, dropout, small)

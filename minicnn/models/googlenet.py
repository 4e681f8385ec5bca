"""GoogLeNet (Inception v1): Szegedy et al., "Going Deeper with Convolutions", CVPR 2015
(sec. 4-5, Figure 2 and Table 1)."""

from __future__ import annotations

from collections import namedtuple

from minicnn import nn
from minicnn.models.initialization import init_weights
from minicnn.tensor import Tensor, cat

#: In training with ``aux_logits=True`` GoogLeNet returns this triple (torchvision's order).
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

#: Table 1 of the paper: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE1: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}

#: The stem's LRN (Caffe's bvlc_googlenet: local_size 5, alpha 1e-4, beta 0.75; Caffe, like
#: PyTorch, divides alpha by the window size and adds k = 1).
STEM_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}


def _conv_relu(in_ch: int, out_ch: int, kernel_size: int, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size, padding=padding),
                         nn.ReLU(inplace=True))


class InceptionModule(nn.Module):
    """An inception module (sec. 4, Figure 2): 1x1, 3x3 and 5x5 convolutions and a 3x3/1 max
    pool run side by side on one input and are concatenated along channels.

    ``InceptionModule(in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`` is Figure
    2(b): 1x1 reductions (with ReLU) before the 3x3 and 5x5 convolutions and a 1x1 projection
    after the pool. With ``ch3x3red``, ``ch5x5red`` and ``pool_proj`` set to None it is the
    naive module of Figure 2(a): the 3x3 and 5x5 convolutions see all ``in_ch`` maps and the
    pooling branch passes all of them through, so the output has ``ch1x1 + ch3x3 + ch5x5 +
    in_ch`` channels and depth can only grow from module to module. Spatial size is kept
    (padding 1 and 2).
    """

    def __init__(self, in_ch: int, ch1x1: int, ch3x3red: int | None, ch3x3: int,
                 ch5x5red: int | None, ch5x5: int, pool_proj: int | None):
        super().__init__()
        self.branch1 = _conv_relu(in_ch, ch1x1, 1)
        self.branch2 = self._reduced(in_ch, ch3x3red, ch3x3, 3)
        self.branch3 = self._reduced(in_ch, ch5x5red, ch5x5, 5)
        pool: list[nn.Module] = [nn.MaxPool2d(kernel_size=3, stride=1, padding=1)]
        if pool_proj is not None:
            pool += [nn.Conv2d(in_ch, pool_proj, kernel_size=1), nn.ReLU(inplace=True)]
        self.branch4 = nn.Sequential(*pool)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + (in_ch if pool_proj is None else pool_proj)

    @staticmethod
    def _reduced(in_ch: int, red: int | None, out: int, k: int) -> nn.Sequential:
        if red is None:
            return _conv_relu(in_ch, out, k, padding=k // 2)
        return nn.Sequential(nn.Conv2d(in_ch, red, kernel_size=1), nn.ReLU(inplace=True),
                             nn.Conv2d(red, out, k, padding=k // 2), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """An auxiliary classifier (sec. 5): 5x5/3 average pool, 1x1 convolution to 128 maps,
    fc 1024 with ReLU, dropout 0.7, fc to the classes. On 4a's and 4d's 14x14 maps the pool
    leaves 4x4. ``small=True``: 16 maps and fc 128 (for 8x8 maps, pooled to 2x2)."""

    def __init__(self, in_ch: int, num_classes: int, small: bool = False):
        super().__init__()
        maps, fc, side = (16, 128, 2) if small else (128, 1024, 4)
        self.pool = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv = _conv_relu(in_ch, maps, 1)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(maps * side * side, fc)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(fc, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.flatten(self.conv(self.pool(x)))
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet as in the paper (Table 1): a stem with LRN, nine inception modules with real
    5x5 branches, max pools between the stages, global average pooling, dropout 0.4 and one
    fully connected layer (the classifier). Two auxiliary classifiers after 4a and 4d add
    their losses with weight ``aux_loss_weight = 0.3`` in training and are ignored in eval.

    ======================  ===========================================  ==============
    stage                   layers                                       output (224^2)
    ======================  ===========================================  ==============
    stem                    7x7/2 64, max 3/2, LRN, 1x1 64, 3x3 192, LRN  56x56x192
    pool                    max 3x3/2                                     28x28x192
    inception 3a, 3b                                                      28x28x480
    pool                    max 3x3/2                                     14x14x480
    inception 4a-4e         (aux heads after 4a and 4d)                   14x14x832
    pool                    max 3x3/2                                     7x7x832
    inception 5a, 5b                                                      7x7x1024
    head                    global average pool, dropout 0.4, fc          num_classes
    ======================  ===========================================  ==============

    Pools round up (Caffe). 22 layers with parameters on the longest path; 6,998,552
    parameters without the auxiliary heads and 13,378,280 with them (1000 classes).

    ``forward`` returns :data:`GoogLeNetOutputs` ``(logits, aux_logits2, aux_logits1)`` in
    training mode with ``aux_logits=True``, else the logits.

    ``small=True``: for 32x32 inputs, stem 3x3 8, LRN, 1x1 8, 3x3 24, LRN, max pool (to
    16x16); every width of Table 1 divided by 8 (at least 4); 3a-3b at 16x16, 4a-4e at 8x8,
    5a-5b at 4x4; auxiliary heads kept (16 maps, fc 128).
    """

    aux_loss_weight = 0.3

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 dropout: float = 0.4, small: bool = False):
        super().__init__()
        self.aux_logits = aux_logits
        if small:
            stem = [nn.Conv2d(in_channels, 8, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c1, c2 = 8, 24
        else:
            stem = [nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)]
            c1, c2 = 64, 192
        self.stem = nn.Sequential(
            *stem,
            nn.LocalResponseNorm(**STEM_LRN),
            nn.Conv2d(c1, c1, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**STEM_LRN),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        )
        blocks = {}
        in_ch = c2
        for name, (_, *widths) in TABLE1.items():
            if small:
                widths = [max(4, w // 8) for w in widths]
            blocks[name] = InceptionModule(in_ch, *widths)
            in_ch = blocks[name].out_channels
        self.inception3a, self.inception3b = blocks["3a"], blocks["3b"]
        self.pool3 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.inception4a, self.inception4b = blocks["4a"], blocks["4b"]
        self.inception4c, self.inception4d = blocks["4c"], blocks["4d"]
        self.inception4e = blocks["4e"]
        self.pool4 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.inception5a, self.inception5b = blocks["5a"], blocks["5b"]
        if aux_logits:
            self.aux1 = InceptionAux(blocks["4a"].out_channels, num_classes, small)
            self.aux2 = InceptionAux(blocks["4d"].out_channels, num_classes, small)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        x = self.inception3b(self.inception3a(self.stem(x)))
        x = self.inception4a(self.pool3(x))
        with_aux = self.aux_logits and self.training
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.inception5b(self.inception5a(self.pool4(self.inception4e(x))))
        logits = self.fc(self.dropout(self.flatten(self.avgpool(x))))
        if with_aux:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits


def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
              dropout: float = 0.4, small: bool = False) -> GoogLeNet:
    """GoogLeNet (Szegedy et al. 2015); see :class:`GoogLeNet`."""
    return GoogLeNet(num_classes, in_channels, aux_logits, dropout, small)


def inception_naive() -> InceptionModule:
    """The seed's naive inception example: 28x28x256 in, 128 1x1, 192 3x3, 96 5x5 and the
    full-depth pool: 28x28x672 out."""
    return InceptionModule(256, 128, None, 192, None, 96, None)


def inception_reduced() -> InceptionModule:
    """The seed's example with 1x1 reductions: 64-map reductions before the 3x3 and 5x5 and
    a 64-map pool projection: 28x28x480 out."""
    return InceptionModule(256, 128, 64, 192, 64, 96, 64)

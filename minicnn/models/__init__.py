"""The case-study zoo: every network of the seed at full size, and a small version of each
for 32x32 inputs that trains in seconds per epoch on a laptop CPU.

``names()`` lists the registered networks; ``get(name, small=False, **kw)`` builds one
(``num_classes`` and ``in_channels`` pass through). ``get("inception-naive")`` and
``get("inception-reduced")`` build the seed's two example inception modules.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from minicnn import nn
from minicnn.models.alexnet import AlexNet, alexnet
from minicnn.models.googlenet import (
    GoogLeNet,
    GoogLeNetOutputs,
    InceptionAux,
    InceptionModule,
    googlenet,
    inception_naive,
    inception_reduced,
)
from minicnn.models.nin import NiN, nin
from minicnn.models.resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    PreActBasicBlock,
    PreActBottleneck,
    PreActResNet,
    ResNet,
    plain_resnet,
    preact_resnet18,
    preact_resnet34,
    preact_resnet50,
    preact_resnet101,
    preact_resnet110,
    preact_resnet152,
    preact_resnet164,
    preact_resnet1001,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnet_cifar,
    wide_resnet50_2,
    wide_resnet101_2,
    wrn,
)
from minicnn.models.vgg import VGG, vgg11, vgg13, vgg16, vgg19
from minicnn.models.zfnet import ZFNet, zfnet

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "alexnet": alexnet,
    "zfnet": zfnet,
    "vgg11": vgg11,
    "vgg13": vgg13,
    "vgg16": vgg16,
    "vgg19": vgg19,
    "nin": nin,
    "googlenet": googlenet,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
    "preact_resnet18": preact_resnet18,
    "preact_resnet34": preact_resnet34,
    "preact_resnet50": preact_resnet50,
    "preact_resnet101": preact_resnet101,
    "preact_resnet152": preact_resnet152,
    "preact_resnet110": preact_resnet110,
    "preact_resnet164": preact_resnet164,
    "preact_resnet1001": preact_resnet1001,
    "wide_resnet50_2": wide_resnet50_2,
    "wide_resnet101_2": wide_resnet101_2,
    "wrn16_8": partial(wrn, 16, 8),
    "wrn28_10": partial(wrn, 28, 10),
    "resnet20": partial(resnet_cifar, 20),
    "resnet56": partial(resnet_cifar, 56),
    "plain18": partial(plain_resnet, 18),
    "plain34": partial(plain_resnet, 34),
    "plain20": partial(plain_resnet, 20),
    "plain56": partial(plain_resnet, 56),
}

#: Single modules (not networks) that ``get`` and the summary tool know by name.
_MODULES: dict[str, Callable[[], nn.Module]] = {
    "inception-naive": inception_naive,
    "inception-reduced": inception_reduced,
}

#: Networks designed for 32x32 inputs at full size (CIFAR), 10 classes by default.
_CIFAR = {"preact_resnet110", "preact_resnet164", "preact_resnet1001", "wrn16_8", "wrn28_10",
          "resnet20", "resnet56", "plain20", "plain56"}


def names() -> list[str]:
    """The registered network names, in the order of the seed (AlexNet to ResNets)."""
    return list(_REGISTRY)


def get(name: str, small: bool = False, **kw: Any) -> nn.Module:
    """Build network ``name``: ``get("vgg16")``, ``get("googlenet", small=True,
    in_channels=1, num_classes=10)``. Keyword arguments go to the builder (``num_classes``,
    ``in_channels``, ``batch_norm`` for VGG, ``aux_logits`` for GoogLeNet, ``v1`` for the
    bottleneck ResNets, ``dropout``...). Small versions default to 10 classes."""
    if name in _MODULES:
        if small or kw:
            raise ValueError(f"get: {name!r} is a single module and takes no options")
        return _MODULES[name]()
    if name not in _REGISTRY:
        raise ValueError(f"get: unknown network {name!r}; known: {', '.join(names())}, "
                         f"{', '.join(_MODULES)}")
    if small:
        kw.setdefault("num_classes", 10)
    return _REGISTRY[name](small=small, **kw)


def input_shape(name: str, small: bool = False, in_channels: int = 3) -> tuple[int, int, int]:
    """The (C, H, W) input a network expects: 32x32 for small and CIFAR networks, 227x227 for
    AlexNet, 224x224 for the other ImageNet networks, 28x28x256 for the inception examples."""
    if name in _MODULES:
        return (256, 28, 28)
    if name not in _REGISTRY:
        raise ValueError(f"input_shape: unknown network {name!r}")
    if small or name in _CIFAR:
        return (in_channels, 32, 32)
    return (in_channels, 227, 227) if name == "alexnet" else (in_channels, 224, 224)


__all__ = [
    "AlexNet", "BasicBlock", "Bottleneck", "CifarResNet", "GoogLeNet", "GoogLeNetOutputs",
    "InceptionAux", "InceptionModule", "NiN", "PreActBasicBlock", "PreActBottleneck",
    "PreActResNet", "ResNet", "VGG", "ZFNet", "alexnet", "get", "googlenet",
    "inception_naive", "inception_reduced", "input_shape", "names", "nin", "plain_resnet",
    "preact_resnet18", "preact_resnet34", "preact_resnet50", "preact_resnet101",
    "preact_resnet110", "preact_resnet152", "preact_resnet164", "preact_resnet1001",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet_cifar", "vgg11",
    "vgg13", "vgg16", "vgg19", "wide_resnet50_2", "wide_resnet101_2", "wrn", "zfnet",
]

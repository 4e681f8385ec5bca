"""Neural-network layers, as ``torch.nn``: Module, Parameter, containers, layers and init."""

from minicnn.nn import init
from minicnn.nn.activation import Dropout, ReLU
from minicnn.nn.containers import ModuleDict, ModuleList, Sequential
from minicnn.nn.conv import Conv2d
from minicnn.nn.linear import Flatten, Identity, Linear
from minicnn.nn.loss import CrossEntropyLoss
from minicnn.nn.module import IncompatibleKeys, Module, RemovableHandle
from minicnn.nn.normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from minicnn.nn.parameter import Parameter
from minicnn.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d",
    "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "IncompatibleKeys", "Linear",
    "LocalResponseNorm", "MaxPool2d", "Module", "ModuleDict", "ModuleList", "Parameter",
    "ReLU", "RemovableHandle", "Sequential", "init",
]

"""Weight initialisation shared by the zoo.

Convolutions get He et al. (2015, "Delving deep into rectifiers", sec. 2.2) normal
initialisation for the forward pass, std = sqrt(2 / (k_h k_w C_in / groups)), so that deep ReLU
stacks without batch norm (VGG, NiN, GoogLeNet, the plain nets) keep the scale of their signal
from layer to layer, also across the width changes of 1x1 reductions (fan-out initialisation,
torchvision's choice, multiplies the variance by C_in / C_out at each reduction: 26x at a
GoogLeNet 5x5 reduction); fully connected layers get N(0, 0.01^2) as in AlexNet and VGG;
biases start at 0; batch-norm scales at 1 and shifts at 0.
"""

from __future__ import annotations

from minicnn import nn


def init_weights(model: nn.Module, linear_std: float = 0.01) -> nn.Module:
    """Initialise every Conv2d, Linear and BatchNorm of ``model`` in place; returns ``model``."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                m.bias.data[...] = 0
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            if m.bias is not None:
                m.bias.data[...] = 0
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if m.weight is not None:
                m.weight.data[...] = 1
                m.bias.data[...] = 0
    return model

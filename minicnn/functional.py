"""The stateless, torch-named API: ``minicnn.functional`` mirrors ``torch.nn.functional``.

Names and argument order follow PyTorch; each function validates its arguments here, at the
API boundary, then runs one :class:`~minicnn.function.Function` from ``minicnn.ops``.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it (imported on first use while the op library grows)
_WHERE = {
    "relu": "minicnn.ops.activation",
    "conv2d": "minicnn.ops.conv",
    "max_pool2d": "minicnn.ops.pool",
    "avg_pool2d": "minicnn.ops.pool",
    "adaptive_avg_pool2d": "minicnn.ops.pool",
    "local_response_norm": "minicnn.ops.lrn",
    "linear": "minicnn.ops.linear",
    "dropout": "minicnn.ops.dropout",
    "batch_norm": "minicnn.ops.norm",
    "softmax": "minicnn.ops.loss",
    "log_softmax": "minicnn.ops.loss",
    "cross_entropy": "minicnn.ops.loss",
    "nll_loss": "minicnn.ops.loss",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'minicnn.functional' has no attribute {name!r}")

"""The stateless, torch-named API: ``minicnn.functional`` mirrors ``torch.nn.functional``.

Names and argument order follow PyTorch; each function validates its arguments at this
boundary, then runs one :class:`~minicnn.function.Function` from ``minicnn/ops`` (one op
family per file, forward beside backward).
"""

from minicnn.ops.activation import relu
from minicnn.ops.conv import conv2d
from minicnn.ops.dropout import dropout
from minicnn.ops.linear import linear
from minicnn.ops.loss import cross_entropy, log_softmax, nll_loss, softmax
from minicnn.ops.lrn import local_response_norm
from minicnn.ops.norm import batch_norm
from minicnn.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "cross_entropy",
    "dropout",
    "linear",
    "local_response_norm",
    "log_softmax",
    "max_pool2d",
    "nll_loss",
    "relu",
    "softmax",
]

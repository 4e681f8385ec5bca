"""Optimizers and learning-rate schedules, as ``torch.optim``."""

from minicnn.optim import lr_scheduler
from minicnn.optim.adam import Adam, AdamW
from minicnn.optim.optimizer import Optimizer
from minicnn.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]

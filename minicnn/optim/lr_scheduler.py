"""Learning-rate schedules, as ``torch.optim.lr_scheduler``.

A scheduler writes ``lr`` into its optimizer's param groups; call ``scheduler.step()`` once an
epoch, after ``optimizer.step()``. The epoch-based schedules use PyTorch's recursive
("chainable") formulas, so their rates match PyTorch's to the last bits.
``ReduceLROnPlateau.step(metric)`` is AlexNet's "divide the learning rate by 10 when the
validation error stops improving" (Krizhevsky et al. 2012, sec. 5).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from minicnn.optim.optimizer import Optimizer, check_number


def _check_int(cls: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{cls}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class _SchedulerState:
    """What every scheduler shares: ``get_last_lr`` and ``state_dict``/``load_state_dict``
    (every attribute but the optimizer)."""

    optimizer: Optimizer
    _last_lr: list[float]

    def _check_optimizer(self, optimizer: Any) -> Optimizer:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(
                f"{type(self).__name__}: optimizer must be a minicnn Optimizer, "
                f"got {type(optimizer).__name__}"
            )
        return optimizer

    def get_last_lr(self) -> list[float]:
        """The learning rate of each param group after the last ``step``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (plain numbers, strings and lists)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; its keys must be exactly this scheduler's."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise ValueError(
                f"{name}.load_state_dict: expected a dict, got {type(state_dict).__name__}"
            )
        own = set(self.__dict__) - {"optimizer"}
        missing, unexpected = sorted(own - set(state_dict)), sorted(set(state_dict) - own)
        if missing or unexpected:
            raise ValueError(
                f"{name}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        groups = len(self.optimizer.param_groups)
        for key, value in state_dict.items():
            if isinstance(value, (list, tuple)) and key in ("base_lrs", "_last_lr", "min_lrs") \
                    and len(value) != groups:
                raise ValueError(
                    f"{name}.load_state_dict: {key} has {len(value)} entries, the optimizer "
                    f"has {groups} param groups"
                )
        self.__dict__.update(copy.deepcopy(state_dict))


class LRScheduler(_SchedulerState):
    """Base of the epoch-based schedules: subclasses define ``get_lr`` from the current
    ``group["lr"]`` and ``last_epoch``.

    Creating a scheduler records each group's ``initial_lr`` and takes the first step
    (``last_epoch`` becomes 0). ``last_epoch`` > -1 resumes a schedule, which needs
    ``initial_lr`` in every group.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        self.optimizer = self._check_optimizer(optimizer)
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an int >= -1, got {last_epoch!r}")
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{name}: param group {i} has no 'initial_lr', which resuming with "
                        f"last_epoch={last_epoch} needs (load the optimizer's state first)"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True
        self.step()
        self._initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for the epoch ``last_epoch`` (already advanced)."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr")

    def step(self) -> None:
        """Advance one epoch and write the new rates into the optimizer."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs:
    lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = _check_int("StepLR", "step_size", step_size, 1)
        check_number("StepLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch in ``milestones`` (a milestone listed
    twice multiplies by gamma twice)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1):
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise ValueError(f"MultiStepLR: milestones must be a list of ints, got {milestones!r}")
        self.milestones = sorted(
            _check_int("MultiStepLR", "milestones[i]", m, 0) for m in milestones
        )
        check_number("MultiStepLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return lrs
        return [lr * self.gamma**hits for lr in lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing without restarts (Loshchilov & Hutter 2017):

    .. math:: \\eta_t = \\eta_{min} + \\tfrac12 (\\eta_{base} - \\eta_{min})
              (1 + \\cos(\\pi t / T_{max}))

    computed recursively from the current rate, as PyTorch does (past ``T_max`` the rate
    climbs back, a cosine of period 2 T_max).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.T_max = _check_int("CosineAnnealingLR", "T_max", T_max, 1)
        check_number("CosineAnnealingLR", "eta_min", eta_min)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return [group["lr"] for group in groups]
        if (t - 1 - T) % (2 * T) == 0:
            return [group["lr"] + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (group["lr"] - lo) + lo for group in groups]


class ReduceLROnPlateau(_SchedulerState):
    """Multiply the rate by ``factor`` once the metric has not improved for more than
    ``patience`` epochs; then wait ``cooldown`` epochs before counting again.

    An improvement beats the best so far by ``threshold`` (relative: best * (1 -+ threshold);
    absolute: best -+ threshold). The rate never goes below ``min_lr`` (one per group, or one
    for all), and changes smaller than ``eps`` are skipped. After each ``step(metric)``,
    ``last_reduced`` says whether the rate was cut, for a trainer to log.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0, eps: float = 1e-8):
        name = "ReduceLROnPlateau"
        self.optimizer = self._check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        check_number(name, "factor", factor, 0.0, 1.0, high_open=True)
        if factor == 0:
            raise ValueError(f"{name}: factor must be in (0, 1), got {factor!r}")
        check_number(name, "threshold", threshold)
        check_number(name, "eps", eps)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(
                    f"{name}: min_lr has {len(min_lr)} entries, the optimizer has {n} param "
                    "groups"
                )
            min_lrs = list(min_lr)
        else:
            min_lrs = [min_lr] * n
        for i, m in enumerate(min_lrs):
            check_number(name, f"min_lr[{i}]", m)
        self.mode = mode
        self.factor = factor
        self.patience = _check_int(name, "patience", patience, 0)
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = _check_int(name, "cooldown", cooldown, 0)
        self.min_lrs = min_lrs
        self.eps = eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self.last_reduced = False
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, current: float, best: float) -> bool:
        """Does ``current`` improve on ``best`` by more than the threshold?"""
        if self.mode == "min" and self.threshold_mode == "rel":
            return current < best * (1.0 - self.threshold)
        if self.mode == "min":
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        """True while the cooldown after a cut is running."""
        return self.cooldown_counter > 0

    def step(self, metrics: Any) -> None:
        """Record this epoch's metric (a number or a one-element Tensor); cut the rate if it
        has plateaued."""
        try:
            current = float(metrics)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"ReduceLROnPlateau.step: metrics must be a number, got {metrics!r}"
            ) from exc
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        self.last_reduced = False
        if self.num_bad_epochs > self.patience:
            self.last_reduced = self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> bool:
        if len(self.min_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"ReduceLROnPlateau: the optimizer has {len(self.optimizer.param_groups)} param "
                f"groups but min_lrs has {len(self.min_lrs)} (was a group added?)"
            )
        reduced = False
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
                reduced = True
        return reduced

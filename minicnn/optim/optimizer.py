"""Optimizer: the base class of SGD, Adam and AdamW, as ``torch.optim.Optimizer``.

Parameters live in ``param_groups``, each a dict with its own options (``lr``, ...); per
parameter state (momentum buffers, moments) lives in ``state[param]``. Updates change each
parameter's array in place, written with the array's own operators so that NumPy and CuPy
arrays share one code path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.function import enable_grad
from minicnn.tensor import Tensor


def check_number(cls: str, name: str, value: Any, low: float = 0.0,
                 high: float | None = None, high_open: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite real in [low, high] (or [low, high))."""
    ok = (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, bool) and math.isfinite(float(value))
          and float(value) >= low)
    if ok and high is not None:
        ok = float(value) < high if high_open else float(value) <= high
    if not ok:
        hi = "inf)" if high is None else f"{high}" + (")" if high_open else "]")
        raise ValueError(f"{cls}: {name} must be a number in [{low}, {hi}, got {value!r}")


def _is_array(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray)) or backend.is_cupy_array(value)


class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses define ``step``.

    ``params`` is an iterable of Tensors, or of dicts ``{"params": [...], "lr": ...}`` whose
    options override ``defaults`` for that group.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self._check_group(self.defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise ValueError(
                f"{type(self).__name__}: params must be an iterable of Tensors or dicts, "
                "got a single Tensor (wrap it in a list)"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate one group's options (subclasses check their own)."""
        check_number(type(self).__name__, "lr", group["lr"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing ones from ``defaults``)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise ValueError(
                f"{name}: a param group must be a dict, got {type(param_group).__name__}"
            )
        params = param_group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise ValueError(f"{name}: params must be an ordered sequence, got a set")
        elif params is None:
            raise ValueError(f"{name}: a param group needs a 'params' entry")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise ValueError(
                    f"{name}: params[{i}] must be a Tensor, got {type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(f"{name}: params[{i}] is not a leaf tensor (it has a grad_fn)")
            if p.dtype.kind != "f":
                raise ValueError(f"{name}: params[{i}] must be floating, got dtype {p.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a param group holds the same parameter twice")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one param group")
        group = dict(param_group)
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (set to None, or zero it in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` when given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.data, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        """Apply one step to ``p.data`` in place, given its gradient array."""
        raise NotImplementedError(f"{type(self).__name__} does not define _update")

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{options, "params": [index, ...]}]}``.

        Parameters are numbered across the groups in order, as in PyTorch; arrays in the state
        are Tensors sharing the optimizer's memory.
        """
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in g["params"]]
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = {
                        k: Tensor._wrap(v) if _is_array(v) and not isinstance(v, Tensor) else v
                        for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; the groups must hold as many parameters as when it
        was saved. Arrays are copied onto each parameter's device and dtype. Nothing changes
        unless every check passes."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)
            raise ValueError(
                f"{name}.load_state_dict: expected a dict with keys 'state' and 'param_groups', "
                f"got {got}"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} param groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {i} holds {len(sg['params'])} "
                    f"parameters in the state dict, {len(g['params'])} in this optimizer"
                )
            by_index.update(zip((int(k) for k in sg["params"]), g["params"]))
            group = {k: v for k, v in sg.items() if k != "params"}
            group["params"] = g["params"]
            self._check_group(group)
            new_groups.append(group)
        new_state = {}
        for key, saved in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {key}, which no param group "
                    "holds"
                )
            p = by_index[int(key)]
            new_state[p] = {k: self._import(p, int(key), k, v) for k, v in saved.items()}
        self.param_groups = new_groups
        self.state = new_state

    def _import(self, p: Tensor, index: int, key: str, value: Any) -> Any:
        if not _is_array(value):
            return value
        arr = value.data if isinstance(value, Tensor) else value
        if tuple(arr.shape) != p.shape:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: state[{index}][{key!r}] has shape "
                f"{tuple(arr.shape)}, expected the parameter's shape {p.shape}"
            )
        xp = backend.get_array_module(p.data)
        if backend.is_cupy_array(arr) and xp is np:
            arr = arr.get()
        dtype = p.dtype if arr.dtype.kind == "f" else arr.dtype
        return xp.array(arr, dtype=dtype, copy=True)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)

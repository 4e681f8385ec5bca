"""Module: the base class of layers and models, as ``torch.nn.Module``.

A Module owns Parameters, buffers (non-learnable state such as batch norm's running mean) and
child Modules, all registered by plain attribute assignment. Everything that walks the tree
(``parameters``, ``state_dict``, ``train``, ``to``) visits a module's own parameters, then its
buffers, then its children in the order they were assigned, which gives the same key order as
PyTorch.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from minicnn import backend
from minicnn.nn.parameter import Parameter
from minicnn.tensor import Tensor, _as_dtype

_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``handle.remove()`` unregisters the hook.

    Also a context manager: the hook is removed when the ``with`` block ends.
    """

    def __init__(self, hooks: dict[int, Callable[..., Any]]):
        self._hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        """Unregister the hook (a no-op when it is already gone)."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _array_of(value: Any) -> Any:
    """The array behind a state-dict value (a Tensor, a NumPy/CuPy array or a number)."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray) or backend.is_cupy_array(value):
        return value
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return np.asarray(value)
    return None


def _move(arr: Any, device: str) -> Any:
    """``arr`` on ``device`` ('cpu' or 'cuda'), copied only when it is elsewhere."""
    if device == "cpu":
        return arr.get() if backend.is_cupy_array(arr) else arr
    cp = backend.cupy_module()
    if cp is None:
        raise RuntimeError("device 'cuda' needs CuPy (pip install minicnn[gpu])")
    return cp.asarray(arr)


class Module:
    """Base class of every layer and model: subclass it and write ``forward``.

    Attributes that are Parameters, Modules or registered buffers are tracked; calling the
    module runs the forward pre-hooks, ``forward`` and the forward hooks, in that order.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # -- registration ----------------------------------------------------------------------
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() is called "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )

    @staticmethod
    def _check_name(name: Any, what: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(
                f"{what} name must be a non-empty string without '.', got {name!r}"
            )

    def _forget(self, name: str, keep: dict[str, Any]) -> None:
        """Drop ``name`` from every store but ``keep`` (where it keeps its position)."""
        for store in (self._parameters, self._buffers, self._modules):
            if store is not keep:
                store.pop(name, None)
        self._non_persistent_buffers.discard(name)
        self.__dict__.pop(name, None)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, a declared but absent parameter) as ``name``."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise ValueError(
                f"register_parameter({name!r}): param must be a Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._forget(name, self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-learnable Tensor (or None) as ``name``.

        Persistent buffers (the default) are part of ``state_dict``; all buffers move with
        ``to()``.
        """
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise ValueError(
                f"register_buffer({name!r}): tensor must be a Tensor or None, "
                f"got {type(tensor).__name__}"
            )
        if isinstance(tensor, Parameter):
            raise ValueError(
                f"register_buffer({name!r}): got a Parameter; use register_parameter"
            )
        self._forget(name, self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None) as the child ``name``."""
        self._check_init("submodules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise ValueError(
                f"add_module({name!r}): module must be a Module or None, "
                f"got {type(module).__name__}"
            )
        self._forget(name, self._modules)
        self._modules[name] = module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif name in d.get("_parameters", ()):
            if value is not None:
                raise ValueError(
                    f"cannot assign {type(value).__name__} to parameter {name!r} "
                    "(expected a Parameter or None)"
                )
            self._parameters[name] = None
        elif name in d.get("_modules", ()):
            if value is not None:
                raise ValueError(
                    f"cannot assign {type(value).__name__} to submodule {name!r} "
                    "(expected a Module or None)"
                )
            self._modules[name] = None
        elif name in d.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise ValueError(
                    f"cannot assign {type(value).__name__} to buffer {name!r} "
                    "(expected a Tensor or None)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only reached when ordinary lookup fails
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        own = list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(super().__dir__()) | set(own))

    # -- hooks -----------------------------------------------------------------------------
    def register_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; a non-None return
        replaces the output. ``inputs`` is the tuple of positional arguments."""
        if not callable(hook):
            raise ValueError(f"register_forward_hook: hook must be callable, got {hook!r}")
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a non-None return (a tuple or
        one value) replaces the positional inputs."""
        if not callable(hook):
            raise ValueError(f"register_forward_pre_hook: hook must be callable, got {hook!r}")
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # -- walking the tree ------------------------------------------------------------------
    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every descendant, depth first, in order."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant (each once)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, child) for the direct children (each once)."""
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct children."""
        for _, child in self.named_children():
            yield child

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for mod_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a parameter shared by two modules comes once."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of this module (and of its descendants when ``recurse``)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs, persistent or not."""
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer of this module (and of its descendants when ``recurse``)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant, then on this module (e.g. custom init); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: dropout off, batch norm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (False freezes the module); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (set to None, or zero them in place)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # -- state -----------------------------------------------------------------------------
    def _state_items(self, keep_vars: bool = True) -> Iterator[tuple[str, Tensor]]:
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    yield dot + name, p if keep_vars else Tensor._wrap(p.data)
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers:
                    yield dot + name, b if keep_vars else Tensor._wrap(b.data)

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, as detached Tensors that share
        the module's memory (``keep_vars=True`` gives the Parameters themselves)."""
        return OrderedDict((prefix + k, v) for k, v in self._state_items(keep_vars))

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True
                        ) -> IncompatibleKeys:
        """Copy values (Tensors, NumPy/CuPy arrays or numbers) into the parameters and
        buffers, in place and onto their device and dtype.

        With ``strict`` a missing or unexpected key is an error; a shape mismatch always is.
        Nothing is copied unless every check passes. Returns the missing and unexpected keys.
        """
        if not isinstance(state_dict, Mapping):
            raise ValueError(
                f"load_state_dict: state_dict must be a mapping of name -> tensor, "
                f"got {type(state_dict).__name__}"
            )
        own = OrderedDict(self._state_items(keep_vars=True))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        arrays = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            arr = _array_of(state_dict[key])
            if arr is None:
                problems.append(
                    f"{key!r}: expected a Tensor or array, got {type(state_dict[key]).__name__}"
                )
            elif tuple(arr.shape) != target.shape:
                problems.append(
                    f"{key!r}: shape mismatch, expected {target.shape}, got {tuple(arr.shape)}"
                )
            else:
                arrays[key] = arr
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__} failed: " + "; ".join(problems)
            )
        for key, arr in arrays.items():
            target = own[key]
            target.data[...] = _move(arr, target.device)
        return IncompatibleKeys(missing, unexpected)

    # -- devices and dtypes ----------------------------------------------------------------
    def _convert(self, fn: Callable[[Any], Any]) -> None:
        for m in self.modules():
            for t in itertools.chain(m._parameters.values(), m._buffers.values()):
                if t is None:
                    continue
                t.data = fn(t.data)
                if t.grad is not None:
                    t.grad.data = fn(t.grad.data)

    def to(self, target: Any) -> Module:
        """Move parameters and buffers in place to a device ('cpu' or 'cuda'), or cast the
        floating ones to a floating dtype; returns self. Build optimizers after moving."""
        if isinstance(target, str) and target.split(":")[0] in ("cpu", "cuda"):
            device = target.split(":")[0]
            if device == "cuda" and backend.cupy_module() is None:
                raise RuntimeError("device 'cuda' needs CuPy (pip install minicnn[gpu])")
            self._convert(lambda a: _move(a, device))
            return self
        try:
            dtype = None if target is None else _as_dtype(target)
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or dtype.kind != "f":
            raise ValueError(
                f"to(target): target must be 'cpu', 'cuda' or a floating dtype, got {target!r}"
            )
        self._convert(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a)
        return self

    def cuda(self) -> Module:
        """``to('cuda')``."""
        return self.to("cuda")

    def cpu(self) -> Module:
        """``to('cpu')``."""
        return self.to("cpu")

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(np.float32)

    # -- printing --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (its constructor options)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = []
        for name, child in self._modules.items():
            text = repr(child).replace("\n", "\n  ")
            child_lines.append(f"({name}): {text}")
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"

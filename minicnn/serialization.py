"""Checkpoints: ``save(obj, path)`` and ``load(path)``, with no pickled code.

A checkpoint is an ``.npz`` archive written with ``allow_pickle=False``: one entry per array,
plus ``__minicnn_index__``, a UTF-8 JSON document that describes the nested structure (dicts,
lists, tuples, numbers, strings, None) and points at the arrays by name. Loading therefore
never runs code from the file. What can be saved: state dicts of modules, optimizers and
schedulers, RNG states, and any nesting of those.

``save`` writes a temporary file in the target's directory and renames it over the target
(``os.replace``), so a crash mid-write leaves the previous checkpoint intact. ``load`` turns
any unreadable file (truncated, corrupt, or not a minicnn checkpoint) into a
:class:`CheckpointError` that names the path.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from typing import Any

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor

FORMAT = "minicnn-checkpoint"
VERSION = 1
_INDEX = "__minicnn_index__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: truncated, corrupt, or not written by ``save``."""


def _encode(obj: Any, arrays: dict[str, np.ndarray], where: str, active: set[int]) -> Any:
    """The JSON node for ``obj``; arrays go to ``arrays``. ``where`` names obj for errors."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    if isinstance(obj, Tensor) or isinstance(obj, np.ndarray) or backend.is_cupy_array(obj):
        arr = obj.numpy() if isinstance(obj, Tensor) else obj
        if backend.is_cupy_array(arr):
            arr = arr.get()
        if arr.dtype.kind not in "biufcUS":
            raise ValueError(
                f"save: {where} is an array of dtype {arr.dtype}; only numeric, bool and string "
                "arrays can be saved without pickle"
            )
        key = f"a{len(arrays)}"
        arrays[key] = arr
        if isinstance(obj, Tensor):
            return {"type": "tensor", "array": key, "requires_grad": obj.requires_grad}
        return {"type": "ndarray", "array": key}
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise ValueError(f"save: {where} contains itself (a reference cycle)")
        active.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = []
                for k, v in obj.items():
                    if isinstance(k, bool) or not isinstance(k, (str, int, np.integer)):
                        raise ValueError(
                            f"save: {where} has a key {k!r} of type {type(k).__name__}; "
                            "keys must be str or int"
                        )
                    k = k if isinstance(k, str) else int(k)
                    items.append([k, _encode(v, arrays, f"{where}[{k!r}]", active)])
                return {"type": "dict", "items": items}
            kind = "list" if isinstance(obj, list) else "tuple"
            return {"type": kind, "items": [
                _encode(v, arrays, f"{where}[{i}]", active) for i, v in enumerate(obj)
            ]}
        finally:
            active.discard(id(obj))
    raise ValueError(
        f"save: {where} is a {type(obj).__name__}; only Tensors, arrays, numbers, strings, "
        "None and dicts/lists/tuples of them can be saved"
    )


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, arrays, numbers, strings, None)
    to ``path`` atomically. CuPy arrays are saved from host copies; dict keys must be str or
    int."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, arrays, "obj", set())
    index = json.dumps({"format": FORMAT, "version": VERSION, "root": root})
    arrays[_INDEX] = np.frombuffer(index.encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never clobber another writer's file; mode 0o666 lets the umask decide
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where we can
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _decode(node: Any, arrays: dict[str, np.ndarray], path: str, where: str) -> Any:
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or "type" not in node:
        raise CheckpointError(f"{path}: malformed index entry at {where}: {node!r:.80}")
    kind = node["type"]
    if kind in ("tensor", "ndarray"):
        key = node.get("array")
        if key not in arrays:
            raise CheckpointError(f"{path}: {where} refers to array {key!r}, which is missing")
        arr = arrays[key]
        if kind == "ndarray":
            return arr
        grad = bool(node.get("requires_grad", False)) and arr.dtype.kind == "f"
        return Tensor._wrap(arr, requires_grad=grad)
    items = node.get("items")
    if kind in ("list", "tuple") and isinstance(items, list):
        out = [_decode(v, arrays, path, f"{where}[{i}]") for i, v in enumerate(items)]
        return out if kind == "list" else tuple(out)
    if kind == "dict" and isinstance(items, list):
        result = {}
        for item in items:
            if not (isinstance(item, list) and len(item) == 2
                    and isinstance(item[0], (str, int)) and not isinstance(item[0], bool)):
                raise CheckpointError(f"{path}: malformed dict item at {where}: {item!r:.80}")
            result[item[0]] = _decode(item[1], arrays, path, f"{where}[{item[0]!r}]")
        return result
    raise CheckpointError(f"{path}: unknown index entry type {kind!r} at {where}")


def load(path: str | os.PathLike[str]) -> Any:
    """Read what ``save`` wrote. Tensors come back as CPU Tensors (move them with ``.to``
    or let ``load_state_dict`` place them); arrays as NumPy arrays.

    Raises FileNotFoundError (or another OSError) when the file cannot be opened, and
    :class:`CheckpointError` when it is not a complete minicnn checkpoint.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        try:
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise CheckpointError(
                    f"{path}: holds a single .npy array, not a minicnn checkpoint"
                )
            with data:
                if _INDEX not in data.files:
                    raise CheckpointError(
                        f"{path}: an .npz archive without {_INDEX}, not a minicnn checkpoint"
                    )
                index = json.loads(data[_INDEX].tobytes().decode("utf-8"))
                if not isinstance(index, dict) or index.get("format") != FORMAT:
                    raise CheckpointError(f"{path}: the index does not name format {FORMAT!r}")
                if index.get("version") != VERSION:
                    raise CheckpointError(
                        f"{path}: checkpoint version {index.get('version')!r}, this minicnn "
                        f"reads version {VERSION}"
                    )
                arrays = {k: data[k] for k in data.files if k != _INDEX}
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"{path}: not a readable minicnn checkpoint (truncated or corrupt?): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return _decode(index.get("root"), arrays, path, "obj")

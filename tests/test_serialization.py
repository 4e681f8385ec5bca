"""minicnn.save / minicnn.load: round trips, atomic writes, and clear errors for bad files."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn import random as mrandom
from minicnn.serialization import CheckpointError


def _same(a, b):
    """Deep equality that compares arrays by dtype, shape and bits, and NaN as equal."""
    if isinstance(a, minicnn.Tensor):
        assert isinstance(b, minicnn.Tensor) and a.requires_grad == b.requires_grad
        _same(a.numpy(), b.numpy())
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert type(a) is type(b) and a == b


def test_nested_round_trip(tmp_path):
    obj = {
        "tensor": minicnn.Tensor(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "param": nn.Parameter(np.ones((2, 2), dtype=np.float32)),
        "int64": minicnn.from_numpy(np.array(7, dtype=np.int64)),
        "arrays": [np.zeros((0, 3), np.float32), np.array([True, False]),
                   np.arange(4, dtype=np.uint8), np.array(["ab", "c"])],
        3: {"nested": (1, 2.5, None, True, "ü"), 0: []},
        "numbers": [2**100, -1, 0.1, float("inf"), float("-inf"), float("nan")],
        "empty": {},
    }
    path = tmp_path / "obj.ckpt"
    minicnn.save(obj, path)
    back = minicnn.load(path)
    expected = dict(obj, param=minicnn.Tensor(np.ones((2, 2), dtype=np.float32),
                                              requires_grad=True))
    _same(expected, back)
    assert back["int64"].dtype == np.int64


def test_numpy_scalars_become_python_numbers(tmp_path):
    minicnn.save([np.float32(0.5), np.int64(3), np.bool_(True)], tmp_path / "s")
    assert minicnn.load(tmp_path / "s") == [0.5, 3, True]


def test_module_optimizer_scheduler_and_rng_round_trip(tmp_path):
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    x = minicnn.randn(8, 4)
    for metric in (1.0, 1.0, 1.0):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
        sched.step(metric)
    checkpoint = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "rng": mrandom.get_rng_state()}
    minicnn.save(checkpoint, tmp_path / "run.ckpt")
    expected_draw = minicnn.randn(5).numpy()

    loaded = minicnn.load(tmp_path / "run.ckpt")
    minicnn.manual_seed(123)
    model2 = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    opt2 = optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    sched2 = optim.lr_scheduler.ReduceLROnPlateau(opt2, patience=0)
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    sched2.load_state_dict(loaded["scheduler"])
    mrandom.set_rng_state(loaded["rng"])
    np.testing.assert_array_equal(minicnn.randn(5).numpy(), expected_draw)
    assert sched2.get_last_lr() == sched.get_last_lr() and sched2.last_reduced
    assert model2[1].num_batches_tracked.item() == 3
    model.eval()
    model2.eval()
    np.testing.assert_array_equal(model(x).numpy(), model2(x).numpy())
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"],
                                      opt2.state[q]["momentum_buffer"])


def test_file_holds_no_pickle(tmp_path):
    minicnn.save({"w": np.ones(3), "n": 1}, tmp_path / "c.ckpt")
    with np.load(tmp_path / "c.ckpt", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    index = json.loads(arrays.pop("__minicnn_index__").tobytes())
    assert index["format"] == "minicnn-checkpoint"
    assert all(a.dtype != object for a in arrays.values())


def test_save_overwrites_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "c.ckpt"
    minicnn.save({"v": 1}, path)
    minicnn.save({"v": 2}, str(path))
    assert minicnn.load(path) == {"v": 2}
    assert os.listdir(tmp_path) == ["c.ckpt"]


def _crash_midway(*args, **kwargs):
    file = args[0]
    file.write(b"PK\x03\x04 half a checkpoint")
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("target,replacement", [
    ("numpy.savez", _crash_midway),
    ("os.replace", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())),
    ("os.fsync", lambda *a: (_ for _ in ()).throw(OSError("I/O error (simulated)"))),
])
def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, target,
                                                       replacement):
    path = tmp_path / "c.ckpt"
    minicnn.save({"epoch": 1, "w": np.arange(3.0)}, path)
    monkeypatch.setattr(target, replacement)
    with pytest.raises((OSError, KeyboardInterrupt)):
        minicnn.save({"epoch": 2, "w": np.zeros(3)}, path)
    monkeypatch.undo()
    back = minicnn.load(path)
    assert back["epoch"] == 1
    np.testing.assert_array_equal(back["w"], np.arange(3.0))
    assert os.listdir(tmp_path) == ["c.ckpt"]


def _good_bytes(tmp_path) -> bytes:
    minicnn.save({"w": np.arange(500.0), "n": 3}, tmp_path / "good.ckpt")
    return (tmp_path / "good.ckpt").read_bytes()


def _flip_array_byte(data: bytes) -> bytes:
    b = bytearray(data)
    i = b.find(np.arange(500.0)[250:252].tobytes())
    b[i] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize("make", [
    lambda good: good[: len(good) // 2],
    lambda good: good[:-10],
    lambda good: b"",
    lambda good: b"this is not a checkpoint\n" * 20,
    _flip_array_byte,
], ids=["half", "tail-cut", "empty", "text", "flipped-byte"])
def test_truncated_or_corrupt_file_raises_checkpoint_error(tmp_path, make):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(make(_good_bytes(tmp_path)))
    with pytest.raises(CheckpointError, match="bad.ckpt") as info:
        minicnn.load(bad)
    assert isinstance(info.value, ValueError)


def test_foreign_files_raise_checkpoint_error(tmp_path):
    np.save(tmp_path / "arr.npy", np.ones(3))
    with pytest.raises(CheckpointError, match=r"arr.npy: holds a single .npy array"):
        minicnn.load(tmp_path / "arr.npy")
    np.savez(tmp_path / "plain.npz", w=np.ones(3))
    with pytest.raises(CheckpointError, match=r"plain.npz: an .npz archive without"):
        minicnn.load(tmp_path / "plain.npz")
    index = json.dumps({"format": "someone-else", "version": 1, "root": None}).encode()
    np.savez(tmp_path / "other.npz", __minicnn_index__=np.frombuffer(index, np.uint8))
    with pytest.raises(CheckpointError, match="other.npz: the index does not name format"):
        minicnn.load(tmp_path / "other.npz")
    index = json.dumps({"format": "minicnn-checkpoint", "version": 99, "root": None}).encode()
    np.savez(tmp_path / "future.npz", __minicnn_index__=np.frombuffer(index, np.uint8))
    with pytest.raises(CheckpointError, match="future.npz: checkpoint version 99"):
        minicnn.load(tmp_path / "future.npz")
    index = json.dumps({"format": "minicnn-checkpoint", "version": 1,
                        "root": {"type": "ndarray", "array": "a7"}}).encode()
    np.savez(tmp_path / "dangling.npz", __minicnn_index__=np.frombuffer(index, np.uint8))
    with pytest.raises(CheckpointError, match="dangling.npz: obj refers to array 'a7'"):
        minicnn.load(tmp_path / "dangling.npz")


def test_pickled_payload_is_refused(tmp_path):
    index = json.dumps({"format": "minicnn-checkpoint", "version": 1,
                        "root": {"type": "ndarray", "array": "a0"}}).encode()
    np.savez(tmp_path / "evil.npz", a0=np.array([{"x": 1}], dtype=object),
             __minicnn_index__=np.frombuffer(index, np.uint8))
    with pytest.raises(CheckpointError, match="evil.npz"):
        minicnn.load(tmp_path / "evil.npz")


def test_missing_file_is_an_os_error_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        minicnn.load(tmp_path / "nothing.ckpt")
    with pytest.raises(FileNotFoundError):
        minicnn.save({"a": 1}, tmp_path / "no_such_dir" / "c.ckpt")


@pytest.mark.parametrize("obj,match", [
    ({"f": len}, r"obj\['f'\] is a builtin_function_or_method"),
    ({"s": {1, 2}}, r"obj\['s'\] is a set"),
    ([np.array([object()], dtype=object)], r"obj\[0\] is an array of dtype object"),
    ({(1, 2): 3}, "has a key \\(1, 2\\) of type tuple"),
    ({True: 3}, "has a key True of type bool"),
    ([1j], r"obj\[0\] is a complex"),
])
def test_unsupported_objects_raise_before_writing(tmp_path, obj, match):
    with pytest.raises(ValueError, match=match):
        minicnn.save(obj, tmp_path / "x.ckpt")
    assert os.listdir(tmp_path) == []


def test_reference_cycle_raises(tmp_path):
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match=r"obj\[1\] contains itself"):
        minicnn.save(loop, tmp_path / "x.ckpt")
    shared = [1, 2]
    minicnn.save({"a": shared, "b": shared}, tmp_path / "ok.ckpt")  # sharing is not a cycle
    assert minicnn.load(tmp_path / "ok.ckpt") == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.gpu
def test_cupy_arrays_are_saved_from_host_copies(tmp_path):
    cp = minicnn.backend.cupy_module()
    model = nn.Linear(3, 2).to("cuda")
    minicnn.save({"model": model.state_dict(), "raw": cp.arange(4.0)}, tmp_path / "g.ckpt")
    back = minicnn.load(tmp_path / "g.ckpt")
    assert isinstance(back["raw"], np.ndarray)
    np.testing.assert_array_equal(back["raw"], np.arange(4.0))
    np.testing.assert_array_equal(back["model"]["weight"].numpy(), model.weight.data.get())
    fresh = nn.Linear(3, 2).to("cuda")
    fresh.load_state_dict(back["model"])
    assert minicnn.backend.is_cupy_array(fresh.weight.data)
    np.testing.assert_array_equal(fresh.weight.data.get(), model.weight.data.get())

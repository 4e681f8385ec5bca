"""Whole-network gradient checks: they pass on the zoo's small networks, fail on a wrong
backward, and never straddle a kink."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import models, nn
from minicnn.cli import main
from minicnn.function import Function
from minicnn.netcheck import (
    KinkError,
    _ce_grad,
    _element_derivative,
    _KinkRecorder,
    _training_loss,
    _window_argmax,
    check_network,
)
from minicnn.tensor import Tensor

# one of each kind of layer: LRN, groups and dropout (alexnet); BN and projections
# (resnet18); pre-activation (preact_resnet18); zero-padding shortcuts (resnet20)
FAST = ["alexnet", "zfnet", "vgg11", "resnet18", "preact_resnet18", "resnet20"]


def _check(name: str, **kw: Any) -> Any:
    minicnn.manual_seed(0)
    model = models.get(name, small=True)
    return check_network(model, models.input_shape(name, small=True), name=name, **kw)


@pytest.mark.parametrize("name", FAST)
def test_small_network_passes(name: str) -> None:
    result = _check(name)
    assert result.passed, str(result)
    n_params = len(list(models.get(name, small=True).parameters()))
    assert len(result.tensors) == n_params + 1  # every parameter tensor and the input
    assert all(t.elements == 3 for t in result.tensors)
    assert result.directional_rel_error < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in models.names() if n not in FAST])
def test_small_network_passes_slow(name: str) -> None:
    result = _check(name)
    assert result.passed, str(result)


class _Scale(Function):
    """y = 2x with a backward that is off by ``error`` (relative)."""

    def forward(self, x: Any, error: float) -> Any:
        return 2 * x

    def backward(self, gy: Any) -> tuple[Any, None]:
        return gy * 2 * (1 + self.inputs[1]), None


class _BadBias(nn.Module):
    """Adds a bias whose gradient is scaled by 1 + error; the input's gradient is right."""

    def __init__(self, n: int, error: float):
        super().__init__()
        self.bias = nn.Parameter(minicnn.zeros(n))
        self.error = error

    def forward(self, x: Tensor) -> Tensor:
        return x + _Scale.apply(self.bias, self.error) * 0.5


def _net(error: float) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 5), _BadBias(5, error))


def test_detects_a_small_error_in_one_tensor() -> None:
    minicnn.manual_seed(1)
    assert check_network(_net(0.0), (1, 8, 8)).passed
    minicnn.manual_seed(1)
    result = check_network(_net(1e-3), (1, 8, 8))
    assert not result.passed
    failed = [t.name for t in result.tensors if not t.passed]
    assert failed == ["4.bias"]
    assert 5e-4 < result.tensors[-2].max_rel_error < 2e-3
    assert "FAIL" in str(result) and "FAILED" in str(result)


def test_window_argmax_matches_a_loop() -> None:
    rng = np.random.default_rng(0)
    for k, s, p, ceil in [(3, 2, 0, False), (3, 2, 1, True), (2, 2, 0, False),
                          (3, 1, 1, False), (3, 2, 0, True)]:
        x = rng.standard_normal((2, 3, 9, 10))
        pool = nn.MaxPool2d(k, s, p, ceil_mode=ceil)
        y = pool(Tensor(x))
        got = _window_argmax(x, pool, y.shape[2:])
        oh, ow = y.shape[2:]
        xp = np.pad(x, ((0, 0), (0, 0), (p, p + k), (p, p + k)), constant_values=-np.inf)
        for i in range(oh):
            for j in range(ow):
                win = xp[:, :, i * s : i * s + k, j * s : j * s + k].reshape(2, 3, -1)
                np.testing.assert_array_equal(got[:, :, i, j], win.argmax(-1))
                # the winner is the pooled value
                np.testing.assert_array_equal(win.max(-1), y.numpy()[:, :, i, j])


def test_kink_recorder_sees_sign_and_winner_changes() -> None:
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    rec = _KinkRecorder(model)
    x = np.array([[[[1.0, -2.0], [0.5, 0.7]]]])
    model(Tensor(x))
    base = rec.take()
    model(Tensor(x * 1.0001))
    assert all(np.array_equal(a, b) for a, b in zip(rec.take(), base))
    x2 = x.copy()
    x2[0, 0, 1, 1] = 1.1  # a new winner, same signs
    model(Tensor(x2))
    after = rec.take()
    assert np.array_equal(after[0], base[0]) and not np.array_equal(after[1], base[1])
    rec.remove()
    model(Tensor(x))
    assert rec.take() == []


def test_element_derivative_shrinks_the_step_at_a_kink() -> None:
    flat = np.array([0.0, 1.0])
    steps = []

    def contracted() -> tuple[float, bool]:
        steps.append(flat[1] - 1.0)
        return 3.0 * flat[1], abs(flat[1] - 1.0) < 5e-6  # a kink 5e-6 away

    d = _element_derivative(flat, 1, 1e-5, contracted)
    assert d == pytest.approx(3.0)
    assert flat[1] == 1.0  # restored
    assert np.allclose(np.abs(steps), [1e-5, 1e-5, 1e-6, 1e-6])

    def always_kinked() -> tuple[float, bool]:
        return 0.0, False

    assert _element_derivative(flat, 0, 1e-5, always_kinked) is None
    assert flat[0] == 0.0


def test_inputs_on_a_kink_are_redrawn_or_reported() -> None:
    def net() -> nn.Module:
        lin = nn.Linear(3, 2)
        lin.weight.data[...] = 0  # pre-activations equal the bias
        lin.bias.data[...] = 0
        return nn.Sequential(nn.Flatten(), lin, nn.ReLU(), nn.Linear(2, 3))

    with pytest.raises(KinkError, match="kinks"):
        check_network(net(), (3, 1, 1), bias_std=0.0, max_draws=2)
    # with the biases moved off zero the same network checks fine
    assert check_network(net(), (3, 1, 1)).passed


def test_training_loss_includes_the_aux_heads() -> None:
    model = models.get("googlenet", small=True).double()
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)))
    target = minicnn.tensor([3, 4], dtype="int64")
    minicnn.manual_seed(5)
    out = model(x)
    loss = _training_loss(model, out, target).item()
    expect = sum(w * F.cross_entropy(o, target).item()
                 for o, w in zip(out, (1.0, 0.3, 0.3)))
    assert loss == pytest.approx(expect, rel=1e-12)


def test_ce_grad_is_the_cross_entropy_gradient() -> None:
    z = np.random.default_rng(1).standard_normal((4, 6))
    t = np.array([0, 5, 2, 2])
    zt = Tensor(z, requires_grad=True)
    (0.3 * F.cross_entropy(zt, Tensor(t, dtype=np.int64))).backward()
    np.testing.assert_allclose(_ce_grad(z, t, 0.3), zt.grad.numpy(), rtol=1e-12)


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "zfnet", "--small", "--elements", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "features.0.weight" in out and "PASSED" in out and "seed 3" in out
    assert main(["gradcheck", "lenet", "--small"]) == 2
    assert "unknown network" in capsys.readouterr().err


def test_cli_all(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # "all" walks the registry; two networks stand for it here (the slow test above runs
    # every one of them)
    monkeypatch.setattr(models, "names", lambda: ["zfnet", "vgg11"])
    assert main(["gradcheck", "all", "--small", "--quiet", "--elements", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("whole-network gradient checks in float64 with the numpy")
    assert out[1].startswith("zfnet (small): PASSED")
    assert any(line.startswith("vgg11 (small)") and line.endswith("ok") for line in out)
    assert out[-1].startswith("2 of 2 networks passed")

"""Whole-network gradient checks: backward through an entire model against central differences.

:func:`check_network` runs a model in float64 on a small batch, in training mode (batch norm
uses batch statistics; dropout draws a fixed mask, because the global generator is re-seeded
before every forward pass), with the training loss: cross-entropy of the logits, plus
``aux_loss_weight`` times the auxiliary heads' cross-entropies when the model returns them
(GoogLeNet). Then it checks

1. a directional derivative over every parameter and the input together: for a random unit
   direction v, the analytic ``<grad L, v>`` against
   ``(L(theta + eps v) - L(theta - eps v)) / (2 eps)``;
2. per element, on a sample of every parameter tensor and of the input (the element with the
   largest gradient and random others): ``dL/dtheta_i`` against
   ``(L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)``.

The relative error of a pair (a, n) is ``|a - n| / max(|a|, |n|, floor)``; ``floor`` keeps
gradients that are zero up to rounding (a dead unit's weights) from dividing by nothing.

Kinks: a difference quotient is only meaningful where the loss is smooth between the two
points. Forward hooks record every ReLU's sign pattern and every max pool's winning window
position; a perturbed pass whose pattern differs from the unperturbed one has crossed a kink.
Such an element is replaced by another one of the same tensor, and when the directional pass
crosses one the inputs are redrawn, so results are not flaky and no check straddles a kink.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minicnn import functional as F
from minicnn import nn
from minicnn import random as _random
from minicnn.function import no_grad
from minicnn.tensor import Tensor


class KinkError(RuntimeError):
    """The inputs could not be moved off the loss's kinks within the allowed redraws."""


@dataclass
class TensorCheck:
    """The per-element check of one tensor: how many elements, the worst relative error."""

    name: str
    shape: tuple[int, ...]
    elements: int
    max_rel_error: float
    passed: bool
    skipped: int = 0


@dataclass
class NetCheck:
    """The result of :func:`check_network`; ``str()`` is the printed table."""

    model: str
    seed: int
    attempts: int
    direction_elements: int
    directional_analytic: float
    directional_numeric: float
    directional_rel_error: float
    directional_passed: bool
    tensors: list[TensorCheck] = field(default_factory=list)
    seconds: float = 0.0
    rtol: float = 0.0

    @property
    def passed(self) -> bool:
        """True when the directional check and every per-element check passed."""
        return self.directional_passed and all(t.passed for t in self.tensors)

    @property
    def max_rel_error(self) -> float:
        """The worst relative error of the whole check."""
        return max([self.directional_rel_error] + [t.max_rel_error for t in self.tensors])

    def __str__(self) -> str:
        rows = [("tensor", "shape", "elements", "max rel error", "")]
        rows.append(("(all, along a random direction)", "-", f"{self.direction_elements:,}",
                     f"{self.directional_rel_error:.2e}",
                     "ok" if self.directional_passed else "FAIL"))
        for t in self.tensors:
            note = "ok" if t.passed else "FAIL"
            if t.skipped:
                note += f" ({t.skipped} at kinks redrawn)"
            rows.append((t.name, "x".join(str(s) for s in t.shape), str(t.elements),
                         f"{t.max_rel_error:.2e}", note))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = []
        for k, r in enumerate(rows):
            lines.append("  ".join(c.rjust(w) if i in (2, 3) else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(
            f"{self.model}: {verdict}, max relative error {self.max_rel_error:.2e} "
            f"(tolerance {self.rtol:.0e}), {sum(t.elements for t in self.tensors)} elements "
            f"in {len(self.tensors)} tensors, seed {self.seed}, "
            f"{self.attempts} draw(s), {self.seconds:.1f}s"
        )
        return "\n".join(lines)


# -- kink detection ----------------------------------------------------------------------------
def _window_argmax(x: np.ndarray, module: nn.MaxPool2d, out_hw: tuple[int, int]) -> np.ndarray:
    """Index of the winning element in every max-pool window (padding never wins)."""
    k = module.kernel_size if isinstance(module.kernel_size, tuple) else (module.kernel_size,) * 2
    s = module.stride if isinstance(module.stride, tuple) else (module.stride,) * 2
    p = module.padding if isinstance(module.padding, tuple) else (module.padding,) * 2
    oh, ow = out_hw
    h, w = x.shape[2:]
    extra_h = max(0, (oh - 1) * s[0] + k[0] - (h + 2 * p[0]))
    extra_w = max(0, (ow - 1) * s[1] + k[1] - (w + 2 * p[1]))
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0] + extra_h), (p[1], p[1] + extra_w)),
                constant_values=-np.inf)
    win = sliding_window_view(xp, k, axis=(2, 3))[:, :, :: s[0], :: s[1]][:, :, :oh, :ow]
    return win.reshape(win.shape[:4] + (-1,)).argmax(axis=-1)


class _KinkRecorder:
    """Forward hooks that record the ReLU sign patterns and max-pool winners of one pass."""

    def __init__(self, model: nn.Module):
        self.patterns: list[np.ndarray] = []
        self.handles = []
        for m in model.modules():
            if isinstance(m, nn.ReLU):
                self.handles.append(m.register_forward_hook(self._relu))
            elif isinstance(m, nn.MaxPool2d):
                self.handles.append(m.register_forward_hook(self._pool))

    def _relu(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self.patterns.append(np.asarray(inputs[0].data) > 0)

    def _pool(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        out = output[0] if isinstance(output, tuple) else output
        x = np.asarray(inputs[0].data)
        if x.ndim == 3:
            x = x[None]
        self.patterns.append(_window_argmax(x, module, tuple(out.shape[-2:])))

    def take(self) -> list[np.ndarray]:
        p, self.patterns = self.patterns, []
        return p

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y)
                                    for x, y in zip(a, b))


# -- the check ---------------------------------------------------------------------------------
def _outputs(model: nn.Module, out: Any) -> list[tuple[Tensor, float]]:
    """(output, loss weight): the logits with weight 1, auxiliary logits with the model's
    ``aux_loss_weight`` (GoogLeNet's 0.3)."""
    if isinstance(out, Tensor):
        return [(out, 1.0)]
    logits, *aux = [o for o in out if isinstance(o, Tensor)]
    weight = float(getattr(model, "aux_loss_weight", 1.0))
    return [(logits, 1.0)] + [(a, weight) for a in aux]


def _training_loss(model: nn.Module, out: Any, target: Tensor) -> Tensor:
    """Cross-entropy of the logits plus the auxiliary heads' weighted cross-entropies."""
    loss = None
    for o, w in _outputs(model, out):
        term = F.cross_entropy(o, target)
        loss = term if loss is None else loss + w * term
    return loss


def _ce_grad(z: np.ndarray, target: np.ndarray, weight: float) -> np.ndarray:
    """d(weight * mean cross-entropy)/dz = weight (softmax(z) - onehot) / N, in NumPy."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(target)), target] -= 1.0
    return weight * p / len(target)


def _rel(a: float, n: float, floor: float) -> float:
    return abs(a - n) / max(abs(a), abs(n), floor)


def check_network(model: nn.Module, input_shape: tuple[int, int, int], seed: int = 0,
                  batch_size: int = 2, elements: int = 3, eps: float = 1e-5,
                  rtol: float = 1e-4, floor: float = 1e-9, max_draws: int = 5,
                  bias_std: float = 0.1, name: str | None = None,
                  progress: Callable[[str], None] | None = None) -> NetCheck:
    """Gradient-check ``model`` whole, on ``batch_size`` random inputs of ``input_shape``.

    The model is cast to float64 and put in training mode (in place). The analytic gradient
    is minicnn's backward of the training loss (cross-entropy, plus GoogLeNet's weighted
    auxiliary losses). The numeric side differentiates the network's outputs and contracts
    them with the loss's gradient at the unperturbed point, computed independently in NumPy,
    ``u = d loss / d outputs``: ``n = sum u . (out(theta + eps e) - out(theta - eps e)) /
    (2 eps)``, which equals the loss's derivative wherever the network is smooth but, unlike
    differencing the loss itself (about log C whatever the weights), keeps float64's precision
    when the logits are small.

    Biases are redrawn from N(0, ``bias_std``^2) first (0 keeps them as they are): at their
    initial value 0, a unit whose inputs are all zero (a pixel where every map of a narrow
    layer was cut by ReLU) sits exactly on the next ReLU's kink, for every draw of the inputs.

    ``elements`` elements of every parameter tensor and of the input are checked one by one
    (the largest gradient and random others). An element whose perturbation crosses a kink is
    tried again with eps/10 and eps/100, then replaced by another; inputs are redrawn (up to
    ``max_draws`` draws) when the directional check crosses one. A check passes when every
    relative error is at most ``rtol``. Returns a :class:`NetCheck` (look at ``.passed``);
    raises :class:`KinkError` if no draw is smooth.
    """
    if elements < 1:
        raise ValueError(f"check_network: elements must be >= 1, got {elements}")
    if batch_size < 1:
        raise ValueError(f"check_network: batch_size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    rng_state = _random.get_rng_state()
    model.double()
    model.train()
    params = list(model.named_parameters())
    if bias_std > 0:
        for pname, p in params:
            if pname.rsplit(".", 1)[-1] == "bias":
                p.data[...] = rng.normal(0.0, bias_std, p.shape)
    recorder = _KinkRecorder(model)
    try:
        for attempt in range(1, max_draws + 1):
            mask_seed = int(rng.integers(2**31))
            x = Tensor(rng.standard_normal((batch_size,) + tuple(input_shape)),
                       requires_grad=True)
            result = _check_once(model, params, x, rng, mask_seed, recorder, elements, eps,
                                 rtol, floor, progress)
            if result is not None:
                result.model = name or type(model).__name__
                result.seed, result.attempts = seed, attempt
                result.seconds = time.perf_counter() - t0
                return result
            if progress:
                progress("the inputs sit on a kink: redrawing them")
        raise KinkError(f"check_network: {max_draws} draws of the inputs all sat on kinks")
    finally:
        recorder.remove()
        _random.set_rng_state(rng_state)


def _check_once(model: nn.Module, params: list[tuple[str, nn.Parameter]], x: Tensor,
                rng: np.random.Generator, mask_seed: int, recorder: _KinkRecorder,
                elements: int, eps: float, rtol: float, floor: float,
                progress: Callable[[str], None] | None) -> NetCheck | None:
    tensors = [(n, p) for n, p in params] + [("input", x)]
    _random.manual_seed(mask_seed)
    out = model(x)
    outs = _outputs(model, out)
    target_np = rng.integers(0, outs[0][0].shape[1], size=x.shape[0])
    target = Tensor(target_np, dtype=np.int64)
    base_patterns = recorder.take()
    us = [_ce_grad(np.asarray(o.data, np.float64), target_np, w) for o, w in outs]
    for _, t in tensors:
        t.grad = None
    _training_loss(model, out, target).backward()
    grads = [np.zeros(t.shape) if t.grad is None else np.array(t.grad.data, np.float64)
             for _, t in tensors]

    def contracted() -> tuple[float, bool]:
        """sum u . outputs at the current point, and whether no kink was crossed."""
        with no_grad():
            _random.manual_seed(mask_seed)
            o = _outputs(model, model(x))
        value = sum(float((u * np.asarray(t.data)).sum()) for u, (t, _) in zip(us, o))
        return value, _same(recorder.take(), base_patterns)

    # 1. one random unit direction over every parameter and the input
    dirs = [rng.standard_normal(t.shape) for _, t in tensors]
    norm = np.sqrt(sum(float((d * d).sum()) for d in dirs))
    dirs = [d / norm for d in dirs]
    origs = [t.data.copy() for _, t in tensors]
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, dirs))
    numeric = None
    for h in _steps(eps):
        values, smooth = [], True
        for sign in (1.0, -1.0):
            for (_, t), o, d in zip(tensors, origs, dirs):
                t.data[...] = o + sign * h * d
            value, ok = contracted()
            values.append(value)
            smooth = smooth and ok
        if smooth:
            numeric = (values[0] - values[1]) / (2 * h)
            break
    for (_, t), o in zip(tensors, origs):
        t.data[...] = o
    if numeric is None:
        return None
    drel = _rel(analytic, numeric, floor)
    result = NetCheck("", 0, 0, sum(t.numel() for _, t in tensors), analytic, numeric, drel,
                      drel <= rtol, rtol=rtol)

    # 2. elements of every tensor
    for (tname, t), g in zip(tensors, grads):
        if not t.data.flags.c_contiguous:
            t.data = np.ascontiguousarray(t.data)
        flat = t.data.reshape(-1)
        gflat = g.reshape(-1)
        want = min(elements, flat.size)
        order = [int(np.argmax(np.abs(gflat)))]
        order += [int(i) for i in rng.permutation(flat.size) if i != order[0]]
        worst, done, skipped = 0.0, 0, 0
        for j in order:
            if done == want or skipped > 4 * want:
                break
            numeric = _element_derivative(flat, j, eps, contracted)
            if numeric is None:
                skipped += 1
                continue
            worst = max(worst, _rel(float(gflat[j]), numeric, floor))
            done += 1
        if done < want:
            return None  # this draw sits on too many kinks
        result.tensors.append(TensorCheck(tname, t.shape, done, worst, worst <= rtol, skipped))
        if progress:
            progress(f"{tname}: {done} elements, max rel error {worst:.2e}")
    return result


def _steps(eps: float) -> tuple[float, ...]:
    """The steps tried in turn until one crosses no kink: eps, eps/10, ... eps/10^4. Deep
    batch-norm nets without shortcuts amplify a perturbation by orders of magnitude on its
    way to the last layers (their gradients explode with depth), so plain-56 needs the small
    ones; the contracted outputs keep them precise."""
    return tuple(eps / 10**i for i in range(5))


def _element_derivative(flat: np.ndarray, j: int, eps: float,
                        contracted: Callable[[], tuple[float, bool]]) -> float | None:
    """The central difference at element j with the first of :func:`_steps` that crosses no
    kink; None when all of them do."""
    orig = flat[j].item()
    try:
        for h in _steps(eps):
            flat[j] = orig + h
            vp, ok_p = contracted()
            flat[j] = orig - h
            vm, ok_m = contracted()
            if ok_p and ok_m:
                return (vp - vm) / (2 * h)
        return None
    finally:
        flat[j] = orig

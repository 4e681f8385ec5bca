"""The training loop behind ``minicnn train``: fit, evaluate, checkpoints, curves, ensembles.

:func:`fit` trains any model on a :class:`~minicnn.data.DataLoader`; :func:`train` is the whole
job of the command line (data, model, optimizer and schedule from a :class:`TrainConfig` and
the per-network :data:`RECIPES`), and :func:`resume` continues a run from its ``last.npz``.

What the loop takes from the case studies: the learning rate is cut whenever validation
plateaus (AlexNet, section 5: "divide the learning rate by 10 when the validation error rate
stopped improving"), GoogLeNet's auxiliary classifiers add their losses at weight 0.3 while
training only (Szegedy et al. 2015, section 5), and several checkpoints can be evaluated as an
ensemble by averaging their softmax outputs (AlexNet's 7-CNN, VGG's and GoogLeNet's ensembles).

Checkpoints (``best.npz``, ``last.npz``) hold the model, optimizer and scheduler states, the
epoch and step, the history and the random state, written atomically by ``minicnn.save``: a
run resumed from ``last.npz`` reproduces the losses of an uninterrupted run bit for bit.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from minicnn import backend
from minicnn import random as mrandom
from minicnn.function import no_grad
from minicnn.tensor import Tensor

FORMAT = "minicnn-checkpoint-1"


# -- per-network defaults ---------------------------------------------------------------------
@dataclass
class Recipe:
    """Default hyperparameters of one network for ``minicnn train NAME --small``."""

    epochs: int = 12
    batch_size: int = 32
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "plateau"
    augment: bool | None = None  # None: the dataset's default (off for digits)


#: Defaults that bring every small network of the zoo to >= 95% test accuracy on ``digits``.
#: The networks without batch norm start from the case studies' initialisation (fully
#: connected layers N(0, 0.01^2)), whose narrow small-version heads pass a tiny signal at
#: first: Adam's scale-free steps get them moving within an epoch or two where SGD crawls,
#: and the learning rate is cut when validation plateaus (AlexNet, VGG). VGG-16 without batch
#: norm is the slowest to start (the VGG paper initialised it from VGG-11). The batch-norm
#: ResNets train with SGD and momentum and the ResNet paper's step schedule: their validation
#: loss jumps about at a high rate, so a plateau rule would cut it at random.
_ADAM = {"optimizer": "adam", "weight_decay": 0.0, "batch_size": 16}
_SGD_BN = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
           "batch_size": 32, "epochs": 12, "schedule": "step"}
RECIPES: dict[str, Recipe] = {
    "alexnet": Recipe(epochs=12, lr=0.002, **_ADAM),
    "zfnet": Recipe(epochs=12, lr=0.002, **_ADAM),
    "vgg11": Recipe(epochs=20, lr=0.001, **_ADAM),
    "vgg16": Recipe(epochs=36, lr=0.001, **_ADAM),
    "nin": Recipe(epochs=12, lr=0.002, **_ADAM),
    "googlenet": Recipe(epochs=8, lr=0.001, **_ADAM),
    "resnet18": Recipe(**_SGD_BN),
    "resnet50": Recipe(**_SGD_BN),
    "preact_resnet18": Recipe(**_SGD_BN),
    "wrn16_8": Recipe(**_SGD_BN),
    "plain20": Recipe(**_SGD_BN),
}


def recipe(model: str) -> Recipe:
    """The defaults for ``model`` (a generic recipe for networks not listed)."""
    key = model.lower().replace("-", "_")
    return RECIPES.get(key, RECIPES.get(key.replace("_", ""), Recipe()))


# -- optimizers and schedules -----------------------------------------------------------------
def make_optimizer(
    params: Any, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> Any:
    """``sgd`` (with momentum), ``adam`` or ``adamw`` over ``params``."""
    from minicnn import optim

    name = name.lower()
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw', got {name!r}")


def make_scheduler(optimizer: Any, name: str, epochs: int) -> Any:
    """``plateau`` (divide by 10 after 3 epochs without a better validation loss), ``step``
    (divide by 10 at 1/2 and 3/4 of the run, the ResNet paper's schedule), ``cosine`` (to 0
    over the run) or ``none``."""
    from minicnn.optim import lr_scheduler

    name = name.lower()
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=3)
    if name == "step":
        marks = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        return lr_scheduler.MultiStepLR(optimizer, milestones=marks, gamma=0.1)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if name == "none":
        return None
    raise ValueError(f"schedule must be 'plateau', 'step', 'cosine' or 'none', got {name!r}")


# -- devices ------------------------------------------------------------------------------------
def check_device(device: str) -> str:
    """``device`` if it can be used here, else a RuntimeError that says what is missing."""
    if device == "cpu":
        return device
    if device != "cuda":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if backend.cupy_module() is None:
        raise RuntimeError(
            "device 'cuda' needs CuPy, which is not installed: pip install 'minicnn[gpu]' "
            "(CuPy for CUDA 12), or use --device cpu"
        )
    if not backend.gpu_available():
        raise RuntimeError(
            "device 'cuda': CuPy is installed but sees no CUDA device (driver or GPU missing); "
            "use --device cpu"
        )
    return device


# -- loss, accuracy, evaluation ------------------------------------------------------------------
def split_output(out: Any) -> tuple[Tensor, list[Tensor]]:
    """``(logits, aux_logits)``: a model returns logits, or a tuple whose first entry is the
    logits and whose others are auxiliary heads (GoogLeNet's ``GoogLeNetOutputs`` in train mode)."""
    if isinstance(out, Tensor):
        return out, []
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0], [a for a in out[1:] if a is not None]
    raise ValueError(
        f"the model returned {type(out).__name__}; expected logits or (logits, aux, ...)"
    )


def training_loss(model: Any, out: Any, y: Tensor, aux_weight: float | None = None
                  ) -> tuple[Tensor, Tensor]:
    r"""``(loss, logits)``: :math:`\mathrm{CE}(z, y) + w \sum_k \mathrm{CE}(a_k, y)`.

    ``w`` is ``aux_weight``, else the model's ``aux_loss_weight`` (0.3 for GoogLeNet), else
    0.3; it only matters for models with auxiliary heads.
    """
    from minicnn import functional as F

    logits, aux = split_output(out)
    loss = F.cross_entropy(logits, y)
    if aux:
        w = aux_weight if aux_weight is not None else getattr(model, "aux_loss_weight", 0.3)
        for a in aux:
            loss = loss + F.cross_entropy(a, y) * float(w)
    return loss, logits


def _correct(logits: Tensor, y: Tensor) -> int:
    return int((logits.data.argmax(axis=1) == y.data).sum())


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    was = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was)


def predict_proba(model: Any, loader: Any, device: str = "cpu"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities ``(N, classes)`` of ``model`` (eval mode) over ``loader``, and the
    labels, both as NumPy arrays (float64, int64) in the loader's order."""
    logps, labels = [], []
    with _eval_mode(model):
        for x, y in loader:
            logits, _ = split_output(model(x.to(device)))
            z = np.asarray(logits.numpy(), dtype=np.float64)
            z = z - z.max(axis=1, keepdims=True)
            logps.append(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))
            labels.append(y.numpy())
    return np.exp(np.concatenate(logps)), np.concatenate(labels)


def evaluate(model: Any, loader: Any, device: str = "cpu") -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` in eval mode: ``{'loss', 'accuracy', 'n'}``."""
    probs, labels = predict_proba(model, loader, device)
    return scores(probs, labels)


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{'loss', 'accuracy', 'n'}`` of class probabilities ``(N, classes)`` against labels."""
    p = np.maximum(probs[np.arange(labels.size), labels], np.finfo(np.float64).tiny)
    return {
        "loss": float(-np.log(p).mean()),
        "accuracy": float((probs.argmax(axis=1) == labels).mean()),
        "n": int(labels.size),
    }


def ensemble(probs: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Scores of the ensemble that averages the members' softmax outputs."""
    if not probs:
        raise ValueError("ensemble: no members")
    for i, p in enumerate(probs):
        if p.shape != probs[0].shape:
            raise ValueError(
                f"ensemble: member {i} gives probabilities of shape {p.shape}, member 0 "
                f"{probs[0].shape}"
            )
    return scores(np.mean(probs, axis=0), labels)


# -- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write a training state (nested dicts of Tensors, arrays and plain values) to ``path``
    with :func:`minicnn.save`: an ``.npz`` with no pickle, written to a temporary file and
    renamed, so a crash mid-write leaves the previous file intact."""
    from minicnn import serialization

    serialization.save({"format": FORMAT, **state}, path)


def load_checkpoint(path: str) -> dict[str, Any]:
    """The state written by :func:`save_checkpoint`; errors name the file.

    ``ck["model"]`` is a state dict for ``model.load_state_dict``.
    """
    from minicnn import serialization

    try:
        state = serialization.load(path)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"checkpoint {path} does not exist") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(
            f"{path}: a minicnn.save file, but not a training checkpoint (format "
            f"{state.get('format') if isinstance(state, dict) else None!r}, expected {FORMAT!r})"
        )
    return state


def _all_finite(model: Any) -> bool:
    for p in model.parameters():
        xp = backend.get_array_module(p.data)
        if not bool(xp.isfinite(p.data).all()):
            return False
    return True


# -- the loop -------------------------------------------------------------------------------------
class NonFiniteLossError(RuntimeError):
    """Training met a NaN or infinite loss; no checkpoint was written with it."""

    def __init__(self, epoch: int, step: int, value: float, last_good: str | None,
                 what: str = "loss"):
        self.epoch, self.step, self.value, self.last_good = epoch, step, value, last_good
        where = (
            f"the last good checkpoint is {last_good}" if last_good
            else "no checkpoint had been written yet"
        )
        found = f"non-finite loss ({value})" if what == "loss" else f"non-finite {what}"
        super().__init__(
            f"{found} at epoch {epoch}, step {step}; training stopped and nothing was saved "
            f"from this step: {where}. Try a smaller --lr."
        )


@dataclass
class FitResult:
    """What :func:`fit` returns: the per-epoch history and how the run ended."""

    history: list[dict[str, float]]
    test: dict[str, float] | None = None
    interrupted: bool = False
    out_dir: str | None = None
    best_epoch: int | None = None
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float | None:
        return None if self.test is None else self.test["accuracy"]


class _StopFlag:
    """The first Ctrl-C asks the loop to stop after the current step; the second one is an
    ordinary KeyboardInterrupt."""

    def __init__(self) -> None:
        self.set = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        self.set = True
        signal.signal(signal.SIGINT, self._old)

    def __enter__(self) -> _StopFlag:
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: Ctrl-C cannot reach us anyway
            self._old = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGINT, self._old)


def _lr(optimizer: Any) -> float:
    return float(optimizer.param_groups[0]["lr"])


def _fmt_epoch(rec: dict[str, Any], epochs: int) -> str:
    width = len(str(epochs))
    line = (
        f"epoch {rec['epoch']:>{width}}/{epochs}  train loss {rec['train_loss']:.4f} "
        f"acc {100 * rec['train_acc']:5.1f}%"
    )
    if rec.get("val_loss") is not None:
        line += f"  val loss {rec['val_loss']:.4f} acc {100 * rec['val_acc']:5.1f}%"
    return line + f"  lr {rec['lr']:.3g}  {rec['seconds']:.1f}s  {rec['images_per_s']:.0f} img/s"


def fit(
    model: Any,
    train_loader: Any,
    val_loader: Any = None,
    *,
    epochs: int,
    optimizer: Any,
    scheduler: Any = None,
    device: str = "cpu",
    out_dir: str | None = None,
    test_loader: Any = None,
    meta: dict[str, Any] | None = None,
    resume_from: str | None = None,
    aux_weight: float | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_step: Callable[[int, int, float], None] | None = None,
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs and return its :class:`FitResult`.

    Each epoch runs every batch of ``train_loader`` (``loss.backward()``, ``optimizer.step()``),
    then scores ``val_loader``, steps ``scheduler`` (``ReduceLROnPlateau`` gets the validation
    loss) and, with ``out_dir``, writes ``last.npz``, ``best.npz`` (best validation accuracy),
    ``metrics.json`` and ``metrics.csv``; ``curves.png`` at the end. The final model is scored
    on ``test_loader``. ``meta`` is stored in the checkpoints as it is (what is needed to
    rebuild the model). ``resume_from`` continues from a ``last.npz``. ``on_step(epoch, step,
    loss)`` is called after every step.

    The first Ctrl-C stops after the current step and saves ``last.npz`` (the run can be
    resumed); a non-finite loss raises :class:`NonFiniteLossError` before anything is saved.
    """
    from minicnn.optim import lr_scheduler

    check_device(device)
    meta = dict(meta or {})
    history: list[dict[str, Any]] = []
    start_epoch, start_step = 1, 0
    partial = {"loss_sum": 0.0, "correct": 0, "count": 0, "seconds": 0.0}
    best = {"val_acc": -1.0, "val_loss": math.inf, "epoch": None}
    if resume_from is not None:
        ck = load_checkpoint(resume_from)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        if scheduler is not None and ck.get("scheduler") is not None:
            scheduler.load_state_dict(ck["scheduler"])
        history = list(ck["history"])
        start_epoch, start_step = int(ck["epoch"]), int(ck["step"])
        partial = dict(ck["partial"])
        best = dict(ck["best"])
        mrandom.set_rng_state(ck["rng"]["cpu"])
        meta = {**ck.get("meta", {}), **meta}
        if start_step >= len(train_loader):
            start_epoch, start_step = start_epoch + 1, 0
        log(f"resumed from {resume_from} at epoch {start_epoch}, step {start_step}")
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    paths = {k: os.path.join(out_dir, f"{k}.npz") if out_dir else None for k in ("last", "best")}
    last_good: str | None = resume_from
    if paths["last"] and os.path.exists(paths["last"]) and last_good is None:
        last_good = paths["last"]
    t_run = time.perf_counter()

    def snapshot(epoch: int, step: int, part: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "epoch": epoch,
            "step": step,
            "partial": dict(part),
            "history": history,
            "best": best,
            "rng": {"cpu": mrandom.get_rng_state()},
            "meta": meta,
        }

    def save(kind: str, state: dict[str, Any], epoch: int, step: int) -> None:
        nonlocal last_good
        if paths[kind] is None:
            return
        if not _all_finite(model):
            raise NonFiniteLossError(epoch, step, math.nan, last_good, "parameters")
        save_checkpoint(paths[kind], state)
        if kind == "last":
            last_good = paths[kind]

    def write_metrics(test: dict[str, float] | None = None) -> None:
        if out_dir is None:
            return
        write_metrics_files(out_dir, history, meta, test, best.get("epoch"))

    interrupted = False
    model.train()
    with _StopFlag() as stop:
        for epoch in range(start_epoch, epochs + 1):
            loss_sum, correct, count = partial["loss_sum"], partial["correct"], partial["count"]
            seconds = partial["seconds"]
            steps = len(train_loader)
            bar = _progress(steps, start_step, f"epoch {epoch}/{epochs}", progress)
            t0 = time.perf_counter()
            step = start_step
            try:
                for step, (x, y) in enumerate(
                    train_loader.epoch_batches(epoch - 1, start_step), start=start_step
                ):
                    x, y = x.to(device), y.to(device)
                    loss, logits = training_loss(model, model(x), y, aux_weight)
                    value = float(loss.item())
                    if not math.isfinite(value):
                        write_metrics()
                        raise NonFiniteLossError(epoch, step + 1, value, last_good)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    n = int(y.shape[0])
                    loss_sum += value * n
                    correct += _correct(logits, y)
                    count += n
                    elapsed = seconds + time.perf_counter() - t0
                    bar.update(1)
                    bar.set_postfix_str(
                        f"loss {loss_sum / count:.4f} acc {100 * correct / count:.1f}% "
                        f"{count / max(elapsed, 1e-9):.0f} img/s",
                        refresh=False,
                    )
                    if on_step is not None:
                        on_step(epoch, step + 1, value)
                    if stop.set and step + 1 < steps:
                        part = {"loss_sum": loss_sum, "correct": correct, "count": count,
                                "seconds": elapsed}
                        save("last", snapshot(epoch, step + 1, part), epoch, step + 1)
                        interrupted = True
                        break
            finally:
                bar.close()
            if interrupted:
                log(
                    f"interrupted at epoch {epoch}, step {step + 1}/{steps}"
                    + (f"; saved {paths['last']}" if paths["last"] else "")
                )
                break
            seconds += time.perf_counter() - t0
            rec: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": loss_sum / max(count, 1),
                "train_acc": correct / max(count, 1),
                "val_loss": None,
                "val_acc": None,
                "lr": _lr(optimizer),
                "seconds": seconds,
                "images_per_s": count / max(seconds, 1e-9),
            }
            if val_loader is not None:
                v = evaluate(model, val_loader, device)
                rec["val_loss"], rec["val_acc"] = v["loss"], v["accuracy"]
            history.append(rec)
            log(_fmt_epoch(rec, epochs))
            if scheduler is not None:
                before = _lr(optimizer)
                if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                    metric = rec["val_loss"] if rec["val_loss"] is not None else rec["train_loss"]
                    scheduler.step(metric)
                    if scheduler.last_reduced:
                        log(
                            f"  validation loss plateaued: learning rate {before:.3g} -> "
                            f"{_lr(optimizer):.3g}"
                        )
                else:
                    scheduler.step()
            partial = {"loss_sum": 0.0, "correct": 0, "count": 0, "seconds": 0.0}
            start_step = 0
            score = (rec["val_acc"], -rec["val_loss"]) if val_loader is not None else (
                rec["train_acc"], -rec["train_loss"])
            improved = score > (best["val_acc"], -best["val_loss"])
            if improved:
                best.update(val_acc=score[0], val_loss=-score[1], epoch=epoch)
            state = snapshot(epoch + 1, 0, partial)
            save("last", state, epoch, steps)
            if improved:
                save("best", state, epoch, steps)
            write_metrics()
            if stop.set:
                interrupted = epoch < epochs
                if interrupted:
                    log(f"interrupted after epoch {epoch}; saved {paths['last']}")
                break

    test = None
    if not interrupted and test_loader is not None:
        test = evaluate(model, test_loader, device)
        log(
            f"test accuracy {100 * test['accuracy']:.2f}% (loss {test['loss']:.4f}, "
            f"{test['n']} images)"
        )
    write_metrics(test)
    if out_dir is not None and history:
        save_curves(os.path.join(out_dir, "curves.png"), history, meta.get("model", "model"))
    return FitResult(
        history=history,
        test=test,
        interrupted=interrupted,
        out_dir=out_dir,
        best_epoch=best.get("epoch"),
        seconds=time.perf_counter() - t_run,
        meta=meta,
    )


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, nothing when stderr is a file or a pipe
    return tqdm(total=total, initial=initial, desc=desc, leave=False, file=sys.stderr,
                disable=None, bar_format="{desc} {percentage:3.0f}%|{bar:20}| "
                "{n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")


# -- metrics files and curves ---------------------------------------------------------------------
def _atomic_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_metrics_files(
    out_dir: str,
    history: list[dict[str, Any]],
    meta: dict[str, Any],
    test: dict[str, float] | None = None,
    best_epoch: int | None = None,
) -> None:
    """``metrics.json`` (the history, ``test_accuracy``, the run's settings) and ``metrics.csv``."""
    doc = {
        "meta": meta,
        "history": history,
        "best_epoch": best_epoch,
        "test_accuracy": None if test is None else test["accuracy"],
        "test_loss": None if test is None else test["loss"],
    }
    _atomic_text(os.path.join(out_dir, "metrics.json"), json.dumps(doc, indent=2) + "\n")
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
            "images_per_s"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for rec in history:
        w.writerow(["" if rec.get(c) is None else rec[c] for c in cols])
    _atomic_text(os.path.join(out_dir, "metrics.csv"), buf.getvalue())


def save_curves(path: str, history: list[dict[str, Any]], title: str = "") -> None:
    """Loss and accuracy per epoch, train and validation, side by side in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ep = [r["epoch"] for r in history]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 4))
    ax_l.plot(ep, [r["train_loss"] for r in history], "o-", label="train")
    ax_a.plot(ep, [100 * r["train_acc"] for r in history], "o-", label="train")
    if any(r.get("val_loss") is not None for r in history):
        ax_l.plot(ep, [r["val_loss"] for r in history], "s-", label="validation")
        ax_a.plot(ep, [100 * r["val_acc"] for r in history], "s-", label="validation")
    ax_l.set(xlabel="epoch", ylabel="cross-entropy", title=f"{title} loss".strip())
    ax_a.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title} accuracy".strip())
    for ax in (ax_l, ax_a):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


# -- the whole job: data + model + recipe ---------------------------------------------------------
@dataclass
class TrainConfig:
    """Everything ``minicnn train`` decides; ``None`` means "the network's recipe"."""

    model: str
    small: bool = True
    dataset: str = "digits"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    augment: bool | None = None
    device: str = "cpu"
    seed: int = 0
    out: str | None = None
    progress: bool = True

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` filled from :func:`recipe`."""
        r = asdict(recipe(self.model))
        vals = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in r.items():
            if vals.get(k) is None:
                vals[k] = v
        return TrainConfig(**vals)


def build_model(name: str, small: bool, in_channels: int, num_classes: int) -> Any:
    """A zoo network sized for the data (``minicnn.models.get``)."""
    from minicnn import models

    return models.get(name, small=small, in_channels=in_channels, num_classes=num_classes)


def model_input_size(name: str, small: bool, in_channels: int) -> tuple[int, int]:
    """The (H, W) input the zoo network ``name`` expects (``minicnn.models.input_shape``)."""
    from minicnn import models

    _, h, w = models.input_shape(name, small=small, in_channels=in_channels)
    return int(h), int(w)


def _setup(cfg: TrainConfig, meta_in: dict[str, Any] | None = None) -> dict[str, Any]:
    from minicnn import data as mdata

    splits = mdata.load(cfg.dataset)
    mrandom.manual_seed(cfg.seed)
    model = build_model(cfg.model, cfg.small, splits.in_channels, splits.num_classes)
    size = model_input_size(cfg.model, cfg.small, splits.in_channels)
    model.to(cfg.device)
    opt = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.momentum,
                         cfg.weight_decay)
    sched = make_scheduler(opt, cfg.schedule, cfg.epochs)
    if cfg.augment is None:
        cfg.augment = splits.augment
    tr, va, te = mdata.loaders(splits, cfg.batch_size, image_size=size, augment=cfg.augment,
                               seed=cfg.seed)
    meta = meta_in or {
        "model": cfg.model,
        "small": cfg.small,
        "dataset": cfg.dataset,
        "in_channels": splits.in_channels,
        "num_classes": splits.num_classes,
        "classes": splits.classes,
        "image_size": list(size),
        "mean": splits.mean,
        "std": splits.std,
        "config": asdict(cfg),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    return {"splits": splits, "model": model, "optimizer": opt, "scheduler": sched,
            "loaders": (tr, va, te), "meta": meta}


def default_out_dir(model: str) -> str:
    """``runs/<model>-<YYYYmmdd-HHMMSS>``."""
    return os.path.join("runs", f"{model}-{time.strftime('%Y%m%d-%H%M%S')}")


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> FitResult:
    """Load the data, build the model and its optimizer from ``cfg`` (filled from the recipe),
    and :func:`fit` it, writing everything to ``cfg.out``."""
    check_device(cfg.device)
    cfg = cfg.resolved()
    if cfg.out is None:
        cfg.out = default_out_dir(cfg.model)
    s = _setup(cfg)
    tr, va, te = s["loaders"]
    splits = s["splits"]
    log(
        f"{cfg.model}{' (small)' if cfg.small else ''}: {s['meta']['parameters']:,} parameters; "
        f"{splits.name}: {len(splits.train)} train / {len(splits.val)} val / "
        f"{len(splits.test)} test images, {splits.in_channels}x"
        f"{'x'.join(map(str, s['meta']['image_size']))}, {splits.num_classes} classes"
    )
    momentum = f" momentum {cfg.momentum:g}" if cfg.optimizer == "sgd" else ""
    log(
        f"{cfg.optimizer} lr {cfg.lr:g}{momentum} weight decay "
        f"{cfg.weight_decay:g}, batch {cfg.batch_size}, {cfg.epochs} epochs, schedule "
        f"{cfg.schedule}, augment {'on' if cfg.augment else 'off'}, device {cfg.device}, "
        f"seed {cfg.seed} -> {cfg.out}"
    )
    return fit(
        s["model"], tr, va, epochs=cfg.epochs, optimizer=s["optimizer"],
        scheduler=s["scheduler"], device=cfg.device, out_dir=cfg.out, test_loader=te,
        meta=s["meta"], progress=cfg.progress, log=log,
    )


def resume(run_dir: str, progress: bool = True, device: str | None = None,
           epochs: int | None = None, log: Callable[[str], None] = print) -> FitResult:
    """Continue the run in ``run_dir`` from its ``last.npz``, with the settings it started
    with (``epochs`` may extend it)."""
    path = os.path.join(run_dir, "last.npz") if os.path.isdir(run_dir) else run_dir
    out_dir = os.path.dirname(path) or "."
    meta = load_checkpoint(path)["meta"]
    cfg = TrainConfig(**meta["config"])
    cfg.out, cfg.progress = out_dir, progress
    if device is not None:
        cfg.device = device
    if epochs is not None:
        cfg.epochs = epochs
        meta["config"]["epochs"] = epochs
    check_device(cfg.device)
    s = _setup(cfg, meta)
    tr, va, te = s["loaders"]
    return fit(
        s["model"], tr, va, epochs=cfg.epochs, optimizer=s["optimizer"],
        scheduler=s["scheduler"], device=cfg.device, out_dir=out_dir, test_loader=te,
        meta=meta, resume_from=path, progress=progress, log=log,
    )


def load_model(path: str, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """The model stored in a checkpoint (rebuilt from its ``meta``), in eval mode, and the meta."""
    ck = load_checkpoint(path)
    meta = ck.get("meta") or {}
    for key in ("model", "in_channels", "num_classes"):
        if key not in meta:
            raise ValueError(f"{path}: the checkpoint does not say its {key!r}; cannot rebuild")
    model = build_model(meta["model"], bool(meta.get("small", True)), int(meta["in_channels"]),
                        int(meta["num_classes"]))
    model.load_state_dict(ck["model"])
    model.to(check_device(device))
    model.eval()
    return model, meta

"""minicnn.train and the train/evaluate commands: outputs, bit-exact resume, NaN stop, atomic
checkpoints, auxiliary losses, ensembles, devices. Tiny models on 8x8 digits keep it fast."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections import namedtuple

import numpy as np
import pytest

import minicnn
from minicnn import data, nn, optim
from minicnn import train as T
from minicnn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def small_digits() -> data.DataSplits:
    """8x8 digits, cut down to 240 train / 60 val / 100 test images."""
    s = data.load("digits:size=8")
    return data.DataSplits(
        s.name, s.train.subset(np.arange(240)), s.val.subset(np.arange(60)),
        s.test.subset(np.arange(100)), s.mean, s.std, s.flip, 1,
    )


def tiny_model(seed: int = 0) -> nn.Module:
    minicnn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(4 * 8 * 8, 10),
    )


def setup(splits: data.DataSplits, seed: int = 0, lr: float = 0.1, epochs: int = 3):
    model = tiny_model(seed)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    sched = T.make_scheduler(opt, "cosine", epochs)
    loaders = data.loaders(splits, 32, seed=seed)
    return model, opt, sched, loaders


def run_fit(splits, out_dir=None, epochs=3, on_step=None, resume_from=None, seed=0, lr=0.1,
            model_seed=None):
    model, opt, sched, (tr, va, te) = setup(splits, seed, lr, epochs)
    if model_seed is not None:  # a different initialisation, to prove resume overwrites it
        model = tiny_model(model_seed)
        opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
        sched = T.make_scheduler(opt, "cosine", epochs)
    result = T.fit(model, tr, va, epochs=epochs, optimizer=opt, scheduler=sched,
                   out_dir=out_dir, test_loader=te, meta={"model": "tiny"}, progress=False,
                   log=lambda s: None, on_step=on_step, resume_from=resume_from)
    return model, result


def test_fit_learns_and_writes_its_outputs(tmp_path, small_digits) -> None:
    out = str(tmp_path / "run")
    model, r = run_fit(small_digits, out, epochs=4)
    assert [h["epoch"] for h in r.history] == [1, 2, 3, 4]
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.test_accuracy is not None and r.test_accuracy > 0.6  # 10 classes: chance is 0.1
    cosine = [0.05 * (1 + np.cos(np.pi * e / 4)) for e in range(4)]
    assert [h["lr"] for h in r.history] == pytest.approx(cosine)  # stepped once per epoch
    assert sorted(os.listdir(out)) == [
        "best.npz", "curves.png", "last.npz", "metrics.csv", "metrics.json"]
    doc = json.load(open(os.path.join(out, "metrics.json")))
    assert doc["test_accuracy"] == pytest.approx(r.test_accuracy)
    assert len(doc["history"]) == 4 and {"train_loss", "val_acc", "lr"} <= set(doc["history"][0])
    rows = open(os.path.join(out, "metrics.csv")).read().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_acc,val_loss,val_acc,lr")
    assert len(rows) == 5
    assert open(os.path.join(out, "curves.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    # last.npz is the final model; best.npz the epoch with the best validation accuracy
    ck = T.load_checkpoint(os.path.join(out, "last.npz"))
    assert ck["epoch"] == 5 and ck["step"] == 0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(ck["model"][k].numpy(), v.numpy())
    best = T.load_checkpoint(os.path.join(out, "best.npz"))
    assert best["epoch"] == r.best_epoch + 1
    assert max(h["val_acc"] for h in r.history) == r.history[r.best_epoch - 1]["val_acc"]


def _step_recorder(losses: list, stop_at: tuple[int, int] | None = None):
    def on_step(epoch: int, step: int, loss: float) -> None:
        losses.append((epoch, step, loss))
        if stop_at == (epoch, step):
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, caught by the loop
    return on_step


@pytest.mark.parametrize("stop_at", [(2, 3), (1, 8)])
def test_resume_reproduces_an_uninterrupted_run(tmp_path, small_digits, stop_at) -> None:
    straight: list = []
    model_a, ra = run_fit(small_digits, str(tmp_path / "a"), on_step=_step_recorder(straight))
    part: list = []
    out_b = str(tmp_path / "b")
    _, rb = run_fit(small_digits, out_b, on_step=_step_recorder(part, stop_at))
    assert rb.interrupted and rb.test is None
    assert part[-1][:2] == stop_at
    ck = T.load_checkpoint(os.path.join(out_b, "last.npz"))
    assert ck["step"] == (stop_at[1] if stop_at[1] < 8 else 0)
    # resume into a differently initialised model: the checkpoint must restore everything
    rest: list = []
    model_b, rb2 = run_fit(small_digits, out_b, on_step=_step_recorder(rest),
                           resume_from=os.path.join(out_b, "last.npz"), model_seed=99)
    assert part + rest == straight  # every loss, bit for bit (dropout included)
    for k, v in model_a.state_dict().items():
        np.testing.assert_array_equal(model_b.state_dict()[k].numpy(), v.numpy())
    drop = ("seconds", "images_per_s")
    strip = [[{k: v for k, v in h.items() if k not in drop} for h in r.history] for r in (ra, rb2)]
    assert strip[0] == strip[1]
    assert rb2.test == ra.test
    # an interrupted epoch was not recorded twice
    assert [h["epoch"] for h in rb2.history] == [1, 2, 3]


def test_sigint_outside_a_step_still_reaches_the_caller(tmp_path, small_digits) -> None:
    # the loop restores the previous SIGINT handler when it returns
    before = signal.getsignal(signal.SIGINT)
    run_fit(small_digits, None, epochs=1)
    assert signal.getsignal(signal.SIGINT) is before


def _digest(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_non_finite_loss_stops_without_overwriting(tmp_path, small_digits) -> None:
    out = str(tmp_path / "nan")
    model, opt, sched, (tr, va, te) = setup(small_digits)
    last = os.path.join(out, "last.npz")
    digests = {}

    def poison(epoch: int, step: int, loss: float) -> None:
        if (epoch, step) == (2, 4):
            digests["last"] = _digest(last)
            digests["best"] = _digest(os.path.join(out, "best.npz"))
            w = model[4].weight
            w.data[0, 0] = np.nan  # the next forward pass gives a NaN loss

    with pytest.raises(T.NonFiniteLossError) as err:
        T.fit(model, tr, va, epochs=3, optimizer=opt, scheduler=sched, out_dir=out,
              progress=False, log=lambda s: None, on_step=poison)
    msg = str(err.value)
    assert "epoch 2, step 5" in msg and last in msg and "nan" in msg
    assert (err.value.epoch, err.value.step) == (2, 5)
    assert _digest(last) == digests["last"]
    assert _digest(os.path.join(out, "best.npz")) == digests["best"]
    ck = T.load_checkpoint(last)
    assert ck["epoch"] == 2 and all(np.isfinite(v.numpy()).all() for v in ck["model"].values())
    assert len(json.load(open(os.path.join(out, "metrics.json")))["history"]) == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_parameters_are_never_checkpointed(tmp_path, small_digits) -> None:
    out = str(tmp_path / "inf")
    model, opt, sched, (tr, va, te) = setup(small_digits)

    def poison(epoch: int, step: int, loss: float) -> None:
        if step == len(tr):  # after the epoch's last step: no training loss will see it
            model[4].bias.data[0] = np.inf

    with pytest.raises(T.NonFiniteLossError, match="non-finite parameters at epoch 1, step 8"):
        T.fit(model, tr, va, epochs=2, optimizer=opt, scheduler=sched, out_dir=out,
              progress=False, log=lambda s: None, on_step=poison)
    assert not os.path.exists(os.path.join(out, "last.npz"))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_non_finite_loss_before_any_checkpoint(small_digits) -> None:
    model, opt, sched, (tr, va, te) = setup(small_digits)
    model[0].bias.data[:] = np.inf
    with pytest.raises(T.NonFiniteLossError, match="epoch 1, step 1.*no checkpoint"):
        T.fit(model, tr, va, epochs=1, optimizer=opt, progress=False, log=lambda s: None)


def test_checkpoint_round_trip_and_bad_files(tmp_path) -> None:
    path = str(tmp_path / "ck.npz")
    model = tiny_model()
    state = {"model": model.state_dict(), "epoch": 3, "best": {"val_loss": float("inf")},
             "rng": {"cpu": minicnn.random.get_rng_state()}, "meta": {"model": "tiny"}}
    T.save_checkpoint(path, state)
    ck = T.load_checkpoint(path)
    assert ck["epoch"] == 3 and ck["best"]["val_loss"] == float("inf")
    assert ck["rng"]["cpu"] == minicnn.random.get_rng_state()
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        T.load_checkpoint(str(tmp_path / "nope.npz"))
    other = str(tmp_path / "other.npz")
    minicnn.save({"x": np.zeros(2)}, other)
    with pytest.raises(ValueError, match="other.npz.*not a training checkpoint"):
        T.load_checkpoint(other)
    junk = str(tmp_path / "junk.npz")
    open(junk, "wb").write(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        T.load_checkpoint(junk)


_CRASH = r"""
import os, sys
import numpy as np
sys.path.insert(0, {root!r})
from minicnn import train as T
real = np.savez
def dying_savez(f, *a, **k):
    f.write(b"PK\x03\x04" + b"\x00" * 4096)  # half an archive on disk...
    f.flush()
    os._exit(3)                             # ...then the process dies
np.savez = dying_savez
T.save_checkpoint({path!r}, {{"model": {{"w": np.full(3, 7.0)}}, "epoch": 9}})
"""


def test_crash_mid_write_leaves_the_previous_checkpoint(tmp_path) -> None:
    path = str(tmp_path / "last.npz")
    T.save_checkpoint(path, {"model": {"w": np.arange(3.0)}, "epoch": 1})
    before = _digest(path)
    proc = subprocess.run([sys.executable, "-c", _CRASH.format(root=ROOT, path=path)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 3, proc.stderr.decode()
    assert _digest(path) == before
    ck = T.load_checkpoint(path)
    assert ck["epoch"] == 1 and np.array_equal(ck["model"]["w"], np.arange(3.0))


def test_exception_mid_write_leaves_no_temporary_files(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "last.npz")
    T.save_checkpoint(path, {"epoch": 1})

    def failing(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing)
    with pytest.raises(OSError, match="disk full"):
        T.save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["last.npz"]
    assert T.load_checkpoint(path)["epoch"] == 1


# -- losses, auxiliary heads, ensembles --------------------------------------------------------

Outputs = namedtuple("Outputs", ["logits", "aux_logits2", "aux_logits1"])


def test_googlenet_style_auxiliary_losses_weigh_0_3() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    z, a2, a1 = (rng.standard_normal((6, 5)).astype(np.float32) for _ in range(3))
    y = rng.integers(0, 5, 6)

    class Fake:
        aux_loss_weight = 0.3

    out = Outputs(*(minicnn.Tensor(v) for v in (z, a2, a1)))
    loss, logits = T.training_loss(Fake(), out, minicnn.Tensor(y, dtype="int64"))
    ce = torch.nn.functional.cross_entropy
    ty = torch.from_numpy(y)
    want = ce(torch.from_numpy(z), ty) + 0.3 * (ce(torch.from_numpy(a2), ty)
                                               + ce(torch.from_numpy(a1), ty))
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    np.testing.assert_array_equal(logits.numpy(), z)
    plain, _ = T.training_loss(Fake(), out[0], minicnn.Tensor(y, dtype="int64"))
    assert plain.item() == pytest.approx(ce(torch.from_numpy(z), ty).item(), rel=1e-5)
    loss1, _ = T.training_loss(Fake(), out, minicnn.Tensor(y, dtype="int64"), aux_weight=1.0)
    assert loss1.item() > loss.item()


def test_ensemble_averages_softmax() -> None:
    labels = np.array([0, 1, 2])
    a = np.array([[0.6, 0.4, 0.0], [0.0, 0.4, 0.6], [0.0, 0.1, 0.9]])  # right on 0 and 2
    b = np.array([[0.4, 0.6, 0.0], [0.0, 0.9, 0.1], [0.0, 0.4, 0.6]])  # right on 1 and 2
    assert T.scores(a, labels)["accuracy"] == pytest.approx(2 / 3)
    assert T.scores(b, labels)["accuracy"] == pytest.approx(2 / 3)
    e = T.ensemble([a, b], labels)
    assert e["accuracy"] == 1.0  # (0.5, 0.5) ties go to class 0: right
    assert e["loss"] == pytest.approx(-np.log([0.5, 0.65, 0.75]).mean())
    with pytest.raises(ValueError, match="member 1"):
        T.ensemble([a, b[:2]], labels)


def test_evaluate_command_scores_checkpoints_and_their_ensemble(tmp_path, capsys) -> None:
    from minicnn import models
    from minicnn.commands.evaluate import evaluate_checkpoints

    splits = data.load("digits")
    paths, members = [], []
    for seed in (1, 2):
        minicnn.manual_seed(seed)
        model = models.get("alexnet", small=True, in_channels=1, num_classes=10)
        meta = {"model": "alexnet", "small": True, "dataset": "digits", "in_channels": 1,
                "num_classes": 10, "image_size": [32, 32], "mean": splits.mean,
                "std": splits.std}
        path = str(tmp_path / f"m{seed}.npz")
        T.save_checkpoint(path, {"model": model.state_dict(), "meta": meta})
        loader = data.DataLoader(splits.val, 256, transform=data.eval_transform(splits, 32))
        members.append(T.predict_proba(model, loader))
        paths.append(path)
    res = evaluate_checkpoints(paths, split="val")
    for m, (p, y) in zip(res["members"], members):
        assert m["accuracy"] == pytest.approx(T.scores(p, y)["accuracy"])
    want = T.scores((members[0][0] + members[1][0]) / 2, members[0][1])
    assert res["ensemble"]["accuracy"] == pytest.approx(want["accuracy"])
    assert res["ensemble"]["loss"] == pytest.approx(want["loss"])
    assert main(["evaluate", *paths, "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "ensemble of 2" in out and "m1.npz" in out and "val split, 143 images" in out
    assert main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err


# -- configuration, devices, the command line ------------------------------------------------


def test_recipes_fill_what_the_user_left_out() -> None:
    cfg = T.TrainConfig(model="alexnet", lr=0.123).resolved()
    r = T.recipe("alexnet")
    assert cfg.lr == 0.123 and cfg.epochs == r.epochs and cfg.optimizer == r.optimizer
    assert cfg.schedule == "plateau"
    from minicnn import models

    for name in T.RECIPES:
        assert name in models.names(), name


def test_plateau_schedule_is_logged_when_it_fires(small_digits) -> None:
    model, _, _, (tr, va, te) = setup(small_digits)
    opt = optim.SGD(model.parameters(), lr=1e-6)  # too small to improve: validation plateaus
    sched = T.make_scheduler(opt, "plateau", 6)
    lines: list[str] = []
    r = T.fit(model, tr, va, epochs=6, optimizer=opt, scheduler=sched, progress=False,
              log=lines.append)
    fired = [ln for ln in lines if "plateaued" in ln]
    assert fired and "1e-06 -> 1e-07" in fired[0]
    assert r.history[-1]["lr"] == pytest.approx(1e-7)


def test_cuda_without_a_gpu_is_a_clear_error(capsys) -> None:
    from minicnn import backend

    if backend.gpu_available():
        pytest.skip("a GPU is visible here")
    with pytest.raises(RuntimeError, match="CuPy|CUDA device"):
        T.check_device("cuda")
    assert main(["train", "alexnet", "--small", "--device", "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err


@pytest.mark.gpu
def test_fit_on_cuda_matches_cpu(small_digits) -> None:
    losses = {}
    for device in ("cpu", "cuda"):
        model, opt, sched, (tr, va, te) = setup(small_digits)
        model[3].p = 0.0  # no dropout: the two devices draw different random numbers
        model.to(device)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        got: list = []
        r = T.fit(model, tr, va, epochs=1, optimizer=opt, device=device, progress=False,
                  log=lambda s: None, on_step=_step_recorder(got), test_loader=te)
        losses[device] = ([v for *_, v in got], r.test_accuracy)
    np.testing.assert_allclose(losses["cuda"][0], losses["cpu"][0], rtol=1e-3, atol=1e-4)


def test_train_command_rejects_bad_input(capsys) -> None:
    assert main(["train"]) == 2
    assert "MODEL" in capsys.readouterr().err
    assert main(["train", "lenet-9000"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["train", "alexnet", "--small", "--dataset", "imagenet"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_train_command_end_to_end_and_resume(tmp_path, capsys) -> None:
    out = str(tmp_path / "nin")
    spec = "shapes:n=48,classes=3,size=12,seed=1"
    args = ["train", "nin", "--small", "--dataset", spec, "--epochs", "1", "--batch-size", "16",
            "--no-progress", "--out", out]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "nin (small)" in text and "3 classes" in text and "3x32x32" in text  # 12 -> 32
    assert "test accuracy" in text and os.path.join(out, "curves.png") in text
    doc = json.load(open(os.path.join(out, "metrics.json")))
    assert doc["meta"]["config"]["optimizer"] == T.recipe("nin").optimizer
    assert doc["meta"]["config"]["augment"] is True  # shapes: crops and flips by default
    assert main(["train", "--resume", out, "--epochs", "2", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "resumed from" in text and "epoch 2/2" in text
    doc = json.load(open(os.path.join(out, "metrics.json")))
    assert [h["epoch"] for h in doc["history"]] == [1, 2]
    assert main(["evaluate", os.path.join(out, "best.npz"), os.path.join(out, "last.npz")]) == 0
    assert "ensemble of 2" in capsys.readouterr().out

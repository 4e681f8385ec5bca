"""minicnn.optim against torch.optim: update trajectories, schedules, state dicts, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.optim import lr_scheduler

torch = pytest.importorskip("torch")

# f(x) = 1/2 x^T A x - b^T x, a well-conditioned quadratic; grad = A x - b
_R = np.random.default_rng(7)
_M = _R.standard_normal((5, 5))
A = _M @ _M.T / 5 + np.eye(5)
B = _R.standard_normal(5)
X0 = [_R.standard_normal(5), _R.standard_normal(5)]


def _grad(x: np.ndarray) -> np.ndarray:
    return A @ x - B


def _groups(params: list, group_opts: list[dict] | None) -> list:
    if group_opts is None:
        return params
    return [dict(opts, params=[p]) for p, opts in zip(params, group_opts)]


def run_minicnn(cls, kwargs, steps=10, group_opts=None):
    ps = [nn.Parameter(x.copy()) for x in X0]
    opt = cls(_groups(ps, group_opts), **kwargs)
    out = []
    for _ in range(steps):
        for p in ps:
            p.grad = minicnn.Tensor(_grad(p.data))
        opt.step()
        out.append(np.concatenate([p.data.copy() for p in ps]))
    return np.array(out)


def run_torch(cls, kwargs, steps=10, group_opts=None):
    ps = [torch.nn.Parameter(torch.tensor(x.copy())) for x in X0]
    opt = cls(_groups(ps, group_opts), **kwargs)
    out = []
    for _ in range(steps):
        for p in ps:
            p.grad = torch.tensor(_grad(p.detach().numpy()))
        opt.step()
        out.append(np.concatenate([p.detach().numpy().copy() for p in ps]))
    return np.array(out)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.05, nesterov=True)),
    ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.1)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_trajectory_matches_torch(name, kwargs):
    ours = run_minicnn(getattr(optim, name), kwargs)
    ref = run_torch(getattr(torch.optim, name), kwargs)
    assert not np.allclose(ours[0], ours[-1])  # the parameters actually moved
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_per_group_options_match_torch(name):
    groups = [dict(lr=0.02), dict(lr=0.2, weight_decay=0.1)]
    kwargs = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    ours = run_minicnn(getattr(optim, name), kwargs, group_opts=groups)
    ref = run_torch(getattr(torch.optim, name), kwargs, group_opts=groups)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_float32_parameters_stay_float32():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p])):
        p.grad = minicnn.Tensor(np.full(3, 0.5, dtype=np.float32))
        opt.step()
        opt.step()
        assert p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))


def test_step_skips_params_without_grad_and_closure_returns_loss():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([a, b], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 2.0
    np.testing.assert_array_equal(a.data, [0.0, 0.0])  # a - 0.5 * 2a
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    assert b not in opt.state


def test_zero_grad():
    p = nn.Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1)
    p.grad = minicnn.Tensor(np.ones(2))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


# -- state dicts ---------------------------------------------------------------------------
def _steps(opt, ps, n):
    for _ in range(n):
        for p in ps:
            p.grad = minicnn.Tensor(_grad(p.data))
        opt.step()


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.1)),
])
def test_state_dict_round_trip_resumes_exactly(name, kwargs):
    cls = getattr(optim, name)
    full = [nn.Parameter(x.copy()) for x in X0]
    opt = cls(_groups(full, [dict(), dict(lr=0.03)]), **kwargs)
    _steps(opt, full, 10)

    half = [nn.Parameter(x.copy()) for x in X0]
    first = cls(_groups(half, [dict(), dict(lr=0.03)]), **kwargs)
    _steps(first, half, 5)
    saved = first.state_dict()
    resumed_params = [nn.Parameter(p.data.copy()) for p in half]
    resumed = cls(_groups(resumed_params, [dict(lr=9.0), dict(lr=9.0)]), **kwargs)
    resumed.load_state_dict(saved)
    assert [g["lr"] for g in resumed.param_groups] == [kwargs["lr"], 0.03]
    _steps(resumed, resumed_params, 5)
    for p, q in zip(full, resumed_params):
        np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_copies_rather_than_aliases():
    p = nn.Parameter(np.ones(5))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    _steps(opt, [p], 1)
    q = nn.Parameter(np.ones(5))
    other = optim.SGD([q], lr=0.1, momentum=0.9)
    other.load_state_dict(opt.state_dict())
    assert other.state[q]["momentum_buffer"] is not opt.state[p]["momentum_buffer"]
    other.state[q]["momentum_buffer"][...] = 0
    assert opt.state[p]["momentum_buffer"].any()


def test_state_dict_layout_matches_torch():
    kwargs = dict(lr=0.1, betas=(0.8, 0.9), weight_decay=0.01)
    ps = [nn.Parameter(x.copy()) for x in X0]
    tps = [torch.nn.Parameter(torch.tensor(x.copy())) for x in X0]
    ours = optim.Adam(_groups(ps, [dict(), dict(lr=0.5)]), **kwargs)
    ref = torch.optim.Adam(_groups(tps, [dict(), dict(lr=0.5)]), **kwargs)
    for p, tp in zip(ps, tps):
        p.grad = minicnn.Tensor(np.ones(5))
        tp.grad = torch.ones(5, dtype=torch.float64)
    ours.step()
    ref.step()
    sd, tsd = ours.state_dict(), ref.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1]
    for i in (0, 1):
        assert set(sd["state"][i]) == set(tsd["state"][i])
        assert sd["state"][i]["step"] == tsd["state"][i]["step"].item()
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(sd["state"][i][key].numpy(),
                                       tsd["state"][i][key].numpy(), rtol=0, atol=1e-15)
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert g["params"] == tg["params"]
        for key, value in g.items():
            assert tg[key] == value, key


def _saved(cls=optim.SGD, n=2, **kwargs):
    ps = [nn.Parameter(np.ones(5)) for _ in range(n)]
    opt = cls(ps, lr=0.1, momentum=0.9, **kwargs)
    _steps(opt, ps, 1)
    return opt.state_dict()


def test_load_state_dict_errors_leave_the_optimizer_unchanged():
    p = nn.Parameter(np.ones(5))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="param group 0 holds 2 parameters in the state dict"):
        opt.load_state_dict(_saved(n=2))
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state == {}

    two_groups = [nn.Parameter(np.ones(5)), nn.Parameter(np.ones(5))]
    opt2 = optim.SGD([{"params": [two_groups[0]]}, {"params": [two_groups[1]]}], lr=0.1)
    with pytest.raises(ValueError, match="has 1 param groups, this optimizer has 2"):
        opt2.load_state_dict(_saved(n=2))

    bad = _saved(n=1)
    bad["state"][0]["momentum_buffer"] = minicnn.Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"state\[0\]\['momentum_buffer'\] has shape \(4,\)"):
        opt.load_state_dict(bad)
    assert opt.state == {}
    with pytest.raises(ValueError, match="keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    bad = _saved(n=1)
    bad["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr must be"):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.1


# -- argument checks -----------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), "SGD: lr must be"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "SGD: momentum must be"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "SGD: weight_decay must be"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "dampening = 0"),
    (lambda p: optim.SGD(p, lr="fast"), "lr must be a number"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\] must be a number in \[0.0, 1.0\)"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda p: optim.Adam(p, betas=0.9), "betas must be a pair"),
    (lambda p: optim.Adam(p, eps=-1e-8), "eps must be"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "AdamW: weight_decay"),
    (lambda p: optim.Adam(p, lr=float("nan")), "lr must be"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}], lr=0.1), "lr must be"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(np.ones(2))])


def test_bad_params_raise():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="the same parameter twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="more than one param group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match=r"params\[0\] must be a Tensor, got ndarray"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="ordered sequence"):
        optim.SGD([{"params": {p}}], lr=0.1)


# -- schedulers ----------------------------------------------------------------------------
def _pair_of_optimizers(lrs=(0.1, 0.02)):
    ps = [nn.Parameter(np.ones(2)) for _ in lrs]
    tps = [torch.nn.Parameter(torch.ones(2)) for _ in lrs]
    ours = optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], lr=0.5)
    ref = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(tps, lrs)], lr=0.5)
    return ours, ref


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[12, 5, 20, 12], gamma=0.3)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=7)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{k}" for n, k in SCHEDULES])
def test_schedule_matches_torch(name, kwargs):
    ours, ref = _pair_of_optimizers()
    sched = getattr(lr_scheduler, name)(ours, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(ref, **kwargs)
    got, want = [sched.get_last_lr()], [tsched.get_last_lr()]
    for _ in range(30):
        ours.step()
        ref.step()
        sched.step()
        tsched.step()
        got.append(sched.get_last_lr())
        want.append(tsched.get_last_lr())
        assert [g["lr"] for g in ours.param_groups] == got[-1]
    assert len({tuple(g) for g in got}) > 3  # the rate really changed
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-14, atol=0)


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.80001, 0.8, 0.8, 0.8, 0.7,
                   0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6, 0.7, 0.7, 0.7, 0.7,
                   0.7, 0.7, 0.7]


@pytest.mark.parametrize("kwargs,sign", [
    (dict(patience=2), 1),
    (dict(patience=1, factor=0.5, cooldown=2), 1),
    (dict(patience=0, factor=0.5, min_lr=[0.02, 0.004]), 1),
    (dict(mode="max", patience=2, threshold=0.05, threshold_mode="abs"), -1),
    (dict(mode="max", patience=1, threshold=0.01, eps=0.03), -1),  # eps blocks later cuts
])
def test_reduce_on_plateau_matches_torch(kwargs, sign):
    ours, ref = _pair_of_optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(ours, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(ref, **kwargs)
    reductions = 0
    for metric in PLATEAU_METRICS:
        before = tsched.get_last_lr()
        sched.step(minicnn.tensor(sign * metric) if reductions % 2 else sign * metric)
        tsched.step(sign * metric)
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert sched.last_reduced == (tsched.get_last_lr() != before)
        reductions += sched.last_reduced
    assert reductions >= 1


def test_schedulers_with_torch_initial_lr_semantics():
    ours, _ = _pair_of_optimizers()
    lr_scheduler.StepLR(ours, step_size=2)
    assert [g["initial_lr"] for g in ours.param_groups] == [0.1, 0.02]
    with pytest.raises(ValueError, match="param group 0 has no 'initial_lr'"):
        lr_scheduler.StepLR(_pair_of_optimizers()[0], step_size=2, last_epoch=3)


def _make(name, opt):
    kwargs = dict(SCHEDULES[[n for n, _ in SCHEDULES].index(name)][1])
    return getattr(lr_scheduler, name)(opt, **kwargs)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingLR",
                                  "ReduceLROnPlateau"])
def test_scheduler_state_dict_round_trip(name, tmp_path):
    def make(opt):
        if name == "ReduceLROnPlateau":
            return lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
        return _make(name, opt)

    def advance(sched, opt, start, n):
        out = []
        for i in range(start, start + n):
            opt.step()
            if name == "ReduceLROnPlateau":
                sched.step(PLATEAU_METRICS[i])
            else:
                sched.step()
            out.append(sched.get_last_lr())
        return out

    opt, _ = _pair_of_optimizers()
    sched = make(opt)
    straight = advance(sched, opt, 0, 25)

    opt1, _ = _pair_of_optimizers()
    sched1 = make(opt1)
    first = advance(sched1, opt1, 0, 11)
    path = tmp_path / "sched.ckpt"
    minicnn.save({"opt": opt1.state_dict(), "sched": sched1.state_dict()}, path)
    loaded = minicnn.load(path)

    opt2, _ = _pair_of_optimizers((3.0, 4.0))
    sched2 = make(opt2)
    opt2.load_state_dict(loaded["opt"])
    sched2.load_state_dict(loaded["sched"])
    assert sched2.get_last_lr() == first[-1]
    rest = advance(sched2, opt2, 11, 14)
    assert first + rest == straight


def test_scheduler_load_state_dict_errors():
    opt, _ = _pair_of_optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    state = sched.state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['step_size'\]"):
        sched.load_state_dict({k: v for k, v in state.items() if k != "step_size"})
    with pytest.raises(ValueError, match=r"unexpected keys \['T_max'\]"):
        sched.load_state_dict(dict(state, T_max=3))
    with pytest.raises(ValueError, match="base_lrs has 1 entries, the optimizer has 2"):
        sched.load_state_dict(dict(state, base_lrs=[0.1]))
    cos = lr_scheduler.CosineAnnealingLR(_pair_of_optimizers()[0], T_max=5)
    with pytest.raises(ValueError, match="missing keys"):
        cos.load_state_dict(state)


@pytest.mark.parametrize("make,match", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size must be an int >= 1"),
    (lambda o: lr_scheduler.StepLR(o, step_size=2.5), "step_size must be an int"),
    (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=-1), "gamma must be"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[3, -1]), "milestones"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=5), "milestones must be a list"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max must be an int >= 1"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=-1), "eta_min"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="lowest"), "mode must be 'min' or 'max'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=0.0), "factor must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), "patience must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), "min_lr has 1 entries"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, cooldown=-2), "cooldown must be"),
    (lambda o: lr_scheduler.StepLR("sgd", step_size=2), "optimizer must be a minicnn Optimizer"),
])
def test_bad_scheduler_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make(_pair_of_optimizers()[0])


def test_reduce_on_plateau_rejects_non_numeric_metric():
    sched = lr_scheduler.ReduceLROnPlateau(_pair_of_optimizers()[0])
    with pytest.raises(ValueError, match="metrics must be a number"):
        sched.step("low")


@pytest.fixture(autouse=True)
def _quiet_torch_scheduler_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# -- GPU -----------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.1, amsgrad=True)),
                                         ("AdamW", dict(lr=0.1))])
def test_updates_on_cupy_arrays_match_numpy(name, kwargs):
    cp = minicnn.backend.cupy_module()
    cls = getattr(optim, name)
    host = [nn.Parameter(x.copy()) for x in X0]
    dev = [nn.Parameter(cp.asarray(x)) for x in X0]
    oh, od = cls(host, **kwargs), cls(dev, **kwargs)
    for _ in range(10):
        for p in host:
            p.grad = minicnn.Tensor(_grad(p.data))
        for p in dev:
            p.grad = minicnn.Tensor(cp.asarray(_grad(p.data.get())))
        oh.step()
        od.step()
    for p, q in zip(host, dev):
        assert minicnn.backend.is_cupy_array(q.data)
        np.testing.assert_allclose(q.data.get(), p.data, rtol=0, atol=1e-12)
    od.load_state_dict(oh.state_dict())  # host state onto GPU parameters
    assert all(minicnn.backend.is_cupy_array(v) for s in od.state.values()
               for v in s.values() if hasattr(v, "shape"))

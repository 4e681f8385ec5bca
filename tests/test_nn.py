"""minicnn.nn: the Module API, containers, init statistics, and layers against torch.nn."""

from __future__ import annotations

import inspect
import math
from collections import OrderedDict

import numpy as np
import pytest

import minicnn
from minicnn import backend, nn
from minicnn.nn import init

torch = pytest.importorskip("torch")
tnn = torch.nn
# BatchNorm's keyword `bias` (and its place in repr) is recent in torch; older oracles lack it
TORCH_BN_BIAS = "bias" in inspect.signature(tnn.BatchNorm2d.__init__).parameters
needs_bn_bias = pytest.mark.skipif(not TORCH_BN_BIAS,
                                   reason="this torch's BatchNorm has no `bias` keyword")


def t64(a, requires_grad=False):
    return minicnn.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def copy_from_torch(ours, theirs):
    """Load a torch module's state (as NumPy arrays) into ours: also checks key names."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


# -- models used by several tests -----------------------------------------------------------
class Block(nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.conv = lib.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = lib.BatchNorm2d(4)
        self.act = lib.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class TorchBlock(tnn.Module):
    def __init__(self):
        super().__init__()
        self.conv = tnn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = tnn.BatchNorm2d(4)
        self.act = tnn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def small_net(lib, block):
    return lib.Sequential(OrderedDict([
        ("features", lib.Sequential(block, lib.MaxPool2d(2), lib.LocalResponseNorm(3, k=2.0))),
        ("pool", lib.AdaptiveAvgPool2d((2, 2))),
        ("flatten", lib.Flatten()),
        ("classifier", lib.Sequential(lib.Dropout(0.5), lib.Linear(16, 5), lib.ReLU(),
                                      lib.Linear(5, 3))),
    ]))


@pytest.fixture
def nets():
    ours = small_net(nn, Block(nn)).double()
    theirs = small_net(tnn, TorchBlock()).double()
    return ours, theirs


# -- Module API ----------------------------------------------------------------------------
def test_names_and_order_match_torch(nets):
    ours, theirs = nets
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    assert [v.shape for v in sd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert [p.shape for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert len(list(ours.modules())) == len(list(theirs.modules()))


@needs_bn_bias
def test_repr_matches_torch(nets):
    ours, theirs = nets
    assert repr(ours) == repr(theirs).replace("TorchBlock", "Block")
    layers = [
        (nn.Conv2d(4, 8, (3, 5), stride=2, padding=(1, 2), dilation=2, groups=2, bias=False),
         tnn.Conv2d(4, 8, (3, 5), stride=2, padding=(1, 2), dilation=2, groups=2, bias=False)),
        (nn.Conv2d(3, 64, 11, stride=4, padding=2), tnn.Conv2d(3, 64, 11, stride=4, padding=2)),
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), tnn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.AvgPool2d(3, 2, 1), tnn.AvgPool2d(3, 2, 1)),
        (nn.AdaptiveAvgPool2d(1), tnn.AdaptiveAvgPool2d(1)),
        (nn.BatchNorm1d(3, momentum=None, affine=False), tnn.BatchNorm1d(3, momentum=None,
                                                                         affine=False)),
        (nn.BatchNorm2d(3, eps=1e-3, bias=False), tnn.BatchNorm2d(3, eps=1e-3, bias=False)),
        (nn.LocalResponseNorm(5, alpha=5e-4, k=2), tnn.LocalResponseNorm(5, alpha=5e-4, k=2)),
        (nn.Linear(3, 2, bias=False), tnn.Linear(3, 2, bias=False)),
        (nn.Dropout(0.3), tnn.Dropout(0.3)),
        (nn.ReLU(inplace=True), tnn.ReLU(inplace=True)),
        (nn.Flatten(0, 2), tnn.Flatten(0, 2)),
        (nn.Identity(), tnn.Identity()),
        (nn.CrossEntropyLoss(), tnn.CrossEntropyLoss()),
        (nn.ModuleList([nn.ReLU(), nn.Identity()]), tnn.ModuleList([tnn.ReLU(), tnn.Identity()])),
        (nn.ModuleDict({"a": nn.ReLU()}), tnn.ModuleDict({"a": tnn.ReLU()})),
    ]
    for ours_layer, torch_layer in layers:
        assert repr(ours_layer) == repr(torch_layer)


def test_outputs_match_torch_with_copied_weights(nets):
    ours, theirs = nets
    copy_from_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8))
    tx = torch.tensor(x, requires_grad=True)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(t64(x)).numpy(), theirs(tx).detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    ours.train()
    theirs.train()
    ours[3][0].p = theirs[3][0].p = 0.0  # dropout masks are not comparable across libraries
    xi = t64(x, requires_grad=True)
    y = ours(xi)
    ty = theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(xi.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    for (name, b), (_, tb) in zip(ours.named_buffers(), theirs.named_buffers()):
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_shared_parameters_come_once():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(net.parameters())) == 2
    assert len(list(net.modules())) == 3
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_train_eval_propagate():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net[1].train()
    assert not net.training and not net[0].training and net[1][0].training and net[1][1].training
    with pytest.raises(ValueError, match="mode must be a bool, got 'yes'"):
        net.train("yes")


def test_forward_hooks_see_inputs_and_outputs_and_remove():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    seen = []

    def record(module, inputs, output):
        assert isinstance(inputs, tuple)
        seen.append((type(module).__name__, inputs[0].shape, output.shape))

    handles = [m.register_forward_hook(record) for m in net.children()]
    net(minicnn.randn(5, 4))
    assert seen == [("Linear", (5, 4), (5, 3)), ("ReLU", (5, 3), (5, 3)),
                    ("Linear", (5, 3), (5, 2))]
    for h in handles:
        h.remove()
    h.remove()  # removing twice is harmless
    seen.clear()
    net(minicnn.randn(5, 4))
    assert seen == []


def test_hooks_can_replace_inputs_and_outputs():
    lin = nn.Linear(2, 2)
    with lin.register_forward_hook(lambda m, i, o: o * 0):
        assert not lin(minicnn.ones(1, 2)).numpy().any()
    assert lin(minicnn.ones(1, 2)).numpy().any()
    ident = nn.Identity()
    handle = ident.register_forward_pre_hook(lambda m, inputs: inputs[0] + 1)
    np.testing.assert_array_equal(ident(minicnn.zeros(2)).numpy(), [1.0, 1.0])
    handle.remove()
    np.testing.assert_array_equal(ident(minicnn.zeros(2)).numpy(), [0.0, 0.0])
    with pytest.raises(ValueError, match="hook must be callable"):
        lin.register_forward_hook(3)


def test_apply_visits_children_before_parent():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    order = []
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    assert order == ["Linear", "ReLU", "Sequential", "Sequential"]
    net.apply(lambda m: init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert not net[0].weight.numpy().any()


def test_zero_grad_and_requires_grad():
    lin = nn.Linear(3, 2)
    lin(minicnn.randn(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert not lin.weight.grad.numpy().any()
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    lin.requires_grad_(False)
    assert not any(p.requires_grad for p in lin.parameters())


def test_buffers_and_attribute_rules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("steps", minicnn.zeros(()))
            self.register_buffer("scratch", minicnn.zeros(3), persistent=False)
            self.w = nn.Parameter(np.ones(2))
            self.plain = 5

        def forward(self, x):
            return x * self.w

    net = Net()
    assert [n for n, _ in net.named_buffers()] == ["steps", "scratch"]
    assert list(net.state_dict()) == ["w", "steps"]
    net.steps = minicnn.ones(())
    assert net.steps.item() == 1 and net.plain == 5
    with pytest.raises(ValueError, match="cannot assign ndarray to buffer 'steps'"):
        net.steps = np.ones(())
    with pytest.raises(ValueError, match="cannot assign ndarray to parameter 'w'"):
        net.w = np.ones(2)
    with pytest.raises(ValueError, match="buffer name must be a non-empty string without '.'"):
        net.register_buffer("a.b", minicnn.zeros(1))
    with pytest.raises(ValueError, match="got a Parameter; use register_parameter"):
        net.register_buffer("p", nn.Parameter(np.ones(1)))
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nothing'"):
        _ = net.nothing
    net.w = None
    assert list(net.parameters()) == []
    del net.steps
    assert list(net.state_dict()) == []
    assert "scratch" in dir(net)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_parameter():
    arr = np.ones(3, dtype=np.float64)
    p = nn.Parameter(arr)
    assert p.requires_grad and p.data is arr and isinstance(p, minicnn.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert nn.Parameter([1, 2]).dtype == np.float32
    assert not nn.Parameter(arr, requires_grad=False).requires_grad
    with pytest.raises(ValueError, match="floating dtype"):
        nn.Parameter(minicnn.from_numpy(np.arange(3)))


# -- state dicts ---------------------------------------------------------------------------
def test_state_dict_shares_memory_and_round_trips(nets):
    ours, _ = nets
    sd = ours.state_dict()
    assert not any(v.requires_grad for v in sd.values())
    assert sd["classifier.1.weight"].data is ours[3][1].weight.data
    assert ours.state_dict(keep_vars=True)["classifier.1.weight"] is ours[3][1].weight
    fresh = small_net(nn, Block(nn)).double()
    assert fresh.load_state_dict(sd) == ([], [])
    x = t64(np.random.default_rng(2).standard_normal((2, 3, 8, 8)))
    ours.eval()
    fresh.eval()
    np.testing.assert_array_equal(ours(x).numpy(), fresh(x).numpy())
    assert fresh[3][1].weight.data is not ours[3][1].weight.data


def test_load_state_dict_errors_list_every_problem_and_change_nothing():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    bad = {k: np.zeros(v.shape) for k, v in net.state_dict().items()}
    del bad["1.running_var"]
    bad["0.weight"] = np.zeros((3, 2))
    bad["extra.weight"] = np.zeros(1)
    with pytest.raises(ValueError) as info:
        net.load_state_dict(bad)
    msg = str(info.value)
    assert "missing keys: '1.running_var'" in msg
    assert "unexpected keys: 'extra.weight'" in msg
    assert "'0.weight': shape mismatch, expected (2, 3), got (3, 2)" in msg
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    with pytest.raises(ValueError, match=r"'0.bias': expected a Tensor or array, got str"):
        net.load_state_dict(dict(bad, **{"0.weight": np.zeros((2, 3)), "0.bias": "zeros"}),
                            strict=False)
    with pytest.raises(ValueError, match="must be a mapping"):
        net.load_state_dict([("0.weight", np.zeros((2, 3)))])


def test_load_state_dict_non_strict_and_casting():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    partial = {"0.weight": np.arange(6).reshape(2, 3), "1.num_batches_tracked": 7.0,
               "other": np.ones(1)}
    result = net.load_state_dict(partial, strict=False)
    assert result.unexpected_keys == ["other"]
    assert "0.bias" in result.missing_keys and "1.running_mean" in result.missing_keys
    assert net[0].weight.dtype == np.float32
    np.testing.assert_array_equal(net[0].weight.numpy(), np.arange(6).reshape(2, 3))
    assert net[1].num_batches_tracked.dtype == np.int64
    assert net[1].num_batches_tracked.item() == 7


def test_to_dtype_and_device_errors():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    assert net.double() is net
    assert {p.dtype for p in net.parameters()} == {np.dtype(np.float64)}
    assert net[1].running_mean.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64
    assert net.to("cpu") is net and net.float() is net
    assert net[0].weight.dtype == np.float32
    with pytest.raises(ValueError, match="target must be 'cpu', 'cuda' or a floating dtype"):
        net.to("tpu")
    with pytest.raises(ValueError, match="floating dtype, got 'int64'"):
        net.to("int64")
    if backend.cupy_module() is None:
        with pytest.raises(RuntimeError, match="needs CuPy"):
            net.to("cuda")


# -- containers ----------------------------------------------------------------------------
def test_sequential():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    assert head(minicnn.ones(1, 2)).shape == (1, 3)
    seq[1] = nn.Identity()
    assert isinstance(seq[1], nn.Identity)
    del seq[1]
    assert list(seq) == [a, c] and list(seq.state_dict())[2] == "1.weight"  # renumbered
    seq.append(nn.ReLU())
    assert len(seq) == 3 and list(seq)[:2] == [a, c]
    named = nn.Sequential(OrderedDict(first=a, second=c))
    assert [n for n, _ in named.named_children()] == ["first", "second"]
    with pytest.raises(IndexError, match="index 5 is out of range for 3 modules"):
        seq[5]
    with pytest.raises(ValueError, match="argument 1 must be a Module, got function"):
        nn.Sequential(a, lambda x: x)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.insert(0, nn.ReLU())
    assert isinstance(layers[0], nn.ReLU) and [n for n, _ in layers.named_children()] == [
        "0", "1", "2", "3"]
    del layers[0]
    assert all(isinstance(m, nn.Linear) for m in layers)
    layers.extend([nn.Identity()])
    assert isinstance(layers[-1], nn.Identity)
    with pytest.raises(ValueError, match="must be a Module"):
        layers.append("relu")

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 3)})

    h = Holder()
    assert list(h.state_dict()) == ["heads.a.weight", "heads.a.bias", "heads.b.weight",
                                    "heads.b.bias"]
    assert "a" in h.heads and list(h.heads.keys()) == ["a", "b"] and len(h.heads) == 2
    with pytest.raises(KeyError, match="ModuleDict has no module 'c'"):
        h.heads["c"]


# -- init ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make,fan_in", [
    (lambda lib: lib.Conv2d(64, 128, 3), 64 * 9),
    (lambda lib: lib.Conv2d(32, 64, (5, 3), groups=4), 8 * 15),
    (lambda lib: lib.Linear(2048, 64), 2048),
])
def test_default_init_has_torch_statistics(make, fan_in):
    minicnn.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make(nn), make(tnn)
    bound = 1 / math.sqrt(fan_in)
    w, tw = ours.weight.numpy(), theirs.weight.detach().numpy()
    assert w.dtype == np.float32 and w.shape == tuple(tw.shape)
    assert np.abs(w).max() <= bound and np.abs(tw).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    # U(-b, b) has std b / sqrt(3); ~1e5 samples give the std to well within 2%
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.02
    assert abs(w.std() / tw.std() - 1) < 0.03
    assert abs(w.mean()) < 0.02 * bound
    b = ours.bias.numpy()
    assert np.abs(b).max() <= bound and b.std() > 0.3 * bound


def test_batchnorm_init():
    bn = nn.BatchNorm2d(5)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(5))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(5))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(5))
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.item() == 0


@pytest.mark.parametrize("mode,nonlinearity,a", [
    ("fan_in", "relu", 0), ("fan_out", "relu", 0), ("fan_in", "linear", 0),
    ("fan_out", "leaky_relu", 0.2), ("fan_in", "leaky_relu", 0),
])
def test_kaiming_normal_std(mode, nonlinearity, a):
    w = minicnn.empty(256, 128, 3, 3)
    init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    fan = 128 * 9 if mode == "fan_in" else 256 * 9
    gain = init.calculate_gain(nonlinearity, a)
    assert abs(w.numpy().std() / (gain / math.sqrt(fan)) - 1) < 0.01
    assert abs(w.numpy().mean()) < 0.01 * gain / math.sqrt(fan)


def test_kaiming_uniform_and_xavier_bounds():
    w = minicnn.empty(300, 200)
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.xavier_normal_(w)
    assert abs(w.numpy().std() / math.sqrt(2 / 500) - 1) < 0.02


def test_simple_fills():
    w = minicnn.empty(1000, 100, dtype="float64")
    init.normal_(w, mean=3.0, std=0.5)
    assert abs(w.numpy().mean() - 3.0) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    init.uniform_(w, -2.0, 4.0)
    assert w.numpy().min() >= -2.0 and w.numpy().max() < 4.0
    assert abs(w.numpy().mean() - 1.0) < 0.02
    assert init.constant_(w, 0.25) is w and (w.numpy() == 0.25).all()
    assert (init.zeros_(w).numpy() == 0).all() and (init.ones_(w).numpy() == 1).all()


def test_calculate_gain_matches_torch():
    for name in ("linear", "conv2d", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(tnn.init.calculate_gain(name))
    for slope in (None, 0.2, math.sqrt(5)):
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
            tnn.init.calculate_gain("leaky_relu", slope))


def test_init_is_reproducible_with_manual_seed():
    minicnn.manual_seed(42)
    a = nn.Conv2d(3, 8, 3)
    minicnn.manual_seed(42)
    b = nn.Conv2d(3, 8, 3)
    c = nn.Conv2d(3, 8, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert not np.array_equal(b.weight.numpy(), c.weight.numpy())


@pytest.mark.parametrize("call,match", [
    (lambda: init.kaiming_normal_(minicnn.empty(5)), "at least 2 dimensions, got shape \\(5,\\)"),
    (lambda: init.kaiming_uniform_(minicnn.empty(3, 3), mode="fan_avg"), "mode must be"),
    (lambda: init.kaiming_uniform_(minicnn.empty(3, 3), nonlinearity="gelu"),
     "nonlinearity must be one of"),
    (lambda: init.kaiming_normal_(minicnn.empty(3, 0)),
     r"fan_in of a tensor of shape \(3, 0\) is 0"),
    (lambda: init.uniform_(minicnn.empty(3), 1.0, 0.0), "a must be <= b"),
    (lambda: init.normal_(minicnn.empty(3), std=-1.0), "std must be >= 0"),
    (lambda: init.normal_(np.empty(3)), "tensor must be a Tensor, got ndarray"),
    (lambda: init.zeros_(minicnn.from_numpy(np.zeros(3, np.int64))), "must be floating"),
    (lambda: init.xavier_uniform_(minicnn.empty(3, 3), gain="big"), "gain must be"),
])
def test_init_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- layers against torch ------------------------------------------------------------------
def _compare_layer(ours, theirs, x, rtol=1e-10, atol=1e-12, backward=True):
    ours.double()
    theirs.double()
    copy_from_torch(ours, theirs)
    xi = t64(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = ours(xi), theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    if backward:
        g = np.random.default_rng(3).standard_normal(y.shape)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(xi.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
        for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=name)
    return y


X = np.random.default_rng(11).standard_normal((2, 4, 9, 9))


@pytest.mark.parametrize("kwargs", [
    dict(in_channels=4, out_channels=6, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2, padding=(1, 0)),
    dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, groups=2, bias=False),
    dict(in_channels=4, out_channels=4, kernel_size=1, groups=4),
])
def test_conv2d_matches_torch(kwargs):
    _compare_layer(nn.Conv2d(**kwargs), tnn.Conv2d(**kwargs), X)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    x = np.random.default_rng(4).standard_normal((5, 7))
    _compare_layer(nn.Linear(7, 3, bias=bias), tnn.Linear(7, 3, bias=bias), x)


@pytest.mark.parametrize("make", [
    lambda lib: lib.MaxPool2d(3, 2),
    lambda lib: lib.MaxPool2d(2, padding=1, ceil_mode=True),
    lambda lib: lib.AvgPool2d(3, 2, 1, count_include_pad=False),
    lambda lib: lib.AvgPool2d(2),
    lambda lib: lib.AdaptiveAvgPool2d((4, 3)),
    lambda lib: lib.AdaptiveAvgPool2d(1),
    lambda lib: lib.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0),
    lambda lib: lib.ReLU(),
    lambda lib: lib.Flatten(),
    lambda lib: lib.Flatten(0, 2),
    lambda lib: lib.Identity(),
], ids=["max3s2", "max2p1ceil", "avg3s2p1", "avg2", "adaptive43", "adaptive1", "lrn", "relu",
        "flatten", "flatten02", "identity"])
def test_parameter_free_layers_match_torch(make):
    _compare_layer(make(nn), make(tnn), X)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(momentum=None),
    dict(momentum=0.3, eps=1e-3, affine=False),
    pytest.param(dict(bias=False), marks=needs_bn_bias),
    dict(track_running_stats=False),
])
@pytest.mark.parametrize("dims", [2, 3, 4])
def test_batchnorm_matches_torch_through_train_and_eval(kwargs, dims):
    shape = {2: (6, 4), 3: (6, 4, 5), 4: (3, 4, 5, 5)}[dims]
    ours = (nn.BatchNorm2d if dims == 4 else nn.BatchNorm1d)(4, **kwargs).double()
    theirs = (tnn.BatchNorm2d if dims == 4 else tnn.BatchNorm1d)(4, **kwargs).double()
    rng = np.random.default_rng(dims)
    if ours.weight is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.uniform(0.5, 2.0, 4)))
            if theirs.bias is not None:
                theirs.bias.copy_(torch.tensor(rng.standard_normal(4)))
    copy_from_torch(ours, theirs)
    for step in range(3):
        x = rng.standard_normal(shape) * (step + 1) + step
        _compare_layer(ours, theirs, x, rtol=1e-9, atol=1e-11)
    for (name, b), (_, tb) in zip(ours.named_buffers(), theirs.named_buffers()):
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    y = ours(t64(x)).numpy()
    np.testing.assert_allclose(y, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


def test_batchnorm_input_checks():
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4-D input, got shape \\(3, 4\\)"):
        nn.BatchNorm2d(4)(minicnn.randn(3, 4))
    with pytest.raises(ValueError, match="BatchNorm1d: expected 2-D or 3-D input"):
        nn.BatchNorm1d(4)(minicnn.randn(3, 4, 2, 2))
    with pytest.raises(ValueError, match="input has 3 channels \\(dim 1\\), expected "
                                         "num_features=4"):
        nn.BatchNorm1d(4)(minicnn.randn(5, 3))


def test_dropout_layer():
    drop = nn.Dropout(0.25)
    x = minicnn.ones(200, 100)
    minicnn.manual_seed(3)
    y = drop(x).numpy()
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    minicnn.manual_seed(3)
    np.testing.assert_array_equal(drop(x).numpy(), y)
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


@pytest.mark.parametrize("kwargs", [dict(), dict(reduction="sum"),
                                    dict(reduction="none", label_smoothing=0.1)])
def test_cross_entropy_loss_matches_torch(kwargs):
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((6, 4))
    target = rng.integers(0, 4, 6)
    x, tx = t64(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    loss = nn.CrossEntropyLoss(**kwargs)(x, minicnn.from_numpy(target))
    tloss = tnn.CrossEntropyLoss(**kwargs)(tx, torch.tensor(target))
    np.testing.assert_allclose(loss.numpy(), tloss.detach().numpy(), rtol=1e-12)
    loss.sum().backward()
    tloss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("make,match", [
    (lambda: nn.Conv2d(3, 6, 3, groups=2), r"in_channels \(3\) must be divisible by groups "
                                           r"\(2\)"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"out_channels \(6\) must be divisible"),
    (lambda: nn.Conv2d(0, 6, 3), "in_channels must be an int >= 1, got 0"),
    (lambda: nn.Conv2d(3, 6, 0), "kernel_size must be an int or a pair of ints, each >= 1"),
    (lambda: nn.Conv2d(3, 6, (3,)), "kernel_size must be .* got \\(3,\\)"),
    (lambda: nn.Conv2d(3, 6, 3, stride=0), "stride must be"),
    (lambda: nn.Conv2d(3, 6, 3, padding=-1), "padding must be .* each >= 0"),
    (lambda: nn.Conv2d(3, 6, 3, bias="no"), "bias must be a bool"),
    (lambda: nn.Conv2d(3.0, 6, 3), "in_channels must be an int"),
    (lambda: nn.Linear(0, 3), "Linear: in_features must be an int >= 1"),
    (lambda: nn.Linear(3, True), "out_features must be an int"),
    (lambda: nn.BatchNorm2d(0), "num_features must be an int >= 1"),
    (lambda: nn.BatchNorm2d(3, eps=0), "eps must be a number in \\(0.0, inf\\]"),
    (lambda: nn.BatchNorm2d(3, momentum=1.5), "momentum must be a number in \\[0.0, 1.0\\]"),
    (lambda: nn.Dropout(1.5), "Dropout: p must be a number in \\[0.0, 1.0\\]"),
    (lambda: nn.MaxPool2d(2, padding=2), "padding must be at most half the kernel size"),
    (lambda: nn.MaxPool2d(2, dilation=2), "only dilation=1 is implemented"),
    (lambda: nn.AvgPool2d(3, stride=(1, 0)), "stride must be"),
    (lambda: nn.AdaptiveAvgPool2d(0), "output_size must be an int >= 1"),
    (lambda: nn.AdaptiveAvgPool2d((2, 2, 2)), "output_size must be"),
    (lambda: nn.LocalResponseNorm(0), "size must be an int >= 1"),
    (lambda: nn.LocalResponseNorm(5, alpha="x"), "alpha must be a number"),
    (lambda: nn.Flatten(1.5), "start_dim must be an int"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), "reduction must be 'mean', 'sum' or 'none'"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=2), "label_smoothing must be"),
])
def test_layer_arguments_are_validated(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- GPU -----------------------------------------------------------------------------------
def _round_trip_through_cuda(net, x):
    net.eval()
    host = net(t64(x)).numpy()
    assert net.to("cuda") is net
    assert all(t.device == "cuda" for t in list(net.parameters()) + list(net.buffers()))
    dev = net(t64(x).to("cuda"))
    assert dev.device == "cuda"
    np.testing.assert_allclose(dev.numpy(), host, rtol=1e-10, atol=1e-12)
    net.train()
    net(t64(x).to("cuda")).sum().backward()
    assert all(p.grad.device == "cuda" for p in net.parameters())
    net.cpu()
    assert all(t.device == "cpu" for t in list(net.parameters()) + list(net.buffers()))
    assert all(p.grad.device == "cpu" for p in net.parameters())


@pytest.mark.gpu
def test_mlp_to_cuda_and_back():
    net = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.5),
                        nn.Linear(5, 2)).double()
    _round_trip_through_cuda(net, np.random.default_rng(6).standard_normal((4, 6)))
    assert net[1].num_batches_tracked.item() == 1 and net[1].num_batches_tracked.dtype == np.int64
    minicnn.manual_seed(0)
    lin = nn.Linear(64, 32, device="cuda")
    assert lin.weight.device == "cuda" and abs(lin.weight.numpy()).max() <= 1 / 8
    assert abs(lin.weight.numpy()).max() > 0.9 / 8


@pytest.mark.gpu
def test_conv_net_to_cuda_and_back(nets):
    ours, _ = nets
    _round_trip_through_cuda(ours, np.random.default_rng(6).standard_normal((2, 3, 8, 8)))

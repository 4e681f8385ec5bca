"""linear, dropout, batch_norm, softmax, log_softmax, nll_loss, cross_entropy: gradchecks in
float64 on hypothesis-drawn shapes, values and gradients against PyTorch, and the errors."""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn import Tensor, gradcheck
from tests.strategies import seeds, t64

REDUCTIONS = ["mean", "sum", "none"]


def normal(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def torch_t(a: np.ndarray, requires_grad: bool = True) -> Any:
    torch = pytest.importorskip("torch")
    return torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad)


def close(ours: Tensor, theirs: Any, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    assert ours is not None and theirs is not None
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


def backward_both(yo: Tensor, yt: Any, seed: int = 0) -> None:
    torch = pytest.importorskip("torch")
    g = np.asarray(np.random.default_rng(seed).standard_normal(yo.shape))
    yo.backward(g)
    yt.backward(torch.from_numpy(g))


def test_functional_exports_these_ops() -> None:
    from minicnn.ops import dropout, linear, loss, norm

    assert F.linear is linear.linear and F.dropout is dropout.dropout
    assert F.batch_norm is norm.batch_norm
    for name in ("softmax", "log_softmax", "nll_loss", "cross_entropy"):
        assert getattr(F, name) is getattr(loss, name)


# -- linear ------------------------------------------------------------------------------------
linear_shapes = st.tuples(
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3),  # leading (*) dims
    st.integers(1, 4), st.integers(1, 3), st.booleans(),               # in, out, bias
)


@given(shapes=linear_shapes, seed=seeds)
def test_linear_gradcheck(shapes: tuple[Any, ...], seed: int) -> None:
    lead, k, m, with_bias = shapes
    x, w, b = t64(normal(lead + (k,), seed)), t64(normal((m, k), seed + 1)), t64(normal((m,), 2))
    assert gradcheck(F.linear, [x, w, b if with_bias else None])


@given(shapes=linear_shapes, seed=seeds)
def test_linear_matches_torch(shapes: tuple[Any, ...], seed: int) -> None:
    torch = pytest.importorskip("torch")
    lead, k, m, with_bias = shapes
    arrays = [normal(lead + (k,), seed), normal((m, k), seed + 1), normal((m,), seed + 2)]
    ours, theirs = [t64(a) for a in arrays], [torch_t(a) for a in arrays]
    if not with_bias:
        ours[2] = theirs[2] = None
    yo, yt = F.linear(*ours), torch.nn.functional.linear(*theirs)
    close(yo, yt)
    backward_both(yo, yt, seed)
    for o, t in zip(ours, theirs):
        if o is not None:
            close(o.grad, t.grad)


@pytest.mark.parametrize("args, match", [
    ((np.ones((2, 3)), Tensor(np.ones((4, 3)))), "linear: input must be a Tensor, got ndarray"),
    ((Tensor(np.ones((2, 3))), np.ones((4, 3))), "linear: weight must be a Tensor, got ndarray"),
    ((Tensor(np.ones((2, 3))), Tensor(np.ones(3))), r"weight must be 2-D .* got shape \(3,\)"),
    ((Tensor(1.0), Tensor(np.ones((4, 3)))), "input must have at least 1 dimension"),
    ((Tensor(np.ones((2, 5))), Tensor(np.ones((4, 3)))),
     r"input has shape \(2, 5\); its last dimension must equal weight's in_features 3"),
    ((Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((4, 3)))),
     "input is float32 but weight is float64"),
    ((Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), Tensor(np.ones(3))),
     r"bias has shape \(3,\), expected \(4,\)"),
    ((Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), np.ones(4)),
     "bias must be a Tensor or None, got ndarray"),
    ((Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), Tensor(np.ones(4, np.float32))),
     "bias is float32 but weight is float64"),
])
def test_linear_errors(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        F.linear(*args)


# -- dropout -----------------------------------------------------------------------------------
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds,
       p=st.sampled_from([0.2, 0.5, 0.9]))
def test_dropout_gradcheck_with_a_fixed_mask(shape: tuple[int, ...], seed: int, p: float) -> None:
    def fn(x: Tensor) -> Tensor:
        minicnn.manual_seed(seed)  # the same mask on every evaluation
        return F.dropout(x, p) * x
    assert gradcheck(fn, [t64(normal(shape, seed))])


def test_dropout_statistics_and_scale() -> None:
    minicnn.manual_seed(0)
    x = t64(np.full((200, 500), 2.0))
    y = F.dropout(x, p=0.3)
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.005            # P(drop) = p
    np.testing.assert_allclose(y.numpy()[kept], 2.0 / 0.7, rtol=1e-15)  # kept: x / (1 - p)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad.numpy(), kept / 0.7)  # the same mask in backward


def test_dropout_float32_stays_float32() -> None:
    y = F.dropout(Tensor(np.ones(100, np.float32)), 0.5)
    assert y.dtype == np.float32 and set(np.unique(y.numpy())) <= {0.0, 2.0}


def test_dropout_is_reproducible_under_manual_seed() -> None:
    x = Tensor(np.ones(1000))
    minicnn.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    minicnn.manual_seed(7)
    b = F.dropout(x, 0.5).numpy()
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout_identity_and_p_one() -> None:
    x = t64(normal((3, 4), 0))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    assert (y.numpy() == 0).all()
    y.sum().backward()
    assert (x.grad.numpy() == 0).all()


def test_dropout_matches_torch_at_the_edges() -> None:
    torch = pytest.importorskip("torch")
    x = normal((4, 5), 1)
    for p, training in ((0.0, True), (1.0, True), (0.7, False)):
        close(F.dropout(t64(x), p, training),
              torch.nn.functional.dropout(torch_t(x), p, training))


@pytest.mark.parametrize("p, match", [
    (-0.1, r"p must be in \[0, 1\], got -0.1"),
    (1.5, r"p must be in \[0, 1\], got 1.5"),
    (float("nan"), r"p must be in \[0, 1\], got nan"),
    ("0.5", r"p must be a number in \[0, 1\], got '0.5'"),
    (True, r"p must be a number in \[0, 1\], got True"),
])
def test_dropout_rejects_bad_p(p: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        F.dropout(Tensor(np.ones(3)), p)


def test_dropout_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="dropout: input must be a Tensor, got ndarray"):
        F.dropout(np.ones(3), 0.5)
    with pytest.raises(ValueError, match="dropout: input must be floating, got dtype int64"):
        F.dropout(Tensor([1, 2], dtype="int64"), 0.5)


# -- batch_norm --------------------------------------------------------------------------------
bn_shapes = st.one_of(
    st.tuples(st.integers(2, 5), st.integers(1, 3)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
    .filter(lambda s: s[0] * s[2] * s[3] > 1),
)


def _bn_inputs(shape: tuple[int, ...], seed: int) -> list[np.ndarray]:
    c = shape[1]
    x = normal(shape, seed, scale=2.0) + 0.5
    return [x, normal((c,), seed + 1) + 1.0, normal((c,), seed + 2)]


# batch norm's math is in the kernels: the gradchecks run under each CPU kernel set
FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@FIXTURE_OK
@given(shape=bn_shapes, seed=seeds, affine=st.booleans())
def test_batch_norm_training_gradcheck(kernel_set: str, shape: tuple[int, ...], seed: int,
                                       affine: bool) -> None:
    x, w, b = (t64(a) for a in _bn_inputs(shape, seed))
    c = shape[1]

    def fn(x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        return F.batch_norm(x, np.zeros(c), np.ones(c), w, b, training=True)
    assert gradcheck(fn, [x, w, b] if affine else [x, None, None])


@FIXTURE_OK
@given(shape=bn_shapes, seed=seeds)
def test_batch_norm_eval_gradcheck(kernel_set: str, shape: tuple[int, ...], seed: int) -> None:
    x, w, b = (t64(a) for a in _bn_inputs(shape, seed))
    c = shape[1]
    rm, rv = normal((c,), seed + 3), np.random.default_rng(seed).uniform(0.5, 2.0, c)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), [x, w, b])


@FIXTURE_OK
@given(shape=bn_shapes, seed=seeds, training=st.booleans(),
       momentum=st.sampled_from([0.1, 0.5, 1.0, 0.0]), as_tensor=st.booleans())
def test_batch_norm_matches_torch(kernel_set: str, shape: tuple[int, ...], seed: int,
                                  training: bool, momentum: float, as_tensor: bool) -> None:
    torch = pytest.importorskip("torch")
    arrays = _bn_inputs(shape, seed)
    c = shape[1]
    rm0, rv0 = normal((c,), seed + 3), np.random.default_rng(seed).uniform(0.5, 2.0, c)
    rm, rv = rm0.copy(), rv0.copy()
    trm, trv = torch.tensor(rm0), torch.tensor(rv0)
    ours, theirs = [t64(a) for a in arrays], [torch_t(a) for a in arrays]
    stats = (Tensor(rm), Tensor(rv)) if as_tensor else (rm, rv)
    yo = F.batch_norm(ours[0], *stats, ours[1], ours[2], training, momentum, 1e-3)
    yt = torch.nn.functional.batch_norm(theirs[0], trm, trv, theirs[1], theirs[2], training,
                                        momentum, 1e-3)
    close(yo, yt)
    # in place: the very arrays passed in (or behind the Tensors) hold the new statistics
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-12)
    if training and momentum > 0:
        assert not np.allclose(rv, rv0)
    backward_both(yo, yt, seed)
    for o, t in zip(ours, theirs):
        close(o.grad, t.grad, rtol=1e-8, atol=1e-10)


def test_batch_norm_training_without_running_stats_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    x = normal((4, 3, 2, 2), 5)
    yo = F.batch_norm(t64(x), None, None, training=True)
    yt = torch.nn.functional.batch_norm(torch_t(x), None, None, training=True)
    close(yo, yt)


def test_batch_norm_normalises_each_channel() -> None:
    x = normal((8, 3, 4, 4), 0, scale=5.0) + np.array([1.0, -20.0, 300.0])[None, :, None, None]
    y = F.batch_norm(Tensor(x), None, None, training=True, eps=0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1.0, rtol=1e-12)


def test_batch_norm_running_var_is_unbiased_and_float32_stats_work() -> None:
    x = np.array([[1.0], [3.0]])  # mean 2, biased var 1, unbiased var 2
    rm, rv = np.zeros(1, np.float32), np.ones(1, np.float32)
    F.batch_norm(Tensor(x), rm, rv, training=True, momentum=1.0)
    assert rm.tolist() == [2.0] and rv.tolist() == [2.0] and rv.dtype == np.float32


def _bn(**overrides: Any) -> Tensor:
    args: dict[str, Any] = dict(input=Tensor(np.ones((4, 3))), running_mean=np.zeros(3),
                                running_var=np.ones(3), weight=None, bias=None, training=True)
    args.update(overrides)
    return F.batch_norm(**args)


@pytest.mark.parametrize("overrides, match", [
    ({"input": np.ones((4, 3))}, "batch_norm: input must be a Tensor, got ndarray"),
    ({"input": Tensor(np.ones((4, 3, 5)))},
     r"input must be 2-D \(N, C\) or 4-D \(N, C, H, W\), got shape \(4, 3, 5\)"),
    ({"input": Tensor(np.ones((4, 3)), dtype="int64")}, "input must be floating, got dtype int64"),
    ({"weight": Tensor(np.ones(2))}, r"weight has shape \(2,\), expected \(3,\)"),
    ({"bias": Tensor(np.ones((3, 1)))}, r"bias has shape \(3, 1\), expected \(3,\)"),
    ({"weight": np.ones(3)}, "weight must be a Tensor or None, got ndarray"),
    ({"bias": Tensor(np.ones(3, np.float32))}, "bias is float32 but input is float64"),
    ({"running_mean": np.zeros(4)}, r"running_mean has shape \(4,\), expected \(3,\)"),
    ({"running_var": [1.0, 1.0, 1.0]}, "running_var must be an array, a Tensor or None, got list"),
    ({"running_var": np.ones(3, np.int64)}, "running_var must be floating, got dtype int64"),
    ({"training": False, "running_mean": None},
     "running_mean and running_var are required when training=False"),
    ({"input": Tensor(np.ones((1, 3)))},
     r"more than 1 value per channel, got input shape \(1, 3\)"),
    ({"input": Tensor(np.ones((1, 3, 1, 1)))}, "more than 1 value per channel"),
    ({"momentum": 1.5}, r"momentum must be a number in \[0, 1\], got 1.5"),
    ({"momentum": None}, r"momentum must be a number in \[0, 1\], got None"),
    ({"eps": -1e-5}, "eps must be a non-negative number, got -1e-05"),
    ({"eps": "1e-5"}, "eps must be a non-negative number, got '1e-5'"),
])
def test_batch_norm_errors(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _bn(**overrides)


# -- softmax and log_softmax -------------------------------------------------------------------
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds, data=st.data(),
       name=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_family_gradcheck_and_torch(shape: tuple[int, ...], seed: int,
                                            data: st.DataObject, name: str) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = normal(shape, seed, scale=3.0)
    assert gradcheck(lambda t: getattr(F, name)(t, dim), [t64(x)])
    torch = pytest.importorskip("torch")
    xo, xt = t64(x), torch_t(x)
    yo, yt = getattr(F, name)(xo, dim), getattr(torch.nn.functional, name)(xt, dim)
    close(yo, yt)
    backward_both(yo, yt, seed)
    close(xo.grad, xt.grad)


def test_softmax_is_stable_for_huge_logits() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 5e3], [-1e4, -1e4, -1e4]])
    for name in ("softmax", "log_softmax"):
        xo, xt = t64(x), torch_t(x)
        yo, yt = getattr(F, name)(xo, 1), getattr(torch.nn.functional, name)(xt, 1)
        assert np.isfinite(yo.numpy()).all()
        close(yo, yt)
        backward_both(yo, yt)
        close(xo.grad, xt.grad)
    y32 = F.softmax(Tensor(x.astype(np.float32)), -1)
    assert y32.dtype == np.float32 and np.isfinite(y32.numpy()).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_errors(name: str) -> None:
    f = getattr(F, name)
    with pytest.raises(ValueError, match=f"{name}: input must be a Tensor, got list"):
        f([1.0, 2.0], 0)
    with pytest.raises(ValueError, match=f"{name}: dim 2 is out of range .* shape \\(2, 3\\)"):
        f(Tensor(np.ones((2, 3))), 2)
    with pytest.raises(ValueError, match=f"{name}: dim -3 is out of range"):
        f(Tensor(np.ones((2, 3))), -3)
    with pytest.raises(ValueError, match=f"{name}: dim must be an int, got None"):
        f(Tensor(np.ones((2, 3))), None)
    with pytest.raises(ValueError, match=f"{name}: input must have at least 1 dimension"):
        f(Tensor(1.0), 0)
    with pytest.raises(ValueError, match=f"{name}: input must be floating, got dtype int64"):
        f(Tensor([1, 2], dtype="int64"), 0)


# -- nll_loss and cross_entropy ----------------------------------------------------------------
@given(n=st.integers(1, 5), c=st.integers(1, 4), seed=seeds,
       reduction=st.sampled_from(REDUCTIONS), smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_cross_entropy_gradcheck_and_torch(n: int, c: int, seed: int, reduction: str,
                                           smoothing: float) -> None:
    x = normal((n, c), seed, scale=3.0)
    t = np.random.default_rng(seed).integers(0, c, n)

    def fn(inp: Tensor) -> Tensor:
        return F.cross_entropy(inp, t, reduction=reduction, label_smoothing=smoothing)
    assert gradcheck(fn, [t64(x)])
    torch = pytest.importorskip("torch")
    xo, xt = t64(x), torch_t(x)
    yo = fn(xo)
    yt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t), reduction=reduction,
                                           label_smoothing=smoothing)
    close(yo, yt)
    backward_both(yo, yt, seed)
    close(xo.grad, xt.grad)


@given(n=st.integers(1, 5), c=st.integers(1, 4), seed=seeds,
       reduction=st.sampled_from(REDUCTIONS))
def test_nll_loss_gradcheck_and_torch(n: int, c: int, seed: int, reduction: str) -> None:
    x = normal((n, c), seed, scale=3.0)
    t = np.random.default_rng(seed).integers(0, c, n)
    assert gradcheck(lambda inp: F.nll_loss(inp, t, reduction=reduction), [t64(x)])
    torch = pytest.importorskip("torch")
    xo, xt = t64(x), torch_t(x)
    yo = F.nll_loss(xo, t, reduction=reduction)
    yt = torch.nn.functional.nll_loss(xt, torch.from_numpy(t), reduction=reduction)
    close(yo, yt)
    backward_both(yo, yt, seed)
    close(xo.grad, xt.grad)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4 - 2.0], [0.0, 0.0, 1e4]])
    t = np.array([0, 2, 0])
    for smoothing in (0.0, 0.2):
        xo, xt = t64(x), torch_t(x)
        yo = F.cross_entropy(xo, t, label_smoothing=smoothing)
        yt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t),
                                               label_smoothing=smoothing)
        assert np.isfinite(yo.item())
        close(yo, yt)
        backward_both(yo, yt)
        close(xo.grad, xt.grad)
    y32 = F.cross_entropy(Tensor(x.astype(np.float32)), t)
    assert y32.dtype == np.float32 and np.isfinite(y32.item())


def test_nll_loss_ignores_minus_infinity_off_target() -> None:
    with np.errstate(divide="ignore"):
        logp = np.log(np.array([[1.0, 0.0], [0.25, 0.75]]))  # -inf where a probability is 0
    x = t64(logp)
    with np.errstate(divide="ignore"):
        y = F.nll_loss(x, [0, 1])
    y.backward()
    np.testing.assert_allclose(y.item(), -np.log(0.75) / 2)
    np.testing.assert_array_equal(x.grad.numpy(), [[-0.5, 0.0], [0.0, -0.5]])


@pytest.mark.parametrize("target", [
    [2, 0, 1],
    (2, 0, 1),
    np.array([2, 0, 1]),
    np.array([2, 0, 1], dtype=np.int32),
    np.array([2, 0, 1], dtype=np.uint8),
    minicnn.tensor([2, 0, 1], dtype="int64"),
    minicnn.arange(3) * 0 + minicnn.tensor([2, 0, 1], dtype="int64"),
])
def test_target_forms(target: Any) -> None:
    x = normal((3, 4), 3)
    expected = -(x - np.log(np.exp(x).sum(1, keepdims=True)))[[0, 1, 2], [2, 0, 1]].mean()
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), target).item(), expected, rtol=1e-12)


def test_cross_entropy_runs_in_float32() -> None:
    x = Tensor(normal((4, 3), 0).astype(np.float32), requires_grad=True)
    y = F.cross_entropy(x, [0, 1, 2, 0])
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("input, target, kwargs, match", [
    (np.ones((2, 3)), [0, 1], {}, "input must be a Tensor, got ndarray"),
    (Tensor(np.ones(3)), [0], {}, r"input must be 2-D \(N, C\), got shape \(3,\)"),
    (Tensor(np.ones((2, 3, 4))), [0, 1], {}, r"input must be 2-D \(N, C\), got shape \(2, 3, 4\)"),
    (Tensor(np.ones((2, 0))), [0, 1], {}, "input must have at least one class"),
    (Tensor(np.ones((2, 3)), dtype="int64"), [0, 1], {}, "input must be floating"),
    (Tensor(np.ones((2, 3))), [0, 3], {}, r"target\[1\] = 3 is out of range; .* \[0, 3\)"),
    (Tensor(np.ones((2, 3))), [-1, 0], {}, r"target\[0\] = -1 is out of range"),
    (Tensor(np.ones((2, 3))), [0, 1, 2], {}, r"target has shape \(3,\), expected \(2,\)"),
    (Tensor(np.ones((2, 3))), [[0], [1]], {}, r"target has shape \(2, 1\), expected \(2,\)"),
    (Tensor(np.ones((2, 3))), [0.0, 1.0], {}, "target must hold integer class indices, got dtype "
     "float64"),
    (Tensor(np.ones((2, 3))), Tensor([0, 1]), {}, "target must hold integer class indices, got "
     "dtype float32"),
    (Tensor(np.ones((2, 3))), [True, False], {}, "target must hold integer class indices, got "
     "dtype bool"),
    (Tensor(np.ones((2, 3))), 1, {}, "target must be a Tensor, array or list .* got int"),
    (Tensor(np.ones((2, 3))), [0, 1], {"reduction": "avg"},
     r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"),
    (Tensor(np.ones((0, 3))), [], {}, r"reduction='mean' of an empty batch"),
    (Tensor(np.ones((0, 3))), np.zeros(0, np.int64), {}, r"reduction='mean' of an empty batch"),
])
def test_classification_loss_errors(name: str, input: Any, target: Any, kwargs: dict[str, Any],
                                    match: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: {match}"):
        getattr(F, name)(input, target, **kwargs)


@pytest.mark.parametrize("smoothing", [-0.1, 1.5, "0.1", None])
def test_cross_entropy_rejects_bad_label_smoothing(smoothing: Any) -> None:
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\]"):
        F.cross_entropy(Tensor(np.ones((2, 3))), [0, 1], label_smoothing=smoothing)


def test_losses_of_empty_batches_sum_to_zero() -> None:
    for name in ("nll_loss", "cross_entropy"):
        x = Tensor(np.ones((0, 3)))
        assert getattr(F, name)(x, [], reduction="sum").item() == 0.0
        assert getattr(F, name)(x, np.zeros(0, np.int64), reduction="none").shape == (0,)


# -- the same ops on the GPU (CuPy) ------------------------------------------------------------
@pytest.mark.gpu
def test_ops_on_cuda_match_cpu() -> None:
    """Each op, forward and backward, on CuPy arrays equals its NumPy run."""
    x = normal((4, 3, 2, 2), 0)
    w, b = normal((3,), 1) + 1.0, normal((3,), 2)
    lw, lb = normal((5, 2), 3), normal((5,), 4)
    t = np.array([0, 2, 1, 2])

    def run(device: str) -> list[np.ndarray]:
        xs = [t64(a).to(device).detach().requires_grad_() for a in (x, w, b, lw, lb)]
        xt, wt, bt, lwt, lbt = xs
        rm, rv = minicnn.zeros(3, dtype="float64", device=device), minicnn.ones(
            3, dtype="float64", device=device)
        h = F.batch_norm(xt, rm, rv, wt, bt, training=True)
        h = F.linear(h, lwt, lbt)                                 # (4, 3, 2, 5)
        logits = h.sum((2,)).reshape(4, -1)[:, :3]
        minicnn.manual_seed(3)
        logits = F.dropout(logits, 0.0) + F.softmax(logits, 1) + F.log_softmax(logits, 0)
        loss = F.cross_entropy(logits, t, label_smoothing=0.1) + F.nll_loss(logits, t)
        loss.backward()
        with minicnn.no_grad():
            ev = F.batch_norm(xt, rm, rv, wt, bt, training=False)
        return [loss.cpu().numpy(), ev.cpu().numpy(), rm.cpu().numpy(), rv.cpu().numpy()] + [
            v.grad.cpu().numpy() for v in xs]

    for got, want in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    minicnn.manual_seed(5)
    kept = F.dropout(minicnn.ones(10000, dtype="float64", device="cuda"), 0.25).cpu().numpy()
    assert abs((kept == 0).mean() - 0.25) < 0.02 and set(np.unique(kept)) <= {0.0, 4 / 3}

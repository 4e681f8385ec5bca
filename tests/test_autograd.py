"""Autograd: backward() semantics, gradchecks of every differentiable core op (float64,
hypothesis-drawn shapes including broadcasting pairs) and the same expressions run in PyTorch
(micrograd-style: one expression, two libraries, values and gradients compared)."""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import Function, GradcheckError, Tensor, gradcheck
from tests.strategies import away_from_zero, t64, tie_free

# -- helpers -----------------------------------------------------------------------------------
Draw = Callable[[st.SearchStrategy[Any]], Any]
Case = Callable[[Draw], tuple[Callable[..., Any], list[np.ndarray]]]

broadcast_pairs = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3
)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
seeds = st.integers(min_value=0, max_value=2**31 - 1)

# the broadcasting pairs every binary op is also checked on, whatever hypothesis draws
FIXED_PAIRS = [((3, 1, 4), (2, 1)), ((2, 1), (3, 1, 4)), ((4,), ()), ((), (2, 3)),
               ((1, 3), (2, 1)), ((2, 3), (2, 3))]


def normal(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def positive(shape: tuple[int, ...], seed: int, lo: float = 0.5, hi: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def away_from(x: np.ndarray, points: tuple[float, ...], gap: float = 0.05) -> np.ndarray:
    """Move values that lie within ``gap`` of a kink in ``points`` by 2 gap."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] += np.where(x[near] >= p, 2 * gap, -2 * gap)
    return x


def to_torch_index(index: Any) -> Any:
    torch = pytest.importorskip("torch")
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    if isinstance(index, tuple):
        return tuple(to_torch_index(i) for i in index)
    return index


def assert_same_as_torch(expr: Callable[..., Any], arrays: list[np.ndarray], seed: int = 0,
                         rtol: float = 1e-9, atol: float = 1e-12) -> None:
    """Run ``expr(lib, *tensors)`` with lib = minicnn and lib = torch on float64 copies of
    ``arrays``; compare the outputs and the gradients for one random upstream gradient."""
    torch = pytest.importorskip("torch")
    ours = [t64(a) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    yo = expr(minicnn, *ours)
    yt = expr(torch, *theirs)
    assert yo.shape == tuple(yt.shape)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    yo.backward(g)
    yt.backward(torch.from_numpy(g))
    for i, (o, t) in enumerate(zip(ours, theirs)):
        expected = np.zeros(o.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(o.shape) if o.grad is None else o.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


# -- the ops under test: each case draws its inputs and returns (expr(lib, *xs), arrays) ------
def _binary(op: Callable[[Any, Any], Any], a_values: Callable[..., np.ndarray],
            b_values: Callable[..., np.ndarray]) -> Case:
    def case(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
        sa, sb = draw(st.one_of(st.sampled_from(FIXED_PAIRS),
                                broadcast_pairs.map(lambda b: b.input_shapes)))
        seed = draw(seeds)
        return (lambda lib, a, b: op(a, b)), [a_values(sa, seed), b_values(sb, seed + 1)]
    return case


def _nonzero(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return away_from_zero(shape, seed, gap=0.5)


def _pow_exponent(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, shape)


def _unary(op: Callable[[Any], Any], values: Callable[..., np.ndarray]) -> Case:
    def case(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
        shape, seed = draw(shapes), draw(seeds)
        return (lambda lib, x: op(x)), [values(shape, seed)]
    return case


def case_scalar_operands(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    """Python numbers on either side of every operator."""
    shape, seed = draw(shapes), draw(seeds)
    x = away_from_zero(shape, seed, gap=0.3)

    def expr(lib: Any, x: Any) -> Any:
        return (2.5 + x) * 3 - x / 4 + 2 / x + x**3 + 1.5**x - (1 - x) * -0.5 + x**2 / 2
    return expr, [x]


def case_clamp(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(shapes), draw(seeds)
    kind = draw(st.sampled_from(["both", "min", "max"]))
    x = away_from(np.random.default_rng(seed).uniform(-2, 2, shape), (-0.5, 0.7))
    lo, hi = {"both": (-0.5, 0.7), "min": (-0.5, None), "max": (None, 0.7)}[kind]
    return (lambda lib, x: x.clamp(min=lo, max=hi)), [x]


def _dims(draw: Draw, ndim: int) -> Any:
    return draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
    ))


def _reduction(name: str) -> Case:
    def case(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
        shape, seed = draw(nonscalar_shapes), draw(seeds)
        dim, keepdim = _dims(draw, len(shape)), draw(st.booleans())

        def expr(lib: Any, x: Any) -> Any:
            return getattr(x, name)(dim=dim, keepdim=keepdim)
        return expr, [tie_free(shape, seed, scale=3.0)]
    return case


def case_max_dim(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(nonscalar_shapes), draw(seeds)
    dim, keepdim = draw(st.integers(-len(shape), len(shape) - 1)), draw(st.booleans())
    return (lambda lib, x: x.max(dim=dim, keepdim=keepdim).values * 2), [
        tie_free(shape, seed, scale=3.0)
    ]


def case_max_all(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(shapes), draw(seeds)
    return (lambda lib, x: x.max() * 3), [tie_free(shape, seed, scale=3.0)]


def case_matmul(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    ba, bb = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)
                  .map(lambda b: b.input_shapes))
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    a_vec, b_vec = draw(st.booleans()), draw(st.booleans())
    sa = (k,) if a_vec else ba + (n, k)
    sb = (k,) if b_vec else bb + (k, m)
    seed = draw(seeds)
    return (lambda lib, a, b: a @ b), [normal(sa, seed), normal(sb, seed + 1)]


def case_reshape(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(shapes), draw(seeds)
    target = draw(st.sampled_from([shape[::-1], (-1,), (1, -1), shape + (1,)]))
    method = draw(st.sampled_from(["reshape", "view"]))
    return (lambda lib, x: getattr(x, method)(target) * 2), [normal(shape, seed)]


def case_transpose(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(nonscalar_shapes), draw(seeds)
    nd = len(shape)
    d0, d1 = draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))
    return (lambda lib, x: x.transpose(d0, d1) * 2), [normal(shape, seed)]


def case_permute(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(nonscalar_shapes), draw(seeds)
    perm = tuple(draw(st.permutations(range(len(shape)))))
    return (lambda lib, x: x.permute(perm) * 2), [normal(shape, seed)]


def case_flatten(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(nonscalar_shapes), draw(seeds)
    nd = len(shape)
    s = draw(st.integers(0, nd - 1))
    e = draw(st.integers(s, nd - 1))
    return (lambda lib, x: x.flatten(s, e) * 2), [normal(shape, seed)]


def case_squeeze_unsqueeze(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape, seed = draw(nonscalar_shapes), draw(seeds)
    d = draw(st.integers(-len(shape) - 1, len(shape)))
    return (lambda lib, x: x.unsqueeze(d).squeeze(d) * x.unsqueeze(d).squeeze()
            .reshape(x.shape)), [normal(shape, seed)]


def case_basic_index(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    # torch has no negative-step slices
    index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True).filter(
        lambda ix: all(not isinstance(i, slice) or (i.step or 1) > 0
                       for i in (ix if isinstance(ix, tuple) else (ix,)))))
    seed = draw(seeds)
    return (lambda lib, x: x[index if lib is minicnn else to_torch_index(index)] * 2), [
        normal(shape, seed)
    ]


def case_advanced_index(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    kind = draw(st.sampled_from(["arrays", "mask", "list_then_slice"]))
    if kind == "arrays":  # repeated indices are likely: their gradients must add up
        index = draw(hnp.integer_array_indices(
            shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)))
    elif kind == "mask":
        index = draw(hnp.arrays(np.bool_, shape))
    else:
        rows = draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=5))
        index = (np.array(rows),) + (slice(None, None, 2),) * (len(shape) > 1)
    seed = draw(seeds)
    return (lambda lib, x: x[index if lib is minicnn else to_torch_index(index)] * 2), [
        normal(shape, seed)
    ]


def _cat_like(fname: str) -> Case:
    def case(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
        base = list(draw(nonscalar_shapes))
        count = draw(st.integers(1, 3))
        nd = len(base)
        if fname == "cat":
            dim = draw(st.integers(-nd, nd - 1))
            sizes = draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
            shapes_ = [tuple(base[: dim % nd] + [s] + base[dim % nd + 1:]) for s in sizes]
        else:
            dim = draw(st.integers(-nd - 1, nd))
            shapes_ = [tuple(base)] * count
        seed = draw(seeds)

        def expr(lib: Any, *xs: Any) -> Any:
            return getattr(lib, fname)(list(xs), dim) * 2
        return expr, [normal(s, seed + i) for i, s in enumerate(shapes_)]
    return case


def case_compound(draw: Draw) -> tuple[Callable[..., Any], list[np.ndarray]]:
    """A small network with fan-out: every input feeds several ops."""
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(seeds)

    def expr(lib: Any, x: Any, w: Any, b: Any) -> Any:
        h = x @ w + b
        z = (h * h + h.exp() / (1 + (x * x).sum())) - w.mean()
        return (z.sum(1) ** 2 + 1).sqrt() + (z - b).amax(1) * 0.5 + ((x.T @ x).sum() + 1) ** 0.5
    return expr, [away_from_zero((n, k), seed), away_from_zero((k, m), seed + 1),
                  away_from_zero((m,), seed + 2)]


CASES: dict[str, Case] = {
    "add": _binary(lambda a, b: a + b, normal, normal),
    "sub": _binary(lambda a, b: a - b, normal, normal),
    "mul": _binary(lambda a, b: a * b, normal, normal),
    "div": _binary(lambda a, b: a / b, normal, _nonzero),
    "pow": _binary(lambda a, b: a**b, positive, _pow_exponent),
    "self_mul": _unary(lambda x: x * x + x, normal),
    "scalar_operands": case_scalar_operands,
    "neg": _unary(lambda x: -x, normal),
    "exp": _unary(lambda x: x.exp(), normal),
    "log": _unary(lambda x: x.log(), positive),
    "sqrt": _unary(lambda x: x.sqrt(), positive),
    "abs": _unary(lambda x: x.abs() + abs(x), lambda s, seed: away_from_zero(s, seed)),
    "relu": _unary(lambda x: x.relu(), lambda s, seed: away_from_zero(s, seed)),
    "clamp": case_clamp,
    "sum": _reduction("sum"),
    "mean": _reduction("mean"),
    "amax": _reduction("amax"),
    "max_dim": case_max_dim,
    "max_all": case_max_all,
    "matmul": case_matmul,
    "reshape": case_reshape,
    "transpose": case_transpose,
    "permute": case_permute,
    "flatten": case_flatten,
    "squeeze_unsqueeze": case_squeeze_unsqueeze,
    "basic_index": case_basic_index,
    "advanced_index": case_advanced_index,
    "cat": _cat_like("cat"),
    "stack": _cat_like("stack"),
    "compound": case_compound,
}


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_gradcheck(name: str, data: st.DataObject) -> None:
    expr, arrays = CASES[name](data.draw)
    assert gradcheck(lambda *xs: expr(minicnn, *xs), [t64(a) for a in arrays])


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_matches_torch(name: str, data: st.DataObject) -> None:
    expr, arrays = CASES[name](data.draw)
    assert_same_as_torch(expr, arrays)


@pytest.mark.parametrize("sa, sb", FIXED_PAIRS)
def test_broadcast_gradient_shapes_and_sums(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = t64(np.ones(sa)), t64(np.full(sb, 2.0))
    (a * b).backward(np.ones(np.broadcast_shapes(sa, sb)))
    assert a.grad.shape == sa and b.grad.shape == sb
    # each element of a meets (size of the result / size of a) elements of b, all equal to 2
    out = int(np.prod(np.broadcast_shapes(sa, sb)))
    np.testing.assert_array_equal(a.grad.numpy(), np.full(sa, 2.0 * out / max(a.numel(), 1)))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(sb, 1.0 * out / max(b.numel(), 1)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_at_zero_and_dtype(kernel_set: str, dtype: Any) -> None:
    """relu keeps the dtype; its gradient at exactly 0 (and -0) is 0, as in PyTorch."""
    x = Tensor(np.array([-1.0, -0.0, 0.0, 1e-30, 2.0], dtype), requires_grad=True)
    y = x.relu()
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), np.array([0.0, 0.0, 0.0, 1e-30, 2.0], dtype))
    y.backward(np.array([5.0, 5.0, 5.0, 5.0, 5.0], dtype))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 5.0, 5.0])


# -- backward(): arguments, accumulation, depth, graph lifetime ---------------------------------
def test_backward_without_grad_on_one_element() -> None:
    x = t64(np.array([[3.0]]))
    (x * x).backward()
    assert x.grad.numpy().tolist() == [[6.0]]


@pytest.mark.parametrize("as_tensor", [False, True])
def test_backward_with_grad_array_or_tensor(as_tensor: bool) -> None:
    x = t64(np.arange(3.0))
    g = np.array([1.0, 10.0, 100.0])
    (x * 2).backward(Tensor(g) if as_tensor else g)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * g)


def test_backward_grad_is_cast_to_the_tensor_dtype() -> None:
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    (x * 3).backward(np.ones(2, np.float64))
    assert x.grad.dtype == np.float32


def test_backward_errors() -> None:
    x = t64(np.ones(3))
    y = x * 2
    with pytest.raises(RuntimeError, match="one-element tensor, got shape \\(3,\\)"):
        y.backward()
    with pytest.raises(ValueError, match="grad has shape \\(2,\\), expected \\(3,\\)"):
        y.backward(np.ones(2))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(3)).sum().backward()


def test_chain_deeper_than_the_recursion_limit() -> None:
    depth = max(6000, 2 * sys.getrecursionlimit())
    x = t64(np.array([1.0, 2.0]))
    y = x
    for i in range(depth):
        y = y * 1.0001 if i % 2 else y + 0.5
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(2, 1.0001 ** (depth // 2)), rtol=1e-12)
    del y  # freeing the deep graph must not recurse either


def test_fan_out_accumulates() -> None:
    x = t64(np.array([1.5, -2.0]))
    y = x * x + x * 3 + x  # d/dx = 2x + 4
    a, b = y * 2, y.exp()   # diamond: y feeds two branches
    (a + b).sum().backward()
    xv = x.numpy()
    yv = xv * xv + 4 * xv
    np.testing.assert_allclose(x.grad.numpy(), (2 + np.exp(yv)) * (2 * xv + 4), rtol=1e-12)


def test_leaf_grads_accumulate_across_backward_calls() -> None:
    x = t64(np.array([1.0, 2.0]))
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 3 + 2 * x.numpy())


def test_graph_is_freed_after_backward() -> None:
    x = t64(np.array([1.0, 2.0]))
    y = (x.exp() * 2).sum()
    y.backward()
    assert y.grad_fn.released and y.grad_fn.saved_tensors == ()
    with pytest.raises(RuntimeError, match="a second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = t64(np.array([1.0, 2.0]))
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 4 * x.numpy())


def test_shared_subgraph_freed_by_first_backward() -> None:
    x = t64(np.array([1.0]))
    h = x.exp()
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match="Exp a second time"):
        (h * 3).sum().backward()


def test_no_grad_records_nothing_and_backward_still_runs_inside_it() -> None:
    x = t64(np.array([1.0, 2.0]))
    with minicnn.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    z = (x * x).sum()
    with minicnn.no_grad():
        z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_detach_stops_the_gradient() -> None:
    x = t64(np.array([1.0, 3.0]))
    (x.detach() * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), x.numpy())


def test_non_leaf_grad_only_with_retain_grad() -> None:
    x = t64(np.array([1.0, 2.0]))
    h, k = x * 2, x * 3
    h.retain_grad()
    (h * k).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), k.numpy())
    assert k.grad is None and not k.is_leaf and x.is_leaf


def test_only_inputs_that_require_grad_get_grads() -> None:
    a, b = t64(np.ones(2)), Tensor(np.ones(2))
    (a * b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_cast_gradient_returns_in_the_leaf_dtype() -> None:
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x.double() * 3
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


# -- indexing: repeated indices accumulate, checked against a count of positions --------------
@pytest.mark.parametrize("index", [
    [0, 0, 0, 2],
    (np.array([1, 1, -1]), np.array([0, 0, 0])),
    (slice(None), [3, 3, 0]),
    (1, [2, 2, 0]),
    (Ellipsis, [1, 1]),
    np.array([[0, 1], [1, 1]]),
    np.array([True, False, True]),
])
def test_index_gradient_counts_every_use(index: Any) -> None:
    x = t64(np.arange(12.0).reshape(3, 4))
    y = x[index]
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(g)
    # an independent oracle: index the positions, then add g at each position it names
    pos = np.arange(12).reshape(3, 4)[index].ravel()
    expected = np.bincount(pos, weights=g.ravel(), minlength=12).reshape(3, 4)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_index_by_an_integer_tensor() -> None:
    x = t64(np.arange(4.0))
    x[minicnn.tensor([3, 3, 1], dtype="int64")].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0, 2.0])


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_amax_ties_share_the_gradient_as_torch(dim: Any) -> None:
    """amax splits the gradient equally among tied maxima (torch does the same)."""
    x = np.array([[2.0, 2.0, 1.0], [3.0, 3.0, 3.0], [0.0, 5.0, 5.0]])
    assert_same_as_torch(lambda lib, t: t.amax(dim=dim, keepdim=True) * 1.0, [x])


# -- Function: the contract backward() relies on ------------------------------------------------
class _Scale(Function):
    def forward(self, a: Any, b: Any) -> Any:
        self.seen_needs = self.needs_input_grad
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy: Any) -> Any:
        a, b = self.saved_tensors
        return gy * b, gy * a


def test_function_records_inputs_and_needs_input_grad() -> None:
    a, b = t64(np.ones(2)), Tensor(np.ones(2))
    y = _Scale.apply(a, b)
    assert y.grad_fn.seen_needs == (True, False)
    assert y.grad_fn.inputs == (a, b)


def test_function_returning_too_few_gradients_is_named() -> None:
    class OneGrad(Function):
        def forward(self, a: Any, b: Any) -> Any:
            return a + b

        def backward(self, gy: Any) -> Any:
            return gy

    y = OneGrad.apply(t64(np.ones(2)), t64(np.ones(2)))
    with pytest.raises(RuntimeError, match="OneGrad.backward returned 1 gradients for 2 inputs"):
        y.sum().backward()


def test_function_returning_a_wrong_shape_is_named() -> None:
    class Flat(Function):
        def forward(self, a: Any) -> Any:
            return a * 1

        def backward(self, gy: Any) -> Any:
            return gy.reshape(-1)

    y = Flat.apply(t64(np.ones((2, 2))))
    with pytest.raises(RuntimeError, match="shape \\(4,\\) for an input of shape \\(2, 2\\)"):
        y.sum().backward()


# -- leaf gradients: taken without a copy only when nothing else holds them -----------------
class _GradFrom(Function):
    """y = x; backward returns what ``make(gy)`` builds (weak references to what it hands out:
    ids could be reused once an array is freed, and a strong reference would block the
    steal)."""

    make: Callable[[Any], Any] = staticmethod(lambda gy: gy * 1)
    refs: list[Any] = []

    def forward(self, x: Any) -> Any:
        return x * 1

    def backward(self, gy: Any) -> Any:
        g = type(self).make(gy)
        type(self).refs.append(weakref.ref(g if g.base is None else g.base))
        return g


def _grad_via(make: Callable[[Any], Any]) -> tuple[Tensor, int]:
    cls = type("G", (_GradFrom,), {"make": staticmethod(make), "refs": []})
    x = t64(np.zeros((2, 3)))
    cls.apply(x).backward(np.ones((2, 3)))
    data = x.grad.data
    return x, cls.refs[0]() is (data if data.base is None else data.base)


def test_fresh_leaf_gradient_is_taken_without_a_copy() -> None:
    assert _grad_via(lambda gy: gy * 2)[1]
    assert _grad_via(lambda gy: (gy * 2).reshape(-1).reshape(2, 3))[1]  # a kernel's reshape


def test_held_leaf_gradients_are_copied() -> None:
    kept = np.full((2, 3), 5.0)
    x, stolen = _grad_via(lambda gy: kept)
    assert not stolen and not np.shares_memory(x.grad.data, kept)
    x, stolen = _grad_via(lambda gy: kept.reshape(-1).reshape(2, 3))  # a view of a kept array
    assert not stolen and not np.shares_memory(x.grad.data, kept)
    x.grad.data[...] = 0
    assert (kept == 5.0).all()


def test_views_that_are_not_plain_arrays_are_copied() -> None:
    """Broadcast (read-only, zero strides), transposed and partial views become a copy: .grad
    must be a writeable array of its own size that zero_grad can clear in place."""
    x, stolen = _grad_via(lambda gy: np.broadcast_to(np.ones(3), (2, 3)))
    assert not stolen and x.grad.data.flags.writeable
    x.grad.data[...] = 0
    x, stolen = _grad_via(lambda gy: np.ascontiguousarray((gy * 2).T).T)
    assert not stolen and x.grad.data.flags.c_contiguous
    x, stolen = _grad_via(lambda gy: np.ones((4, 3))[1:3])
    assert not stolen and x.grad.data.base is None


def test_aligned_kernel_results_are_taken_without_a_copy() -> None:
    """The Numba kernels' results are 64-byte aligned views of a buffer 64 bytes longer
    (aligned_empty): a leaf takes one as its .grad as it would an array of its own."""
    simd = pytest.importorskip("kernels.numba_cpu.simd")

    def aligned(gy):
        a = simd.aligned_empty(gy.shape, gy.dtype)
        a[...] = gy
        return a

    x, stolen = _grad_via(aligned)
    assert stolen and x.grad.data.ctypes.data % 64 == 0


def test_retain_grad_is_a_copy_its_backward_cannot_change() -> None:
    class Double(Function):
        def forward(self, a: Any) -> Any:
            return a * 1

        def backward(self, gy: Any) -> Any:
            gy *= 2  # in place: allowed for a backward that owns its input gradient
            return gy

    x = t64(np.ones(3))
    h = Double.apply(x)  # h's own backward doubles, in place, the gradient it is given
    h.retain_grad()
    (h * 1).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), np.ones(3))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2.0))


def test_one_gradient_for_two_leaves_and_the_callers_grad_are_not_shared() -> None:
    a, b = t64(np.ones(3)), t64(np.ones(3))
    g = np.full(3, 2.0)
    (a + b).backward(g)
    assert not np.shares_memory(a.grad.data, b.grad.data)
    assert not np.shares_memory(a.grad.data, g) and not np.shares_memory(b.grad.data, g)
    a.grad.data[...] = 7.0
    assert (b.grad.data == 2.0).all() and (g == 2.0).all()
    x = t64(np.ones(3))
    x.backward(g)  # a leaf's own backward: its grad is a copy of the caller's array
    assert not np.shares_memory(x.grad.data, g)


# -- gradcheck itself --------------------------------------------------------------------------
class _WrongAtOneElement(Function):
    """y = a * b, with b's gradient off by 1 at flat index 4 only."""

    def forward(self, a: Any, b: Any) -> Any:
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy: Any) -> Any:
        a, b = self.saved_tensors
        gb = gy * a
        gb.reshape(-1)[4] += 1.0
        return gy * b, gb


def test_gradcheck_names_the_input_and_index_of_a_wrong_gradient() -> None:
    a, b = t64(normal((2, 3), 1)), t64(normal((2, 3), 2))
    with pytest.raises(GradcheckError, match=r"inputs\[1\] of shape \(2, 3\) at index \(1, 1\)"):
        gradcheck(_WrongAtOneElement.apply, [a, b])


def test_gradcheck_catches_a_missing_factor() -> None:
    class HalfSquare(Function):
        def forward(self, a: Any) -> Any:
            self.save_for_backward(a)
            return a * a

        def backward(self, gy: Any) -> Any:
            (a,) = self.saved_tensors
            return gy * a  # should be 2 a

    with pytest.raises(GradcheckError, match=r"inputs\[0\].*6 of 6 elements"):
        gradcheck(HalfSquare.apply, [t64(np.arange(1.0, 7.0).reshape(2, 3))])


def test_gradcheck_catches_a_missing_gradient() -> None:
    class NoGradForB(Function):
        def forward(self, a: Any, b: Any) -> Any:
            return a + b

        def backward(self, gy: Any) -> Any:
            return gy, None

    with pytest.raises(GradcheckError, match=r"inputs\[1\]"):
        gradcheck(NoGradForB.apply, [t64(np.ones(2)), t64(np.ones(2))])


def test_gradcheck_refuses_float32() -> None:
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=r"inputs\[0\] is float32; gradient checks need float64"):
        gradcheck(lambda t: t * 2, [x])
    assert gradcheck(lambda t: t * 2, [x], upcast=True)


def test_gradcheck_fails_where_the_function_is_not_finite() -> None:
    with pytest.raises(GradcheckError, match="numeric nan"), np.errstate(invalid="ignore"):
        gradcheck(lambda t: t.log(), [t64(np.array([-1.0, -2.0]))])


def test_gradcheck_needs_an_input_that_requires_grad() -> None:
    with pytest.raises(ValueError, match="no input is a Tensor with requires_grad=True"):
        gradcheck(lambda t: t * 2, [Tensor(np.ones(2))])


def test_gradcheck_passes_non_tensor_arguments_through() -> None:
    assert gradcheck(lambda t, k: t * k, [t64(np.ones(3)), 2.5])


# -- known divergences from torch (fail until the core is fixed; see the report) -------------
def test_max_dim_sends_the_gradient_to_the_returned_index_as_torch() -> None:
    """torch's ``max(dim)`` routes the gradient to ``indices`` only; ``amax`` splits ties."""
    x = t64(np.array([[1.0, 1.0, 0.5], [2.0, 0.0, 2.0]]))
    values, indices = x.max(dim=1)
    values.sum().backward()
    expected = np.zeros((2, 3))
    expected[np.arange(2), indices.numpy()] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("base, exponent", [(0.0, 2.0), (0.0, 0.0), (2.0, 0.0)])
def test_pow_gradients_at_a_zero_base_match_torch(base: float, exponent: float) -> None:
    """d(a^b)/db = a^b log a is 0 at a = 0, b >= 0, and d(a^0)/da = 0, as in torch."""
    a, b = t64(np.array([base])), t64(np.array([exponent]))
    with np.errstate(divide="ignore", invalid="ignore"):
        (a**b).sum().backward()
    assert np.isfinite(a.grad.numpy()).all() and np.isfinite(b.grad.numpy()).all()
    assert_same_as_torch(lambda lib, a, b: a**b, [np.array([base]), np.array([exponent])])

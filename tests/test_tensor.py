"""Tensor: construction and dtype rules, properties, factories, seeding, no_grad, forward values
of reductions, shape ops, indexing, cat and stack (their gradients are in test_autograd.py),
and the errors bad arguments raise."""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import Tensor
from tests.strategies import seeds, t64, tie_free

nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


# -- construction ------------------------------------------------------------------------------
@pytest.mark.parametrize("data, dtype, expected", [
    (np.zeros(2, np.float64), None, np.float64),   # a floating array keeps its dtype
    (np.zeros(2, np.float32), None, np.float32),
    (np.zeros(2, np.float16), None, np.float16),
    (np.float64(1.5), None, np.float64),
    ([1, 2, 3], None, np.float32),                 # lists, scalars, integer data: float32
    ([1.5, 2.5], None, np.float32),
    ([[True, False]], None, np.float32),
    (3, None, np.float32),
    (2.5, None, np.float32),
    (np.arange(3), None, np.float32),
    ([1, 2], "float64", np.float64),               # unless dtype says otherwise
    ([1, 2], "int64", np.int64),
    (np.zeros(2, np.float32), "double", np.float64),
    (np.zeros(2), minicnn.float32, np.float32),
])
def test_construction_dtype(data: Any, dtype: Any, expected: Any) -> None:
    t = Tensor(data, dtype=dtype)
    assert t.dtype == np.dtype(expected)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data, dtype=expected))


def test_construction_dtypes_agree_with_torch_for_floats_and_lists() -> None:
    torch = pytest.importorskip("torch")
    for data in (np.zeros(2), np.zeros(2, np.float32), [1.5, 2.0], 2.5):
        theirs = torch.tensor(data).dtype
        assert str(Tensor(data).dtype) == str(theirs).replace("torch.", "")


def test_floating_array_is_shared_and_list_is_copied() -> None:
    a = np.zeros(3)
    t = Tensor(a)
    a[0] = 5.0
    assert t.numpy()[0] == 5.0
    assert Tensor(t).data is t.data  # a Tensor of a Tensor shares too
    fresh = minicnn.tensor(a)        # minicnn.tensor copies, as torch.tensor
    a[1] = 7.0
    assert fresh.numpy()[1] == 0.0


@pytest.mark.parametrize("data, match", [
    (["a", "b"], "data must be numeric, got an array of dtype <U1"),
    (None, "data must be numeric, got an array of dtype object"),
])
def test_construction_rejects_non_numeric(data: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Tensor(data)


def test_construction_rejects_unknown_dtype_and_grad_on_integers() -> None:
    with pytest.raises(ValueError, match="dtype must be one of .* got 'float128x'"):
        Tensor([1.0], dtype="float128x")
    with pytest.raises(ValueError, match="requires_grad=True needs a floating dtype, got int64"):
        Tensor([1, 2], dtype="int64", requires_grad=True)
    with pytest.raises(ValueError, match="requires_grad needs a floating dtype, got int64"):
        Tensor([1, 2], dtype="int64").requires_grad_()


# -- properties and conversion -----------------------------------------------------------------
def test_properties() -> None:
    t = Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24 and len(t) == 2
    assert t.size() == (2, 3, 4) and t.size(1) == 3
    assert t.dtype == np.float64 and t.device == "cpu"
    assert isinstance(t.numpy(), np.ndarray) and t.numpy() is t.data
    assert t.grad is None and not t.requires_grad and t.is_leaf


def test_item() -> None:
    v = Tensor(np.array([[2.5]])).item()
    assert v == 2.5 and type(v) is float
    assert Tensor(np.arange(3.0)).sum().item() == 3.0
    with pytest.raises(ValueError, match="one element, got shape \\(2,\\)"):
        Tensor([1.0, 2.0]).item()


def test_detach_shares_data_and_leaves_the_graph() -> None:
    x = t64(np.ones(3))
    y = x * 2
    d = y.detach()
    assert d.data is y.data and not d.requires_grad and d.is_leaf and d.grad_fn is None


def test_requires_grad_in_place() -> None:
    t = Tensor(np.ones(2))
    assert t.requires_grad_() is t and t.requires_grad
    assert not t.requires_grad_(False).requires_grad


@pytest.mark.parametrize("make", [
    lambda x: x.sum(),
    lambda x: x.mean(),
    lambda x: x.amax(),
    lambda x: x[0, 1],
    lambda x: (x * 2).sum(),
])
def test_zero_dim_results_hold_arrays(make: Any) -> None:
    """Full reductions and scalar indexing give 0-d arrays that can be written in place."""
    y = make(Tensor(np.arange(6.0).reshape(2, 3)))
    assert isinstance(y.data, np.ndarray) and y.shape == ()
    y.zero_()
    assert y.item() == 0.0


def test_comparisons_give_bool_tensors() -> None:
    x = Tensor([1.0, 2.0, 3.0])
    assert (x > 1.5).dtype == np.bool_
    assert (x > 1.5).numpy().tolist() == [False, True, True]
    assert (x == Tensor([1.0, 0.0, 3.0])).numpy().tolist() == [True, False, True]
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x > 0)


@pytest.mark.parametrize("left", [np.ones(3), np.float64(2.0), 2, 2.0])
def test_numpy_and_python_operands_on_the_left_give_tensors(left: Any) -> None:
    x = t64(np.array([1.0, 2.0, 3.0]))
    for y in (left + x, left * x, left - x, left / x, left**x):
        assert isinstance(y, Tensor) and y.requires_grad


def test_astype_conversions() -> None:
    x = Tensor([1.7, -2.2])
    assert x.double().dtype == np.float64 and x.float().dtype == np.float32
    assert x.long().numpy().tolist() == [1, -2] and x.long().dtype == np.int64
    assert x.to("float64").dtype == np.float64 and x.to("cpu") is x


def test_setitem_refuses_tensors_that_require_grad() -> None:
    x = Tensor(np.zeros(3))
    x[1] = 5.0
    assert x.numpy().tolist() == [0.0, 5.0, 0.0]
    with pytest.raises(RuntimeError, match="in-place assignment"):
        t64(np.zeros(3))[0] = 1.0


# -- factories and seeding ---------------------------------------------------------------------
@pytest.mark.parametrize("factory, value", [(minicnn.zeros, 0.0), (minicnn.ones, 1.0)])
def test_zeros_ones(factory: Any, value: float) -> None:
    for t in (factory(2, 3), factory((2, 3)), factory([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32 and (t.numpy() == value).all()
    assert factory(4, dtype="float64").dtype == np.float64
    assert factory(2, requires_grad=True).requires_grad
    assert factory().shape == ()


def test_full_and_likes() -> None:
    t = minicnn.full((2, 2), 1.5)
    assert t.dtype == np.float32 and (t.numpy() == 1.5).all()
    assert minicnn.full([3], 2, dtype="int64").numpy().tolist() == [2, 2, 2]
    ref = Tensor(np.ones((2, 3)))
    z = minicnn.zeros_like(ref)
    assert z.shape == (2, 3) and z.dtype == np.float64 and (z.numpy() == 0).all()
    assert minicnn.ones_like(ref, dtype=minicnn.float32).dtype == np.float32


@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}), ((2, 7), {}), ((1, 10, 3), {}), ((0.0, 1.0, 0.25), {}), ((3.5,), {}),
    ((5,), {"dtype": "float64"}),
])
def test_arange_matches_torch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    ours = minicnn.arange(*args, **kwargs)
    theirs = torch.arange(*args, **{k: getattr(torch, v) for k, v in kwargs.items()})
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_random_factories() -> None:
    r, n = minicnn.rand(1000), minicnn.randn(10, 100, dtype="float64")
    assert r.dtype == np.float32 and r.shape == (1000,) and 0 <= r.numpy().min()
    assert r.numpy().max() < 1
    assert n.dtype == np.float64 and abs(n.numpy().mean()) < 0.2 and 0.8 < n.numpy().std() < 1.2
    assert minicnn.randn(3, requires_grad=True).requires_grad


def test_negative_shapes_raise() -> None:
    for factory in (minicnn.zeros, minicnn.ones, minicnn.randn, minicnn.rand):
        with pytest.raises(ValueError, match="shape must not be negative, got \\(2, -1\\)"):
            factory(2, -1)


def test_manual_seed_reproduces_every_generator() -> None:
    def draw() -> list[np.ndarray]:
        return [minicnn.randn(5).numpy(), minicnn.rand(2, 2).numpy(),
                minicnn.randint(0, 10, (6,)).numpy()]

    minicnn.manual_seed(123)
    first = draw()
    minicnn.manual_seed(123)
    again = draw()
    minicnn.manual_seed(124)
    other = draw()
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [1.5, "3", True, None])
def test_manual_seed_rejects_non_integers(seed: Any) -> None:
    with pytest.raises(ValueError, match="seed must be an int"):
        minicnn.manual_seed(seed)


# -- no_grad ---------------------------------------------------------------------------------
def test_no_grad_block_decorator_nesting_and_errors() -> None:
    x = t64(np.ones(2))
    assert minicnn.is_grad_enabled()
    with minicnn.no_grad():
        assert not minicnn.is_grad_enabled() and not (x * 2).requires_grad
        with minicnn.enable_grad():
            assert (x * 2).requires_grad
        assert not (x + 1).requires_grad
    assert (x * 2).requires_grad

    @minicnn.no_grad()
    def f(t: Tensor) -> Tensor:
        return t * 3

    assert not f(x).requires_grad
    with pytest.raises(KeyError), minicnn.no_grad():
        raise KeyError("inside")
    assert minicnn.is_grad_enabled()  # restored after an exception


# -- forward values: reductions ---------------------------------------------------------------
def _dims(nd: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.integers(-nd, nd - 1),
        st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd,
                 unique_by=lambda d: d % nd).map(tuple))


@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_reductions_match_numpy(shape: tuple[int, ...], seed: int, data: st.DataObject) -> None:
    x = tie_free(shape, seed)
    dim, keepdim = data.draw(_dims(len(shape))), data.draw(st.booleans())
    t = Tensor(x)
    for name, ref in (("sum", np.sum), ("mean", np.mean), ("amax", np.amax)):
        got = getattr(t, name)(dim=dim, keepdim=keepdim)
        want = ref(x, axis=dim, keepdims=keepdim)
        assert got.shape == np.shape(want) and got.dtype == np.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_max_dim_returns_values_and_indices_as_torch(shape: tuple[int, ...], seed: int,
                                                     data: st.DataObject) -> None:
    torch = pytest.importorskip("torch")
    x = tie_free(shape, seed)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    ours = Tensor(x).max(dim, keepdim=keepdim)
    theirs = torch.from_numpy(x).max(dim, keepdim=keepdim)
    values, indices = ours  # unpacks as a pair
    assert ours.values is values and ours.indices is indices
    np.testing.assert_array_equal(values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(indices.numpy(), theirs.indices.numpy())
    assert indices.dtype == np.int64
    assert Tensor(x).max().item() == x.max()


def test_reduction_dim_errors() -> None:
    x = Tensor(np.ones((2, 3)))
    for op in (x.sum, x.mean, x.amax):
        with pytest.raises(ValueError, match="dim 2 is out of range for a tensor of 2 dim"):
            op(2)
        with pytest.raises(ValueError, match="dim -3 is out of range"):
            op(-3)
    with pytest.raises(ValueError, match="max\\(dim\\): dim must be an int"):
        x.max((0, 1))


# -- forward values: shape ops -----------------------------------------------------------------
def test_reshape_view_flatten_transpose_permute() -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    x = Tensor(a)
    np.testing.assert_array_equal(x.reshape(4, -1).numpy(), a.reshape(4, -1))
    np.testing.assert_array_equal(x.view((6, 4)).numpy(), a.reshape(6, 4))
    np.testing.assert_array_equal(x.flatten().numpy(), a.ravel())
    np.testing.assert_array_equal(x.flatten(1).numpy(), a.reshape(2, 12))
    np.testing.assert_array_equal(x.flatten(0, 1).numpy(), a.reshape(6, 4))
    np.testing.assert_array_equal(x.transpose(0, 2).numpy(), a.transpose(2, 1, 0))
    np.testing.assert_array_equal(x.transpose(-1, -2).numpy(), a.swapaxes(1, 2))
    np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), a.transpose(1, 2, 0))
    np.testing.assert_array_equal(x.permute((2, 0, 1)).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(Tensor(a[0]).T.numpy(), a[0].T)
    assert x.unsqueeze(1).shape == (2, 1, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert x.unsqueeze(1).squeeze(1).shape == (2, 3, 4)
    assert Tensor(np.ones((1, 2, 1))).squeeze().shape == (2,)
    assert x.squeeze(0).shape == (2, 3, 4)  # not size 1: unchanged, as torch


def test_shape_op_errors() -> None:
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="cannot reshape a tensor of shape \\(2, 3\\) to \\(4,"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="not a permutation of 2 dimensions"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="T needs a 2-D tensor"):
        _ = Tensor(np.ones(3)).T
    with pytest.raises(ValueError, match="start_dim 1 is after end_dim 0"):
        x.flatten(1, 0)


@pytest.mark.parametrize("op", [
    lambda x: x.permute(2, 1),
    lambda x: x.transpose(0, 4),
    lambda x: x.unsqueeze(9),
    lambda x: x.squeeze(5),
    lambda x: x.flatten(7),
    lambda x: minicnn.cat([x, x], dim=5),
    lambda x: minicnn.stack([x, x], dim=7),
], ids=["permute", "transpose", "unsqueeze", "squeeze", "flatten", "cat", "stack"])
def test_out_of_range_dims_raise_instead_of_wrapping(op: Any) -> None:
    """torch raises for a dim outside [-ndim, ndim) (ndim + 1 for unsqueeze and stack)."""
    with pytest.raises(ValueError, match="out of range"):
        op(Tensor(np.ones((2, 3))))


def test_zero_dim_tensors_in_cat_raise_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cat"):
        minicnn.cat([Tensor(1.0), Tensor(2.0)])


# -- forward values: indexing ------------------------------------------------------------------
@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_basic_indexing_matches_numpy(shape: tuple[int, ...], seed: int,
                                      data: st.DataObject) -> None:
    x = tie_free(shape, seed)
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    np.testing.assert_array_equal(Tensor(x)[index].numpy(), x[index])


@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_advanced_indexing_matches_numpy(shape: tuple[int, ...], seed: int,
                                         data: st.DataObject) -> None:
    x = tie_free(shape, seed)
    index = data.draw(st.one_of(hnp.integer_array_indices(shape), hnp.arrays(np.bool_, shape)))
    np.testing.assert_array_equal(Tensor(x)[index].numpy(), x[index])


def test_indexing_by_tensors() -> None:
    x = Tensor(np.arange(12.0).reshape(3, 4))
    rows = minicnn.tensor([2, 0], dtype="int64")
    np.testing.assert_array_equal(x[rows].numpy(), x.numpy()[[2, 0]])
    np.testing.assert_array_equal(x[rows, 1:3].numpy(), x.numpy()[[2, 0], 1:3])
    np.testing.assert_array_equal(x[x > 5].numpy(), np.arange(6.0, 12.0))


# -- cat and stack -----------------------------------------------------------------------------
def test_cat_and_stack_values() -> None:
    a, b = np.arange(6.0).reshape(2, 3), np.arange(6.0, 12.0).reshape(2, 3)
    ta, tb = Tensor(a), Tensor(b)
    for dim in (0, 1, -1):
        np.testing.assert_array_equal(minicnn.cat([ta, tb], dim).numpy(),
                                      np.concatenate([a, b], axis=dim))
    for dim in (0, 1, 2, -1, -3):
        np.testing.assert_array_equal(minicnn.stack([ta, tb], dim).numpy(),
                                      np.stack([a, b], axis=dim))
    np.testing.assert_array_equal(minicnn.cat((ta,)).numpy(), a)


def test_cat_and_stack_errors() -> None:
    a = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="cat: tensors must not be empty"):
        minicnn.cat([])
    with pytest.raises(ValueError, match="cat: tensors\\[1\\] has 1 dimensions, tensors\\[0\\] "
                                         "has 2"):
        minicnn.cat([a, Tensor(np.ones(3))])
    with pytest.raises(ValueError, match="shapes must match except in dim 0: .*\\(2, 4\\)"):
        minicnn.cat([a, Tensor(np.ones((2, 4)))])
    with pytest.raises(ValueError, match="cat: tensors\\[1\\] is a ndarray, not a Tensor"):
        minicnn.cat([a, np.ones((2, 3))])
    with pytest.raises(ValueError, match="stack: tensors must not be empty"):
        minicnn.stack([])
    with pytest.raises(ValueError, match="tensors\\[0\\] has \\(2, 3\\), tensors\\[1\\] has "
                                         "\\(3, 2\\)"):
        minicnn.stack([a, Tensor(np.ones((3, 2)))])

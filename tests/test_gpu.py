"""The CuPy GPU path on a real device (marked ``gpu``: skipped where CuPy or a GPU is missing).

Every CUDA kernel against the NumPy reference on random shapes and arguments (float32 to
1e-5 and float64 to 1e-12, relative to the largest magnitude of the result; copies, argmax
and the pooling sums, which add in the reference's order, exactly), the implicit-GEMM
convolution against the im2col convolution, the functional gradient checks run on the GPU
in float64, Tensor and Module device moves, and one SGD step of a small
conv-ReLU-pool-LRN-linear model on the GPU against the same step on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernels.cuda as kcuda
import minicnn
import minicnn.functional as F
import minicnn.reference as ref
from kernels.cuda import compiler, implicit_gemm
from minicnn import backend, nn
from minicnn.ops.conv import set_conv_algo
from tests.strategies import away_from_zero, tie_free
from tests.test_cuda_compile import _close, conv_cases, pool_cases

pytestmark = pytest.mark.gpu

gpu_settings = settings(suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**31 - 1)


def _rtol(dt) -> float:
    return 1e-5 if np.dtype(dt) == np.float32 else 1e-12


@pytest.fixture
def cp():
    return pytest.importorskip("cupy")


@pytest.fixture(params=["int", "long long"])
def index_type(request, monkeypatch):
    """Run with 32-bit indexing, and again with the 64-bit kernels forced on small arrays."""
    if request.param == "long long":
        monkeypatch.setattr(compiler, "INT32_SAFE", 1)
    return request.param


# -- kernels against the reference -------------------------------------------------------------
@gpu_settings
@given(case=conv_cases(), dt=dtypes, seed=seeds)
def test_im2col_col2im(cp, index_type, case, dt, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dt)
    geo = (case["k"], case["s"], case["p"], case["d"])
    cols = kcuda.im2col(cp.asarray(x), *geo)
    np.testing.assert_array_equal(cols.get(), ref.im2col(x, *geo))
    out = cp.full(cols.shape, cp.nan, dtype=dt)
    assert kcuda.im2col(cp.asarray(x), *geo, out=out) is out
    np.testing.assert_array_equal(out.get(), cols.get())
    c = rng.standard_normal(cols.shape).astype(dt)
    _close(kcuda.col2im(cp.asarray(c), x.shape, *geo).get(), ref.col2im(c, x.shape, *geo),
           _rtol(dt))


@gpu_settings
@given(case=pool_cases(), dt=dtypes, seed=seeds)
def test_max_pool(cp, index_type, case, dt, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=case["shape"]).astype(dt)  # ties: the first maximum wins
    if seed % 3 == 0:
        x.reshape(-1)[rng.integers(x.size)] = np.nan
    k, s, p, out = case["k"], case["s"], case["p"], case["out"]
    y, am = kcuda.max_pool2d(cp.asarray(x), k, s, p, out)
    yr, amr = ref.max_pool2d(x, k, s, p, out)
    np.testing.assert_array_equal(y.get(), yr)
    np.testing.assert_array_equal(am.get(), amr)
    gy = rng.standard_normal(y.shape).astype(dt)
    gx = kcuda.max_pool2d_backward(cp.asarray(gy), am, x.shape, k, s, p)
    np.testing.assert_array_equal(gx.get(), ref.max_pool2d_backward(gy, amr, x.shape, k, s, p))


@gpu_settings
@given(case=pool_cases(), dt=dtypes, cip=st.booleans(), seed=seeds)
def test_avg_pool(cp, index_type, case, dt, cip, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["shape"]).astype(dt)
    k, s, p, out = case["k"], case["s"], case["p"], case["out"]
    np.testing.assert_array_equal(kcuda.avg_pool2d(cp.asarray(x), k, s, p, out, cip).get(),
                                  ref.avg_pool2d(x, k, s, p, out, cip))
    gy = rng.standard_normal((*case["shape"][:2], *out)).astype(dt)
    np.testing.assert_array_equal(
        kcuda.avg_pool2d_backward(cp.asarray(gy), x.shape, k, s, p, cip).get(),
        ref.avg_pool2d_backward(gy, x.shape, k, s, p, cip))


@gpu_settings
@given(
    n=st.integers(1, 3), c=st.integers(1, 70), spatial=st.lists(st.integers(1, 9), max_size=2),
    size=st.integers(1, 9), beta=st.sampled_from([0.75, 0.5, 1.3]), dt=dtypes, seed=seeds,
)
def test_lrn(cp, index_type, n, c, spatial, size, beta, dt, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, *spatial)) * 3).astype(dt)
    alpha, k = 0.7, 1.5  # large enough that a wrong window changes the result visibly
    y, s = kcuda.local_response_norm(cp.asarray(x), size, alpha, beta, k)
    yr, sr = ref.local_response_norm(x, size, alpha, beta, k)
    _close(s.get(), sr, _rtol(dt))
    _close(y.get(), yr, _rtol(dt))
    gy = rng.standard_normal(x.shape).astype(dt)
    gx = kcuda.local_response_norm_backward(cp.asarray(x), y, s, cp.asarray(gy), size, alpha,
                                            beta, k)
    _close(gx.get(), ref.local_response_norm_backward(x, yr, sr, gy, size, alpha, beta, k),
           _rtol(dt))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_lrn_case_study_shape(cp, dt):
    """AlexNet's LRN after conv2 (256 channels on 27x27), split into channel runs."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 256, 27, 27)).astype(dt)
    y, s = kcuda.local_response_norm(cp.asarray(x), 5, 1e-4 * 50, 0.75, 2.0)
    yr, sr = ref.local_response_norm(x, 5, 1e-4 * 50, 0.75, 2.0)
    _close(y.get(), yr, _rtol(dt))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_bias_relu(cp, dt):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 5, 6)).astype(dt)
    b = rng.standard_normal(7).astype(dt)
    want = np.maximum(x + b.reshape(1, 7, 1, 1), 0)
    np.testing.assert_array_equal(kcuda.bias_relu(cp.asarray(x), cp.asarray(b)).get(), want)
    np.testing.assert_array_equal(kcuda.bias_relu(cp.asarray(x)).get(), np.maximum(x, 0))


def _reference_conv(x, w, b, s, p, d, g):
    """The im2col convolution of the reference, in float64."""
    n = x.shape[0]
    f, _, kh, kw = w.shape
    cols = ref.im2col(x.astype(np.float64), (kh, kw), s, p, d)
    oh = (x.shape[2] + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = cols.shape[1] // (n * oh)
    y = np.matmul(w.astype(np.float64).reshape(g, f // g, -1), cols.reshape(g, -1, n * oh * ow))
    y = y.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
    return y if b is None else y + b.reshape(1, f, 1, 1)


@gpu_settings
@given(case=conv_cases(), dt=dtypes, bias=st.booleans(), seed=seeds)
def test_implicit_gemm_every_tile(cp, case, dt, bias, seed):
    rng = np.random.default_rng(seed)
    n, c, f, g = case["n"], case["c"], case["f"], case["g"]
    x = rng.standard_normal((n, c, case["h"], case["w"])).astype(dt)
    w = rng.standard_normal((f, c // g, *case["k"])).astype(dt)
    b = rng.standard_normal(f).astype(dt) if bias else None
    geo = (case["s"], case["p"], case["d"], g)
    want = _reference_conv(x, w, b, *geo).astype(dt)
    for tile in implicit_gemm.CONFIGS[compiler.c_type(dt)]:
        got = kcuda.conv2d_implicit_gemm(cp.asarray(x), cp.asarray(w),
                                         None if b is None else cp.asarray(b), *geo, tile=tile)
        _close(got.get(), want, _rtol(dt))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape",
    [  # (n, c, hw, f, k, stride, pad, groups): case-study layers at a small batch
        (4, 3, 227, 96, 11, 4, 0, 1),     # AlexNet conv1
        (4, 96, 27, 256, 5, 1, 2, 2),     # AlexNet conv2, two groups
        (2, 192, 28, 64, 1, 1, 0, 1),     # GoogLeNet 3a 1x1
        (2, 64, 56, 64, 3, 1, 1, 1),      # ResNet-50 conv2 3x3
        (2, 16, 28, 32, 5, 1, 2, 1),      # GoogLeNet 3a 5x5
    ],
)
def test_implicit_gemm_case_study_layers(cp, shape, dt):
    n, c, hw, f, k, s, p, g = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, hw, hw)).astype(dt)
    w = (rng.standard_normal((f, c // g, k, k)) / np.sqrt(c // g * k * k)).astype(dt)
    b = rng.standard_normal(f).astype(dt)
    want = _reference_conv(x, w, b, (s, s), (p, p), (1, 1), g).astype(dt)
    got = kcuda.conv2d_implicit_gemm(cp.asarray(x), cp.asarray(w), cp.asarray(b), (s, s),
                                     (p, p), (1, 1), g)
    _close(got.get(), want, _rtol(dt))


# -- ops on the GPU against the same ops on the CPU ----------------------------------------------
@pytest.mark.parametrize("algo", ["im2col", "implicit_gemm"])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_conv2d_forward_backward_gpu_vs_cpu(cp, algo, dt):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 11, 9)).astype(dt)
    w = rng.standard_normal((6, 2, 3, 3)).astype(dt)
    b = rng.standard_normal(6).astype(dt)
    gy = None
    results = {}
    for device in ("cpu", "cuda"):
        xt, wt, bt = (minicnn.tensor(a, requires_grad=True, device=device) for a in (x, w, b))
        with backend.use_kernels("numpy"):
            y = F.conv2d(xt, wt, bt, stride=(2, 1), padding=1, dilation=(1, 2), groups=2,
                         algo=algo if device == "cuda" else "im2col")
            if gy is None:
                gy = rng.standard_normal(y.shape).astype(dt)
            y.backward(minicnn.tensor(gy, device=device))
        assert y.device == device and xt.grad.device == device
        results[device] = [t.numpy() for t in (y, xt.grad, wt.grad, bt.grad)]
    for got, want in zip(results["cuda"], results["cpu"]):
        _close(got, want, _rtol(dt))


@pytest.mark.parametrize("algo", ["im2col", "implicit_gemm"])
def test_gradcheck_conv2d(cp, algo):
    rng = np.random.default_rng(3)
    x = minicnn.tensor(rng.standard_normal((2, 4, 6, 5)), dtype="float64", requires_grad=True,
                       device="cuda")
    w = minicnn.tensor(rng.standard_normal((4, 2, 3, 2)), dtype="float64", requires_grad=True,
                       device="cuda")
    b = minicnn.tensor(rng.standard_normal(4), dtype="float64", requires_grad=True,
                       device="cuda")
    assert minicnn.gradcheck(
        lambda a, k, c: F.conv2d(a, k, c, stride=(1, 2), padding=(1, 0), dilation=(2, 1),
                                 groups=2, algo=algo), [x, w, b])


def test_gradcheck_max_pool2d(cp):
    x = minicnn.tensor(tie_free((2, 3, 7, 6), seed=4), dtype="float64", requires_grad=True,
                       device="cuda")
    assert minicnn.gradcheck(lambda a: F.max_pool2d(a, 3, stride=2, padding=1, ceil_mode=True),
                             [x])


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_gradcheck_avg_pool2d(cp, count_include_pad):
    x = minicnn.tensor(np.random.default_rng(5).standard_normal((2, 3, 7, 6)), dtype="float64",
                       requires_grad=True, device="cuda")
    assert minicnn.gradcheck(
        lambda a: F.avg_pool2d(a, (3, 2), stride=2, padding=1, ceil_mode=True,
                               count_include_pad=count_include_pad), [x])


@pytest.mark.parametrize("size", [3, 4])
def test_gradcheck_local_response_norm(cp, size):
    x = minicnn.tensor(away_from_zero((2, 7, 3, 3), seed=6), dtype="float64",
                       requires_grad=True, device="cuda")
    assert minicnn.gradcheck(lambda a: F.local_response_norm(a, size, alpha=0.9, beta=0.75, k=1.2),
                             [x])


# -- devices -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_tensor_round_trip(cp, dtype):
    a = np.arange(24).reshape(2, 3, 4).astype(dtype)
    t = minicnn.tensor(a, dtype=dtype)
    g = t.to("cuda")
    assert g.device == "cuda" and isinstance(g.data, cp.ndarray) and g.dtype == t.dtype
    assert t.cuda().device == "cuda" and g.cuda() is g
    back = g.cpu()
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), a)
    np.testing.assert_array_equal(g.to("cpu").numpy(), a)
    z = minicnn.zeros(2, 3, dtype=dtype, device="cuda")
    assert z.device == "cuda" and z.dtype == np.dtype(dtype)
    assert minicnn.randn(4, 5, device="cuda").device == "cuda"


def test_gradient_flows_back_across_devices(cp):
    x = minicnn.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    y = (x.to("cuda") * 3).relu().sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 0.0], [3.0, 3.0]])


def test_mixing_devices_in_one_op_raises(cp):
    a = minicnn.ones(2, 2)
    b = minicnn.ones(2, 2, device="cuda")
    with pytest.raises(ValueError, match="one device"):
        a + b
    w = minicnn.ones(3, 2, 1, 1, device="cuda")
    with pytest.raises(ValueError, match="one device"):
        F.conv2d(minicnn.ones(1, 2, 4, 4), w)


def _small_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 5),
    )


@pytest.mark.parametrize("algo", ["im2col", "implicit_gemm"])
def test_sgd_step_gpu_matches_cpu(cp, algo):
    minicnn.manual_seed(0)
    cpu_model = _small_model()
    gpu_model = _small_model()
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.to("cuda")
    assert all(p.device == "cuda" for p in gpu_model.parameters())
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    target = rng.integers(0, 5, size=6)
    losses, params = {}, {}
    set_conv_algo(algo)
    try:
        for device, model in (("cpu", cpu_model), ("cuda", gpu_model)):
            opt = minicnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
            opt.zero_grad()
            with backend.use_kernels("numpy"):  # the CPU side: the reference kernels
                out = model(minicnn.tensor(x, device=device))
                loss = F.cross_entropy(out, minicnn.tensor(target, dtype="int64", device=device))
                loss.backward()
            opt.step()
            losses[device] = loss.item()
            params[device] = [(p.grad.numpy(), p.numpy()) for p in model.parameters()]
    finally:
        set_conv_algo("auto")
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=1e-5)
    for (g_gpu, p_gpu), (g_cpu, p_cpu) in zip(params["cuda"], params["cpu"]):
        _close(g_gpu, g_cpu, 1e-4)  # float32 sums in another order (cuBLAS, kernels)
        _close(p_gpu, p_cpu, 1e-5)


"""The CUDA kernel set without a GPU: every source compiles (nvcc, NVRTC), the package meets
the kernel contract, and the kernels compute the reference's results on the host emulator.

* nvcc: each ``kernels/cuda/*.cu`` is compiled to a cubin for the oldest and the Hopper
  targets with warnings as errors; the resource report (registers, spills, shared memory) is
  printed (``pytest -rP`` shows it), every kernel the launchers call must appear in it, and
  none may spill. Skipped only where nvcc is missing.
* NVRTC (what CuPy compiles with at run time): each source with the launchers' name
  expressions, where libnvrtc is found (MINICNN_NVRTC, the library path, or the
  nvidia-cuda-nvrtc wheel).
* Emulator (``kernels.cuda.emulator``): the real launchers and the real ``.cu`` text, built
  for the host with g++, against ``minicnn.reference`` on random shapes and arguments.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import inspect
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernels.cuda as kcuda
import minicnn.reference as ref
from kernels.cuda import compiler, emulator, implicit_gemm
from minicnn import backend
from minicnn.ops.pool import pool_output_size

SOURCES = sorted(p.name for p in compiler.SOURCE_DIR.glob("*.cu"))
NVCC = shutil.which("nvcc")
# Volta (sm_70) is the oldest target the issue names; nvcc 13 dropped it, so where this
# nvcc cannot build it the oldest target it lists stands in (printed with the report).
ARCHES = ("sm_70", "sm_90")


def _nvcc_targets() -> list[str]:
    out = subprocess.run([NVCC, "--list-gpu-code"], capture_output=True, text=True).stdout
    return [t for t in out.split() if re.fullmatch(r"sm_\d+", t)]


def _target(arch: str) -> str:
    targets = _nvcc_targets()
    if arch in targets:
        return arch
    want = int(arch[3:])
    newer = sorted((int(t[3:]), t) for t in targets if int(t[3:]) >= want)
    if not newer:
        pytest.skip(f"nvcc lists no target at or above {arch}: {targets}")
    return newer[0][1]


def test_sources_are_self_contained():
    """NVRTC has no host headers: the sources include nothing and name kernels minicnn_*."""
    assert SOURCES == sorted(compiler.NAME_EXPRESSIONS), "every .cu has launchers"
    for name in SOURCES:
        text = compiler.source_text(name)
        assert "#include" not in text, name
        kernels = set(re.findall(r"template __global__ void (\w+)<", text))
        called = {e.split("<")[0] for e in compiler.NAME_EXPRESSIONS[name]}
        assert kernels == called, (name, kernels, called)
        assert all(k.startswith("minicnn_") for k in kernels), (name, kernels)


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on the PATH")
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("source", SOURCES)
def test_nvcc_compiles_without_warnings_or_spills(source, arch, tmp_path):
    target = _target(arch)
    cmd = [NVCC, "-cubin", f"-arch={target}", "-std=c++17", "--Werror", "all-warnings",
           "--resource-usage", "-o", str(tmp_path / "k.cubin"),
           str(compiler.SOURCE_DIR / source)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    report = res.stdout + res.stderr
    note = "" if target == arch else f" (nvcc has no {arch}; compiled for {target})"
    print(f"== {source} for {target}{note}\n{report}")
    assert res.returncode == 0, report
    entries = re.findall(r"Compiling entry function '(\w+)'", report)
    assert len(set(entries)) == len(compiler.NAME_EXPRESSIONS[source]), (
        "every kernel the launchers call is instantiated in the source", entries
    )
    spills = [int(s) for s in re.findall(r"(\d+) bytes spill stores", report)]
    assert spills and max(spills) == 0, report


def _find_nvrtc() -> str | None:
    env = os.environ.get("MINICNN_NVRTC")
    if env:
        return env
    found = ctypes.util.find_library("nvrtc")
    if found:
        return found
    try:
        import nvidia  # type: ignore[import-not-found]  # the nvidia-cuda-nvrtc wheel
    except ImportError:
        nvidia = None
    roots = list(getattr(nvidia, "__path__", [])) if nvidia is not None else []
    if NVCC:
        roots.append(os.path.join(os.path.dirname(os.path.dirname(NVCC)), "lib64"))
    for root in roots:
        hits = sorted(glob.glob(os.path.join(root, "**", "libnvrtc.so*"), recursive=True))
        hits = [h for h in hits if "builtins" not in h and ".alt." not in h]
        if hits:
            return hits[0]
    return None


NVRTC = _find_nvrtc()


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc not found (set MINICNN_NVRTC)")
@pytest.mark.parametrize("source", SOURCES)
def test_nvrtc_compiles_the_launchers_name_expressions(source):
    # NVRTC opens its builtins library by name: load the one beside it first, if any
    for b in sorted(glob.glob(os.path.join(os.path.dirname(NVRTC), "libnvrtc-builtins.so*"))):
        if ".alt." not in b:
            ctypes.CDLL(b, mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(NVRTC)
    prog = ctypes.c_void_p()
    code = compiler.source_text(source).encode()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), code, source.encode(), 0, None, None) == 0
    exprs = compiler.NAME_EXPRESSIONS[source]
    for e in exprs:
        assert lib.nvrtcAddNameExpression(prog, e.encode()) == 0, e
    opts = [o.encode() for o in (*compiler._OPTIONS, "-arch=compute_90")]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    status = lib.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    assert status == 0, log.value.decode()
    assert "warning" not in log.value.decode(), log.value.decode()
    for e in exprs:
        lowered = ctypes.c_char_p()
        assert lib.nvrtcGetLoweredName(prog, e.encode(), ctypes.byref(lowered)) == 0, e
        assert lowered.value.startswith(b"_Z"), (e, lowered.value)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))


def test_contract_names_and_signatures():
    """kernels.cuda imports without CuPy and matches minicnn.reference name for name."""
    for name in backend.KERNEL_NAMES:
        got = list(inspect.signature(getattr(kcuda, name)).parameters)
        want = list(inspect.signature(getattr(ref, name)).parameters)
        assert got == want, (name, got, want)
    assert list(inspect.signature(kcuda.conv2d_implicit_gemm).parameters)[:7] == [
        "x", "w", "b", "stride", "padding", "dilation", "groups"]


def test_without_cupy_the_kernels_say_what_is_missing(monkeypatch):
    def missing():
        raise RuntimeError("the CUDA kernels need CuPy (pip install minicnn[gpu])")

    if backend.cupy_module() is None:
        with pytest.raises(RuntimeError, match="CuPy"):
            kcuda.im2col(np.zeros((1, 1, 2, 2), np.float32), (1, 1), (1, 1), (0, 0), (1, 1))
    monkeypatch.setattr(compiler, "cupy", missing)
    with pytest.raises(RuntimeError, match="CuPy"):
        kcuda.max_pool2d(np.zeros((1, 1, 2, 2), np.float32), (2, 2), (2, 2), (0, 0), (1, 1))


# -- the host emulator ------------------------------------------------------------------------
needs_cxx = pytest.mark.skipif(not emulator.compiler_available(), reason="g++ not found")
# the emulator fixture is meant to be shared by every example of a test
emu_settings = settings(suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def emulated(monkeypatch):
    """Route kernels/cuda through the host emulator, with fresh compile caches."""
    fake = emulator.fake_cupy()
    monkeypatch.setattr(compiler, "cupy", lambda: fake)
    monkeypatch.setattr(compiler, "sm_count", lambda: 2)
    monkeypatch.setattr(compiler, "_modules", {})
    monkeypatch.setattr(compiler, "_functions", {})
    monkeypatch.setattr(implicit_gemm, "_ktabs", {})
    return fake


def _close(got, want, rtol):
    """Relative to the largest magnitude: sums of mixed signs can cancel to near zero."""
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = max(float(np.abs(want).max(initial=0.0)), float(np.finfo(want.dtype).tiny))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 10))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 10))
    g = draw(st.integers(1, 3))
    c = g * draw(st.integers(1, 3))
    f = g * draw(st.integers(1, 5))
    n = draw(st.integers(1, 3))
    return dict(n=n, c=c, h=h, w=w, f=f, k=(kh, kw), s=(sh, sw), p=(ph, pw), d=(dh, dw), g=g)


@needs_cxx
@emu_settings
@given(case=conv_cases(), dt=dtypes, seed=st.integers(0, 2**31 - 1))
def test_emulated_im2col_col2im_match_reference(emulated, case, dt, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dt)
    geo = (case["k"], case["s"], case["p"], case["d"])
    cols = kcuda.im2col(x, *geo)
    np.testing.assert_array_equal(cols, ref.im2col(x, *geo))
    out = np.full_like(cols, np.nan)
    assert kcuda.im2col(x, *geo, out=out) is out
    np.testing.assert_array_equal(out, cols)
    c = rng.standard_normal(cols.shape).astype(dt)
    # the same additions in the same order as the reference: equal to the bit
    np.testing.assert_array_equal(kcuda.col2im(c, x.shape, *geo), ref.col2im(c, x.shape, *geo))


@needs_cxx
@emu_settings
@given(case=conv_cases(), dt=dtypes, bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_emulated_implicit_gemm_matches_im2col_conv(emulated, case, dt, bias, seed):
    rng = np.random.default_rng(seed)
    n, c, f, g = case["n"], case["c"], case["f"], case["g"]
    x = rng.standard_normal((n, c, case["h"], case["w"])).astype(dt)
    w = rng.standard_normal((f, c // g, *case["k"])).astype(dt)
    b = rng.standard_normal(f).astype(dt) if bias else None
    geo = (case["k"], case["s"], case["p"], case["d"])
    cols = ref.im2col(x.astype(np.float64), *geo)
    oh = (case["h"] + 2 * case["p"][0] - case["d"][0] * (case["k"][0] - 1) - 1) // case["s"][0] + 1
    ow = cols.shape[1] // (n * oh)
    want = np.matmul(w.astype(np.float64).reshape(g, f // g, -1),
                     cols.reshape(g, -1, n * oh * ow))  # (G, F/G, N oh ow)
    want = want.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
    if b is not None:
        want += b.reshape(1, f, 1, 1)
    tiles = implicit_gemm.CONFIGS[compiler.c_type(dt)]
    tile = tiles[seed % len(tiles)]
    got = kcuda.conv2d_implicit_gemm(x, w, b, case["s"], case["p"], case["d"], g, tile=tile)
    _close(got, want.astype(dt), 1e-5 if dt == np.float32 else 1e-12)


@needs_cxx
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_emulated_implicit_gemm_many_tiles(emulated, dt):
    """Several tiles in every direction: P > BN, M > BM, K > several BK steps, groups."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 6, 13, 11)).astype(dt)
    w = rng.standard_normal((140, 3, 3, 3)).astype(dt)
    b = rng.standard_normal(140).astype(dt)
    cols = ref.im2col(x.astype(np.float64), (3, 3), (1, 1), (1, 1), (1, 1))
    want = np.matmul(w.astype(np.float64).reshape(2, 70, 27), cols.reshape(2, 27, 3 * 143))
    want = want.reshape(140, 3, 13, 11).transpose(1, 0, 2, 3) + b.reshape(1, 140, 1, 1)
    for tile in implicit_gemm.CONFIGS[compiler.c_type(dt)]:
        got = kcuda.conv2d_implicit_gemm(x, w, b, (1, 1), (1, 1), (1, 1), 2, tile=tile)
        _close(got, want.astype(dt), 1e-5 if dt == np.float32 else 1e-12)


def test_choose_tile(monkeypatch):
    """64x128 for wide layers, 32x128 for M <= 32, smaller while the grid is short."""
    monkeypatch.setattr(compiler, "sm_count", lambda: 132)
    pick = implicit_gemm.choose_tile
    assert (pick("float", 256, 128 * 56 * 56, 1).bm, pick("float", 256, 10**6, 1).bn) == (64, 128)
    assert pick("float", 16, 10**6, 1).bm == 32
    assert pick("float", 256, 128, 1).bm == 32  # 4 blocks of 64 rows would idle the GPU
    assert pick("double", 256, 10**6, 1).bm == 64
    assert pick("double", 8, 10**6, 1).bm == 32
    for ctype, m, p, g in [("float", 5, 1, 1), ("float", 4096, 10**7, 3), ("double", 1, 1, 1)]:
        assert pick(ctype, m, p, g) in implicit_gemm.CONFIGS[ctype]


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(kh, 10)), draw(st.integers(kw, 10))
    ceil_mode = draw(st.booleans())
    oh = pool_output_size(h, kh, sh, ph, ceil_mode)
    ow = pool_output_size(w, kw, sw, pw, ceil_mode)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return dict(shape=(n, c, h, w), k=(kh, kw), s=(sh, sw), p=(ph, pw), out=(oh, ow))


@needs_cxx
@emu_settings
@given(case=pool_cases(), dt=dtypes, seed=st.integers(0, 2**31 - 1))
def test_emulated_max_pool_matches_reference(emulated, case, dt, seed):
    rng = np.random.default_rng(seed)
    # small integers: many ties, so the first-maximum rule is exercised
    x = rng.integers(-3, 4, size=case["shape"]).astype(dt)
    if seed % 3 == 0:
        x.reshape(-1)[rng.integers(x.size)] = np.nan
    k, s, p, out = case["k"], case["s"], case["p"], case["out"]
    y, am = kcuda.max_pool2d(x, k, s, p, out)
    yr, amr = ref.max_pool2d(x, k, s, p, out)
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(am, amr)
    gy = rng.standard_normal(y.shape).astype(dt)
    np.testing.assert_array_equal(kcuda.max_pool2d_backward(gy, am, x.shape, k, s, p),
                                  ref.max_pool2d_backward(gy, amr, x.shape, k, s, p))


@needs_cxx
@emu_settings
@given(case=pool_cases(), dt=dtypes, cip=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_emulated_avg_pool_matches_reference(emulated, case, dt, cip, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["shape"]).astype(dt)
    k, s, p, out = case["k"], case["s"], case["p"], case["out"]
    np.testing.assert_array_equal(kcuda.avg_pool2d(x, k, s, p, out, cip),
                                  ref.avg_pool2d(x, k, s, p, out, cip))
    gy = rng.standard_normal((*case["shape"][:2], *out)).astype(dt)
    np.testing.assert_array_equal(kcuda.avg_pool2d_backward(gy, x.shape, k, s, p, cip),
                                  ref.avg_pool2d_backward(gy, x.shape, k, s, p, cip))


@needs_cxx
@emu_settings
@given(
    n=st.integers(1, 2), c=st.integers(1, 40), spatial=st.lists(st.integers(1, 4), max_size=2),
    size=st.integers(1, 9), beta=st.sampled_from([0.75, 0.5, 1.3]), dt=dtypes,
    seed=st.integers(0, 2**31 - 1),
)
def test_emulated_lrn_matches_reference(emulated, n, c, spatial, size, beta, dt, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, *spatial)) * 3).astype(dt)
    alpha, k = 0.7, 1.5  # large enough that a wrong window changes the result visibly
    y, s = kcuda.local_response_norm(x, size, alpha, beta, k)
    yr, sr = ref.local_response_norm(x, size, alpha, beta, k)
    rtol = 1e-5 if dt == np.float32 else 1e-12
    _close(s, sr, rtol)
    _close(y, yr, rtol)
    gy = rng.standard_normal(x.shape).astype(dt)
    _close(kcuda.local_response_norm_backward(x, y, s, gy, size, alpha, beta, k),
           ref.local_response_norm_backward(x, yr, sr, gy, size, alpha, beta, k), rtol)


@needs_cxx
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_emulated_lrn_splits_channels_across_threads(emulated, dt, monkeypatch):
    """Many channels on few positions: each thread takes a run of channels and primes its
    window sum; the seams between runs must not show."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 100, 2)).astype(dt)
    from kernels.cuda import lrn

    assert lrn._chunk(1, 100, 2) < 100
    y, s = kcuda.local_response_norm(x, 7, 2.0, 0.75, 1.0)
    yr, sr = ref.local_response_norm(x, 7, 2.0, 0.75, 1.0)
    _close(y, yr, 1e-5 if dt == np.float32 else 1e-12)


@needs_cxx
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_emulated_bias_relu(emulated, dt):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5)).astype(dt)
    b = rng.standard_normal(3).astype(dt)
    np.testing.assert_array_equal(kcuda.bias_relu(x, b), np.maximum(x + b.reshape(1, 3, 1, 1), 0))
    np.testing.assert_array_equal(kcuda.bias_relu(x), np.maximum(x, 0))
    with pytest.raises(ValueError, match="b must be"):
        kcuda.bias_relu(x, b[:2])


@needs_cxx
def test_emulated_launchers_reject_bad_arguments(emulated):
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="float32 or float64"):
        kcuda.im2col(x.astype(np.int32), (2, 2), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="out must be"):
        kcuda.im2col(x, (2, 2), (1, 1), (0, 0), (1, 1), out=np.empty((1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="groups"):
        kcuda.conv2d_implicit_gemm(x, np.zeros((3, 2, 1, 1), np.float32), None, (1, 1),
                                   (0, 0), (1, 1), 2)
    with pytest.raises(ValueError, match="argmax"):
        kcuda.max_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32),
                                  np.zeros((1, 2, 2, 2), np.int32), x.shape, (2, 2), (2, 2),
                                  (0, 0))

"""The kernel dispatch: MINICNN_KERNELS, set_kernels, and the fallback where numba is missing."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn
from minicnn import _blas, backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "MINICNN_KERNELS"}
    e.update(env)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=e, timeout=300)


def test_numba_is_the_default_cpu_set() -> None:
    pytest.importorskip("numba")
    r = _run("import minicnn; print(minicnn.get_kernels())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numba"


def test_env_selects_numpy() -> None:
    r = _run("import minicnn; print(minicnn.get_kernels())", MINICNN_KERNELS="numpy")
    assert r.stdout.strip() == "numpy", r.stderr


def test_env_rejects_unknown_set() -> None:
    r = _run("import minicnn, numpy as np; minicnn.get_kernels()", MINICNN_KERNELS="fortran")
    assert r.returncode != 0
    assert "MINICNN_KERNELS must be one of" in r.stderr and "'fortran'" in r.stderr


def test_missing_numba_falls_back_with_one_warning() -> None:
    code = (
        "import sys, warnings; sys.modules['numba'] = None\n"
        "warnings.simplefilter('always')\n"
        "import numpy as np, minicnn, minicnn.functional as F\n"
        "x = minicnn.randn(1, 2, 5, 5)\n"
        "w = minicnn.randn(3, 2, 3, 3)\n"
        "y = F.max_pool2d(F.conv2d(x, w), 2)\n"
        "y = F.conv2d(x, w)\n"
        "print(minicnn.get_kernels(), y.shape)\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy (1, 3, 3, 3)"
    lines = [ln for ln in r.stderr.splitlines() if "numba is not importable" in ln]
    assert len(lines) == 1, r.stderr


def test_set_kernels_validates() -> None:
    with pytest.raises(ValueError, match=r"kernels must be one of \('numpy', 'numba'\), got 'gpu'"):
        minicnn.set_kernels("gpu")


def test_use_kernels_restores_and_dispatches() -> None:
    before = minicnn.get_kernels()
    with minicnn.use_kernels("numpy"):
        assert backend.kernels_for(np.zeros(1)).__name__ == "minicnn.reference"
    assert minicnn.get_kernels() == before


def test_kernel_sets_define_the_whole_contract() -> None:
    import kernels.cuda as cuda
    import minicnn.reference as ref

    for name in backend.KERNEL_NAMES:
        assert callable(getattr(ref, name)), name
        assert callable(getattr(cuda, name)), name
    if backend._numba_importable():
        import kernels.numba_cpu as nb

        for name in backend.KERNEL_NAMES:
            assert callable(getattr(nb, name)), name


@pytest.mark.parametrize("preset,numpy_first,expected", [
    (None, False, "16"),  # minicnn first: the short OpenBLAS spin is set
    ("28", False, "28"),  # the user's own setting wins
    # numpy loaded OpenBLAS already: set, and its threads restarted (where they can be)
    (None, True, "16"),
    ("28", True, "28"),
])
def test_openblas_thread_timeout(preset, numpy_first, expected) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    code = ("import numpy\n" if numpy_first else "") + (
        "import os, minicnn\nfrom minicnn import _blas\n"
        "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), _blas.OPENBLAS_RESTARTED)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       timeout=120)
    assert r.returncode == 0, r.stderr
    timeout, restarted = r.stdout.split()
    if numpy_first and preset is None and restarted == "0":
        # numpy's BLAS is no pthreads OpenBLAS with these entry points: nothing was set
        assert timeout == "None"
        pytest.skip("numpy's BLAS here cannot be restarted with a short spin")
    assert timeout == expected
    assert restarted == ("1" if numpy_first and preset is None else "0")


def test_mapped_blas_paths() -> None:
    maps = (
        "7f00-7f01 r-xp 00000000 08:01 12 /home/my user/venv/libscipy_openblas64_-ab.so\n"
        "7f01-7f02 r--p 00001000 08:01 12 /home/my user/venv/libscipy_openblas64_-ab.so\n"
        "7f02-7f03 r-xp 00000000 08:01 13 "
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 (deleted)\n"
        "7f03-7f04 r-xp 00000000 08:01 14 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f04-7f05 rw-p 00000000 00:00 0 [heap]\n"
        "7f05-7f06 rw-p 00000000 00:00 0\n"
    )
    assert _blas.mapped_blas_paths(maps) == [
        "/home/my user/venv/libscipy_openblas64_-ab.so",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
    ]


def test_restart_leaves_other_libraries_and_threads_alone(tmp_path) -> None:
    import threading

    # a loaded library without OpenBLAS's entry points, under a path that mentions BLAS
    real_libc = next((line.split(maxsplit=5)[5] for line in (_blas._maps() or "").splitlines()
                      if len(line.split(maxsplit=5)) == 6
                      and os.path.basename(line.split(maxsplit=5)[5]).startswith("libc.so")),
                     None)
    if real_libc is None:
        pytest.skip("no libc.so mapped here")
    (tmp_path / "blas").mkdir()
    link = tmp_path / "blas" / os.path.basename(real_libc)
    link.symlink_to(real_libc)
    assert ctypes.CDLL(str(link), mode=os.RTLD_NOLOAD)  # it opens: the symbols are what fail
    assert not hasattr(ctypes.CDLL(str(link)), "openblas_read_env")
    assert _blas._restart_openblas_threads(f"7f00-7f01 r-xp 00000000 08:01 14 {link}\n") == 0
    # the same maps from another thread restart nothing, where the main thread restarts some
    real = _blas._maps() or ""
    if _blas._restart_openblas_threads(real) == 0:
        pytest.skip("no OpenBLAS here that can be restarted")
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(_blas._restart_openblas_threads(real)))
    t.start()
    t.join()
    assert out == [0]


IDLE_CPU = """
import sys, time
import numpy as np
if sys.argv[1] == "minicnn":
    import minicnn  # after numpy: it must restart OpenBLAS's threads with the short spin
a = np.ones((512, 512), np.float32)
spent = []
for _ in range(3):
    assert (a @ a == 512).all()  # on OpenBLAS's threads, which then spin (or sleep)
    t = time.process_time()
    time.sleep(0.3)
    spent.append(time.process_time() - t)
print(min(spent))
"""


def test_openblas_spin_short_with_numpy_first() -> None:
    """The CPU time the process burns in the 0.3 s after a GEMM: about 0.1 s of OpenBLAS's
    idle spin without minicnn (else this machine shows no spin to remove: skipped), near 0
    with minicnn imported after numpy."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def idle_cpu(arg: str) -> float:
        r = subprocess.run([sys.executable, "-c", IDLE_CPU, arg], env=env, capture_output=True,
                           text=True, cwd=root, timeout=120)
        assert r.returncode == 0, r.stderr
        return float(r.stdout)

    spin = idle_cpu("numpy")
    if spin < 0.03:
        pytest.skip(f"no OpenBLAS idle spin to measure here ({spin:.3f} s of CPU)")
    assert idle_cpu("minicnn") < min(0.02, spin / 4)


MMAPPED = """
import ctypes, sys
import numpy as np
if sys.argv[1] == "minicnn":
    import minicnn
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                "usmblks", "fsmblks", "uordblks", "fordblks",
                                                "keepcost")]
info = ctypes.CDLL(None).mallinfo2
info.restype = MallInfo2
before = info().hblks
a = np.ones(1 << 20, np.float32)  # 4 MiB
print(info().hblks - before)  # blocks glibc mmapped for it
"""


# The "1" cases hold while nothing imported before the array has freed an mmapped block of
# more than 4 MiB (glibc then raises its mmap threshold by itself): true of numpy and of
# minicnn's import, which compiles no kernels.
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
@pytest.mark.parametrize("arg,env,expected", [
    ("numpy", {}, "1"),  # glibc's default: a 4 MiB array is a fresh mmap
    ("minicnn", {}, "0"),  # minicnn's thresholds: it comes from the heap, reused
    ("minicnn", {"MINICNN_MALLOC_TUNING": "0"}, "1"),  # turned off
    ("minicnn", {"MALLOC_TRIM_THRESHOLD_": "1000000"}, "1"),  # the user's own tuning wins
])
def test_malloc_thresholds(arg, env, expected) -> None:
    try:
        ctypes.CDLL(None).mallinfo2  # noqa: B018  glibc 2.33 and newer
    except AttributeError:
        pytest.skip("no glibc mallinfo2 here")
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "MINICNN_MALLOC_TUNING")}
    full.update(env)
    r = subprocess.run([sys.executable, "-c", MMAPPED, arg], env=full, capture_output=True,
                       text=True, timeout=120,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected


@pytest.mark.skipif(not backend._numba_importable(), reason="numba not importable")
@pytest.mark.parametrize("first,env,expected", [
    # minicnn first: OpenBLAS spins briefly, so OpenMP with an active wait of a short spin,
    # set when minicnn is imported and kept (libgomp reads it whenever it loads)
    ("", {}, "omp None 10000 | omp (wait policy default, spin count 10000; OpenBLAS spin "
             "short)"),
    # ... also when torch, imported after minicnn, loads libgomp before the first kernel
    ("minicnn, torch", {}, "omp None 10000 | omp (wait policy default, spin count 10000; "
                           "OpenBLAS spin short)"),
    # numpy first: OpenBLAS's threads are restarted with the short spin, so the same
    ("numpy", {}, "omp None 10000 | omp (wait policy default, spin count 10000; OpenBLAS spin "
                  "short)"),
    # torch first (it loads numpy and its own libgomp): the same for Numba's libgomp
    ("torch", {}, "omp None 10000 | omp (wait policy default, spin count 10000; OpenBLAS spin "
                  "short)"),
    # the user's long OpenBLAS spin: OpenMP with a passive wait, set while Numba loads
    # libgomp, then removed; or workqueue where an OpenMP runtime was loaded already
    ("numpy", {"OPENBLAS_THREAD_TIMEOUT": "28"},
     "omp None None | omp (wait policy PASSIVE, spin count default; OpenBLAS spin long)"),
    ("torch", {"OPENBLAS_THREAD_TIMEOUT": "28"},
     "workqueue None None | workqueue (an OpenMP runtime was loaded already and OpenBLAS "
     "spins long)"),
    # the user's own short OpenBLAS spin, exported before Python started, counts too
    ("numpy", {"OPENBLAS_THREAD_TIMEOUT": "12"},
     "omp None 10000 | omp (wait policy default, spin count 10000; OpenBLAS spin short)"),
    ("numpy", {"NUMBA_THREADING_LAYER": "workqueue"},
     "workqueue None 10000 | left to Numba (NUMBA_THREADING_LAYER or NUMBA_DISABLE_JIT set)"),
    ("numpy", {"OMP_WAIT_POLICY": "ACTIVE"},
     "omp ACTIVE None | omp (wait policy ACTIVE, spin count default; OpenBLAS spin short)"),
    # the user's own spin count is left alone
    ("", {"GOMP_SPINCOUNT": "500"},
     "omp None 500 | omp (wait policy default, spin count 500; OpenBLAS spin short)"),
])
def test_numba_threads(first, env, expected) -> None:
    if "torch" in first:
        pytest.importorskip("torch")
    code = (f"import {first}\n" if first else "") + (
        "import minicnn\nimport os, numba, minicnn.functional as F\n"
        "print('restarted', minicnn._blas.OPENBLAS_RESTARTED)\n"
        "from kernels.numba_cpu import threads\n"
        "F.max_pool2d(minicnn.randn(1, 1, 4, 4), 2)\n"
        "print(numba.threading_layer(), os.environ.get('OMP_WAIT_POLICY'),\n"
        "      os.environ.get('GOMP_SPINCOUNT'), '|', threads.CHOICE)")
    full = {k: v for k, v in os.environ.items()
            if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "MINICNN_KERNELS",
                         "OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT")}
    full.update(env)
    r = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    if first.split(",")[0] in ("numpy", "torch") and "OPENBLAS_THREAD_TIMEOUT" not in env \
            and "short" in expected and lines[0] == "restarted 0":
        pytest.skip("numpy's BLAS here cannot be restarted with a short spin")
    assert lines[-1] == expected


FORK_SCRIPT = """
import minicnn  # first: OpenMP threads with the default wait
import multiprocessing as mp
import numpy as np
import minicnn.functional as F
from kernels.numba_cpu import threads

def work(seed):
    rng = np.random.default_rng(seed)
    x = minicnn.Tensor(rng.standard_normal((2, 4, 9, 9)), requires_grad=True)
    w = minicnn.Tensor(rng.standard_normal((4, 4, 3, 3)), requires_grad=True)
    h = F.conv2d(x, w, None, 1, 1)  # the direct kernel (4 channels)
    h = F.conv2d(h, w, None, 2, 1, algo="im2col")
    big = minicnn.Tensor(rng.standard_normal((1, 4, 16, 16)), requires_grad=True)
    h16 = F.conv2d(big, w, None, 1, 1)  # 16x16: the direct weight gradient too
    h = h + F.avg_pool2d(h16, 4, 3)
    h = F.batch_norm(h, None, None, training=True)
    h = F.local_response_norm(F.relu(h), 3)
    y = F.max_pool2d(h, 2, 1) + F.avg_pool2d(h, 2, 1)
    y.sum().backward()
    return [float(y.sum().item()), float(x.grad.data.sum()), float(w.grad.data.sum()),
            threads.forked_from_openmp()]

if __name__ == "__main__":
    parent = work(0)  # the parent's OpenMP threads are running from here on
    with mp.get_context("fork").Pool(2) as pool:
        children = pool.map_async(work, [0, 0], chunksize=1).get(timeout=240)
    print(threads.CHOICE.split()[0], parent[3], [c[3] for c in children])
    for c in children:
        assert np.allclose(c[:3], parent[:3], rtol=1e-12), (c, parent)
    print("ok")
"""


@pytest.mark.skipif(not backend._numba_importable() or sys.platform != "linux",
                    reason="numba not importable, or no fork")
def test_forked_children_run_the_kernels(tmp_path) -> None:
    """A child forked after Numba's OpenMP threads started cannot use them (Numba kills it);
    it runs the kernels' single-thread twins instead, with the parent's results."""
    script = tmp_path / "fork_check.py"
    script.write_text(FORK_SCRIPT)
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["omp", "False", "[True,", "True]", "ok"], r.stdout

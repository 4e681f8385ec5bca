"""The conv benchmark's machinery: custom-kernel loading and checking, shapes, the JSON/table
of a tiny quick run, the plot. Never its speed (benchmarks do not assert)."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from minicnn import cli
from minicnn.bench import custom, report, sections, shapes
from minicnn.bench.impls import Case, Impl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = f"{ROOT / 'benchmarks' / 'examples' / 'my_conv.py'}:my_conv2d"

pytest.importorskip("minicnn.ops.conv")


def _write_kernel(tmp_path: Path, body: str, name: str = "k") -> str:
    """A module file holding a custom kernel ``conv`` built on the example kernel."""
    path = tmp_path / f"{name}.py"
    path.write_text(
        "import importlib.util\n"
        f"_s = importlib.util.spec_from_file_location('ex', {str(EXAMPLE.rsplit(':', 1)[0])!r})\n"
        "_m = importlib.util.module_from_spec(_s); _s.loader.exec_module(_m)\n"
        "good = _m.my_conv2d\n" + textwrap.dedent(body)
    )
    return f"{path}:conv"


# -- loading -----------------------------------------------------------------------------
def test_load_kernel_from_a_file_and_from_a_module(tmp_path, monkeypatch):
    k = custom.load_kernel(EXAMPLE)
    assert k.name == "my_conv2d" and callable(k.fn)
    (tmp_path / "mykern.py").write_text("def f(*a):\n    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert custom.load_kernel("mykern:f").name == "f"


@pytest.mark.parametrize("spec, words", [
    ("no_colon", "module:function"),
    ("nonexistent_mod_xyz:f", "cannot import"),
    ("/no/such/file.py:f", "no file"),
    (f"{EXAMPLE.rsplit(':', 1)[0]}:missing", "no function 'missing'"),
])
def test_load_kernel_errors_name_the_spec(spec, words):
    with pytest.raises(ValueError, match=words):
        custom.load_kernel(spec)


# -- checking ----------------------------------------------------------------------------
def test_the_example_kernel_passes_every_check_shape():
    k = custom.check_kernel(custom.load_kernel(EXAMPLE))
    assert k.unsupported == set()
    assert len(k.checks) == len(custom.CHECK_SHAPES)
    for c in k.checks:
        assert c["max_abs_error"] <= custom.TOLERANCE * c["max_abs_reference"]


def test_a_flipped_kernel_is_refused_with_the_shape_and_the_error(tmp_path):
    # convolution instead of cross-correlation: the classic mistake
    spec = _write_kernel(tmp_path, """
        def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            return good(x, w[:, :, ::-1, ::-1].copy(), b, stride, padding, dilation, groups)
    """)
    with pytest.raises(custom.KernelCheckError) as e:
        custom.check_kernel(custom.load_kernel(spec))
    msg = str(e.value)
    assert "input (2, 3, 9, 9) weight (4, 3, 3, 3)" in msg
    assert "max abs error" in msg and "refusing to time it" in msg


def test_a_kernel_off_by_a_little_is_refused(tmp_path):
    spec = _write_kernel(tmp_path, """
        def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            y = good(x, w, b, stride, padding, dilation, groups)
            y.flat[0] += 1e-2
            return y
    """)
    with pytest.raises(custom.KernelCheckError, match="output index \\(0, 0, 0, 0\\)"):
        custom.check_kernel(custom.load_kernel(spec))


def test_a_kernel_that_ignores_stride_is_refused_on_its_shape(tmp_path):
    spec = _write_kernel(tmp_path, """
        def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            return good(x, w, b, 1, padding, dilation, groups)
    """)
    with pytest.raises(custom.KernelCheckError, match="returned shape .* stride=2"):
        custom.check_kernel(custom.load_kernel(spec))


def test_not_implemented_features_are_skipped_not_refused(tmp_path):
    spec = _write_kernel(tmp_path, """
        def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            if groups != 1:
                raise NotImplementedError("groups")
            return good(x, w, b, stride, padding, dilation, groups)
    """)
    k = custom.check_kernel(custom.load_kernel(spec))
    assert k.unsupported == {"groups"}
    by_name = {s.name: s for s in shapes.CONV_SHAPES}
    assert not k.supports(by_name["alexnet.conv2"])
    assert k.supports(by_name["alexnet.conv1"])


def test_a_kernel_that_raises_is_refused(tmp_path):
    spec = _write_kernel(tmp_path, """
        def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            raise RuntimeError("boom")
    """)
    with pytest.raises(custom.KernelCheckError, match="RuntimeError on input"):
        custom.check_kernel(custom.load_kernel(spec))


def test_the_cli_refuses_a_wrong_kernel_before_timing(tmp_path, capsys):
    spec = _write_kernel(tmp_path, """
        def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            return good(x, w, b, stride, padding, dilation, groups) * 1.01
    """)
    rc = cli.main(["bench", "conv", "--quick", "--kernel", spec, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "refusing to time it" in err and "max abs error" in err
    assert not list(tmp_path.glob("*.json"))


# -- shapes ------------------------------------------------------------------------------
def test_shapes_fit_memory_and_count_flops():
    by_name = {s.name: s for s in shapes.CONV_SHAPES}
    conv1 = by_name["alexnet.conv1"]
    assert conv1.out_hw == (55, 55)
    assert conv1.flops == 2 * conv1.n * 96 * 3 * 11 * 11 * 55 * 55
    assert by_name["alexnet.conv2"].flops == 2 * 4 * 256 * 48 * 25 * 27 * 27
    assert len(by_name) == len(shapes.CONV_SHAPES)
    for s in shapes.CONV_SHAPES:
        assert s.memory_bytes() < shapes.MEMORY_BOUND // 8, s.name
        q = s.quick()
        assert min(q.out_hw) >= 1 and q.c % q.groups == 0 and q.k % q.groups == 0, s.name
        assert q.flops < 1e7
    for p in shapes.POOL_SHAPES:
        assert min(p.quick().out_hw) >= 1
    assert shapes.POOL_SHAPES[1].out_hw == (28, 28)  # GoogLeNet's ceil-mode 3x3/2 on 56


def test_select_by_substring_and_glob():
    names = [s.name for s in shapes.select(shapes.CONV_SHAPES, ["vgg16", "resnet50.*3x3"],
                                           False, None)]
    assert names == ["vgg16.conv3", "vgg16.conv4", "resnet50.conv2.3x3", "resnet50.conv4.3x3"]
    sel = shapes.select(shapes.CONV_SHAPES, ["alexnet"], True, 3)
    assert [s.n for s in sel] == [3, 3] and sel[0].h < 227


# -- sections ----------------------------------------------------------------------------
class _Const(Impl):
    kind = "minicnn"

    def __init__(self, name, value):
        self.name, self.value = name, value

    def conv(self, s, x, w, b, gy):
        return Case(lambda: np.full(3, self.value, dtype=np.float32), None)


def test_time_shape_flags_an_implementation_that_disagrees():
    res = sections.time_shape([_Const("a", 1.0), _Const("b", 1.5), _Const("c", 1.0)],
                              lambda m: m.conv(None, None, None, None, None), 2, 0.0, 0)
    assert "wrong" not in res["a"] and "wrong" not in res["c"]
    assert "wrong" in res["b"] and res["b"]["max_rel_error"] == pytest.approx(0.5)
    assert len(res["a"]["fwd"]["times_s"]) == 2 and "fwdbwd" not in res["a"]


def test_resnet20_is_the_same_network_in_both_libraries():
    torch = pytest.importorskip("torch")
    import minicnn
    from minicnn.bench.e2e import build_resnet20

    ours, theirs = build_resnet20(minicnn.nn), build_resnet20(torch.nn)
    n_ours = sum(p.numel() for p in ours.parameters())
    assert n_ours == sum(p.numel() for p in theirs.parameters())
    with minicnn.use_kernels("numpy"), minicnn.no_grad():
        y = ours(minicnn.Tensor(np.zeros((2, 3, 32, 32), dtype=np.float32)))
    assert y.shape == (2, 10)


# -- a whole quick run -------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run.json"
    argv = ["bench", "conv", "--quick", "--sets", "numpy", "--sections", "conv,pool",
            "--shapes", "small.conv3x3_64,alexnet.conv2,resnet50.conv4.1x1_reduce,lrn2,"
            "small.maxpool", "--repeats", "1", "--pause", "0", "--kernel", EXAMPLE,
            "--out", str(out), "--plot"]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main(argv)
    return rc, buf.getvalue(), out


def test_quick_run_prints_the_table(quick_run):
    rc, text, out = quick_run
    assert rc == 0, text
    assert "matches the reference on 7 shapes" in text
    assert "float32 GEMM peak" in text and "copy bandwidth" in text
    assert report.conv_header().rstrip() in text and report.pool_header().rstrip() in text
    for name in ("small.conv3x3_64", "alexnet.conv2", "alexnet.lrn2", "small.maxpool"):
        assert name in text
    assert "WRONG" not in text
    assert f"wrote {out}" in text


def test_quick_run_writes_json_and_png(quick_run):
    rc, _, out = quick_run
    record = json.loads(out.read_text())
    assert record["machine"]["cpu_model"] and record["machine"]["threads"] >= 1
    assert record["machine"]["numpy"] == np.__version__
    assert record["limits"]["gemm"]["gflops"] > 0
    assert record["limits"]["copy"]["gbytes_per_s"] > 0
    assert [r["name"] for r in record["conv"]] == [
        "alexnet.conv2", "resnet50.conv4.1x1_reduce", "small.conv3x3_64"]
    assert [r["name"] for r in record["pool"]] == ["small.maxpool", "alexnet.lrn2"]
    for row in record["conv"]:
        res = row["results"]
        for label in ("fwd", "fwdbwd"):
            r = res["numpy"][label]
            assert r["median_s"] > 0 and r["gflops"] > 0 and math.isfinite(r["pct_peak"])
        assert "fwdbwd" not in res["my_conv2d"]
        assert res["my_conv2d"]["max_rel_error"] < 1e-5
        if "torch" in res:
            assert res["numpy"]["fwdbwd"]["vs_torch"] > 0
    for row in record["pool"]:
        assert row["results"]["numpy"]["fwdbwd"]["x_floor"] > 0
    assert "numpy" in record["summary"]["conv"]
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_prints_the_selected_layers(capsys):
    assert cli.main(["bench", "conv", "--list", "--shapes", "vgg16", "--batch", "2"]) == 0
    text = capsys.readouterr().out
    assert "vgg16.conv3" in text and "512->512 3x3 p1 @28x28" in text
    assert "conv forward total: 14.8 GFLOP" in text


def test_bench_without_a_target_prints_help(capsys):
    assert cli.main(["bench"]) == 2
    assert "conv" in capsys.readouterr().out


def test_bad_options_are_named(capsys):
    assert cli.main(["bench", "conv", "--sections", "conv,nope"]) == 2
    assert "--sections" in capsys.readouterr().err
    assert cli.main(["bench", "conv", "--sets", "cupy"]) == 2
    assert "'cupy' is not a kernel set of --device cpu" in capsys.readouterr().err

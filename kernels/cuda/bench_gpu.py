"""GPU timings of the CUDA kernel set against cuDNN (through PyTorch) on the same card.

    python -m kernels.cuda.bench_gpu --out DIR [--budget SECONDS] [--repeats R]

Case-study layers at batch 64-256, float32. For each conv layer: minicnn's conv2d op with
im2col + cuBLAS (forward, forward+backward), the implicit-GEMM forward kernel with the tile
the launcher picks and with every tile, and cuDNN's forward and forward+backward with
``cudnn.benchmark`` on and TF32 off (so both sides compute in plain float32). For pooling
and LRN: the kernels alone (forward+backward) and through minicnn's ops, against PyTorch's
CUDA ops. Each number is the median of ``repeats`` timed calls after warm-up, each call
bracketed by device synchronisation (so Python overhead between kernels counts, as it does
in training). Prints a table and writes ``bench-gpu.json`` into ``--out``; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Conv:
    name: str
    n: int
    c: int
    hw: int
    f: int
    k: int
    stride: int = 1
    pad: int = 0
    groups: int = 1
    bias: bool = True

    @property
    def out(self) -> int:
        return (self.hw + 2 * self.pad - self.k) // self.stride + 1

    @property
    def flops(self) -> float:
        """Forward: 2 N F (C/g) k k oh ow."""
        return 2.0 * self.n * self.f * (self.c // self.groups) * self.k * self.k * self.out**2


@dataclasses.dataclass(frozen=True)
class Pool:
    name: str
    op: str  # max | avg | lrn
    n: int
    c: int
    hw: int
    k: int = 3
    stride: int = 2
    pad: int = 0
    ceil: bool = False


CONVS = (
    Conv("alexnet.conv1", 128, 3, 227, 96, 11, stride=4),
    Conv("alexnet.conv2", 128, 96, 27, 256, 5, pad=2, groups=2),
    Conv("alexnet.conv3", 128, 256, 13, 384, 3, pad=1),
    Conv("vgg16.conv3", 64, 256, 56, 256, 3, pad=1),
    Conv("vgg16.conv4", 64, 512, 28, 512, 3, pad=1),
    Conv("googlenet.3a.3x3", 128, 96, 28, 128, 3, pad=1),
    Conv("googlenet.3a.5x5", 128, 16, 28, 32, 5, pad=2),
    Conv("resnet50.conv2.3x3", 128, 64, 56, 64, 3, pad=1, bias=False),
    Conv("resnet50.conv4.1x1", 128, 1024, 14, 256, 1, bias=False),
    Conv("resnet50.conv4.3x3", 128, 256, 14, 256, 3, pad=1, bias=False),
    Conv("resnet20.conv3x3_16", 256, 16, 32, 16, 3, pad=1, bias=False),
)

POOLS = (
    Pool("alexnet.pool1", "max", 128, 96, 55),
    Pool("googlenet.pool2", "max", 128, 192, 56, ceil=True),
    Pool("alexnet.avgpool1", "avg", 128, 96, 55),
    Pool("small.avgpool", "avg", 256, 64, 32, pad=1),
    Pool("alexnet.lrn1", "lrn", 128, 96, 55),
    Pool("alexnet.lrn2", "lrn", 128, 256, 27),
)

LRN_ARGS = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)


def median_ms(fn: Callable[[], Any], sync: Callable[[], Any], repeats: int,
              warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def bench_conv(s: Conv, repeats: int, cp: Any, torch: Any) -> dict[str, Any]:
    import minicnn
    import minicnn.functional as F
    from kernels.cuda import compiler, implicit_gemm
    from kernels.cuda import conv2d_implicit_gemm as igemm

    sync = cp.cuda.runtime.deviceSynchronize
    rng = np.random.default_rng(0)
    x = rng.standard_normal((s.n, s.c, s.hw, s.hw), dtype=np.float32)
    w = (rng.standard_normal((s.f, s.c // s.groups, s.k, s.k), dtype=np.float32)
         / np.sqrt(s.c // s.groups * s.k * s.k)).astype(np.float32)
    b = rng.standard_normal(s.f, dtype=np.float32) if s.bias else None
    gy = rng.standard_normal((s.n, s.f, s.out, s.out), dtype=np.float32)
    st, pd = (s.stride, s.stride), (s.pad, s.pad)
    rec: dict[str, Any] = {"layer": s.name, "shape": dataclasses.asdict(s),
                           "gflop_fwd": s.flops / 1e9}

    # minicnn: the conv2d op (im2col + cuBLAS), on GPU tensors
    xt = minicnn.tensor(x, requires_grad=True, device="cuda")
    wt = minicnn.tensor(w, requires_grad=True, device="cuda")
    bt = minicnn.tensor(b, requires_grad=True, device="cuda") if b is not None else None
    gyt = minicnn.tensor(gy, device="cuda")

    def fwd() -> None:
        with minicnn.no_grad():
            F.conv2d(xt, wt, bt, st, pd, 1, s.groups, algo="im2col")

    def fwdbwd() -> None:
        for t in (xt, wt, bt):
            if t is not None:
                t.grad = None
        F.conv2d(xt, wt, bt, st, pd, 1, s.groups, algo="im2col").backward(gyt)

    rec["im2col_fwd_ms"] = median_ms(fwd, sync, repeats)
    rec["im2col_fwdbwd_ms"] = median_ms(fwdbwd, sync, repeats)

    # the implicit-GEMM kernel: the launcher's choice, then every tile
    xc, wc = cp.asarray(x), cp.asarray(w)
    bc = cp.asarray(b) if b is not None else None
    m, p = s.f // s.groups, s.n * s.out * s.out
    chosen = implicit_gemm.choose_tile("float", m, p, s.groups)
    rec["igemm_tile"] = f"{chosen.bm}x{chosen.bn}"
    rec["igemm_fwd_ms"] = median_ms(
        lambda: igemm(xc, wc, bc, st, pd, (1, 1), s.groups), sync, repeats)
    rec["igemm_tiles_ms"] = {
        f"{t.bm}x{t.bn}": median_ms(
            lambda t=t: igemm(xc, wc, bc, st, pd, (1, 1), s.groups, tile=t), sync, repeats)
        for t in implicit_gemm.CONFIGS["float"]
    }
    rec["sms"] = compiler.sm_count()

    # cuDNN through PyTorch, float32 without TF32
    if torch is not None:
        tx = torch.tensor(x, device="cuda", requires_grad=True)
        tw = torch.tensor(w, device="cuda", requires_grad=True)
        tb = torch.tensor(b, device="cuda", requires_grad=True) if b is not None else None
        tgy = torch.tensor(gy, device="cuda")
        tf = torch.nn.functional.conv2d

        def tfwd() -> None:
            with torch.no_grad():
                tf(tx, tw, tb, s.stride, s.pad, 1, s.groups)

        def tfwdbwd() -> None:
            for t in (tx, tw, tb):
                if t is not None:
                    t.grad = None
            tf(tx, tw, tb, s.stride, s.pad, 1, s.groups).backward(tgy)

        rec["cudnn_fwd_ms"] = median_ms(tfwd, torch.cuda.synchronize, repeats)
        rec["cudnn_fwdbwd_ms"] = median_ms(tfwdbwd, torch.cuda.synchronize, repeats)
        # correctness at these shapes, as a side note (float32 sums in other orders)
        with torch.no_grad():
            ref = tf(tx, tw, tb, s.stride, s.pad, 1, s.groups).cpu().numpy()
        got = igemm(xc, wc, bc, st, pd, (1, 1), s.groups).get()
        rec["igemm_max_rel_err_vs_cudnn"] = float(np.abs(got - ref).max() / np.abs(ref).max())
    rec["x_im2col_fwdbwd_vs_cudnn"] = _ratio(rec["im2col_fwdbwd_ms"], rec.get("cudnn_fwdbwd_ms"))
    rec["x_igemm_fwd_vs_cudnn"] = _ratio(rec["igemm_fwd_ms"], rec.get("cudnn_fwd_ms"))
    rec["x_im2col_fwd_vs_cudnn"] = _ratio(rec["im2col_fwd_ms"], rec.get("cudnn_fwd_ms"))
    rec["igemm_tflops"] = s.flops / (rec["igemm_fwd_ms"] * 1e9)
    return rec


def bench_pool(s: Pool, repeats: int, cp: Any, torch: Any) -> dict[str, Any]:
    import kernels.cuda as kc
    import minicnn
    import minicnn.functional as F
    from minicnn.ops.pool import pool_output_size

    sync = cp.cuda.runtime.deviceSynchronize
    rng = np.random.default_rng(0)
    x = rng.standard_normal((s.n, s.c, s.hw, s.hw), dtype=np.float32)
    rec: dict[str, Any] = {"layer": s.name, "shape": dataclasses.asdict(s)}
    xc = cp.asarray(x)
    k, st, pd = (s.k, s.k), (s.stride, s.stride), (s.pad, s.pad)
    if s.op == "lrn":
        y_shape = x.shape
    else:
        o = pool_output_size(s.hw, s.k, s.stride, s.pad, s.ceil)
        y_shape = (s.n, s.c, o, o)
    gy = rng.standard_normal(y_shape, dtype=np.float32)
    gyc = cp.asarray(gy)

    if s.op == "max":
        def kern() -> None:
            y, am = kc.max_pool2d(xc, k, st, pd, y_shape[2:])
            kc.max_pool2d_backward(gyc, am, x.shape, k, st, pd)

        def op(t: Any) -> Any:
            return F.max_pool2d(t, s.k, s.stride, s.pad, ceil_mode=s.ceil)
    elif s.op == "avg":
        def kern() -> None:
            kc.avg_pool2d(xc, k, st, pd, y_shape[2:], True)
            kc.avg_pool2d_backward(gyc, x.shape, k, st, pd, True)

        def op(t: Any) -> Any:
            return F.avg_pool2d(t, s.k, s.stride, s.pad, ceil_mode=s.ceil)
    else:
        a = LRN_ARGS

        def kern() -> None:
            y, sc = kc.local_response_norm(xc, a["size"], a["alpha"], a["beta"], a["k"])
            kc.local_response_norm_backward(xc, y, sc, gyc, a["size"], a["alpha"], a["beta"],
                                            a["k"])

        def op(t: Any) -> Any:
            return F.local_response_norm(t, a["size"], a["alpha"], a["beta"], a["k"])

    rec["kernels_fwdbwd_ms"] = median_ms(kern, sync, repeats)
    xt = minicnn.tensor(x, requires_grad=True, device="cuda")
    gyt = minicnn.tensor(gy, device="cuda")

    def ours() -> None:
        xt.grad = None
        op(xt).backward(gyt)

    rec["op_fwdbwd_ms"] = median_ms(ours, sync, repeats)
    if torch is not None:
        tx = torch.tensor(x, device="cuda", requires_grad=True)
        tgy = torch.tensor(gy, device="cuda")
        tF = torch.nn.functional
        if s.op == "max":
            def tfn(t: Any) -> Any:
                return tF.max_pool2d(t, s.k, s.stride, s.pad, ceil_mode=s.ceil)
        elif s.op == "avg":
            def tfn(t: Any) -> Any:
                return tF.avg_pool2d(t, s.k, s.stride, s.pad, ceil_mode=s.ceil)
        else:
            def tfn(t: Any) -> Any:
                return tF.local_response_norm(t, LRN_ARGS["size"], LRN_ARGS["alpha"],
                                              LRN_ARGS["beta"], LRN_ARGS["k"])

        def theirs() -> None:
            tx.grad = None
            tfn(tx).backward(tgy)

        rec["torch_fwdbwd_ms"] = median_ms(theirs, torch.cuda.synchronize, repeats)
    rec["x_kernels_vs_torch"] = _ratio(rec["kernels_fwdbwd_ms"], rec.get("torch_fwdbwd_ms"))
    rec["x_op_vs_torch"] = _ratio(rec["op_fwdbwd_ms"], rec.get("torch_fwdbwd_ms"))
    return rec


def _fmt(v: Any, width: int = 8, digits: int = 2) -> str:
    if v is None:
        return "-".rjust(width)
    return f"{v:{width}.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("."))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--budget", type=float, default=150.0,
                    help="seconds: layers left when it is spent are skipped (and listed)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny shapes and 2 repeats: checks that the script runs")
    args = ap.parse_args(argv)
    convs, pools = CONVS, POOLS
    if args.quick:
        args.repeats = 2
        convs = tuple(dataclasses.replace(s, n=2, hw=min(s.hw, max(12, s.k + 2 * s.stride)))
                      for s in CONVS)
        pools = tuple(dataclasses.replace(s, n=2, c=min(s.c, 8), hw=min(s.hw, 13)) for s in POOLS)

    import cupy as cp  # type: ignore[import-not-found]

    try:
        import torch

        if not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    if torch is not None:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    info = {
        "gpu": name, "sms": int(props["multiProcessorCount"]),
        "cupy": cp.__version__, "cuda_runtime": int(cp.cuda.runtime.runtimeGetVersion()),
        "torch": None if torch is None else torch.__version__,
        "cudnn": None if torch is None else torch.backends.cudnn.version(),
        "numpy": np.__version__, "repeats": args.repeats, "dtype": "float32",
        "quick": args.quick,
        "cudnn_settings": "benchmark=True, allow_tf32=False",
    }
    print("GPU benchmark:", json.dumps(info))
    start = time.perf_counter()
    results: dict[str, Any] = {"info": info, "conv": [], "pool": [], "skipped": [],
                               "errors": []}

    print("\nconv, float32 (ms; x = time / cuDNN's time)")
    print(f"{'layer':22} {'GFLOP':>6} {'im2col f':>8} {'cudnn f':>8} {'im2col fb':>9} "
          f"{'cudnn fb':>8} {'x fb':>6} {'igemm f':>8} {'tile':>7} {'x igemm':>7} "
          f"{'TFLOP/s':>7}  tiles")
    for s in convs:
        if time.perf_counter() - start > args.budget:
            results["skipped"].append(s.name)
            continue
        try:
            r = bench_conv(s, args.repeats, cp, torch)
        except Exception as e:  # a benchmark reports, it does not stop
            results["errors"].append({"layer": s.name, "error": repr(e),
                                      "trace": traceback.format_exc()[-2000:]})
            print(f"{s.name:22} ERROR {e!r}")
            continue
        results["conv"].append(r)
        tiles = " ".join(f"{k}:{v:.2f}" for k, v in r["igemm_tiles_ms"].items())
        print(f"{s.name:22} {r['gflop_fwd']:6.1f} {_fmt(r['im2col_fwd_ms'])} "
              f"{_fmt(r.get('cudnn_fwd_ms'))} {_fmt(r['im2col_fwdbwd_ms'], 9)} "
              f"{_fmt(r.get('cudnn_fwdbwd_ms'))} {_fmt(r['x_im2col_fwdbwd_vs_cudnn'], 6)} "
              f"{_fmt(r['igemm_fwd_ms'])} {r['igemm_tile']:>7} "
              f"{_fmt(r['x_igemm_fwd_vs_cudnn'], 7)} {_fmt(r['igemm_tflops'], 7, 1)}  {tiles}",
              flush=True)

    print("\npooling and LRN, float32, forward+backward (ms; x = time / torch's time)")
    print(f"{'layer':18} {'kernels':>8} {'op':>8} {'torch':>8} {'x kern':>7} {'x op':>7}")
    for s in pools:
        if time.perf_counter() - start > args.budget:
            results["skipped"].append(s.name)
            continue
        try:
            r = bench_pool(s, args.repeats, cp, torch)
        except Exception as e:
            results["errors"].append({"layer": s.name, "error": repr(e),
                                      "trace": traceback.format_exc()[-2000:]})
            print(f"{s.name:18} ERROR {e!r}")
            continue
        results["pool"].append(r)
        print(f"{s.name:18} {_fmt(r['kernels_fwdbwd_ms'])} {_fmt(r['op_fwdbwd_ms'])} "
              f"{_fmt(r.get('torch_fwdbwd_ms'))} {_fmt(r['x_kernels_vs_torch'], 7)} "
              f"{_fmt(r['x_op_vs_torch'], 7)}", flush=True)

    def gmean(vals: list[float | None]) -> float | None:
        v = [x for x in vals if x]
        return float(np.exp(np.mean(np.log(v)))) if v else None

    summary = {
        "conv_im2col_fwdbwd_x_cudnn": gmean([r["x_im2col_fwdbwd_vs_cudnn"]
                                             for r in results["conv"]]),
        "conv_im2col_fwd_x_cudnn": gmean([r["x_im2col_fwd_vs_cudnn"] for r in results["conv"]]),
        "conv_igemm_fwd_x_cudnn": gmean([r["x_igemm_fwd_vs_cudnn"] for r in results["conv"]]),
        "pool_kernels_x_torch": gmean([r["x_kernels_vs_torch"] for r in results["pool"]
                                       if r["shape"]["op"] != "lrn"]),
        "pool_op_x_torch": gmean([r["x_op_vs_torch"] for r in results["pool"]
                                  if r["shape"]["op"] != "lrn"]),
        "lrn_kernels_x_torch": gmean([r["x_kernels_vs_torch"] for r in results["pool"]
                                      if r["shape"]["op"] == "lrn"]),
        "lrn_op_x_torch": gmean([r["x_op_vs_torch"] for r in results["pool"]
                                 if r["shape"]["op"] == "lrn"]),
        "seconds": time.perf_counter() - start,
    }
    results["summary"] = summary
    print("\nsummary (geometric means of time ratios; goals: im2col f+b <= 1.5x cuDNN, "
          "implicit GEMM fwd <= 2x, pooling and LRN <= 1.2x torch):")
    for k, v in summary.items():
        print(f"  {k:28} {_fmt(v, 8, 3)}")
    if results["skipped"]:
        print("skipped (budget spent):", ", ".join(results["skipped"]))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "bench-gpu.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

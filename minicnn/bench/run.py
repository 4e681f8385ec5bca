"""``minicnn bench conv`` and ``benchmarks/bench_conv.py``: arguments and the whole run.

Order of a run: check the custom kernels (a wrong one stops the run at once), measure the
machine's limits (GEMM peak, copy bandwidth), then the sections: conv layers, pooling/LRN,
Numba compile time, the ResNet-20 training step. Prints tables as it goes and writes one JSON
record (and, with ``--plot``, a PNG beside it).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from minicnn.bench import machine, report, sections
from minicnn.bench.custom import CustomKernel, KernelCheckError, check_kernel, load_kernel
from minicnn.bench.impls import CustomImpl, Impl, MinicnnSet, TorchBaseline
from minicnn.bench.shapes import CONV_SHAPES, POOL_SHAPES, select

SECTIONS = ("conv", "pool", "compile", "e2e")
DEFAULT_OUT = Path("benchmarks") / "results"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the conv benchmark (shared by the CLI and the script)."""
    p.add_argument("--quick", action="store_true",
                   help="tiny shapes, 2 repeats, small limits: checks that the script runs "
                        "(seconds, not minutes); its numbers mean nothing")
    p.add_argument("--shapes", type=_csv, default=None, metavar="PATTERNS",
                   help="comma-separated substrings or globs of layer names to keep, e.g. "
                        "'vgg16,resnet50.*3x3,lrn' (default: all)")
    p.add_argument("--sets", type=_csv, default=None, metavar="SETS",
                   help="minicnn kernel sets to time, comma-separated: numpy, numba (CPU); "
                        "cupy, cupy-implicit_gemm (CUDA). Default: all that work on --device")
    p.add_argument("--kernel", action="append", default=[], metavar="MODULE:FUNCTION",
                   help="also time a custom conv kernel with conv2d's signature on arrays "
                        "(module:function or path/to/file.py:function); it is checked "
                        "against the reference first and refused if wrong. Repeatable")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu: numpy/numba sets vs torch CPU; cuda: CuPy sets vs torch CUDA")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="batch size for every layer shape (default: chosen per shape; the "
                        "ResNet-20 step keeps batch 64)")
    p.add_argument("--repeats", type=int, default=None, metavar="R",
                   help="timed rounds per shape; the median is reported (default 9; quick 2)")
    p.add_argument("--pause", type=float, default=None, metavar="SECONDS",
                   help="sleep before each implementation so BLAS threads go idle "
                        "(default 0.005)")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="threads for BLAS, Numba and torch (default: usable cores)")
    p.add_argument("--sections", type=_csv, default=list(SECTIONS), metavar="LIST",
                   help=f"what to run, comma-separated from {','.join(SECTIONS)} "
                        "(default: all; pool includes LRN)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--out", type=Path, default=None, metavar="PATH",
                   help=f"JSON file, or a folder for it (default: {DEFAULT_OUT}/)")
    p.add_argument("--list", action="store_true",
                   help="print the selected layers (N, GFLOP, memory) and exit")
    p.add_argument("--plot", action="store_true",
                   help="draw a bar chart of %% of GEMM peak (PNG beside the JSON)")


def _validate(args: argparse.Namespace) -> str | None:
    bad = [s for s in args.sections if s not in SECTIONS]
    if bad:
        return f"--sections: unknown {bad}; expected names from {list(SECTIONS)}"
    for name in ("batch", "repeats", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            return f"--{name} must be >= 1, got {v}"
    if args.pause is not None and args.pause < 0:
        return f"--pause must be >= 0, got {args.pause}"
    for name in args.sets or ():
        err = _set_error(name, args.device)
        if err:
            return err
    return None


def _default_sets(device: str) -> list[str]:
    if device == "cpu":
        return ["numpy", "numba"]
    sets = ["cupy"]
    try:
        import kernels.cuda as kc

        if hasattr(kc, "conv2d_implicit_gemm"):
            sets.append("cupy-implicit_gemm")
    except Exception:
        pass
    return sets


def _set_error(name: str, device: str) -> str | None:
    kernels, _, algo = name.partition("-")
    allowed = {"cpu": ("numpy", "numba"), "cuda": ("cupy",)}[device]
    if kernels not in allowed or (algo and kernels != "cupy"):
        return (f"--sets: {name!r} is not a kernel set of --device {device} "
                f"(cpu: numpy, numba; cuda: cupy, cupy-implicit_gemm)")
    return None


def _make_set(name: str) -> MinicnnSet:
    kernels, _, algo = name.partition("-")
    return MinicnnSet(kernels, algo or None)


def _out_path(args: argparse.Namespace, stamp: str) -> Path:
    name = f"conv-{'quick-' if args.quick else ''}{args.device}-{stamp}.json"
    if args.out is None:
        return DEFAULT_OUT / name
    if args.out.suffix == ".json":
        return args.out
    return args.out / name


def run(args: argparse.Namespace, out: Any = None) -> int:
    """Run the benchmark described by ``args`` (see :func:`add_arguments`); exit status."""
    out = out or sys.stdout
    err = _validate(args)
    if err:
        print(f"minicnn bench conv: {err}", file=sys.stderr)
        return 2
    quick = args.quick
    if args.list:
        report.emit(list_lines(args), out)
        return 0
    repeats = args.repeats or (2 if quick else 9)
    pause = args.pause if args.pause is not None else 0.005
    warmup = 0 if quick else 1
    threads = args.threads or machine.usable_cores()
    xp: Any
    if args.device == "cuda":
        from minicnn import backend

        if not backend.gpu_available():
            print("minicnn bench conv: --device cuda needs CuPy and a CUDA device",
                  file=sys.stderr)
            return 2
        xp = backend.cupy_module()
    else:
        import numpy as xp
    t_start = time.perf_counter()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")

    # 1. custom kernels: checked before anything is timed
    customs: list[CustomKernel] = []
    for spec in args.kernel:
        try:
            k = check_kernel(load_kernel(spec), xp=xp)
        except (ValueError, KernelCheckError) as e:
            print(f"minicnn bench conv: {e}", file=sys.stderr)
            return 1
        note = f" (skips shapes with: {', '.join(sorted(k.unsupported))})" if k.unsupported \
            else ""
        worst = max((c.get("max_abs_error", 0.0) / c["max_abs_reference"] for c in k.checks
                     if "max_abs_error" in c), default=0.0)
        report.emit([f"custom kernel {spec}: matches the reference on {len(k.checks)} shapes "
                     f"(max normalized error {worst:.1e}){note}"], out)
        customs.append(k)

    with machine.limit_threads(threads):
        record: dict[str, Any] = {
            "benchmark": "minicnn bench conv",
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
            "argv": list(sys.argv),
            "options": {"quick": quick, "repeats": repeats, "pause_s": pause,
                        "warmup_rounds": warmup, "batch": args.batch, "device": args.device,
                        "shapes": args.shapes, "sections": args.sections, "dtype": "float32"},
            "machine": machine.describe(threads, args.device),
        }
        report.emit(machine_header(record), out)

        # 2. limits of this machine, in this run
        gemm_n = (1024 if quick else 8192) if args.device == "cuda" else (512 if quick else 2048)
        record["limits"] = {
            "gemm": machine.gemm_peak(xp, gemm_n, 3 if quick else 9),
            "copy": machine.copy_bandwidth(xp, (8 if quick else 256) << 20, 3 if quick else 9),
        }
        report.emit(report.limits_lines(record["limits"]), out)
        peak = record["limits"]["gemm"]["gflops"]
        bandwidth = record["limits"]["copy"]["gbytes_per_s"] * 1e9

        # 3. implementations
        impls: list[Impl] = []
        notes = []
        for name in args.sets or _default_sets(args.device):
            try:
                impls.append(_make_set(name))
            except Exception as e:
                notes.append(f"kernel set {name} skipped: {e}")
        impls += [CustomImpl(k, args.device) for k in customs]
        torch_impl = None
        if not args.no_torch:
            try:
                torch_impl = TorchBaseline(args.device, threads)
                impls.append(torch_impl)
            except Exception as e:
                notes.append(f"PyTorch baseline skipped: {type(e).__name__}: {e}")
        record["implementations"] = [{"name": m.name, "kind": m.kind} for m in impls]
        width = max([10] + [len(m.name) + 1 for m in impls])
        record["notes"] = notes
        report.emit(notes, out)

        # 4. sections
        record["conv"], record["pool"] = [], []
        if "conv" in args.sections:
            shapes = select(CONV_SHAPES, args.shapes, quick, args.batch)
            if shapes:
                t0 = time.perf_counter()
                report.emit(["", "conv2d, float32 (fwd: no_grad forward; f+b: forward + "
                             "backward for x, w, b; %peak of the GEMM peak above)",
                             report.conv_header(width)], out)
                record["conv"] = sections.run_conv(
                    shapes, impls, peak, repeats, pause, warmup,
                    lambda row: report.emit(report.conv_rows(row, width), out),
                )
                report.emit([f"({time.perf_counter() - t0:.0f} s)"], out)
        if "pool" in args.sections:
            shapes = select(POOL_SHAPES, args.shapes, quick, args.batch)
            pool_impls = [m for m in impls if m.kind != "custom"
                          and getattr(m, "algo", None) is None]
            if shapes:
                t0 = time.perf_counter()
                report.emit(["", "pooling and LRN, float32 (xfloor: time over the bytes the "
                             "kernels must read+write at the copy bandwidth)",
                             report.pool_header(width)], out)
                record["pool"] = sections.run_pool(
                    shapes, pool_impls, bandwidth, repeats, pause, warmup,
                    lambda row: report.emit(report.pool_rows(row, width), out),
                )
                report.emit([f"({time.perf_counter() - t0:.0f} s)"], out)
        cpu_sets = [m.name for m in impls if m.kind == "minicnn" and m.device == "cpu"]
        if "compile" in args.sections and "numba" in cpu_sets:
            from minicnn.bench import compile_time

            report.emit(["", "Numba compile time (fresh processes)"], out)
            record["compile"] = compile_time.measure(threads)
            report.emit(report.compile_lines(record["compile"]), out)
        if "e2e" in args.sections and cpu_sets:
            report.emit([""], out)
            record["e2e"] = sections.run_e2e(
                cpu_sets, threads if torch_impl is not None else None, 4 if quick else 64,
                repeats, pause, warmup=1 if quick else 2,
            )
            report.emit(report.e2e_lines(record["e2e"]), out)
        record["summary"] = sections.summarize(record["conv"], record["pool"])
        report.emit([""] + report.summary_lines(record["summary"]), out)

    record["elapsed_s"] = time.perf_counter() - t_start
    path = report.write_json(record, _out_path(args, stamp))
    lines = [f"wrote {path} ({record['elapsed_s']:.0f} s in all)"]
    if args.plot and record["conv"]:
        lines.append(f"wrote {report.plot(record, path.with_suffix('.png'))}")
    report.emit(lines, out)
    return 0


def list_lines(args: argparse.Namespace) -> list[str]:
    """The layers a run with these arguments would time."""
    lines = [f"{'layer':<27}{'':<27}{'N':>4}{'GFLOP':>8}{'MiB':>7}"]
    convs = select(CONV_SHAPES, args.shapes, args.quick, args.batch)
    for s in convs:
        lines.append(f"{s.name:<27}{s.describe():<27}{s.n:>4}{s.flops / 1e9:>8.3g}"
                     f"{s.memory_bytes() / 2**20:>7.0f}")
    for p in select(POOL_SHAPES, args.shapes, args.quick, args.batch):
        mib = 4 * p.n * p.c * p.h * p.w / 2**20
        lines.append(f"{p.name:<27}{p.describe():<27}{p.n:>4}{'':>8}{mib:>7.0f}")
    lines.append(f"conv forward total: {sum(s.flops for s in convs) / 1e9:.3g} GFLOP "
                 "(forward+backward: 3x)")
    return lines


def machine_header(record: dict[str, Any]) -> list[str]:
    o = record["options"]
    return [f"minicnn bench conv ({'quick' if o['quick'] else 'full'}; {o['repeats']} "
            f"interleaved rounds, median; device {o['device']})"] + report.machine_lines(record)


def main(argv: Sequence[str] | None = None, default_out: Path | None = None) -> int:
    """Entry point of ``benchmarks/bench_conv.py`` (``default_out``: its results folder)."""
    p = argparse.ArgumentParser(
        prog="bench_conv.py",
        description="Conv, pooling and LRN kernels against the machine's limits and PyTorch.",
    )
    add_arguments(p)
    if default_out is not None:
        p.set_defaults(out=default_out)
    return run(p.parse_args(argv))

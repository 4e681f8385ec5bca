"""The timed sections: conv layers, pooling/LRN layers, the ResNet-20 training step.

For every shape each implementation first runs once untimed; its forward output is compared
with the first implementation's (the NumPy reference when it runs), so a fast wrong kernel
shows up in the table. Then all implementations are timed interleaved (see timing.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minicnn.bench.custom import random_inputs
from minicnn.bench.impls import Case, Impl
from minicnn.bench.shapes import ConvShape, PoolShape
from minicnn.bench.timing import Timed, geomean, interleaved, median

#: Normalized forward error max|y - ref| / max|ref| above which a row is flagged WRONG.
WRONG = 1e-3


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:300]


def time_shape(
    impls: Sequence[Impl], make: Callable[[Impl], Case], repeats: int, pause: float,
    warmup: int,
) -> dict[str, dict[str, Any]]:
    """Check then time every implementation on one shape: ``{impl: {fwd: {...}, ...}}``."""
    results: dict[str, dict[str, Any]] = {}
    timed: list[Timed] = []
    ref: np.ndarray | None = None
    ref_name = None
    for impl in impls:
        try:
            case = make(impl)
            out = case.output()
            if case.fwdbwd is not None:
                case.fwdbwd()
                if case.sync is not None:
                    case.sync()
        except NotImplementedError as e:
            results[impl.name] = {"skipped": _error(e)}
            continue
        except Exception as e:
            results[impl.name] = {"error": _error(e)}
            continue
        res: dict[str, Any] = {}
        if ref is None:
            ref, ref_name = out, impl.name
        elif out.shape != ref.shape:
            res["wrong"] = f"output shape {out.shape}, {ref_name} gave {ref.shape}"
        else:
            scale = float(np.max(np.abs(ref))) or 1.0
            err = float(np.max(np.abs(out.astype(np.float64) - ref))) / scale
            res["max_rel_error"] = err if np.isfinite(err) else float("inf")
            res["checked_against"] = ref_name
            if not err <= WRONG:
                res["wrong"] = f"max |y - {ref_name}| / max |{ref_name}| = {err:.2g}"
        fns = {"fwd": case.fwd}
        if case.fwdbwd is not None:
            fns["fwdbwd"] = case.fwdbwd
        timed.append(Timed(impl.name, fns, case.sync))
        results[impl.name] = res
    for name, by_label in interleaved(timed, repeats, pause, warmup).items():
        for label, ts in by_label.items():
            results[name][label] = {"median_s": median(ts), "times_s": ts}
    return results


def _ratios(results: dict[str, dict[str, Any]], labels: Sequence[str]) -> None:
    base = results.get("torch", {})
    for res in results.values():
        for label in labels:
            if label in res and label in base:
                res[label]["vs_torch"] = res[label]["median_s"] / base[label]["median_s"]


def run_conv(
    shapes: Sequence[ConvShape], impls: Sequence[Impl], peak_gflops: float, repeats: int,
    pause: float, warmup: int, on_shape: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Time conv2d forward and forward+backward; GFLOP/s, % of GEMM peak, x torch."""
    rows = []
    for i, s in enumerate(shapes):
        x, w, b = random_inputs(s, seed=i)
        gy = np.random.default_rng(10_000 + i).standard_normal(s.y_shape, dtype=np.float32)
        todo = [m for m in impls if m.supports(s)]
        results = time_shape(todo, lambda m: m.conv(s, x, w, b, gy), repeats, pause, warmup)  # noqa: B023
        for m in impls:
            if m not in todo:
                results[m.name] = {"skipped": "unsupported feature of this shape"}
        for res in results.values():
            for label, mult in (("fwd", 1), ("fwdbwd", 3)):
                if label in res:
                    gf = mult * s.flops / res[label]["median_s"] / 1e9
                    res[label]["gflops"] = gf
                    res[label]["pct_peak"] = 100.0 * gf / peak_gflops
        _ratios(results, ("fwd", "fwdbwd"))
        row = {
            "name": s.name, "layer": s.describe(), "kind": s.kind, "n": s.n,
            "x_shape": s.x_shape, "w_shape": s.w_shape, "stride": s.stride,
            "padding": s.padding, "dilation": s.dilation, "groups": s.groups, "bias": s.bias,
            "gflop_fwd": s.flops / 1e9, "gflop_fwdbwd": 3 * s.flops / 1e9,
            "results": results,
        }
        rows.append(row)
        on_shape(row)
    return rows


def run_pool(
    shapes: Sequence[PoolShape], impls: Sequence[Impl], bandwidth: float, repeats: int,
    pause: float, warmup: int, on_shape: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Time pooling/LRN forward and forward+backward; GB/s and x the bandwidth floor."""
    rows = []
    for i, s in enumerate(shapes):
        rng = np.random.default_rng(20_000 + i)
        x = rng.standard_normal(s.x_shape, dtype=np.float32)
        gy = rng.standard_normal((s.n, s.c, *s.out_hw), dtype=np.float32)
        todo = [m for m in impls if m.supports(s)]
        results = time_shape(todo, lambda m: m.pool(s, x, gy), repeats, pause, warmup)  # noqa: B023
        traffic = s.traffic_bytes()
        for res in results.values():
            for label in ("fwd", "fwdbwd"):
                if label in res:
                    t = res[label]["median_s"]
                    res[label]["gbytes_per_s"] = traffic[label] / t / 1e9
                    res[label]["x_floor"] = t / (traffic[label] / bandwidth)
        _ratios(results, ("fwd", "fwdbwd"))
        row = {
            "name": s.name, "op": s.op, "layer": s.describe(), "n": s.n,
            "x_shape": s.x_shape, "bytes": traffic,
            "floor_s": {k: v / bandwidth for k, v in traffic.items()},
            "results": results,
        }
        rows.append(row)
        on_shape(row)
    return rows


def run_e2e(
    sets: Sequence[str], torch_threads: int | None, batch: int, repeats: int, pause: float,
    warmup: int = 2,
) -> dict[str, Any]:
    """Images/s of a ResNet-20 training step, each minicnn CPU set and torch, interleaved."""
    from minicnn.bench import e2e

    out: dict[str, Any] = {"network": "CIFAR ResNet-20 (option B shortcuts), BN, 32x32",
                           "batch": batch, "optimizer": "SGD lr 0.01 momentum 0.9",
                           "results": {}}
    timed = []
    for name in sets:
        try:
            step, opt_name = e2e.minicnn_step(name, batch)
            loss = step()
            if not np.isfinite(float(loss.item())):
                raise FloatingPointError(f"loss is {loss.item()}")
            out["results"][name] = {"optimizer": opt_name}
            timed.append(Timed(name, {"step": step}))
        except Exception as e:
            out["results"][name] = {"error": _error(e)}
    if torch_threads is not None:
        try:
            step = e2e.torch_step(batch, torch_threads)
            step()
            out["results"]["torch"] = {}
            timed.append(Timed("torch", {"step": step}))
        except Exception as e:
            out["results"]["torch"] = {"error": _error(e)}
    for name, by_label in interleaved(timed, repeats, pause, warmup).items():
        t = median(by_label["step"])
        out["results"][name].update(
            step_s=t, images_per_s=batch / t, times_s=by_label["step"]
        )
    base = out["results"].get("torch", {}).get("step_s")
    if base:
        for res in out["results"].values():
            if "step_s" in res:
                res["vs_torch"] = res["step_s"] / base
    return out


def summarize(conv: list[dict[str, Any]], pool: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometric means of x torch per set, % of peak on the 3x3 and 1x1 shapes."""
    out: dict[str, Any] = {"conv": {}, "pool": {}}
    names = {n for row in conv for n in row["results"]}
    for name in sorted(names):
        d: dict[str, Any] = {}
        for label in ("fwd", "fwdbwd"):
            rs = [row["results"][name].get(label, {}) for row in conv
                  if name in row["results"]]
            d[f"{label}_vs_torch_geomean"] = geomean([r["vs_torch"] for r in rs
                                                      if "vs_torch" in r])
            pk = [row["results"][name][label]["pct_peak"] for row in conv
                  if row["kind"] in ("3x3", "1x1") and label in row["results"].get(name, {})]
            if pk:
                d[f"{label}_pct_peak_3x3_1x1_mean"] = sum(pk) / len(pk)
                d[f"{label}_pct_peak_3x3_1x1_min"] = min(pk)
        out["conv"][name] = d
    for row in pool:
        for name, res in row["results"].items():
            fb = res.get("fwdbwd")
            if not fb:
                continue
            d = out["pool"].setdefault(row["op"], {}).setdefault(name, {"vs_torch": [],
                                                                          "x_floor": []})
            if "vs_torch" in fb:
                d["vs_torch"].append(fb["vs_torch"])
            d["x_floor"].append(fb["x_floor"])
    for by_name in out["pool"].values():
        for name, d in by_name.items():
            by_name[name] = {"fwdbwd_vs_torch_geomean": geomean(d["vs_torch"]),
                             "fwdbwd_x_floor_geomean": geomean(d["x_floor"])}
    return out

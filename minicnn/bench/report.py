"""Tables on stdout, the JSON record and the % of peak bar chart."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TextIO


def _f(v: Any, fmt: str, width: int) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-".rjust(width)
    return format(v, fmt).rjust(width)


def _x(v: Any, width: int = 7) -> str:
    if v is None or not math.isfinite(v):
        return "-".rjust(width)
    return _f(v, ".2f", width - 1) + "x"


def _vs(name: str, r: dict[str, Any]) -> str:
    """The x torch column: blank on torch's own row."""
    return " " * 7 if name == "torch" else _x(r.get("vs_torch"))


def conv_header(set_width: int = 10) -> str:
    return (
        f"{'layer':<27}{'N':>4}{'GFLOP':>9}  {'set':<{set_width}}"
        f"{'fwd ms':>9}{'GF/s':>8}{'%peak':>6}{'xtorch':>7}  |"
        f"{'f+b ms':>9}{'GF/s':>8}{'%peak':>6}{'xtorch':>7}"
    )


def pool_header(set_width: int = 10) -> str:
    return (
        f"{'layer':<27}{'N':>4}{'MB':>6}  {'set':<{set_width}}"
        f"{'fwd ms':>9}{'xtorch':>7}  |{'f+b ms':>9}{'GB/s':>8}{'xfloor':>9}{'xtorch':>7}"
    )


def _status(res: dict[str, Any]) -> str | None:
    for key in ("error", "skipped"):
        if key in res:
            return f"{key}: {res[key]}"
    return None


def conv_rows(row: dict[str, Any], set_width: int = 10) -> list[str]:
    """The table lines of one conv shape: one per implementation."""
    lines = []
    first = [row["name"], f"  {row['layer']}"]
    for i, (name, res) in enumerate(row["results"].items()):
        left = first[i] if i < len(first) else ""
        head = (f"{left:<27}{row['n'] if i == 0 else '':>4}"
                f"{_f(row['gflop_fwd'], '.3g', 9) if i == 0 else '':>9}  {name:<{set_width}}")
        status = _status(res)
        if status:
            lines.append(head + status[:70])
            continue
        parts = [head]
        for label in ("fwd", "fwdbwd"):
            r = res.get(label)
            if r is None:
                parts.append(f"{'-':>9}{'-':>8}{'-':>6}{'-':>7}")
            else:
                parts.append(
                    _f(1e3 * r["median_s"], ".2f", 9) + _f(r["gflops"], ".1f", 8)
                    + _f(r["pct_peak"], ".0f", 6)
                    + _vs(name, r)
                )
            if label == "fwd":
                parts.append("  |")
        line = "".join(parts)
        if "wrong" in res:
            line += f"  WRONG ({res['wrong']})"
        lines.append(line)
    for extra in first[len(row["results"]):]:
        lines.append(extra)
    return lines


def pool_rows(row: dict[str, Any], set_width: int = 10) -> list[str]:
    """The table lines of one pooling/LRN shape."""
    lines = []
    first = [row["name"], f"  {row['layer']}"]
    mb = 4 * math.prod(row["x_shape"]) / 2**20
    for i, (name, res) in enumerate(row["results"].items()):
        left = first[i] if i < len(first) else ""
        head = (f"{left:<27}{row['n'] if i == 0 else '':>4}"
                f"{_f(mb, '.0f', 6) if i == 0 else '':>6}  {name:<{set_width}}")
        status = _status(res)
        if status:
            lines.append(head + status[:70])
            continue
        fwd, fb = res.get("fwd"), res.get("fwdbwd")
        line = head
        line += (_f(1e3 * fwd["median_s"], ".2f", 9) + _vs(name, fwd)) if fwd else ""
        line += "  |"
        if fb:
            line += (_f(1e3 * fb["median_s"], ".2f", 9) + _f(fb["gbytes_per_s"], ".1f", 8)
                     + _f(fb["x_floor"], ".1f", 8) + "x" + _vs(name, fb))
        if "wrong" in res:
            line += f"  WRONG ({res['wrong']})"
        lines.append(line)
    for extra in first[len(row["results"]):]:
        lines.append(extra)
    return lines


def machine_lines(record: dict[str, Any]) -> list[str]:
    m = record["machine"]
    blas = ", ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, "
        f"{b.get('num_threads')} threads)" for b in m.get("blas", [])
    ) or "unknown"
    lines = [
        f"machine: {m['cpu_model']}, {m['usable_cores']} usable cores of {m['cores']}, "
        f"{m['threads']} threads",
        f"BLAS: {blas}",
        f"numpy {m['numpy']}, numba {m['numba']}, torch {m['torch']}, python {m['python']}",
    ]
    if m.get("gpu"):
        g = m["gpu"]
        lines.append(f"GPU: {g['name']}, {g['memory_bytes'] / 2**30:.0f} GiB, cupy {m['cupy']}")
    return lines


def limits_lines(limits: dict[str, Any]) -> list[str]:
    g, c = limits["gemm"], limits["copy"]
    return [
        f"float32 GEMM peak ({g['n']}^3 matmul, median): {g['gflops']:.1f} GFLOP/s "
        f"(best {g['best_gflops']:.1f})",
        f"copy bandwidth (copyto of {c['bytes'] / 2**20:.0f} MiB, read+write): "
        f"{c['gbytes_per_s']:.1f} GB/s (best {c['best_gbytes_per_s']:.1f})",
    ]


def compile_lines(comp: dict[str, Any]) -> list[str]:
    cold, warm = comp.get("cold_cache", {}), comp.get("warm_cache", {})
    if "error" in cold:
        return [f"numba compile time: {cold['error']}"]
    lines = [f"numba first call, fresh NUMBA_CACHE_DIR (kernels={cold.get('kernels')}): "
             f"import {cold.get('import_s', float('nan')):.2f} s"]
    for name, op in cold.get("ops", {}).items():
        if "error" in op:
            lines.append(f"  {name:<21} {op['error'][:80]}")
        else:
            lines.append(f"  {name:<21} first fwd+bwd {op['first_s']:.2f} s, then "
                         f"{1e3 * op['second_s']:.1f} ms: compile {op['compile_s']:.2f} s")
    if comp.get("total_compile_s") is not None:
        lines.append(f"  total compile {comp['total_compile_s']:.2f} s, process "
                     f"{cold.get('process_wall_s', float('nan')):.1f} s")
    if "error" in warm:
        lines.append(f"warm cache: {warm['error']}")
    elif "import_and_first_conv_s" in warm:
        lines.append(
            f"warm cache: cold import + first conv fwd+bwd {warm['import_and_first_conv_s']:.2f} s"
            f" (import {warm['import_s']:.2f} s; process {warm['process_wall_s']:.1f} s)"
        )
    return lines


def e2e_lines(e2e: dict[str, Any]) -> list[str]:
    lines = [f"{e2e['network']}, batch {e2e['batch']}, one training step "
             f"({e2e['optimizer']}):"]
    for name, res in e2e["results"].items():
        if "error" in res:
            lines.append(f"  {name:<10} error: {res['error']}")
        elif "step_s" in res:
            vs = f", {res['vs_torch']:.2f}x torch's time" if "vs_torch" in res else ""
            lines.append(f"  {name:<10} {1e3 * res['step_s']:8.1f} ms/step "
                         f"{res['images_per_s']:8.1f} images/s{vs}")
    return lines


def summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = ["summary (geometric means over the shapes; xtorch = time / torch's time):"]
    for name, d in summary["conv"].items():
        if name == "torch":
            continue
        s = (f"  conv {name:<10} fwd {_x(d.get('fwd_vs_torch_geomean')).strip()} "
             f"f+b {_x(d.get('fwdbwd_vs_torch_geomean')).strip()}")
        if "fwd_pct_peak_3x3_1x1_mean" in d:
            s += (f"; 3x3+1x1 % of peak: fwd mean {d['fwd_pct_peak_3x3_1x1_mean']:.0f} "
                  f"min {d['fwd_pct_peak_3x3_1x1_min']:.0f}")
        if "fwdbwd_pct_peak_3x3_1x1_mean" in d:
            s += (f", f+b mean {d['fwdbwd_pct_peak_3x3_1x1_mean']:.0f} "
                  f"min {d['fwdbwd_pct_peak_3x3_1x1_min']:.0f}")
        lines.append(s)
    for op, by_name in summary["pool"].items():
        for name, d in by_name.items():
            vs = "" if name == "torch" else (
                f"{_x(d['fwdbwd_vs_torch_geomean']).strip()} torch's time, ")
            lines.append(f"  {op:<19} {name:<10} f+b {vs}"
                         f"{_f(d['fwdbwd_x_floor_geomean'], '.1f', 1)}x the bandwidth floor")
    return lines


def emit(lines: list[str], out: TextIO) -> None:
    for line in lines:
        print(line.rstrip(), file=out, flush=True)


def write_json(record: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    return path


def _jsonable(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def plot(record: dict[str, Any], path: Path) -> Path:
    """Bar chart of % of the GEMM peak per conv shape and implementation (fwd, fwd+bwd)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record.get("conv", [])
    names = []
    for row in rows:
        for n in row["results"]:
            if n not in names:
                names.append(n)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.7 * len(rows) + 3), 8), sharex=True)
    width = 0.8 / max(len(names), 1)
    for ax, label, title in zip(axes, ("fwd", "fwdbwd"), ("forward", "forward + backward")):
        for j, name in enumerate(names):
            ys = [row["results"].get(name, {}).get(label, {}).get("pct_peak", 0.0)
                  for row in rows]
            xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(rows))]
            ax.bar(xs, ys, width, label=name)
        ax.set_ylabel("% of float32 GEMM peak")
        ax.set_title(f"conv2d {title}")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=len(names), fontsize="small")
    axes[1].set_xticks(range(len(rows)))
    axes[1].set_xticklabels([r["name"] for r in rows], rotation=60, ha="right",
                            fontsize="small")
    peak = record["limits"]["gemm"]["gflops"]
    fig.suptitle(f"{record['machine']['cpu_model']}, {record['machine']['threads']} threads, "
                 f"GEMM peak {peak:.0f} GFLOP/s")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

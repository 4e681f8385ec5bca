#!/usr/bin/env python
"""Train every small network of the zoo on the embedded digits with its default recipe.

Writes ``benchmarks/results/train_zoo.md`` and ``train_zoo.json``: network, parameters, MACs
per image, epochs, wall time, training images/s and test accuracy, with the machine that ran
them. Each network is exactly what ``minicnn train NAME --small`` runs (same recipe, seed 0);
its run directory (curves, checkpoints, metrics) goes under ``runs/zoo/``. The whole zoo takes
tens of minutes on 2 cores; ``--models`` picks some::

    python benchmarks/train_zoo.py
    python benchmarks/train_zoo.py --models alexnet,resnet18
    python benchmarks/train_zoo.py --models nin --keep      # rerun one row of the table
    python benchmarks/train_zoo.py --epochs 1 --models nin     # seconds: checks that it runs

It prints and records; it never asserts (the tests do that).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The networks of issue 5, in the order of the case studies.
ZOO = ("alexnet", "zfnet", "vgg11", "vgg16", "nin", "googlenet", "resnet18", "resnet50",
       "preact_resnet18", "wrn16_8", "plain20")


def macs_and_params(name: str, in_channels: int, num_classes: int) -> tuple[int, int]:
    """MACs per image (inference network) and parameters of the small network."""
    from minicnn import models
    from minicnn.summary import summary

    model = models.get(name, small=True, in_channels=in_channels, num_classes=num_classes)
    shape = models.input_shape(name, small=True, in_channels=in_channels)
    s = summary(model, shape, name=name, training=False)
    return int(s.total_macs), int(s.total_params)


def run_one(name: str, dataset: str, epochs: int | None, out_root: Path, progress: bool
            ) -> dict[str, Any]:
    from minicnn import data
    from minicnn import train as T

    splits = data.load(dataset)
    macs, params = macs_and_params(name, splits.in_channels, splits.num_classes)
    cfg = T.TrainConfig(model=name, small=True, dataset=dataset, epochs=epochs,
                        out=str(out_root / name), progress=progress)
    t0 = time.perf_counter()
    result = T.train(cfg)
    wall = time.perf_counter() - t0
    hist = result.history
    images = sum(h["images_per_s"] * h["seconds"] for h in hist)
    train_s = sum(h["seconds"] for h in hist)
    rcp = cfg.resolved()
    return {
        "network": name,
        "parameters": params,
        "macs": macs,
        "epochs": len(hist),
        "optimizer": rcp.optimizer,
        "lr": rcp.lr,
        "schedule": rcp.schedule,
        "batch_size": rcp.batch_size,
        "wall_s": wall,
        "train_images_per_s": images / train_s if train_s else None,
        "best_val_accuracy": max((h["val_acc"] for h in hist), default=None),
        "test_accuracy": result.test_accuracy,
        "run_dir": str(out_root / name),
    }


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any], dataset: str) -> str:
    lines = [
        f"# Small networks of the zoo trained on `{dataset}` (`minicnn train NAME --small`)",
        "",
        f"Machine: {machine.get('cpu_model')}, {machine.get('usable_cores')} usable cores, "
        f"numpy {machine.get('numpy')}, numba {machine.get('numba')}, kernels "
        f"{machine.get('kernels')}; {machine.get('date')}.",
        "Wall time includes loading, validation after every epoch and the final test pass.",
        "",
        "| network | parameters | MACs/image | epochs | recipe | wall time | train img/s "
        "| test accuracy |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['network']} | | | | | | | failed: {r['error']} |")
            continue
        m, s = divmod(int(round(r["wall_s"])), 60)
        lines.append(
            f"| {r['network']} | {r['parameters']:,} | {r['macs'] / 1e6:.1f}M | {r['epochs']} "
            f"| {r['optimizer']} {r['lr']:g}, batch {r['batch_size']}, {r['schedule']} "
            f"| {m}m{s:02d}s "
            f"| {r['train_images_per_s']:.0f} | {100 * r['test_accuracy']:.2f}% |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(ZOO), help="comma-separated network names")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--epochs", type=int, help="override every recipe's epochs (smoke runs)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"),
                   help="where train_zoo.md/json go")
    p.add_argument("--runs", default=str(ROOT / "runs" / "zoo"), help="run directories")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.add_argument("--keep", action="store_true",
                   help="keep the rows of networks not run now from an earlier train_zoo.json")
    args = p.parse_args(argv)

    import numpy as np

    from minicnn import backend
    from minicnn.bench.machine import cpu_model, usable_cores

    machine = {
        "cpu_model": cpu_model(), "usable_cores": usable_cores(), "numpy": np.__version__,
        "numba": _version("numba"), "kernels": backend.get_kernels(),
        "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    rows = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    old = out / "train_zoo.json"
    if args.keep and old.exists():  # the other networks' rows of an earlier run stay
        rows = [r for r in json.loads(old.read_text())["results"] if r["network"] not in names]
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        try:
            rows.append(run_one(name, args.dataset, args.epochs, Path(args.runs), args.progress))
        except KeyboardInterrupt:
            print("interrupted; writing what finished", file=sys.stderr)
            break
        except Exception as e:  # one network's failure is a row of the table, not the end
            traceback.print_exc()
            rows.append({"network": name, "error": f"{type(e).__name__}: {e}"})
        rows.sort(key=lambda r: ZOO.index(r["network"]) if r["network"] in ZOO else len(ZOO))
        doc = {"dataset": args.dataset, "machine": machine, "results": rows}
        (out / "train_zoo.json").write_text(json.dumps(doc, indent=2) + "\n")
        (out / "train_zoo.md").write_text(markdown(rows, machine, args.dataset))
    print()
    print(markdown(rows, machine, args.dataset))
    print(f"written: {out / 'train_zoo.md'}, {out / 'train_zoo.json'}")
    return 0


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())

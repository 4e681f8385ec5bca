"""``minicnn evaluate CKPT [CKPT ...] [--dataset ...]``: accuracy of each checkpoint and of
their ensemble (the averaged softmax, as AlexNet's 7-CNN and GoogLeNet's 7-model ensembles)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "accuracy of checkpoints and of their ensemble (averaged softmax)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT",
                        help="best.npz / last.npz files written by minicnn train")
    parser.add_argument("--dataset", help="dataset spec (default: the one each was trained on)")
    parser.add_argument("--split", default="test", choices=("test", "val", "train"))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))


def evaluate_checkpoints(
    paths: list[str], dataset: str | None = None, split: str = "test", batch_size: int = 256,
    device: str = "cpu",
) -> dict[str, Any]:
    """``{'members': [{path, model, accuracy, loss}], 'ensemble': {...} or None, 'n': N}``."""
    import numpy as np

    from minicnn import data as mdata
    from minicnn import train as T

    cache: dict[str, Any] = {}
    members, probs = [], []
    labels = None
    for path in paths:
        model, meta = T.load_model(path, device)
        spec = dataset or meta.get("dataset", "digits")
        if spec not in cache:
            cache[spec] = mdata.load(spec)
        splits = cache[spec]
        if splits.num_classes != meta["num_classes"] or splits.in_channels != meta["in_channels"]:
            raise ValueError(
                f"{path}: the model takes {meta['in_channels']} channels and {meta['num_classes']}"
                f" classes, dataset {spec!r} has {splits.in_channels} and {splits.num_classes}"
            )
        tf = mdata.eval_transform(splits, tuple(meta["image_size"]), meta.get("mean"),
                                  meta.get("std"))
        loader = mdata.DataLoader(getattr(splits, split), batch_size, transform=tf)
        p, y = T.predict_proba(model, loader, device)
        if labels is not None and not np.array_equal(labels, y):
            raise ValueError(f"{path}: evaluated on different images than {paths[0]}")
        labels = y
        scores = T.scores(p, y)
        members.append({"path": path, "model": meta["model"], **scores})
        probs.append(p)
    ens = T.ensemble(probs, labels) if len(probs) > 1 else None
    return {"members": members, "ensemble": ens, "n": int(labels.size), "split": split}


def run(args: argparse.Namespace) -> int:
    """Print one line per checkpoint and one for the ensemble; 2 on unreadable input."""
    try:
        res = evaluate_checkpoints(args.checkpoints, args.dataset, args.split, args.batch_size,
                                   args.device)
    except (ValueError, RuntimeError, FileNotFoundError, OSError) as e:
        print(f"minicnn evaluate: {e}", file=sys.stderr)
        return 2
    width = max(len(m["path"]) for m in res["members"])
    print(f"{res['split']} split, {res['n']} images")
    for m in res["members"]:
        print(f"{m['path']:<{width}}  {m['model']:<16} accuracy {100 * m['accuracy']:6.2f}%  "
              f"loss {m['loss']:.4f}")
    if res["ensemble"] is not None:
        e = res["ensemble"]
        label = f"ensemble of {len(res['members'])}"
        print(f"{label:<{width}}  {'(mean softmax)':<16} accuracy {100 * e['accuracy']:6.2f}%  "
              f"loss {e['loss']:.4f}")
    return 0

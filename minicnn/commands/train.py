"""``minicnn train MODEL [--small] [--dataset digits] [options]``: the main job.

A thin layer over :func:`minicnn.train.train`: every option left out comes from the network's
recipe (:data:`minicnn.train.RECIPES`), so the bare ``minicnn train alexnet --small`` trains
to >= 95% test accuracy on the embedded digits.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "train a zoo network on digits, shapes, MNIST or CIFAR-10 (curves, checkpoints, resume)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", nargs="?",
        help="network name (see 'minicnn summary --list'); optional with --resume",
    )
    parser.add_argument("--small", action="store_true",
                        help="the small version of the network (32x32 inputs, narrow layers)")
    parser.add_argument("--dataset", default="digits",
                        help="digits (default, embedded), shapes[:n=,classes=,size=,seed=], "
                             "mnist:DIR or cifar10:DIR")
    g = parser.add_argument_group("training (defaults: the network's recipe)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float, help="initial learning rate")
    g.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    g.add_argument("--momentum", type=float, help="SGD momentum")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--schedule", choices=("plateau", "step", "cosine", "none"),
                   help="learning-rate schedule (recipes use plateau: /10 when validation "
                        "loss stops improving)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crops (and flips where the classes allow them)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="output directory (default runs/<model>-<time>)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the run in DIR from its last.npz (--epochs may extend it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Train (or resume); 0 on success, 1 on a non-finite loss, 2 on bad arguments, 130 when
    interrupted (after saving last.npz)."""
    from minicnn import train as T

    progress = not args.no_progress
    try:
        if args.resume:
            result = T.resume(args.resume, progress=progress, device=args.device,
                              epochs=args.epochs)
        else:
            if not args.model:
                print("minicnn train: give a MODEL name, or --resume DIR", file=sys.stderr)
                return 2
            from minicnn import models

            names = list(models.names())
            if args.model not in names:
                print(f"minicnn train: unknown model {args.model!r}; choose one of "
                      f"{', '.join(names)}", file=sys.stderr)
                return 2
            cfg = T.TrainConfig(
                model=args.model, small=args.small, dataset=args.dataset, epochs=args.epochs,
                batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                momentum=args.momentum, weight_decay=args.weight_decay,
                schedule=args.schedule, augment=args.augment, device=args.device,
                seed=args.seed, out=args.out, progress=progress,
            )
            result = T.train(cfg)
    except T.NonFiniteLossError as e:
        print(f"minicnn train: {e}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"minicnn train: {e}", file=sys.stderr)
        return 2
    out = result.out_dir or "."
    if result.interrupted:
        print(f"resume with: minicnn train --resume {out}")
        return 130
    best = f" (best validation at epoch {result.best_epoch})" if result.best_epoch else ""
    print(f"checkpoints: {os.path.join(out, 'best.npz')}{best}, {os.path.join(out, 'last.npz')}")
    print(f"curves: {os.path.join(out, 'curves.png')}   metrics: "
          f"{os.path.join(out, 'metrics.json')}")
    return 0

"""``minicnn summary NAME``: a network's layers, parameters, MACs, receptive fields and memory.

``minicnn summary vgg16``, ``minicnn summary googlenet --small --input 1,32,32 --json``,
``minicnn summary inception-naive``; ``minicnn summary --seed-facts`` prints the README table
that checks the seed notes' numbers against measurements.
"""

from __future__ import annotations

import argparse
import sys

HELP = "show a network's layers, parameters, MACs, receptive fields and memory"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="a network (see --list), 'inception-naive' or "
                        "'inception-reduced'")
    parser.add_argument("--small", action="store_true", help="the small version (32x32 inputs)")
    parser.add_argument("--input", metavar="C,H,W", help="input shape (default: the network's)")
    parser.add_argument("--in-channels", type=int, default=None,
                        help="input channels of the network (default 3)")
    parser.add_argument("--num-classes", type=int, default=None, help="output classes")
    parser.add_argument("--eval", action="store_true",
                        help="summarise the eval-mode network (GoogLeNet without its "
                        "auxiliary heads); the default is one training-mode pass")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="images in the measured pass (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--list", action="store_true", help="list the network names")
    parser.add_argument("--seed-facts", action="store_true",
                        help="print the Markdown table of the seed notes' facts against "
                        "measurements (runs the full-size networks: about half a minute)")


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"--input must be C,H,W with three positive ints, got {text!r}")
    return shape  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    from minicnn import models
    from minicnn.summary import seed_facts_table, summary

    if args.list:
        print("\n".join(models.names() + ["inception-naive", "inception-reduced"]))
        return 0
    if args.seed_facts:
        print(seed_facts_table())
        return 0
    if not args.name:
        print("minicnn summary: give a NAME (or --list, --seed-facts)", file=sys.stderr)
        return 2
    kw = {}
    if args.in_channels is not None:
        kw["in_channels"] = args.in_channels
    if args.num_classes is not None:
        kw["num_classes"] = args.num_classes
    try:
        model = models.get(args.name, small=args.small, **kw)
        if args.input:
            shape = _parse_shape(args.input)
        else:
            shape = models.input_shape(args.name, args.small, args.in_channels or 3)
        s = summary(model, shape, args.name + (" (small)" if args.small else ""),
                    batch_size=args.batch_size, training=not args.eval)
    except ValueError as e:
        print(f"minicnn summary: {e}", file=sys.stderr)
        return 2
    print(s.to_json(indent=None) if args.json else s)
    return 0

"""``minicnn bench conv``: conv, pooling and LRN kernels against the machine and PyTorch."""

from __future__ import annotations

import argparse

HELP = "benchmarks: 'minicnn bench conv' times the conv/pool/LRN kernels (see --help)"


def configure(parser: argparse.ArgumentParser) -> None:
    from minicnn.bench.run import add_arguments

    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    p = sub.add_parser(
        "conv",
        help="conv layers of the case-study networks, pooling, LRN, compile time, ResNet-20",
        description=(
            "Time conv2d forward and forward+backward on the layer shapes of AlexNet, VGG-16, "
            "GoogLeNet, ResNet-50 and their 32x32 versions for each kernel set, as GFLOP/s, "
            "% of the float32 GEMM peak measured in the same run and x PyTorch's time; "
            "pooling and LRN against the copy bandwidth; Numba compile time; a ResNet-20 "
            "training step. Prints tables and writes JSON under benchmarks/results/."
        ),
    )
    add_arguments(p)
    parser.set_defaults(_bench_parser=parser)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "benchmark", None) != "conv":
        args._bench_parser.print_help()
        return 2
    from minicnn.bench.run import run as run_conv

    return run_conv(args)

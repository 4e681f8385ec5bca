"""The ``minicnn`` command line: ``minicnn train | evaluate | gradcheck | summary | bench | demo``.

Each subcommand lives in ``minicnn/commands/<name>.py`` and is imported only when it runs, so
``minicnn --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = ("train", "evaluate", "gradcheck", "summary", "bench", "demo")


def _available() -> list[str]:
    out = []
    for name in COMMANDS:
        if importlib.util.find_spec(f"minicnn.commands.{name}") is not None:
            out.append(name)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minicnn",
        description="minicnn: CNNs from scratch on NumPy, Numba and CuPy.",
    )
    from minicnn import __version__

    parser.add_argument("--version", action="version", version=f"minicnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _available():
        mod = importlib.import_module(f"minicnn.commands.{name}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``minicnn`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

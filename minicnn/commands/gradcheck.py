"""``minicnn gradcheck NAME --small``: check a whole network's backward against central
differences in float64 (see :mod:`minicnn.netcheck`); ``minicnn gradcheck all --small``
checks every network of the zoo. Exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import sys
import time

HELP = "check a whole network's gradients against finite differences (float64)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a network of the zoo, or 'all'")
    parser.add_argument("--small", action="store_true",
                        help="the small version, on 32x32 inputs (full-size networks take "
                        "minutes to hours in float64)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initialisation, inputs, masks and samples")
    parser.add_argument("--elements", type=int, default=3,
                        help="elements checked per parameter tensor (default 3)")
    parser.add_argument("--batch-size", type=int, default=2, help="images (default 2)")
    parser.add_argument("--eps", type=float, default=1e-5, help="finite-difference step")
    parser.add_argument("--rtol", type=float, default=1e-4,
                        help="largest relative error that passes (default 1e-4)")
    parser.add_argument("--in-channels", type=int, default=3, help="input channels")
    parser.add_argument("--kernels", choices=("numpy", "numba"), default="numpy",
                        help="CPU kernel set (default numpy, the reference: at these sizes, "
                        "two images in float64, it is also the fastest)")
    parser.add_argument("--quiet", action="store_true",
                        help="print one line per network instead of its table")


def run(args: argparse.Namespace) -> int:
    from minicnn import backend, models

    names = models.names() if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in models.names():
        print(f"minicnn gradcheck: unknown network {args.name!r}; known: "
              f"{', '.join(models.names())}, or 'all'", file=sys.stderr)
        return 2
    with backend.use_kernels(args.kernels):
        return _run(args, names)


def _run(args: argparse.Namespace, names: list[str]) -> int:
    import minicnn
    from minicnn import models
    from minicnn.netcheck import KinkError, check_network

    print(f"whole-network gradient checks in float64 with the {args.kernels} kernels, "
          f"seed {args.seed}, {args.elements} elements per tensor", flush=True)
    t0 = time.perf_counter()
    rows = []
    failed = 0
    for name in names:
        minicnn.manual_seed(args.seed)
        model = models.get(name, small=args.small, in_channels=args.in_channels)
        shape = models.input_shape(name, args.small, args.in_channels)
        label = name + (" (small)" if args.small else "")
        try:
            result = check_network(model, shape, seed=args.seed, batch_size=args.batch_size,
                                   elements=args.elements, eps=args.eps, rtol=args.rtol,
                                   name=label)
        except KinkError as e:
            print(f"{label}: {e}", flush=True)
            rows.append((label, "-", "-", "-", "-", "KINKS"))
            failed += 1
            continue
        if args.quiet:
            print(str(result).splitlines()[-1], flush=True)
        else:
            print(result, end="\n\n", flush=True)
        failed += not result.passed
        rows.append((label, str(len(result.tensors)),
                     str(sum(t.elements for t in result.tensors)),
                     f"{result.max_rel_error:.1e}", f"{result.seconds:.1f}s",
                     "ok" if result.passed else "FAIL"))
    if len(names) > 1:
        head = ("network", "tensors", "elements", "max rel error", "time", "")
        table = [head] + rows
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for k, r in enumerate(table):
            print("  ".join(c.rjust(w) if 0 < i < 5 else c.ljust(w)
                            for i, (c, w) in enumerate(zip(r, widths))).rstrip())
            if k == 0:
                print("  ".join("-" * w for w in widths))
        print(f"{len(names) - failed} of {len(names)} networks passed in "
              f"{time.perf_counter() - t0:.0f}s")
    return 1 if failed else 0

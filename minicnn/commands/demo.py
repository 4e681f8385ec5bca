"""``minicnn demo``: build a small CNN and train it a few steps on generated data.

A one-minute tour of the engine that needs no dataset: the loss printed every few steps
falls as SGD with momentum fits a synthetic task (which quadrant of the image is bright).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

HELP = "train a small CNN a few steps on generated data and print the falling loss"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=100, help="SGD steps (default 100)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def make_batch(rng: np.random.Generator, n: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 3-channel images whose label is the quadrant holding a bright square."""
    x = rng.normal(0.0, 0.5, size=(n, 3, size, size)).astype(np.float32)
    y = rng.integers(0, 4, size=n)
    h = size // 2
    for i, q in enumerate(y):
        r0, c0 = (q // 2) * h, (q % 2) * h
        x[i, :, r0 + 2 : r0 + h - 2, c0 + 2 : c0 + h - 2] += 2.0
    return x, y


def build_model(num_classes: int = 4):  # noqa: ANN201 - returns an nn.Sequential
    """conv-relu-pool-LRN-conv-BN-relu-global pool-linear."""
    from minicnn import nn

    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0),
        nn.Conv2d(8, 16, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


def run(args: argparse.Namespace) -> int:
    import minicnn
    import minicnn.functional as F
    from minicnn import optim

    if args.steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {args.steps}")
    minicnn.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_model()
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    print(f"minicnn demo: {sum(p.numel() for p in model.parameters())} parameters, "
          f"CPU kernels: {minicnn.get_kernels()}")
    print(model)
    t0 = time.perf_counter()
    running = None
    for step in range(1, args.steps + 1):
        xb, yb = make_batch(rng, args.batch_size)
        loss = F.cross_entropy(model(minicnn.Tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running = loss.item() if running is None else 0.8 * running + 0.2 * loss.item()
        if step == 1 or step % 10 == 0 or step == args.steps:
            print(f"step {step:4d}  loss {loss.item():.4f}  (smoothed {running:.4f})")
    model.eval()
    xt, yt = make_batch(rng, 256)
    with minicnn.no_grad():
        acc = float((model(minicnn.Tensor(xt)).numpy().argmax(1) == yt).mean())
    print(f"held-out accuracy {acc:.3f} after {args.steps} steps "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0

"""Timing: medians of interleaved rounds after warm-up, with a pause between implementations.

Implementations are timed round by round (A B C, then B C A, ...) so that a noisy phase of
the machine hits all of them; before each implementation the timer sleeps ``pause`` seconds
so that the worker threads of the one before stop spinning (shared/PERF-NOTES.md: a 2-thread
Numba kernel right after a numpy matmul ran 30-90% slower). The pause is short (5 ms by
default): OpenBLAS spins 25 us after a GEMM once minicnn has set OPENBLAS_THREAD_TIMEOUT, GNU
OpenMP's threads about a millisecond, while a longer idle makes the next call a cold start on
this 2-core VM (halted vCPUs, cold caches). Measured here: a 1x1 conv forward+backward taking
8.6 ms back to back took 10.7 ms after 50 ms idle and 25 ms after 250 ms; a 5x5 conv forward
2.5 ms after 5 ms idle, 11.7 ms after 20 ms; Numba's im2col alone 0.5 ms after 5 ms, 7.2 ms
after 20 ms.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence


@dataclasses.dataclass
class Timed:
    """One implementation's calls, timed back to back: ``{label: fn}`` (e.g. fwd, fwdbwd).

    ``sync()``, when given, waits for the device (GPU) before a clock is read.
    """

    name: str
    fns: dict[str, Callable[[], object]]
    sync: Callable[[], object] | None = None

    def once(self) -> dict[str, float]:
        out = {}
        for label, fn in self.fns.items():
            t0 = time.perf_counter()
            fn()
            if self.sync is not None:
                self.sync()
            out[label] = time.perf_counter() - t0
        return out


def interleaved(
    items: Sequence[Timed], repeats: int, pause: float, warmup: int = 1
) -> dict[str, dict[str, list[float]]]:
    """Seconds per call ``{name: {label: [...]}}``: ``warmup`` untimed rounds, then ``repeats``.

    Round r runs the items rotated by r places, so none is always the first after a pause.
    """
    times: dict[str, dict[str, list[float]]] = {t.name: {k: [] for k in t.fns} for t in items}
    order = list(items)
    for r in range(-warmup, repeats):
        k = r % len(order) if order else 0
        for t in order[k:] + order[:k]:
            if pause > 0:
                time.sleep(pause)
            got = t.once()
            if r >= 0:
                for label, dt in got.items():
                    times[t.name][label].append(dt)
    return times


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def repeat_times(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call of ``fn`` alone: ``warmup`` untimed calls, then ``repeats`` timed."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def geomean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if x == x and x > 0]
    return statistics.geometric_mean(xs) if xs else float("nan")

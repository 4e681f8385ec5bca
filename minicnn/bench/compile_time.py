"""First-call cost of the Numba kernels, measured in fresh Python processes.

Run 1 (cold cache): a new process with an empty ``NUMBA_CACHE_DIR`` imports minicnn and runs
each op's forward+backward twice; the first call compiles, so first minus second is the
compile time. Run 2 (warm cache): another new process with the same cache directory does the
same; its import plus first conv is what a user waits for once the kernels are cached on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The script a fresh process runs: prints one JSON line.
_PROBE = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import minicnn
from minicnn import backend
from minicnn import functional as F
out = {"import_s": time.perf_counter() - t0, "kernels": backend.get_kernels(), "ops": {}}
rng = np.random.default_rng(0)

def leaf(shape):
    return minicnn.Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)

x = leaf((2, 8, 16, 16))
w = leaf((8, 8, 3, 3))
b = leaf((8,))
ops = {
    "conv2d": lambda: F.conv2d(x, w, b, 1, 1),
    "max_pool2d": lambda: F.max_pool2d(x, 3, 2),
    "avg_pool2d": lambda: F.avg_pool2d(x, 3, 2, 1),
    "local_response_norm": lambda: F.local_response_norm(x, 5),
}
for name, op in ops.items():
    t = []
    try:
        for _ in range(2):
            t1 = time.perf_counter()
            y = op()
            y.backward(np.ones(y.shape, dtype=np.float32))
            t.append(time.perf_counter() - t1)
        out["ops"][name] = {"first_s": t[0], "second_s": t[1]}
    except Exception as e:
        out["ops"][name] = {"error": f"{type(e).__name__}: {e}"}
    if name == "conv2d":
        out["import_and_first_conv_s"] = time.perf_counter() - t0
print("MINICNN_PROBE " + json.dumps(out))
"""


def _repo_root() -> Path:
    """The folder holding the ``minicnn`` and ``kernels`` packages."""
    return Path(__file__).resolve().parents[2]


def _probe(env: dict[str, str], timeout: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
        timeout=timeout, cwd=str(_repo_root()),
    )
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("MINICNN_PROBE "):
            out = json.loads(line[len("MINICNN_PROBE "):])
            out["process_wall_s"] = wall
            return out
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"probe exited {proc.returncode}: " + " | ".join(tail),
            "process_wall_s": wall}


def measure(threads: int, timeout: float = 600.0) -> dict[str, Any]:
    """Cold-cache and warm-cache probes of the numba kernel set (see the module docstring)."""
    root = str(_repo_root())
    with tempfile.TemporaryDirectory(prefix="minicnn-numba-cache-") as cache:
        env = dict(os.environ)
        env.update(
            NUMBA_CACHE_DIR=cache,
            MINICNN_KERNELS="numba",
            NUMBA_NUM_THREADS=str(threads),
            PYTHONPATH=os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p),
        )
        cold = _probe(env, timeout)
        warm = _probe(env, timeout)
    result: dict[str, Any] = {"cold_cache": cold, "warm_cache": warm}
    for op in cold.get("ops", {}).values():
        if "first_s" in op:
            op["compile_s"] = max(0.0, op["first_s"] - op["second_s"])
    compiled = [op.get("compile_s", 0.0) for op in cold.get("ops", {}).values()]
    result["total_compile_s"] = sum(compiled) if compiled else None
    return result

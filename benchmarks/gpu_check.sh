#!/usr/bin/env bash
# The one script for a machine with an NVIDIA GPU: what the device check of the CuPy path
# runs, in order, writing every result as a file under $OUT (default benchmarks/results/gpu):
#   device.txt          the card, driver and library versions
#   resource-usage.txt  nvcc's register/spill/shared-memory report of every kernel, sm_90
#   pytest-gpu.txt      pytest -m gpu (every GPU-marked test, tests/test_gpu.py above all)
#   bench-gpu.txt/json  kernels/cuda/bench_gpu.py: im2col+cuBLAS, implicit GEMM, pooling, LRN
#                       against cuDNN/PyTorch on the same card, case-study shapes, batch 64-256
#   bench-conv.txt/json benchmarks/bench_conv.py --device cuda (the project's conv benchmark)
# Each step has its own time limit, so one that hangs cannot eat the others' time.
# Usage: bash benchmarks/gpu_check.sh            (at most about 6 minutes)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
T0=$SECONDS
step() { echo "== [$((SECONDS - T0)) s] $*"; }

step "device"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -2
  "$PY" - <<'PY' 2>&1
import cupy, numpy, sys
print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__)
p = cupy.cuda.runtime.getDeviceProperties(0)
print("device", p["name"].decode(), "sm", f"{p['major']}.{p['minor']}",
      "SMs", p["multiProcessorCount"], "runtime", cupy.cuda.runtime.runtimeGetVersion())
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda,
          "cudnn", torch.backends.cudnn.version(), "available", torch.cuda.is_available())
except Exception as e:
    print("torch missing:", e)
PY
} | tee "$OUT/device.txt"

step "nvcc resource usage, sm_90"
for f in kernels/cuda/*.cu; do
  echo "== $f"
  nvcc -cubin -arch=sm_90 -std=c++17 --Werror all-warnings --resource-usage \
    -o /tmp/minicnn-check.cubin "$f" 2>&1 | sed 's/^ptxas info    : //'
done > "$OUT/resource-usage.txt" 2>&1
grep -c "Compiling entry function" "$OUT/resource-usage.txt" | sed 's/^/kernels compiled: /'
grep -h "spill stores" "$OUT/resource-usage.txt" | sort | uniq -c

step "pytest -m gpu"
timeout "${PYTEST_LIMIT:-150}" "$PY" -m pytest -m gpu -q -p no:cacheprovider -rs \
  2>&1 | tee "$OUT/pytest-gpu.txt" | tail -25

step "kernels/cuda/bench_gpu.py"
timeout "${BENCH_LIMIT:-110}" "$PY" -m kernels.cuda.bench_gpu --out "$OUT" \
  --budget "${BENCH_BUDGET:-80}" 2>&1 | tee "$OUT/bench-gpu.txt"

if [ -f benchmarks/bench_conv.py ]; then
  step "benchmarks/bench_conv.py --device cuda"
  timeout "${CONV_LIMIT:-60}" "$PY" benchmarks/bench_conv.py --device cuda --batch 128 \
    --repeats 5 --pause 0 --sections conv,pool --out "$OUT/bench-conv.json" \
    2>&1 | tee "$OUT/bench-conv.txt" | tail -40
fi
step "done"
ls -l "$OUT"

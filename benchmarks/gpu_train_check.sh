#!/usr/bin/env bash
# Device check of `minicnn train --device cuda` (issue 5): the GPU-marked training tests, a
# short AlexNet run on the GPU, a resume of it, and an ensemble evaluation; outputs to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu-train}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1
  "$PY" -c "import cupy; print('cupy', cupy.__version__)" 2>&1
  echo "== pytest -m gpu tests/test_train.py"
  timeout 150 "$PY" -m pytest -q -m gpu tests/test_train.py -p no:cacheprovider 2>&1 | tail -15
  echo "== minicnn train alexnet --small --device cuda --epochs 3"
  timeout 150 "$PY" -m minicnn train alexnet --small --device cuda --epochs 3 --no-progress \
    --out "$OUT/run" 2>&1 | tail -12
  echo "== resume to epoch 4"
  timeout 60 "$PY" -m minicnn train --resume "$OUT/run" --epochs 4 --device cuda --no-progress \
    2>&1 | tail -6
  echo "== evaluate best + last as an ensemble, on the GPU"
  timeout 60 "$PY" -m minicnn evaluate "$OUT/run/best.npz" "$OUT/run/last.npz" --device cuda 2>&1
} 2>&1 | tee "$OUT/gpu-train.txt"
rm -f "$OUT/run/best.npz" "$OUT/run/last.npz"

#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, CuPy, PyTorch (CUDA) and pytest installed:
# runs every test parametrized on the 'cuda' device, then the GPU benchmarks against PyTorch CUDA.
# Usage: bash scripts/gpu_check.sh [OUTDIR]   (logs and a JSON of the benchmark rows go to OUTDIR)
# 1,468 tests take the cuda device (2026-11-27; 285 on 2026-11-26): on an H200 with 12 workers they
# took 56-68 s, CuPy compiling its kernels; the benchmarks take about 25 s more.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUTDIR=${1:-${OUT:-gpu-results}}
mkdir -p "$OUTDIR"
python3 - <<'PY' 2>&1 | tee "$OUTDIR/gpu-info.txt"
import cupy, numpy, nerve
print("cuda available:", nerve.cuda.is_available(), "|", nerve.cuda.get_device_name(), "| cupy", cupy.__version__, "| numpy", numpy.__version__)
PY
timeout 380 python3 -m pytest -q -n "${GPU_TEST_WORKERS:-12}" --tb=short -rfE -p no:cacheprovider -k "cuda" tests/ 2>&1 | tee "$OUTDIR/gpu-tests.log" | tail -25
NERVE_BENCH_DEVICE=cuda timeout 100 python3 -m nerve.bench --only engine cnn --json "$OUTDIR/gpu-bench.json" 2>&1 | tee "$OUTDIR/gpu-bench.log" | tail -15

#!/usr/bin/env bash
# One short GPU check for one H100/H200 (well under 10 minutes): installs what it needs, then runs
# benchmarks/gpu_check.py (critic per-pair vs shared prefix with sdpa / flash-attention 2, vLLM, generation
# tokens/s, the OOM back-off once, bf16 agreement, GPU-hours for InfoSeek val) and, when present,
# benchmarks/gpu_faiss_check.py.
#
#   benchmarks/gpu_check.sh              # on the GPU machine, from the repository root
#   benchmarks/gpu_check.sh --cpu-smoke  # the same path on CPU with tiny sizes (no installs)
#
# PYTHON (default: python3) is the interpreter; the harness is installed into it unless it imports already.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
SMOKE=""
if [[ "${1:-}" == "--cpu-smoke" ]]; then SMOKE="--cpu-smoke"; fi
status=0

if [[ -z "$SMOKE" ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi: not found"
  if ! "$PY" -c "import reag_harness, torch, transformers" 2>/dev/null; then
    echo "== installing the harness (pip install -e .[all])"
    timeout 420 "$PY" -m pip install -q -e ".[all]" || { echo "install failed"; exit 1; }
  fi
  if ! "$PY" -c "import flash_attn" 2>/dev/null; then
    echo "== trying flash-attn (prebuilt wheels only, 120 s at most)"
    timeout 120 "$PY" -m pip install -q --only-binary=:all: flash-attn || echo "flash-attn: not installed"
  fi
  if ! "$PY" -c "import vllm" 2>/dev/null && [[ "${REAG_GPU_CHECK_VLLM:-1}" == "1" ]]; then
    # vLLM pins its own torch: installed last, and the check stops here if that broke the environment
    echo "== trying vllm (180 s at most; REAG_GPU_CHECK_VLLM=0 skips)"
    timeout 180 "$PY" -m pip install -q vllm || echo "vllm: not installed"
    "$PY" -c "import reag_harness.models.qwen_vl, transformers, torch" || { echo "vllm broke the environment"; exit 1; }
  fi
fi

timeout 900 "$PY" benchmarks/gpu_check.py $SMOKE || status=$?
if [[ -f benchmarks/gpu_faiss_check.py ]]; then
  echo "== benchmarks/gpu_faiss_check.py $SMOKE"
  timeout 300 "$PY" benchmarks/gpu_faiss_check.py $SMOKE || status=$?
fi
if [[ $status -ne 0 ]]; then echo "gpu_check.sh: FAILED (exit $status)"; else echo "gpu_check.sh: done"; fi
exit $status

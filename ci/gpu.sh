#!/usr/bin/env bash
# Run the whole suite on a machine with a CUDA GPU: CuPy and JAX on CUDA (and PyTorch's CUDA
# build, which pip picks on Linux) besides the CPU backends, then write a Markdown summary
# (gpu-report.md) to paste into docs/gpu.md.
# Usage: bash ci/gpu.sh [cuda12|cuda13] [extra pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cuda="${1:-cuda12}"; shift || true

venv="${PML_VENV:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
pip install -q -r backends/torch/requirements.txt -e ".[test,cupy-$cuda]" "jax[$cuda]"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
export JAX_PLATFORMS="cuda,cpu"
# Several pytest workers share the GPU: JAX must not grab 75% of its memory per process.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
portable-ml info

# Fail loudly when the GPU libraries do not work: otherwise their tests would only skip.
python - <<'EOF'
import jax, cupy, torch
assert cupy.cuda.is_available(), "CuPy sees no working CUDA device"
assert jax.devices("gpu"), "JAX sees no GPU"
print(f"CuPy GPUs: {cupy.cuda.runtime.getDeviceCount()}, JAX GPUs: {len(jax.devices('gpu'))}, "
      f"torch CUDA: {torch.cuda.is_available()}")
EOF

status=0
python -m pytest -n 4 -q -rs "$@" | tee gpu-test.log || status=$?
echo "--- summary"
tail -n 3 gpu-test.log

{
  echo "## GPU run, $(date -u +%Y-%m-%d)"
  echo
  echo '```text'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python -c "import cupy, jax, torch; print('cupy', cupy.__version__, '| jax', jax.__version__, '| torch', torch.__version__)"
  tail -n 1 gpu-test.log
  echo '```'
  echo
  echo "CuPy / CUDA-specific tests (DLPack zero-copy, results kept on GPU 1):"
  echo
  echo '```text'
  python -m pytest -q -rs tests/test_embedding_cupy.py 2>&1 | tail -n 15
  echo '```'
} > gpu-report.md
echo "wrote gpu-report.md"

# The benchmark suite's quick set on the GPU backends (GB/s of the elementwise formulas, ratios).
portable-ml bench --quick --backends cupy,jax,numpy --dtype float32 --markdown gpu-bench.md || status=$?
echo "wrote gpu-bench.md"
exit "$status"

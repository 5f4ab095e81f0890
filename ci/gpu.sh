#!/usr/bin/env bash
# Run the whole suite on a machine with a CUDA GPU: CuPy and JAX on CUDA besides the CPU backends.
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
portable-ml info
python -m pytest -n 4 -q -rs "$@" | tee gpu-test.log
echo "--- summary"
tail -n 3 gpu-test.log

#!/usr/bin/env bash
# Run the test suite on a machine with a CUDA GPU: CuPy and JAX on CUDA (and PyTorch's CUDA
# build) besides the CPU backends, measure the device's copy bandwidth, run the benchmark
# suite's quick set on the GPU backends, and write a Markdown summary to paste into docs/gpu.md.
#
# Usage: bash ci/gpu.sh [--no-venv] [cuda12|cuda13] [extra pytest arguments]
#   --no-venv   use the python3 on PATH as it is (a machine image that already holds CuPy,
#               JAX with its CUDA plugin and torch) instead of installing into a new venv
# Environment:
#   PML_GPU_OUT      folder for the logs and reports (default: the repository root)
#   PML_GPU_WORKERS  pytest-xdist workers (default 4; each holds its own CUDA contexts)
#   PML_GPU_TIERS    "default", "slow" or "default slow" (default: "default slow")
#   PML_GPU_TIMEOUT  seconds allowed per test tier (default 3600)
#   PML_GPU_BENCH    0 to leave out the benchmark quick set (default 1)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=1
if [[ "${1:-}" == "--no-venv" ]]; then venv=0; shift; fi
cuda="${1:-cuda12}"; shift || true
out="${PML_GPU_OUT:-.}"; mkdir -p "$out"
workers="${PML_GPU_WORKERS:-4}"
tiers="${PML_GPU_TIERS:-default slow}"
tier_timeout="${PML_GPU_TIMEOUT:-3600}"

if (( venv )); then
  set -e
  dir="${PML_VENV:-$(mktemp -d)/venv}"
  python3 -m venv "$dir"
  # shellcheck disable=SC1091
  . "$dir/bin/activate"
  pip install -q -r backends/torch/requirements.txt -e ".[test,cupy-$cuda]" "jax[$cuda]"
  set +e
fi

export JAX_PLATFORMS="cuda,cpu"
# Several pytest workers share the GPU: JAX must not take 75% of its memory per process.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu-info.txt"
python3 -m portable_ml info | tee -a "$out/gpu-info.txt"

# Fail loudly when the GPU libraries do not work: otherwise their tests would only skip.
# Then measure the device-to-device copy bandwidth, the ceiling of every elementwise formula.
python3 - <<'EOF' 2>&1 | tee -a "$out/gpu-info.txt" || exit 1
import cupy, jax, torch
assert cupy.cuda.is_available(), "CuPy sees no working CUDA device"
assert jax.devices("gpu"), "JAX sees no GPU"
print(f"cupy {cupy.__version__}, jax {jax.__version__}, torch {torch.__version__}; "
      f"CuPy GPUs: {cupy.cuda.runtime.getDeviceCount()}, JAX GPUs: {len(jax.devices('gpu'))}, "
      f"torch CUDA: {torch.cuda.is_available()}")
n = 1 << 28  # 1 GiB of float32
a = cupy.ones(n, dtype=cupy.float32)
b = cupy.empty_like(a)
for _ in range(3):
    b[...] = a
start, stop = cupy.cuda.Event(), cupy.cuda.Event()
start.record()
for _ in range(20):
    b[...] = a
stop.record(); stop.synchronize()
seconds = cupy.cuda.get_elapsed_time(start, stop) / 1e3 / 20
print(f"copy bandwidth (CuPy, 1 GiB float32, read + write): {2 * a.nbytes / seconds / 1e9:.0f} GB/s")
EOF

# Achieved GB/s of elementwise formulas at 128 Mi float32 elements, against a plain copy.
python3 ci/gpu_bandwidth.py cupy jax 2>&1 | tee "$out/gpu-bandwidth.txt"

status=0
# Failures go to a file as they happen, so a run cut off by its time limit still tells.
export PYTHONPATH="$PWD/ci${PYTHONPATH:+:$PYTHONPATH}" PML_FAILURES_FILE="$out/gpu-failures.txt"
for tier in $tiers; do
  marker=(); [[ "$tier" == slow ]] && marker=(-m slow)
  timeout -k 20 "$tier_timeout" python3 -m pytest -p no:cacheprovider -p stream_failures -n "$workers" -q -rfEs \
      "${marker[@]}" --junitxml="$out/gpu-junit-$tier.xml" "$@" 2>&1 | tee "$out/gpu-test-$tier.log"
  rc=${PIPESTATUS[0]}; (( rc )) && status=$rc
  echo "--- $tier tier: exit $rc"
done

{
  echo "## GPU run, $(date -u +%Y-%m-%d)"
  echo
  echo '```text'
  cat "$out/gpu-info.txt" "$out/gpu-bandwidth.txt"
  for tier in $tiers; do echo "$tier tier: $(tail -n 1 "$out/gpu-test-$tier.log")"; done
  echo '```'
} > "$out/gpu-report.md"
echo "wrote $out/gpu-report.md"

# The benchmark suite's quick set on the GPU backends (GB/s of the elementwise formulas, ratios).
[[ "${PML_GPU_BENCH:-1}" == 0 ]] && exit "$status"
timeout -k 20 600 python3 -m benchmarks --quick --backends cupy,jax,numpy --dtype float32 \
    --markdown "$out/gpu-bench.md" || status=$?
echo "wrote $out/gpu-bench.md"
exit "$status"

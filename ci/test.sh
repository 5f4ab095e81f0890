#!/usr/bin/env bash
# Run the test suite exactly as the README says, in a fresh virtual environment.
# Usage: bash ci/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${PML_VENV:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
start=$(date +%s)

# The README's test command, plus torch (not in the test extra): on this project's
# machines pip finds a local wheel of the pinned CPU build first.
pip install -q -r backends/torch/requirements.txt -e ".[test]"
echo "installed in $(( $(date +%s) - start )) s"

portable-ml info
# pytest exits 5 when it collected no test: that is a failure here too.
# The README's default run, then the slow tier (transform modes, embedding,
# distributed Dask, docs and packaging).
python -m pytest -n auto "$@"
echo "default run finished in $(( $(date +%s) - start )) s"
python -m pytest -n auto -m slow "$@"
echo "test suite finished in $(( $(date +%s) - start )) s"

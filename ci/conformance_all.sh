#!/usr/bin/env bash
# Every conformance job in turn, then the merged matrix (what the GitHub workflow does in parallel).
# Usage: bash ci/conformance_all.sh [OUT_DIR]      -> OUT_DIR/matrix.md, OUT_DIR/matrix.json
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-ci-out}"
bash ci/setup.sh
export ZOO_SKIP_SETUP=1
backends=$(.venv/bin/python -c "import zoo; print(' '.join(zoo.registry.backend_names()))")
status=0
for backend in $backends; do
    bash ci/conformance.sh "$backend" "$out" || status=1
done
.venv/bin/python ci/matrix.py "$out"/*/ --markdown "$out/matrix.md" --json "$out/matrix.json"
exit "$status"

#!/usr/bin/env bash
# The whole conformance matrix (every model x every backend) with `zoo matrix`: a process pool on
# this machine by default, or a Ray cluster (`--executor ray [--address HOST:PORT]`).
# Usage: bash ci/conformance_all.sh [OUT_DIR] [zoo matrix options...]   -> OUT_DIR/matrix.md, OUT_DIR/matrix.json
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-ci-out}"
shift $(( $# < 1 ? $# : 1 ))
[ "${ZOO_SKIP_SETUP:-0}" = 1 ] || bash ci/setup.sh
VENV="${ZOO_VENV:-.venv}"
export ZOO_MIRROR="${ZOO_MIRROR:-$(cd .. && pwd)/shared/mirror}"
[ -d "$ZOO_MIRROR" ] || unset ZOO_MIRROR
mkdir -p "$out"
exec "$VENV/bin/zoo" matrix --require-backends --json "$out/matrix.json" --markdown "$out/matrix.md" "$@"

#!/usr/bin/env bash
# One conformance job: `zoo matrix` for one backend on every registered model.
# Writes <out>/<backend>/matrix.json and summary.md (the models x backends matrix of this backend).
# Usage: bash ci/conformance.sh BACKEND [OUT_DIR] [zoo matrix options...]   (OUT_DIR default: ci-out)
# Set ZOO_SKIP_SETUP=1 when ci/setup.sh already ran (as the GitHub workflow does).
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:?usage: ci/conformance.sh BACKEND [OUT_DIR] [zoo matrix options...]}"
out="${2:-ci-out}/$backend"
shift $(( $# < 2 ? $# : 2 ))
[ "${ZOO_SKIP_SETUP:-0}" = 1 ] || bash ci/setup.sh
VENV="${ZOO_VENV:-.venv}"
export ZOO_MIRROR="${ZOO_MIRROR:-$(cd .. && pwd)/shared/mirror}"
[ -d "$ZOO_MIRROR" ] || unset ZOO_MIRROR   # no mirror: artifacts come from their URLs (sha256-checked)
rm -rf "$out" && mkdir -p "$out"
status=0
# --require-backends: a job whose toolchain is missing fails, never skips
"$VENV/bin/zoo" matrix -b "$backend" --require-backends --json "$out/matrix.json" --markdown "$out/summary.md" \
    --title "Conformance: $backend" "$@" || status=$?
[ -f "$out/summary.md" ] && cat "$out/summary.md"
exit "$status"

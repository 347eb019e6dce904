#!/usr/bin/env bash
# One conformance job: the conformance suite for one backend, every registered model.
# Writes <out>/<backend>/junit.xml, one JSON result per model, and summary.md.
# Usage: bash ci/conformance.sh BACKEND [OUT_DIR]      (OUT_DIR default: ci-out)
# Set ZOO_SKIP_SETUP=1 when ci/setup.sh already ran (as the GitHub workflow does).
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:?usage: ci/conformance.sh BACKEND [OUT_DIR]}"
out="${2:-ci-out}/$backend"
[ "${ZOO_SKIP_SETUP:-0}" = 1 ] || bash ci/setup.sh
VENV="${ZOO_VENV:-.venv}"
export ZOO_MIRROR="${ZOO_MIRROR:-$(cd .. && pwd)/shared/mirror}"
export ZOO_REQUIRE_BACKENDS="${ZOO_REQUIRE_BACKENDS:-1}"  # a job whose toolchain is missing fails, never skips
[ -d "$ZOO_MIRROR" ] || unset ZOO_MIRROR   # no mirror: artifacts come from their URLs (sha256-checked)
rm -rf "$out" && mkdir -p "$out"
status=0
ZOO_CONFORMANCE_BACKENDS="$backend" ZOO_CONFORMANCE_REPORT_DIR="$out" ZOO_CONFORMANCE_GOLDEN_ONLY="" \
    "$VENV/bin/python" -m pytest tests/conformance -q -p no:cacheprovider --junitxml="$out/junit.xml" || status=$?
"$VENV/bin/python" ci/matrix.py "$out" --markdown "$out/summary.md" --title "Conformance: $backend"
cat "$out/summary.md"
exit "$status"

#!/usr/bin/env bash
# Set up (ci/setup.sh) and run the whole test suite, conformance of every backend included.
# Usage: bash ci/test.sh [pytest args...]      e.g. bash ci/test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
VENV="${ZOO_VENV:-.venv}"
export ZOO_MIRROR="${ZOO_MIRROR:-$(cd .. && pwd)/shared/mirror}"
export ZOO_REQUIRE_BACKENDS="${ZOO_REQUIRE_BACKENDS:-1}"  # every backend must run here: no silent skips
for model in $("$VENV/bin/zoo" list --json | "$VENV/bin/python" -c 'import json,sys; print(*(m["name"] for m in json.load(sys.stdin)))'); do                  # every committed Markdown card is fresh
    "$VENV/bin/zoo" card "$model" --check
done
"$VENV/bin/python" -m pytest -n "${ZOO_TEST_WORKERS:-auto}" --dist loadgroup "$@"

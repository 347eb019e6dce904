#!/usr/bin/env bash
# Set up (ci/setup.sh) and run the main job: the stmnist_v1 card, predictions on real digits
# (LiteRT and the Cortex-M7 firmware), and every backend through the conformance checks.
# Usage: bash ci/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
VENV="${ZOO_VENV:-.venv}"
export ZOO_MIRROR="${ZOO_MIRROR:-$(cd .. && pwd)/shared/mirror}"
ZOO="$VENV/bin/zoo"
"$ZOO" info stmnist_v1
"$ZOO" backends
demo="$(mktemp -d)"
"$VENV/bin/python" ci/make_demo_images.py "$demo"
"$ZOO" predict stmnist_v1 "$demo"/*.png --backend tflite --top-k 3
"$ZOO" predict stmnist_v1 "$demo"/*.png --backend tvm-cortexm7 --top-k 1
"$ZOO" validate stmnist_v1 --json "$demo/validation.json"

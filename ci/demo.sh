#!/usr/bin/env bash
# Set up (ci/setup.sh) and run the main job: the stmnist_v1 card, backends, and a prediction.
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

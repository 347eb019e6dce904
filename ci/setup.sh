#!/usr/bin/env bash
# Set up everything zoo needs on a fresh Debian 12 machine (idempotent, quick when done):
#   - Debian packages for the Cortex-M7 backend (cross compiler, newlib, QEMU), if missing;
#   - a virtual environment (.venv, or $ZOO_VENV) with zoo and every backend's pinned extra.
# Usage: bash ci/setup.sh        (then use .venv/bin/zoo, .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(gcc gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi qemu-system-arm)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VENV="${ZOO_VENV:-.venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
fi
echo "setup: installing zoo[all,test] into $VENV"
"$VENV/bin/python" -m pip install -q -e ".[all,test]"

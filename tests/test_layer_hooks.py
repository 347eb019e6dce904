"""The profile build's layer hook runs between two layers of the model's own code: its entry saves
only the core registers the AAPCS lets a call clobber, so its C part must not use a floating-point or
Helium register (tests/test_diff_device.py checks the figures; this checks the code on every core)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from zoo.backends.tvm_cortexm7 import firmware
from zoo.backends.tvm_cortexm7.targets import load_target, target_names

PKG = Path(firmware.__file__).parent


@pytest.mark.parametrize("target", target_names())
def test_profile_hook_uses_no_fpu_or_vector_register(target: str, tmp_path: Path) -> None:
    if shutil.which(firmware.GCC) is None:
        pytest.skip(f"{firmware.GCC} is not installed")
    spec = load_target(target)
    obj = tmp_path / "fw_layers.o"
    subprocess.run([firmware.GCC, *spec.cflags, *firmware.OPT_FLAGS, *firmware.harness_flags(spec),
                    "-DFW_LAYERS=2", f"-I{PKG}", "-c", str(PKG / "fw_layers.c"), "-o", str(obj)],
                   check=True, timeout=120, capture_output=True)
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True, timeout=60, capture_output=True,
                          text=True).stdout
    assert "<zoo_layer_tick>:" in text
    vector = [line for line in text.splitlines() if re.search(r"\tv[a-z0-9.]+\s", line)]
    assert not vector, f"{target}: the hook uses FP/vector registers: {vector[:5]}"

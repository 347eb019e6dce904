"""Issue 15, finding 3: an emulator never outlives zoo, however zoo ends (SIGTERM, SIGHUP, Ctrl-C, SIGKILL).

A real QEMU runs a real firmware that hangs (an endless loop built with arm-none-eabi-gcc), started
through zoo's own emulator target in a child Python process; the child is then signalled.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import default_signals, live_processes, wait_until

pytestmark = pytest.mark.emulator

HANG_C = """
void reset(void) { for (;;) { __asm__ volatile ("nop"); } }
__attribute__((section(".vectors"), used)) void (*const vectors[2])(void) = { (void (*)(void))0x20010000u, reset };
"""
HANG_LD = "SECTIONS { . = 0x0; .vectors : { KEEP(*(.vectors)) } .text : { *(.text*) } }"
CHILD = """
import sys, numpy as np
from zoo.backends.tvm_cortexm7.qemu import QemuRunner
from zoo.backends.tvm_cortexm7.records import RecordLayout
from zoo.backends.tvm_cortexm7.targets import load_target
QemuRunner(load_target("cortexm7"), timeout_s=600).run_batch(sys.argv[1], np.zeros((1, 4), np.uint8),
                                                             layout=RecordLayout(4))
"""


@pytest.fixture(scope="module")
def hung_firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    folder = tmp_path_factory.mktemp("hang")
    (folder / "hang.c").write_text(HANG_C)
    (folder / "hang.ld").write_text(HANG_LD)
    elf = folder / "hang.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-nostdlib", "-nostartfiles", "-T",
                    str(folder / "hang.ld"), str(folder / "hang.c"), "-o", str(elf)], check=True, timeout=120)
    return elf


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_signalled_zoo_leaves_no_emulator(hung_firmware: Path, tmp_path: Path, sig: signal.Signals) -> None:
    elf = tmp_path / f"hang-{sig.name}.elf"  # a unique command line to find this test's QEMU by
    shutil.copy(hung_firmware, elf)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(elf)], stderr=subprocess.PIPE, text=True,
                             preexec_fn=default_signals)
    try:
        assert wait_until(lambda: _emulators(elf), 60), "QEMU never started"
        os.kill(child.pid, sig)
        child.wait(timeout=60)
        assert wait_until(lambda: not _emulators(elf), 10), f"left running after {sig.name}: {_emulators(elf)}"
        if sig in (signal.SIGTERM, signal.SIGHUP):
            assert child.returncode == 128 + sig and "Traceback" not in child.stderr.read()
    finally:
        child.kill()
        child.wait()
        for line in _emulators(elf):  # only this test's own emulator, by its pid
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


def _emulators(elf: Path) -> list[str]:
    return [p for p in live_processes(str(elf)) if "qemu-system-arm" in p]


def test_tool_finishing_normally_leaves_nothing_behind(tmp_path: Path) -> None:
    from zoo.proc import run

    marker = str(tmp_path / "bg-marker")
    done = run(["sh", "-c", f"(sleep 600; echo {marker}) >/dev/null 2>&1 & echo started"], timeout=30)
    assert done.stdout.strip() == "started"
    assert wait_until(lambda: not live_processes(marker), 10), live_processes(marker)

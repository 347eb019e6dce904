"""The emulator :class:`~.device.DeviceRunner`: harness firmware under ``qemu-system-arm`` on the
machine the target's data names (``emulator.machine``), results read back.

The batch passes through semihosting host files (``input.bin`` in, ``output.bin`` out, record
layout in ``fw_main.c``), one emulator start per batch.

Counting: with ``-icount shift=N`` each instruction takes 2**N ns of virtual time and SysTick counts
at the machine's clock, so instructions = ticks x the target's ``instructions_per_tick`` (e.g. 40/64
on mps2-an500: 25 MHz SysTick, 64 ns per instruction). Each factor is checked by a calibration test
(tests/test_targets.py). These are instructions retired under emulation, never cycles.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from zoo.errors import ToolchainError
from zoo.proc import run as proc_run

from .device import DeviceRunner, Result
from .records import RecordLayout, parse_records
from .targets import TargetSpec

__all__ = ["QemuRunner", "ticks_to_instructions", "EXIT_CODES"]

QEMU = "qemu-system-arm"
EXIT_CODES = {2: "semihosting file I/O failed (input.bin/output.bin)",
              3: "the firmware faulted (HardFault/MemManage/BusFault/UsageFault handler ran)",
              4: "an unexpected interrupt or exception fired"}


def ticks_to_instructions(ticks: np.ndarray | int, target: TargetSpec) -> np.ndarray:
    """SysTick ticks under ``-icount`` -> instructions retired (ticks x the target's instructions per tick)."""
    factor = target.emulator.factor
    return (np.asarray(ticks, dtype=np.int64) * factor.numerator) // factor.denominator


class QemuRunner(DeviceRunner):
    """``qemu-system-arm -M <the target's machine>`` with semihosting and instruction counting.

    Args:
        target: the device target (its ``emulator`` section).
        timeout_s: limit for one emulator run; a hung firmware becomes a ToolchainError.
        per_image_s: added to the limit per image of the batch.
    """

    def __init__(self, target: TargetSpec, timeout_s: float = 60.0, per_image_s: float = 0.5) -> None:
        super().__init__(target)
        self.timeout_s = timeout_s
        self.per_image_s = per_image_s

    def describe(self) -> str:
        return f"QEMU {self.target.emulator.machine} ({self.target.core})"

    def command(self, elf: Path, count_instructions: bool = False) -> list[str]:
        """The emulator command line for an image.

        ``-icount`` (exact instruction counting) makes QEMU several times slower, so it is only
        used when counting; plain runs give the same outputs.
        """
        icount = ["-icount", f"shift={self.target.emulator.icount_shift}"] if count_instructions else []
        return [QEMU, "-M", self.target.emulator.machine, "-nographic", "-monitor", "none", "-serial", "none",
                "-semihosting-config", "enable=on,target=native", *icount, "-kernel", str(Path(elf).resolve())]

    def run_batch(self, elf: Path, images: np.ndarray, *, layout: RecordLayout,
                  count_instructions: bool = False, collect: tuple[str, ...] = ()) -> Result:
        """Run the firmware once on the whole batch (see :class:`~.device.DeviceRunner`).

        Args:
            elf: harness firmware built by :func:`~.firmware.build_firmware`.
            images: uint8 array (N, input_bytes): the packed inputs.
            layout: the payload sizes of a result record (library outputs and logits).
            count_instructions: run under ``-icount`` and report instructions per image.
            collect: further files (plain names) the firmware writes beside ``output.bin``, returned in
                ``Result.files`` (an instrumented build's ``layers.bin``).

        Returns:
            The per-image records.

        Raises:
            ToolchainError: QEMU is missing, hangs past the timeout, the firmware faults or
                exits with an error, or the output file is short or has a corrupt record.
        """
        if shutil.which(QEMU) is None:
            raise ToolchainError(f"{QEMU} is not on PATH; install it: apt-get install -y qemu-system-arm")
        images = np.ascontiguousarray(images, dtype=np.uint8)
        limit = self.timeout_s + self.per_image_s * len(images)
        with tempfile.TemporaryDirectory(prefix="zoo-qemu-") as tmp:
            work = Path(tmp)
            (work / "input.bin").write_bytes(images.tobytes())
            self._start(self.command(elf, count_instructions), elf, work, limit)
            raw = (work / "output.bin").read_bytes() if (work / "output.bin").exists() else b""
            files = {name: (work / name).read_bytes() if (work / name).is_file() else b"" for name in collect}
        rec = parse_records(raw, len(images), layout, elf)
        return Result(status=rec.status, outputs=rec.outputs, logits=rec.logits,
                      instructions=ticks_to_instructions(rec.ticks, self.target) if count_instructions else None,
                      stack_bytes=rec.stack_bytes, files=files)

    def _start(self, cmd: list[str], elf: Path, work: Path, limit: float) -> None:
        try:
            proc = proc_run(cmd, timeout=limit, cwd=work)
        except subprocess.TimeoutExpired:
            raise ToolchainError(f"firmware {elf} did not finish within {limit:g} s under QEMU and was stopped: "
                                 "it hangs (endless loop or waiting for an interrupt); raise timeout_s only if "
                                 "the batch is simply very large") from None
        if proc.returncode != 0:
            why = EXIT_CODES.get(proc.returncode, f"exit status {proc.returncode}")
            tail = (proc.stderr or proc.stdout).strip()[-500:]
            raise ToolchainError(f"firmware {elf} failed under QEMU: {why}.{(' QEMU said: ' + tail) if tail else ''}"
                                 f"\ncommand: {' '.join(cmd)}")

"""Run harness firmware on a target and read the results back: QEMU's mps2-an500 (Cortex-M7) now.

A :class:`Target` takes a firmware image and a batch of raw input tensors and returns one
:class:`Result` per image. The emulator implementation passes the batch through semihosting
host files (``input.bin`` in, ``output.bin`` out, record layout in ``fw_main.c``), one
emulator start per batch. A board target (flash + serial) can implement the same interface.

Counting: with ``-icount shift=6`` each instruction takes 64 ns of virtual time and SysTick
(clocked at 25 MHz, 40 ns) counts exactly, so instructions = ticks x 40 / 64. These are
instructions retired under emulation, never cycles.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ToolchainError
from zoo.proc import run as proc_run

from .records import RecordLayout, parse_records

__all__ = ["QemuTarget", "Result", "Target", "ticks_to_instructions", "EXIT_CODES"]

QEMU = "qemu-system-arm"
ICOUNT_SHIFT = 6
SYSTICK_NS = 40  # 25 MHz
EXIT_CODES = {2: "semihosting file I/O failed (input.bin/output.bin)",
              3: "the firmware faulted (HardFault/MemManage/BusFault/UsageFault handler ran)",
              4: "an unexpected interrupt or exception fired"}


def ticks_to_instructions(ticks: np.ndarray | int) -> np.ndarray | int:
    """SysTick ticks under ``-icount shift=6`` -> instructions retired (ticks x 40 / 64)."""
    return (np.asarray(ticks, dtype=np.int64) * SYSTICK_NS) // (1 << ICOUNT_SHIFT)


@dataclass(frozen=True)
class Result:
    """What the firmware reported for a batch, one row per image."""

    status: np.ndarray  # int32 (N,): 0 = the model ran
    outputs: np.ndarray  # uint8 (N, output_bytes): the packed outputs (library.unpack splits them)
    logits: np.ndarray | None  # int8 (N, logits count) where the library exposes them
    instructions: np.ndarray | None  # int64 (N,): instructions retired by one inference, when counted
    stack_bytes: np.ndarray  # int64 (N,): stack high-water mark of one inference


class Target(ABC):
    """Somewhere harness firmware runs: an emulator now, a board later."""

    @abstractmethod
    def run_batch(self, elf: Path, images: np.ndarray, *, layout: RecordLayout,
                  count_instructions: bool = False) -> Result:
        """Run the firmware on every packed input (shape (N, input_bytes), uint8) and return its records.

        Raises:
            ToolchainError: the target failed, hung or faulted.
        """


class QemuTarget(Target):
    """``qemu-system-arm -M mps2-an500`` with semihosting and instruction counting.

    Args:
        timeout_s: limit for one emulator run; a hung firmware becomes a ToolchainError.
        per_image_s: added to the limit per image of the batch.
    """

    def __init__(self, timeout_s: float = 60.0, per_image_s: float = 0.5) -> None:
        self.timeout_s = timeout_s
        self.per_image_s = per_image_s

    def command(self, elf: Path, count_instructions: bool = False) -> list[str]:
        """The emulator command line for an image.

        ``-icount`` (exact instruction counting) makes QEMU several times slower, so it is only
        used when counting; plain runs give the same outputs.
        """
        icount = ["-icount", f"shift={ICOUNT_SHIFT}"] if count_instructions else []
        return [QEMU, "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "none",
                "-semihosting-config", "enable=on,target=native", *icount, "-kernel", str(Path(elf).resolve())]

    def run_batch(self, elf: Path, images: np.ndarray, *, layout: RecordLayout,
                  count_instructions: bool = False) -> Result:
        """Run the firmware once on the whole batch (see :class:`Target`).

        Args:
            elf: harness firmware built by :func:`~.firmware.build_firmware`.
            images: uint8 array (N, input_bytes): the packed inputs.
            layout: the payload sizes of a result record (library outputs and logits).
            count_instructions: run under ``-icount`` and report instructions per image.

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
        rec = parse_records(raw, len(images), layout, elf)
        return Result(status=rec.status, outputs=rec.outputs, logits=rec.logits,
                      instructions=ticks_to_instructions(rec.ticks) if count_instructions else None,
                      stack_bytes=rec.stack_bytes)

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

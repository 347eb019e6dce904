"""The emulator :class:`~.device.DeviceRunner`: harness firmware under ``qemu-system-arm`` on the
machine the target's data names (``emulator.machine``), results read back.

A batch passes through semihosting host files (``input.bin`` in, ``output.bin`` out, formats in
``fw_main.c`` and :mod:`.records`). It is cut into shards of consecutive inputs (at most
:data:`SHARD_INPUTS` inputs and :data:`SHARD_BYTES` bytes each), run by up to `emulators` QEMU
processes at once (default: ``ZOO_EMULATORS``, else one per usable core), each started once per
shard, with its own timeout; the records come back in input order. A failing, hanging or
corrupt shard stops the batch with an error naming it, and every other emulator is killed
(:class:`zoo.proc.Tools`).

Counting: with ``-icount shift=N`` each instruction takes 2**N ns of virtual time and SysTick counts
at the machine's clock, so instructions = ticks x the target's ``instructions_per_tick`` (e.g. 40/64
on mps2-an500: 25 MHz SysTick, 64 ns per instruction). Each factor is checked by a calibration test
(tests/test_targets.py). These are instructions retired under emulation, never cycles.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from zoo.errors import InputError, ToolchainError
from zoo.proc import Tools, ToolTimeout
from zoo.proc import run as proc_run

from .device import DeviceRunner, Result, concat_results
from .records import RecordLayout, input_file, parse_records
from .targets import TargetSpec

__all__ = ["QemuRunner", "ticks_to_instructions", "emulator_count", "shards", "EXIT_CODES", "ENV_EMULATORS"]

QEMU = "qemu-system-arm"

ENV_EMULATORS = "ZOO_EMULATORS"
SHARD_INPUTS = 4096  # inputs per emulator start at most: a QEMU start (~40 ms) is < 1 % of a stmnist shard
SHARD_BYTES = 32 << 20  # input bytes per emulator start at most (input.bin on the host's temporary folder)
EXIT_CODES = {2: "semihosting file I/O failed (input.bin/output.bin)",
              3: "the firmware faulted (HardFault/MemManage/BusFault/UsageFault handler ran)",
              4: "an unexpected interrupt or exception fired",
              5: "input.bin does not match the firmware (head, input size or length)"}


def qemu_version(timeout_s: float = 30) -> str:
    """The first line of ``qemu-system-arm --version`` ("missing" when it is not installed): the cache keys
    hold it, since the instruction figures measured at compile time are the emulator's.

    Raises:
        ToolchainError: the emulator does not answer.
    """
    try:
        proc = proc_run([QEMU, "--version"], timeout=timeout_s)
    except FileNotFoundError:
        return "missing"
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{QEMU} --version did not answer within {timeout_s:g} s; the machine is "
                             "overloaded or the emulator is broken (apt-get install -y qemu-system-arm)") from None
    except OSError as exc:
        raise ToolchainError(f"{QEMU} --version could not run ({exc}); reinstall the emulator "
                             "(apt-get install -y qemu-system-arm)") from None
    lines = proc.stdout.strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else f"unknown (exit status {proc.returncode})"


def ticks_to_instructions(ticks: np.ndarray | int, target: TargetSpec) -> np.ndarray:
    """SysTick ticks under ``-icount`` -> instructions retired (ticks x the target's instructions per tick)."""
    factor = target.emulator.factor
    return (np.asarray(ticks, dtype=np.int64) * factor.numerator) // factor.denominator


def emulator_count(requested: int | None = None) -> int:
    """How many emulators run at once: `requested`, else ``ZOO_EMULATORS``, else the cores this process may use.

    Raises:
        InputError: ``ZOO_EMULATORS`` (or `requested`) is not a positive integer.
    """
    if requested is not None:
        return requested
    value = os.environ.get(ENV_EMULATORS, "").strip()
    if not value:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"{ENV_EMULATORS}={value!r} is not a positive integer; set it to the number of emulator "
                         f"processes to run at once (e.g. {ENV_EMULATORS}=2), or unset it for one per core")
    return int(value)


def shards(count: int, input_bytes: int, emulators: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` slices of a batch: at least one per emulator, each within
    :data:`SHARD_INPUTS` inputs and :data:`SHARD_BYTES` bytes.

    Example:
        >>> shards(10, 784, 2)
        [(0, 5), (5, 10)]
    """
    if count == 0:
        return []
    size = min(math.ceil(count / emulators), SHARD_INPUTS, max(1, SHARD_BYTES // max(input_bytes, 1)))
    return [(start, min(start + size, count)) for start in range(0, count, size)]


class QemuRunner(DeviceRunner):
    """``qemu-system-arm -M <the target's machine>`` with semihosting and instruction counting.

    Args:
        target: the device target (its ``emulator`` section).
        timeout_s: limit for one emulator run; a hung firmware becomes a ToolchainError.
        per_image_s: added to the limit per image of the batch.
    """

    def __init__(self, target: TargetSpec, timeout_s: float = 60.0, per_image_s: float = 0.5,
                 emulators: int | None = None) -> None:
        super().__init__(target)
        if emulators is not None and (not isinstance(emulators, int) or emulators < 1):
            raise ValueError(f"emulators must be a positive integer, got {emulators!r}")
        self.timeout_s = timeout_s
        self.per_image_s = per_image_s
        self.emulators = emulators

    def describe(self) -> str:
        return f"QEMU {self.target.emulator.machine} ({self.target.core})"

    def version(self) -> str:
        return qemu_version(self.timeout_s)

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
        """Run the firmware on the whole batch, shard by shard on parallel emulators (see :class:`~.device.DeviceRunner`).

        Args:
            elf: harness firmware built by :func:`~.firmware.build_firmware`.
            images: uint8 array (N, input_bytes): the packed inputs.
            layout: the payload sizes of a result record (library outputs and logits).
            count_instructions: run under ``-icount`` in the measuring loop: instructions and stack per image.
            collect: further files (plain names) the firmware writes beside ``output.bin``, returned in
                ``Result.files`` (an instrumented build's ``layers.bin``); such a batch runs in one emulator
                start, as its files are one run's.

        Returns:
            The per-image records, in input order.

        Raises:
            ToolchainError: QEMU is missing, a shard hangs past its timeout, the firmware faults or
                exits with an error, or an output file is short or has a corrupt record (the message
                names the shard; every other emulator has been stopped).
            InputError: ``ZOO_EMULATORS`` is not a positive integer.
        """
        if shutil.which(QEMU) is None:
            raise ToolchainError(f"{QEMU} is not on PATH; install it: apt-get install -y qemu-system-arm")
        images = np.ascontiguousarray(images, dtype=np.uint8)
        emulators = emulator_count(self.emulators)
        plan = (shards(len(images), images.shape[1] if images.ndim == 2 else 0, emulators) if not collect
                else [(0, len(images))] if len(images) else [])
        parts: list[Result | None] = [None] * len(plan)
        cmd = self.command(elf, count_instructions)
        with tempfile.TemporaryDirectory(prefix="zoo-qemu-") as tmp, Tools() as tools:
            todo = list(range(len(plan)))
            while todo or len(tools):
                while todo and len(tools) < emulators:
                    k = todo.pop(0)
                    self._start(tools, cmd, k, images[slice(*plan[k])], Path(tmp), count_instructions)
                k, records = self._collect(tools, elf, plan, layout, Path(tmp), count_instructions, collect)
                parts[k] = records
        if collect:
            return parts[0] if parts else replace(concat_results([], layout), files=dict.fromkeys(collect, b""))
        return concat_results([p for p in parts if p is not None], layout)

    def _limit(self, count: int) -> float:
        return self.timeout_s + self.per_image_s * count

    def _start(self, tools: Tools, cmd: list[str], k: int, images: np.ndarray, tmp: Path, measure: bool) -> None:
        work = tmp / f"shard{k}"
        work.mkdir()
        (work / "input.bin").write_bytes(input_file(images, measure=measure))
        tools.start(cmd, timeout=self._limit(len(images)), tag=k, cwd=work)

    def _collect(self, tools: Tools, elf: Path, plan: list[tuple[int, int]], layout: RecordLayout, tmp: Path,
                 measure: bool, collect: tuple[str, ...]) -> tuple[int, Result]:
        """Wait for the next shard to finish and read its records and `collect` files (its folder is removed)."""
        try:
            k, proc = tools.wait_any()
        except ToolTimeout as exc:
            raise ToolchainError(f"firmware {elf} did not finish within {exc.timeout:g} s under QEMU on "
                                 f"{_shard(exc.tag, plan)} and was stopped, with every other shard: it hangs "
                                 "(endless loop or waiting for an interrupt); raise timeout_s only if the inputs "
                                 "are simply very slow") from None
        where = _shard(k, plan)
        if proc.returncode != 0:
            why = ("QEMU did not exit within seconds of SIGKILL (it could not be reaped)" if proc.returncode is None
                   else f"QEMU was killed by {_signal_name(-proc.returncode)}" if proc.returncode < 0
                   else EXIT_CODES.get(proc.returncode, f"exit status {proc.returncode}"))
            tail = (proc.stderr or proc.stdout).strip()[-500:]
            raise ToolchainError(f"firmware {elf} failed under QEMU on {where}: {why}."
                                 f"{(' QEMU said: ' + tail) if tail else ''}\ncommand: {' '.join(proc.args)}")
        work = tmp / f"shard{k}"
        raw = self._read_output(work)
        files = {name: (work / name).read_bytes() if (work / name).is_file() else b"" for name in collect}
        shutil.rmtree(work, ignore_errors=True)
        start, stop = plan[k]
        rec = parse_records(raw, stop - start, layout, f"{elf} ({where})")
        return k, Result(status=rec.status, outputs=rec.outputs, logits=rec.logits,
                         instructions=ticks_to_instructions(rec.ticks, self.target) if measure else None,
                         stack_bytes=rec.stack_bytes if measure else None, files=files)

    @staticmethod
    def _read_output(work: Path) -> bytes:
        """The bytes a finished shard's firmware wrote to ``output.bin`` (none when it wrote no file)."""
        out = work / "output.bin"
        return out.read_bytes() if out.exists() else b""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _shard(k: int, plan: list[tuple[int, int]]) -> str:
    start, stop = plan[k]
    inputs = f"input {start}" if stop - start == 1 else f"inputs {start}-{stop - 1}"
    return f"shard {k + 1} of {len(plan)} ({inputs} of the batch)"

"""Where harness firmware runs: the interface of a device runner, and what it returns.

:class:`~.qemu.QemuRunner` (the emulator) is the one implementation today. A real-board runner
(flash the ELF, stream ``input.bin`` over a serial port, read the records of ``fw_main.c`` back)
is one more module implementing :class:`DeviceRunner`, chosen by the backend's ``runner=`` option.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .records import RecordLayout
from .targets import TargetSpec

__all__ = ["DeviceRunner", "Result", "concat_results"]


@dataclass(frozen=True)
class Result:
    """What the firmware reported for a batch, one row per image."""

    status: np.ndarray  # int32 (N,): 0 = the model ran
    outputs: np.ndarray  # uint8 (N, output_bytes): the packed outputs (library.unpack splits them)
    logits: np.ndarray | None  # int8 (N, logits count) where the library exposes them
    instructions: np.ndarray | None  # int64 (N,): instructions retired by one inference, when counted
    stack_bytes: np.ndarray | None  # int64 (N,): stack high-water mark of one inference, when measured
    files: dict[str, bytes] = field(default_factory=dict)  # further files the firmware wrote, when asked (collect=)


def concat_results(parts: list[Result], layout: RecordLayout) -> Result:
    """The results of consecutive slices of a batch as one, in order (without ``files``: those are per run)."""
    if not parts:
        return Result(np.zeros(0, np.int32), np.zeros((0, layout.output_bytes), np.uint8),
                      np.zeros((0, layout.logits_bytes), np.int8) if layout.logits_bytes else None, None, None)

    def join(name: str) -> np.ndarray | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    return Result(status=join("status"), outputs=join("outputs"), logits=join("logits"),
                  instructions=join("instructions"), stack_bytes=join("stack_bytes"))


class DeviceRunner(ABC):
    """Runs harness firmware built for one target (an emulated machine now, a board later).

    Args:
        target: the device target the firmware was built for.
    """

    def __init__(self, target: TargetSpec) -> None:
        self.target = target

    @abstractmethod
    def run_batch(self, elf: Path, images: np.ndarray, *, layout: RecordLayout,
                  count_instructions: bool = False, collect: tuple[str, ...] = ()) -> Result:
        """Run the firmware on every packed input (shape (N, input_bytes), uint8) and return its records
        (framed as ``fw_main.c`` writes them; check them with :func:`~.records.parse_records`), in order, and the
        bytes of each further file named in `collect` that the firmware wrote (e.g. an instrumented
        build's ``layers.bin``; empty when it wrote none). With `count_instructions` the firmware measures
        (instructions and stack per input); without, the batch runs as fast as the device can (no
        instruction counts, no stack figures).

        Raises:
            ToolchainError: the device failed, hung or faulted, or a record is corrupt.
        """

    @abstractmethod
    def describe(self) -> str:
        """Where the firmware runs, for reports (e.g. "QEMU mps2-an386 (Cortex-M4F)")."""

    def version(self) -> str:
        """The device's or emulator's version: the cache keys hold it, since the figures measured at compile time
        (instructions, stack, the per-layer profile) are its own ("" when nothing tells them apart)."""
        return ""

"""The files of the harness firmware (``fw_main.c``): the input file it reads, and the result records
it writes, parsed and checked.

The input file is a head (magic, flags, bytes per input, count) and the packed inputs; flag
:data:`MEASURE` asks for the measuring loop (stack painted, ``fw_run`` timed alone).

Each record is framed: a magic word, the input's index, status, SysTick ticks, stack bytes, the
payload size, the payload (packed outputs, then int8 logits padded to 4 bytes) and an FNV-1a
checksum over everything before it. A record that an emulator or a transport zeroed, cut,
reordered or corrupted is refused with an error that says which and how, instead of being
read as outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ToolchainError

__all__ = ["RecordLayout", "Records", "parse_records", "frame_record", "input_file", "MAGIC", "INPUT_MAGIC",
           "MEASURE"]

MAGIC = 0x5A4F4F52
INPUT_MAGIC = 0x5A4F4F49
MEASURE = 1  # input-file flag: paint the stack and time fw_run alone (instruction-counting runs)
_HEAD = 7  # magic, index, status, ticks_lo, ticks_hi, stack_bytes, payload_bytes
_FNV_OFFSET, _FNV_PRIME = 2166136261, 16777619


@dataclass(frozen=True)
class RecordLayout:
    """Sizes of one record's payload: the packed outputs and the int8 logits (0 without)."""

    output_bytes: int
    logits_bytes: int = 0

    @property
    def payload_bytes(self) -> int:
        """Outputs plus logits padded to 4."""
        return self.output_bytes + (self.logits_bytes + 3) // 4 * 4

    @property
    def record_bytes(self) -> int:
        """Head, payload and checksum."""
        return 4 * _HEAD + self.payload_bytes + 4


@dataclass(frozen=True)
class Records:
    """The parsed records of a batch, one row per input."""

    status: np.ndarray  # int32 (N,)
    ticks: np.ndarray  # int64 (N,)
    stack_bytes: np.ndarray  # int64 (N,)
    outputs: np.ndarray  # uint8 (N, output_bytes): the packed outputs
    logits: np.ndarray | None  # int8 (N, logits_bytes)


def fnv1a(data: bytes) -> int:
    """32-bit FNV-1a of ``data`` (the firmware's checksum)."""
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def _fnv1a_rows(rows: np.ndarray) -> np.ndarray:
    """FNV-1a of every row of a uint8 matrix at once."""
    h = np.full(len(rows), _FNV_OFFSET, np.uint64)
    for col in rows.T.astype(np.uint64):
        h = ((h ^ col) * _FNV_PRIME) & 0xFFFFFFFF
    return h.astype(np.uint32)


def frame_record(index: int, status: int, ticks: int, stack: int, payload: bytes) -> bytes:
    """One record as the firmware frames it (for tests and for a board runner that builds records)."""
    head = np.array([MAGIC, index, status & 0xFFFFFFFF, ticks & 0xFFFFFFFF, ticks >> 32, stack, len(payload)],
                    "<u4").tobytes()
    body = head + payload
    return body + np.array([fnv1a(body)], "<u4").tobytes()


def input_file(images: np.ndarray, *, measure: bool) -> bytes:
    """The bytes of ``input.bin`` for a batch of packed inputs (uint8, shape (N, input bytes))."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    head = np.array([INPUT_MAGIC, MEASURE if measure else 0, images.shape[1], len(images)], "<u4")
    return head.tobytes() + images.tobytes()


def parse_records(raw: bytes, count: int, layout: RecordLayout, source: Path | str) -> Records:
    """Check and split the firmware's output file.

    Args:
        raw: the bytes of output.bin.
        count: how many inputs were sent.
        layout: the payload sizes of the library.
        source: the firmware, for messages.

    Returns:
        The records.

    Raises:
        ToolchainError: the file has the wrong size, or a record has a bad magic word, index,
            payload size or checksum (the message names the first bad record).
    """
    size = layout.record_bytes
    if len(raw) != count * size:
        raise ToolchainError(f"firmware {source} wrote {len(raw)} bytes of results for {count} inputs, expected "
                             f"{count * size} ({size} per record); the library's sizes do not match the harness - "
                             "rebuild it")
    rows = np.frombuffer(raw, np.uint8).reshape(count, size)
    words = rows[:, :4 * _HEAD].copy().view("<u4")
    # the checksum before the head's fields: a damaged head is a checksum error, not a lost record
    checks = [(words[:, 0] != MAGIC, "its magic word is wrong (zeroed or overwritten)"),
              (_fnv1a_rows(rows[:, :-4]) != rows[:, -4:].copy().view("<u4")[:, 0], "its checksum does not match"),
              (words[:, 1] != np.arange(count), "its index is out of order (records lost or reordered)"),
              (words[:, 6] != layout.payload_bytes, "its payload size is wrong")]
    for bad, why in checks:
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ToolchainError(f"firmware {source}: result record {first} of {count} is corrupt: {why} "
                                 f"({int(bad.sum())} bad records); the emulator or the transport damaged the "
                                 "results - rerun, and report it if it repeats")
    start = 4 * _HEAD
    outputs = rows[:, start:start + layout.output_bytes].copy()
    logits = None
    if layout.logits_bytes:
        off = start + layout.output_bytes
        logits = rows[:, off:off + layout.logits_bytes].copy().view(np.int8)
    return Records(status=words[:, 2].view(np.int32).copy(),
                   ticks=words[:, 3].astype(np.int64) | (words[:, 4].astype(np.int64) << 32),
                   stack_bytes=words[:, 5].astype(np.int64), outputs=outputs, logits=logits)

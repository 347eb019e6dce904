"""The layer records an instrumented harness build writes to ``layers.bin`` (``fw_layers.h``), parsed and
checked.

Each record is framed like the result records (:mod:`.records`): a magic word, the input's index, the
operator index (``PROFILE_OP`` for a profile record), the tensor index (a profile record: how many
spans it holds), the payload size, the payload padded to 4 bytes and a CRC-32 (zlib's) over everything
before it. The host knows which records to expect (the library's ``metadata.json`` lists every
layer's hooks), so a record that is cut, zeroed, reordered, of another operator or tensor, or whose
checksum fails is refused with an error that names it, never read as a tensor.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ToolchainError

__all__ = ["Hook", "LAYER_MAGIC", "PROFILE_OP", "Profile", "frame_layer_record", "parse_profile",
           "parse_tensors", "record_bytes"]

LAYER_MAGIC = 0x5A4F4C59
PROFILE_OP = 0xFFFFFFFF
_HEAD = 5  # magic, input index, operator, tensor, payload bytes


@dataclass(frozen=True)
class Hook:
    """One hook call of the generated model: the operator that ran and the tensor it wrote."""

    operator: int  # TFLite operator index
    tensor: int  # TFLite tensor index (subgraph 0)
    nbytes: int  # bytes of the tensor


@dataclass(frozen=True)
class Profile:
    """The profile records of a batch: SysTick ticks per hook span, per input."""

    overhead_ticks: np.ndarray  # int64 (N,): one hook's cost outside its own SysTick reads
    spans: np.ndarray  # int64 (N, hooks): ticks from the previous hook's return to this hook's entry


def _padded(n: int) -> int:
    return (n + 3) // 4 * 4


def record_bytes(payload_bytes: int) -> int:
    """Bytes of one record with this payload (head, padded payload, checksum)."""
    return 4 * _HEAD + _padded(payload_bytes) + 4


def frame_layer_record(index: int, operator: int, tensor: int, payload: bytes) -> bytes:
    """One record as ``fw_layers.c`` frames it (for tests, and for a board runner that builds records)."""
    body = np.array([LAYER_MAGIC, index, operator, tensor, _padded(len(payload))], "<u4").tobytes()
    body += payload + bytes(_padded(len(payload)) - len(payload))
    return body + np.array([zlib.crc32(body)], "<u4").tobytes()


def _error(source: Path | str, where: str, why: str) -> ToolchainError:
    return ToolchainError(f"firmware {source}: layer record {where} is corrupt: {why}; the emulator or the "
                          "transport damaged layers.bin - rerun, and report it if it repeats")


def _read(raw: memoryview, pos: int, expect: tuple[int, int, int, int], source: Path | str, where: str) -> int:
    """Check the record at `pos` (magic; CRC-32, so that a damaged head is a checksum error, not taken for a
    lost record; then input, operator, tensor and payload size); the next position."""
    end = pos + 4 * _HEAD + expect[3]
    if end + 4 > len(raw):
        raise _error(source, where, "the file ends inside it (records lost)")
    head = np.frombuffer(raw[pos:pos + 4 * _HEAD], "<u4")
    if int(head[0]) != LAYER_MAGIC:
        raise _error(source, where, "its magic word is wrong (zeroed or overwritten)")
    # the CRC where the expected size puts it, else where the head's own size does: an intact record of
    # another size is a lost or reordered record (the field checks below say so), not damage
    own = int(head[4])
    if not (_crc_matches(raw, pos, expect[3]) or (own != expect[3] and _crc_matches(raw, pos, own))):
        raise _error(source, where, "its checksum does not match")
    names = ("input index", "operator", "tensor", "payload size")
    for name, got, want in zip(names, (int(h) for h in head[1:]), expect, strict=True):
        if got != want:
            raise _error(source, where, f"its {name} is {got}, expected {want} (records lost or reordered)")
    return end + 4


def _crc_matches(raw: memoryview, pos: int, size: int) -> bool:
    """Whether a record at `pos` with a payload of `size` bytes ends with its CRC-32 (False past the file)."""
    end = pos + 4 * _HEAD + size
    return end + 4 <= len(raw) and zlib.crc32(raw[pos:end]) == int(np.frombuffer(raw[end:end + 4], "<u4")[0])


def parse_tensors(raw: bytes, count: int, hooks: list[Hook], source: Path | str) -> list[np.ndarray]:
    """Check and split a tensors build's ``layers.bin``: every hook's tensor of every input.

    Args:
        raw: the file's bytes.
        count: how many inputs ran.
        hooks: the hooks of one inference, in execution order.
        source: the firmware, for messages.

    Returns:
        One uint8 array ``(count, hook.nbytes)`` per hook, in the order of `hooks`.

    Raises:
        ToolchainError: the file has the wrong size or a record is corrupt (the message names it).
    """
    per_input = sum(record_bytes(h.nbytes) for h in hooks)
    if len(raw) != count * per_input:
        raise ToolchainError(f"firmware {source} wrote {len(raw)} bytes of layer records for {count} inputs, "
                             f"expected {count * per_input} ({len(hooks)} records of {per_input} bytes per input); "
                             "the library's layers do not match the harness - rebuild it")
    view, pos = memoryview(raw), 0
    out = [np.empty((count, h.nbytes), np.uint8) for h in hooks]
    for i in range(count):
        for k, h in enumerate(hooks):
            start = pos + 4 * _HEAD
            pos = _read(view, pos, (i, h.operator, h.tensor, _padded(h.nbytes)), source,
                        f"of input {i}, operator #{h.operator}")
            out[k][i] = np.frombuffer(view[start:start + h.nbytes], np.uint8)
    return out


def parse_profile(raw: bytes, count: int, hooks: list[Hook], source: Path | str) -> Profile:
    """Check and split a profile build's ``layers.bin``: one record per input, one span per hook, each
    span tagged with its hook's ordinal.

    Raises:
        ToolchainError: the file has the wrong size, a record is corrupt, or its spans are not the
            library's hooks in order (the message names the first).
    """
    payload = 8 + 16 * len(hooks)
    if len(raw) != count * record_bytes(payload):
        raise ToolchainError(f"firmware {source} wrote {len(raw)} bytes of profile records for {count} inputs, "
                             f"expected {count * record_bytes(payload)}; the library's layers do not match the "
                             "harness - rebuild it")
    view, size = memoryview(raw), record_bytes(payload)
    for i in range(count):
        _read(view, i * size, (i, PROFILE_OP, len(hooks), payload), source, f"of input {i} (profile)")
    words = np.frombuffer(raw, "<u4").reshape(count, size // 4)[:, _HEAD:_HEAD + payload // 4].astype(np.int64)
    rows = words[:, 2:].reshape(count, len(hooks), 4)
    bad = np.argwhere((rows[:, :, 0] != np.arange(len(hooks))) | (rows[:, :, 1] != 0))
    if bad.size:
        i, k = (int(x) for x in bad[0])
        raise _error(source, f"of input {i} (profile)", f"span {k} is of hook {rows[i, k, 0]}, expected {k} "
                     f"(operator #{hooks[k].operator})")
    return Profile(overhead_ticks=words[:, 0] | (words[:, 1] << 32), spans=rows[:, :, 2] | (rows[:, :, 3] << 32))

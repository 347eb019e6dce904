"""Cheap structural checks of model files, run before any runtime sees them.

A runtime fed a truncated or foreign file may crash the whole process; these checks turn
such files into an ArtifactError first. They are not a full parse: the runtime still
validates the contents.
"""

from __future__ import annotations

import struct
from pathlib import Path

from zoo.errors import ArtifactError

__all__ = ["check_model_file"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_tflite(data: bytes, path: Path) -> None:
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise ArtifactError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier at byte 4)")
    (root,) = struct.unpack_from("<I", data, 0)
    if root < 8 or root + 4 > len(data):
        raise ArtifactError(f"{path} is a truncated or corrupt TFLite file (root table offset {root} "
                            f"outside its {len(data)} bytes)")
    (vtable_rel,) = struct.unpack_from("<i", data, root)
    vtable = root - vtable_rel
    if not 0 <= vtable <= len(data) - 4:
        raise ArtifactError(f"{path} is a truncated or corrupt TFLite file (vtable offset {vtable} out of range)")


def _check_h5(data: bytes, path: Path) -> None:
    if not data.startswith(HDF5_SIGNATURE):
        raise ArtifactError(f"{path} is not an HDF5 (.h5) file (bad signature)")


def _check_onnx(data: bytes, path: Path) -> None:
    if not data or data[0] not in (0x08, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42, 0x72):
        raise ArtifactError(f"{path} does not start like an ONNX protobuf (ModelProto)")


CHECKS = {"tflite": _check_tflite, "keras_h5": _check_h5, "onnx": _check_onnx}


def check_model_file(path: Path, fmt: str, expected_size: int | None = None) -> None:
    """Raise ArtifactError if `path` is obviously not a complete file of format `fmt`.

    Args:
        path: the model file.
        fmt: "tflite", "keras_h5" or "onnx".
        expected_size: the size the card records, if any.

    Raises:
        ArtifactError: missing, empty, truncated, or of another format; the message names the file.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read model file {path}: {exc.strerror}") from None
    if expected_size is not None and len(data) != expected_size:
        raise ArtifactError(f"{path} has {len(data)} bytes; the card says {expected_size} (truncated or replaced?)")
    check = CHECKS.get(fmt)
    if check is None:
        raise ArtifactError(f"unknown model format {fmt!r} for {path}; known: {sorted(CHECKS)}")
    check(data, path)

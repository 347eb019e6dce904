"""Structural checks of model files, run before any backend's runtime or converter sees them.

A converter or runtime fed a truncated or foreign file may crash the whole process (TVM's and
tf2onnx's flatbuffer readers do not verify offsets); these checks turn such files into an
ArtifactError first. TFLite files go through the flatbuffer verifier of LiteRT (which raises
instead of crashing), HDF5 files through h5py, ONNX files through onnx's checker, each when
installed; a cheap header check runs in any case.
"""

from __future__ import annotations

import importlib.util
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
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            interp = Interpreter(model_content=data)  # runs the flatbuffer verifier; allocates nothing yet
        except (ValueError, RuntimeError) as exc:
            raise ArtifactError(f"{path} is a truncated or corrupt TFLite file: {exc}") from None
        try:  # names are decoded as UTF-8 wherever a runtime lists tensors
            interp.get_input_details(), interp.get_output_details(), interp.get_tensor_details()
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"{path} has a tensor name that is not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start}); rename its tensors (the flatbuffer schema requires UTF-8 strings)") from None
        except (ValueError, RuntimeError) as exc:
            raise ArtifactError(f"{path} is a corrupt TFLite file: {exc}") from None


def _check_h5(data: bytes, path: Path) -> None:
    if not data.startswith(HDF5_SIGNATURE):
        raise ArtifactError(f"{path} is not an HDF5 (.h5) file (bad signature)")
    if importlib.util.find_spec("h5py") is not None:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                f.visit(lambda _name: None)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ArtifactError(f"{path} is a truncated or corrupt HDF5 file: {exc}") from None


def _check_onnx(data: bytes, path: Path) -> None:
    if not data or data[0] not in (0x08, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42, 0x72):
        raise ArtifactError(f"{path} does not start like an ONNX protobuf (ModelProto)")
    if importlib.util.find_spec("onnx") is not None:
        import onnx

        try:
            onnx.checker.check_model(onnx.load_model_from_string(data))
        except Exception as exc:  # onnx raises DecodeError, ValidationError, ...: all mean "not a valid model"
            raise ArtifactError(f"{path} is not a valid ONNX model: {exc}") from None


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

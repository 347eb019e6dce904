"""Rewriting a .tflite flatbuffer: unpacked into the TFLite schema's object API, changed, packed again.

The object API (``ModelT``) is the one generated from TFLite's ``schema.fbs`` that LiteRT ships as
``ai_edge_litert.schema_py_generated``; packing uses the ``flatbuffers`` library. Used to make a
model whose every operator output is also a graph output (a runtime that offers no other way to
read intermediate tensors, such as LiteRT with its XNNPACK delegate, then returns them), and by
the tests to build deliberately altered models.

Example:
    >>> data = with_outputs(Path("model.tflite").read_bytes(), [22, 23])   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from zoo.errors import ArtifactError

__all__ = ["edit_tflite", "with_outputs"]

_IDENTIFIER = b"TFL3"  # schema.fbs: file_identifier "TFL3"


def edit_tflite(data: bytes, change: Callable[[Any], None]) -> bytes:
    """Unpack `data`, let `change` modify the ``ModelT`` in place, and pack it again.

    Args:
        data: a TFLite flatbuffer.
        change: called with the unpacked model (``schema_py_generated.ModelT``).

    Returns:
        The new flatbuffer.

    Raises:
        ArtifactError: `data` is not a TFLite flatbuffer.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # a corrupt buffer raises anything from struct.error to IndexError
        raise ArtifactError(f"cannot unpack the TFLite model: {type(exc).__name__}: {exc}") from None
    change(model)
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=_IDENTIFIER)
    return bytes(builder.Output())


def with_outputs(data: bytes, tensors: Sequence[int]) -> bytes:
    """The model with `tensors` (indices in subgraph 0) appended to its outputs; tensor indices are unchanged."""

    def add(model: Any) -> None:
        graph = model.subgraphs[0]
        current = [int(i) for i in graph.outputs]
        graph.outputs = list(dict.fromkeys([*current, *map(int, tensors)]))

    return edit_tflite(data, add)

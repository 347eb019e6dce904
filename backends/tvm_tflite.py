"""Importing a .tflite into TVM Relax: the one place the TVM backends (host ``tvm``, Cortex-M7 float
lowering) read a flatbuffer through ``tvm.relax.frontend.tflite``.

TVM 0.27's frontend refuses quantized PAD / PADV2 ("quantized TFLite operators are not supported:
'PAD'") although its ``convert_pad`` already handles them exactly: the output keeps the input's
quantization and the pad value is the zero point, so padding the int8 tensor directly is the
TFLite semantics (tflite-micro 90b983c2, tensorflow/lite/micro/kernels/pad.cc). The converter
below only adds them to the frontend's list of supported quantized operators.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.errors import BackendError

__all__ = ["import_tflite", "operator_converter", "QUANTIZED_DATA_MOVEMENT_OPS"]

#: quantized operators whose int8 form TVM's ``convert_pad`` handles exactly but its frontend refuses
QUANTIZED_DATA_MOVEMENT_OPS = frozenset({"PAD", "PADV2"})


def _converter() -> type:
    """TVM's TFLite ``OperatorConverter`` that also accepts quantized PAD / PADV2."""
    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter

    class _Converter(OperatorConverter):
        _SUPPORTED_QUANTIZED_OPS = OperatorConverter._SUPPORTED_QUANTIZED_OPS | QUANTIZED_DATA_MOVEMENT_OPS

    return _Converter


def operator_converter() -> type:
    """The converter :func:`import_tflite` uses by default; subclass it to pass your own as ``op_converter``."""
    return _converter()


def import_tflite(path: Path, input_name: str | None = None, input_shape: Sequence[Any] | None = None,
                  input_dtype: str | None = None, op_converter: type | None = None) -> Any:
    """The Relax module of a .tflite file.

    Args:
        path: the .tflite file.
        input_name: the card's input tensor name; when given, it must be the model's only input.
        input_shape: the input's shape (may hold a symbolic batch ``tvm.tirx.Var``); default: the file's.
        input_dtype: the input's dtype; default: the file's.
        op_converter: a subclass of :func:`operator_converter` to convert with (default: that class).

    Returns:
        The ``tvm.IRModule``.

    Raises:
        BackendError: the card's input name is not the model's input, or TVM cannot import the file.
    """
    import tflite  # the flatbuffer parser TVM's frontend reads
    from tvm.relax.frontend.tflite import from_tflite

    model = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    if input_name is not None:
        graph = model.Subgraphs(0)
        names = [graph.Tensors(graph.Inputs(i)).Name().decode() for i in range(graph.InputsLength())]
        if names != [input_name]:
            raise BackendError(f"the card names input {input_name!r} but {Path(path).name} has inputs {names}; "
                               "fix card.input.name")
    shapes = {input_name: tuple(input_shape)} if input_name and input_shape is not None else None
    dtypes = {input_name: input_dtype} if input_name and input_dtype else None
    try:
        mod = from_tflite(model, shapes, dtypes, op_converter=op_converter or _converter())
    except Exception as exc:  # noqa: BLE001 - TVM raises TVMError, NotImplementedError, AssertionError, ...
        raise BackendError(f"TVM could not import {Path(path).name}: {type(exc).__name__}: {exc}") from exc
    return mod[0] if isinstance(mod, tuple) else mod

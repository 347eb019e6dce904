"""A .tflite flatbuffer read into plain Python: tensors, operators and their options.

The int8 lowering reads the model file itself (with the ``tflite`` flatbuffer package TVM's
frontend also uses) because TFLite Micro's arithmetic depends on facts a float QDQ graph no
longer carries: the operator's index and builtin options (padding mode, fused activation,
softmax beta), the float32 scales exactly as stored, and int8 operators such as PAD that
TVM 0.27's frontend cannot import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import BackendError

__all__ = ["Tensor", "Operator", "TFLiteModel", "ACTIVATIONS"]

_DTYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}
#: TFLite ActivationFunctionType -> name
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


@dataclass(frozen=True)
class Tensor:
    """One tensor of the model's first subgraph."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "uint8", "int32", "float32", ... ("type N" when unknown)
    scales: np.ndarray  # float32, empty when not quantized
    zero_points: np.ndarray  # int64, empty when not quantized
    quantized_dimension: int
    data: np.ndarray | None  # constant contents (shaped), None for activations

    @property
    def scale(self) -> float:
        """The (first) scale; 0.0 when the tensor is not quantized."""
        return float(self.scales[0]) if self.scales.size else 0.0

    @property
    def zero_point(self) -> int:
        """The (first) zero point; 0 when the tensor is not quantized."""
        return int(self.zero_points[0]) if self.zero_points.size else 0

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Operator:
    """One operator: its position in the model, builtin name, tensors and options."""

    index: int
    name: str  # builtin operator name, e.g. "CONV_2D" (custom operators: "CUSTOM:<code>")
    inputs: tuple[int, ...]  # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: Any  # the tflite ``*Options`` table, or None

    def describe(self) -> str:
        """``"operator #3 (ADD)"``, the form every error message uses."""
        return f"operator #{self.index} ({self.name})"


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


class TFLiteModel:
    """The first subgraph of a .tflite file.

    Example:
        >>> m = TFLiteModel.from_file(Path("kws_ref_model.tflite"))  # doctest: +SKIP
        >>> [op.name for op in m.operators][:2]  # doctest: +SKIP
        ['CONV_2D', 'DEPTHWISE_CONV_2D']
    """

    def __init__(self, name: str, tensors: list[Tensor], operators: list[Operator],
                 inputs: tuple[int, ...], outputs: tuple[int, ...]) -> None:
        self.name = name
        self.tensors = tensors
        self.operators = operators
        self.inputs = inputs
        self.outputs = outputs

    @classmethod
    def from_file(cls, path: Path) -> TFLiteModel:
        """Parse a .tflite file.

        Raises:
            BackendError: the file is unreadable, not a TFLite flatbuffer, or has several subgraphs.
        """
        import tflite  # noqa: PLC0415 - optional dependency (pip extra cortexm7)

        path = Path(path)
        try:
            raw = path.read_bytes()
            model = tflite.Model.GetRootAsModel(raw, 0)
            if model.SubgraphsLength() < 1:
                raise ValueError("no subgraph")
            graph = model.Subgraphs(0)
            tensors = [_tensor(model, graph, i) for i in range(graph.TensorsLength())]
            operators = [_operator(tflite, model, graph, i) for i in range(graph.OperatorsLength())]
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - flatbuffers raises anything on a damaged file
            raise BackendError(f"{path.name} is not a readable TFLite model ({type(exc).__name__}: {exc}); "
                               "check the file (its sha256 in the card)") from None
        if model.SubgraphsLength() != 1:
            raise BackendError(f"{path.name} has {model.SubgraphsLength()} subgraphs; the int8 lowering "
                               "compiles single-subgraph models (no WHILE/IF control flow)")
        return cls(path.name, tensors, operators, tuple(graph.InputsAsNumpy().tolist()),
                   tuple(graph.OutputsAsNumpy().tolist()))

    def tensor(self, index: int) -> Tensor:
        """The tensor at ``index``."""
        return self.tensors[index]

    def consumers(self, tensor_index: int) -> list[Operator]:
        """Operators that read a tensor."""
        return [op for op in self.operators if tensor_index in op.inputs]


def _tensor(model: Any, graph: Any, i: int) -> Tensor:
    t = graph.Tensors(i)
    q = t.Quantization()
    scales = np.zeros(0, np.float32)
    zps = np.zeros(0, np.int64)
    qdim = 0
    if q is not None and q.ScaleLength():
        scales = q.ScaleAsNumpy().astype(np.float32)
        zps = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(scales.size, np.int64)
        qdim = int(q.QuantizedDimension())
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    dtype = _DTYPES.get(t.Type(), f"type {t.Type()}")
    data = None
    buf = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
    if buf is not None and buf.DataLength() and dtype in ("float32", "int32", "uint8", "int64", "int16", "int8"):
        data = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=np.dtype(dtype).newbyteorder("<"))
        data = data.astype(np.dtype(dtype)).reshape(shape)
    return Tensor(i, t.Name().decode(), shape, dtype, scales, zps, qdim, data)


def _operator(tflite: Any, model: Any, graph: Any, i: int) -> Operator:
    from tflite.BuiltinOperator import BuiltinOperator  # noqa: PLC0415
    from tflite.BuiltinOptions import BuiltinOptions  # noqa: PLC0415

    op = graph.Operators(i)
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    name = _enum_names(BuiltinOperator).get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        name = f"CUSTOM:{(code.CustomCode() or b'?').decode()}"
    options = None
    table = op.BuiltinOptions()
    if table is not None:
        cls = getattr(tflite, _enum_names(BuiltinOptions).get(op.BuiltinOptionsType(), ""), None)
        if cls is not None:
            options = cls()
            options.Init(table.Bytes, table.Pos)
    ins = tuple(int(x) for x in op.InputsAsNumpy()) if op.InputsLength() else ()
    outs = tuple(int(x) for x in op.OutputsAsNumpy()) if op.OutputsLength() else ()
    return Operator(i, name, ins, outs, options)

"""What a .tflite file declares: its input and output tensors (names, shapes, dtypes, quantization)
and its operators in execution order, read from the flatbuffer with the ``tflite`` schema package.

Used to check a card against the model it pins (every backend), to name operators in errors,
and by ``zoo card init`` to write a card from a model. Reads nothing but the file.

Example:
    >>> info = read_tflite(Path("kws_ref_model.tflite"))       # doctest: +SKIP
    >>> info.inputs[0].dtype, info.operators[-1].name           # doctest: +SKIP
    ('int8', 'SOFTMAX')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from zoo.errors import ArtifactError

__all__ = ["TensorInfo", "OperatorInfo", "TFLiteInfo", "read_tflite"]

_DTYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8", 10: "float64", 6: "bool"}


@dataclass(frozen=True)
class TensorInfo:
    index: int  # tensor index in subgraph 0
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy name ("int8", "float32", ...) or "type<N>" for others
    scale: float | None  # per-tensor quantization; None when unquantized
    zero_point: int | None
    per_channel: bool = False  # several scales (weights): scale/zero_point are the first


@dataclass(frozen=True)
class OperatorInfo:
    index: int  # position in execution order
    name: str  # TFLite builtin name, e.g. "CONV_2D"; "CUSTOM:<code>" for custom operators
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TFLiteInfo:
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    operators: tuple[OperatorInfo, ...]
    tensors: tuple[TensorInfo, ...]

    def op_names(self) -> list[str]:
        """Operator names in execution order."""
        return [op.name for op in self.operators]

    def logits(self) -> TensorInfo | None:
        """The int8 input of the last SOFTMAX (a classifier's pre-softmax logits), if any."""
        soft = [op for op in self.operators if op.name == "SOFTMAX"]
        if not soft:
            return None
        t = self.tensors[soft[-1].inputs[0]]
        return t if t.dtype in ("int8", "uint8") else None

    def operator_outputs(self) -> list[int]:
        """Indices of every operator's output tensors, in execution order (each once)."""
        return list(dict.fromkeys(t for op in self.operators for t in op.outputs))

    def producer(self, tensor_index: int) -> OperatorInfo | None:
        return next((op for op in self.operators if tensor_index in op.outputs), None)


def _builtin_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _tensor(sg: object, index: int) -> TensorInfo:
    t = sg.Tensors(index)  # type: ignore[attr-defined]
    raw = t.Name()
    name = raw.decode("utf-8", errors="backslashreplace") if raw else f"tensor_{index}"
    q = t.Quantization()
    scales = q.ScaleAsNumpy() if q is not None and q.ScaleLength() else None
    zps = q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else None
    scale = float(scales[0]) if scales is not None else None
    zp = int(zps[0]) if zps is not None else (0 if scale is not None else None)
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    return TensorInfo(index, name, shape, _DTYPES.get(t.Type(), f"type{t.Type()}"), scale, zp,
                      per_channel=scales is not None and len(scales) > 1)


@cache
def _read(path: Path, mtime_ns: int, size: int) -> TFLiteInfo:
    import tflite

    data = path.read_bytes()
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        sg = model.Subgraphs(0)
        names = _builtin_names()
        tensors = tuple(_tensor(sg, i) for i in range(sg.TensorsLength()))
        ops = []
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = names.get(builtin, f"BUILTIN_{builtin}")
            if name == "CUSTOM":
                name = "CUSTOM:" + (code.CustomCode() or b"?").decode("utf-8", errors="backslashreplace")
            ops.append(OperatorInfo(i, name, tuple(int(x) for x in op.InputsAsNumpy() if x >= 0),
                                    tuple(int(x) for x in op.OutputsAsNumpy())))
        ins = tuple(tensors[int(i)] for i in sg.InputsAsNumpy())
        outs = tuple(tensors[int(i)] for i in sg.OutputsAsNumpy())
    except Exception as exc:  # a corrupt flatbuffer raises anything from struct.error to IndexError
        raise ArtifactError(f"cannot read the TFLite model {path}: {type(exc).__name__}: {exc}") from None
    return TFLiteInfo(ins, outs, tuple(ops), tensors)


def read_tflite(path: str | Path) -> TFLiteInfo:
    """The tensors and operators a .tflite file declares (subgraph 0).

    Raises:
        ArtifactError: the file cannot be read or is not a TFLite flatbuffer.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise ArtifactError(f"cannot read the TFLite model {path}: {exc.strerror}") from None
    return _read(path.resolve(), st.st_mtime_ns, st.st_size)


def check_card_tensors(card_name: str, artifact_id: str, inputs: tuple, outputs: tuple, info: TFLiteInfo) -> None:
    """Raise CardError unless the card's tensor specs for an artifact are the model's own I/O tensors.

    Names, order, dtypes, shapes (batch aside) and, for integer tensors, quantization must agree.
    """
    from zoo.errors import CardError

    for role, specs, tensors in (("inputs", inputs, info.inputs), ("outputs", outputs, info.outputs)):
        where = f"card {card_name!r}, artifact {artifact_id!r}, {role}"
        if [s.name for s in specs] != [t.name for t in tensors]:
            raise CardError(f"{where}: the card names {[s.name for s in specs]} but the model's {role} are "
                            f"{[t.name for t in tensors]} (in order); copy the names from the model "
                            "(`zoo card init` writes them)")
        for i, (spec, t) in enumerate(zip(specs, tensors, strict=True)):
            key = f"{where}[{i}] ({spec.name})"
            if spec.dtype != t.dtype:
                raise CardError(f"{key}: dtype is {spec.dtype} in the card, {t.dtype} in the model")
            if tuple(spec.shape[1:]) != tuple(t.shape[1:]):
                raise CardError(f"{key}: shape is {list(spec.shape)} in the card, {list(t.shape)} in the model")
            q = spec.quantization
            if t.scale is not None and spec.dtype != "float32" and (
                    q is None or q.zero_point != t.zero_point or abs(q.scale - t.scale) > 1e-6 * t.scale):
                raise CardError(f"{key}: quantization is {q and (q.scale, q.zero_point)} in the card, "
                                f"{(t.scale, t.zero_point)} in the model")

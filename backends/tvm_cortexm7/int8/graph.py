"""Lower a .tflite model to the integer layer graph the C generator prints.

Every operator goes to its unit in :mod:`.operators` (``REGISTRY``); anything the units cannot
compile is collected, and the model is refused once, with every offending operator named by its
TFLite name and index, the reason, and what would work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .operators import REGISTRY, Context, Layer, TensorInfo, UnsupportedOperatorError, supported_operators
from .tflite_model import TFLiteModel

__all__ = ["Graph", "lower_model", "IO_DTYPES"]

#: element types a model input or output may have
IO_DTYPES = ("int8", "uint8", "float32")


@dataclass
class Graph:
    """The lowered model: tensors, layers in execution order, and its interface."""

    name: str  # the .tflite file name
    tensors: dict[str, TensorInfo]
    layers: list[Layer]
    inputs: list[str]  # model inputs in the file's order
    outputs: list[str]  # model outputs in the file's order
    logits: str | None  # int8 input of the last SOFTMAX, if any

    def producer(self) -> dict[str, int]:
        """Tensor name -> index of the layer that writes it."""
        return {out: i for i, layer in enumerate(self.layers) for out in layer.outputs}

    def macs(self) -> int:
        """Multiply-accumulates of one inference."""
        return sum(layer.macs() for layer in self.layers)


def _io(ctx: Context, model: TFLiteModel, index: int, kind: str) -> TensorInfo:
    t = model.tensor(index)
    if t.dtype not in IO_DTYPES:
        raise UnsupportedOperatorError(
            f"{model.name}: model {kind} {t.name!r} is {t.dtype}; the int8 lowering takes "
            f"{', '.join(IO_DTYPES)} inputs and outputs")
    name = f"t{index}"
    if name not in ctx.tensors:
        ctx.tensors[name] = TensorInfo(name, tuple(t.shape), t.dtype, t.scale, t.zero_point, t.name)
    return ctx.tensors[name]


def _refuse(model: TFLiteModel, problems: list[str]) -> UnsupportedOperatorError:
    lines = "\n".join(f"  - {p}" for p in problems)
    return UnsupportedOperatorError(
        f"{model.name}: the int8 lowering cannot compile {len(problems)} operator(s):\n{lines}\n"
        f"It compiles these TFLite operators: {', '.join(supported_operators())}. "
        "Use lowering='float', or a host backend (tflm, tflite) for this model.")


def lower_model(path: Path) -> Graph:
    """Parse and lower a .tflite file.

    Args:
        path: an int8-quantized .tflite file.

    Returns:
        The layer graph.

    Raises:
        UnsupportedOperatorError: one error naming every operator (and I/O tensor) it cannot compile.
        BackendError: the file is not a readable TFLite model.
    """
    model = TFLiteModel.from_file(Path(path))
    ctx = Context(model)
    layers: list[Layer] = []
    problems: list[str] = []
    for op in model.operators:
        unit = REGISTRY.get(op.name)
        if unit is None:
            problems.append(f"{op.describe()} is not supported")
            continue
        try:
            layers.append(unit.lower(op, ctx))
        except UnsupportedOperatorError as exc:
            problems.append(str(exc).removeprefix(f"{model.name}: "))
    if problems:
        raise _refuse(model, problems)
    inputs = [_io(ctx, model, i, "input").name for i in model.inputs]
    outputs = [_io(ctx, model, i, "output").name for i in model.outputs]
    written = set(inputs)
    for layer in layers:
        missing = [t for t in layer.inputs if t not in written]
        if missing:
            raise UnsupportedOperatorError(f"{model.name}: operator #{layer.index} ({layer.op}) reads "
                                           f"{missing}, which nothing before it writes; the model is damaged")
        written.update(layer.outputs)
    if not set(outputs) <= written:
        raise UnsupportedOperatorError(f"{model.name}: a model output is never written; the model is damaged")
    softmax = [layer for layer in layers if layer.op == "SOFTMAX"]
    logits = softmax[-1].inputs[0] if softmax else None
    return Graph(model.name, ctx.tensors, layers, inputs, outputs, logits)

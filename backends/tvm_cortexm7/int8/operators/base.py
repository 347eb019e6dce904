"""What every operator unit of the int8 lowering is made of, and the registry that lists them.

An operator unit is one module of this package. It registers, for one or more TFLite builtin
operators, a ``lower`` function (the pattern is the TFLite operator itself): it checks the
operator (dtypes, options, shapes), derives TFLite Micro's integer constants and returns a
:class:`Layer`. The layer knows its C emission (:meth:`Layer.emit`), its MAC count and its
scratch size. The supported set is whatever is registered (``REGISTRY``), as in TVM's
``relax/backend/pattern_registry.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from zoo.errors import BackendError

from ..tflite_model import ACTIVATIONS, Operator, TFLiteModel

if TYPE_CHECKING:
    from ..codegen import Emitter

__all__ = ["TensorInfo", "Layer", "Context", "Unit", "REGISTRY", "register", "activation_range",
           "kernel_limit", "UnsupportedOperatorError", "round_half_away", "c_float"]

KERNEL_HEADER = Path(__file__).resolve().parent.parent / "kernels" / "zoo_int8.h"


class UnsupportedOperatorError(BackendError):
    """An operator of the model that the int8 lowering cannot compile (the message says which and why)."""


@dataclass(frozen=True)
class TensorInfo:
    """An activation tensor: C-safe name, shape, element type, quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "uint8" or "float32"
    scale: float = 0.0
    zero_point: int = 0
    source: str = ""  # the tensor's name in the .tflite file

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Layer:
    """One kernel call of the generated driver: reads ``inputs``, writes ``outputs`` (tensor names)."""

    op: str  # the TFLite operator it implements
    index: int  # its index in the .tflite file
    inputs: list[str]
    outputs: list[str]
    #: the output may be written over input 0 (each element read before it is written)
    in_place: ClassVar[bool] = False
    #: with in_place, the output may also be smaller than input 0 (written behind what is still read)
    in_place_smaller: ClassVar[bool] = False
    #: the output is input 0 with another shape: no call, no memory
    alias: ClassVar[bool] = False

    def macs(self) -> int:
        """Multiply-accumulates of one inference."""
        return 0

    def scratch_bytes(self) -> int:
        """Arena bytes the kernel needs during the call."""
        return 0

    def output_before_input(self) -> int | None:
        """Bytes D such that the output may start D bytes before input 0 and overlap it (the kernel
        writes each output only over input it no longer reads); None where it may not."""
        return None

    def use_small_scratch(self, small: bool) -> bool:
        """Pick the kernel variant with the least scratch (``small``) or the fastest; returns whether this
        layer has such a choice (the generator keeps the small one where it lowers the arena)."""
        return False

    def emit(self, em: Emitter, i: int) -> str:
        """The C statement(s) of the call (declarations go through ``em``)."""
        raise NotImplementedError(type(self).__name__)


@dataclass(frozen=True)
class Unit:
    """A registered operator unit."""

    tflite_ops: tuple[str, ...]
    lower: Callable[[Operator, Context], Layer]
    summary: str  # what it supports, for error messages


REGISTRY: dict[str, Unit] = {}


def register(*tflite_ops: str, summary: str) -> Callable:
    """Decorator: register ``lower(op, ctx) -> Layer`` for TFLite builtin operators.

    Raises:
        BackendError: an operator is registered twice.
    """
    def wrap(fn: Callable[[Operator, Context], Layer]) -> Callable[[Operator, Context], Layer]:
        unit = Unit(tuple(tflite_ops), fn, summary)
        for name in tflite_ops:
            if name in REGISTRY:
                raise BackendError(f"TFLite operator {name} is registered twice in the int8 lowering")
            REGISTRY[name] = unit
        return fn
    return wrap


@cache
def _header_limits() -> dict[str, int]:
    text = KERNEL_HEADER.read_text(encoding="utf-8")
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"#define (ZOO_(?:MAX|ADD)_\w+) (\d+)", text)}


def kernel_limit(name: str) -> int:
    """A limit of the C kernels, read from ``zoo_int8.h`` (their single source), e.g. ``ZOO_MAX_TAPS``."""
    return _header_limits()[name]


def c_float(v: float) -> str:
    """A float32 value as an exact C literal (hex float)."""
    return f"{float(np.float32(v)).hex()}f"


def round_half_away(x: float) -> int:
    """``std::round`` (TfLiteRound): half away from zero."""
    return int(np.sign(x) * np.floor(abs(x) + 0.5))


def activation_range(fused: int, out: TensorInfo) -> tuple[int, int]:
    """TFLM's ``CalculateActivationRangeQuantized`` for an int8 output.

    The bounds are quantized as ``zp + round(f / scale)`` with the division in float32.
    """
    lo, hi = -128, 127

    def q(f: float) -> int:
        return out.zero_point + round_half_away(float(np.float32(f) / np.float32(out.scale)))

    name = ACTIVATIONS.get(fused, str(fused))
    if name == "RELU":
        return max(lo, q(0.0)), hi
    if name == "RELU6":
        return max(lo, q(0.0)), min(hi, q(6.0))
    if name == "RELU_N1_TO_1":
        return max(lo, q(-1.0)), min(hi, q(1.0))
    if name == "NONE":
        return lo, hi
    raise BackendError(f"fused activation {name} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)")


@dataclass
class Context:
    """What an operator's ``lower`` sees: the model and the activation tensors named so far."""

    model: TFLiteModel
    tensors: dict[str, TensorInfo] = field(default_factory=dict)

    def fail(self, op: Operator, why: str, fix: str) -> UnsupportedOperatorError:
        """The error for an operator variant the lowering does not handle."""
        return UnsupportedOperatorError(f"{self.model.name}: {op.describe()}: {why}; {fix}")

    def act(self, op: Operator, position: int, dtypes: tuple[str, ...] = ("int8",), out: bool = False) -> TensorInfo:
        """The activation tensor at input (or output) ``position`` of ``op``, registered by name.

        Raises:
            UnsupportedOperatorError: the tensor is missing, constant, or of another dtype.
        """
        ids = op.outputs if out else op.inputs
        if position >= len(ids) or ids[position] < 0:
            raise self.fail(op, f"has no {'output' if out else 'input'} {position}", "check the model file")
        t = self.model.tensor(ids[position])
        if t.data is not None and not out:
            raise self.fail(op, f"input {position} ({t.name!r}) is a constant", "only activations can be inputs here")
        if t.dtype not in dtypes:
            raise self.fail(op, f"{'output' if out else 'input'} {t.name!r} is {t.dtype}",
                            f"this operator takes {' or '.join(dtypes)} (quantize the model fully to int8)")
        if t.scales.size > 1:
            raise self.fail(op, f"activation {t.name!r} has per-channel quantization", "activations must be per-tensor")
        name = f"t{t.index}"
        info = TensorInfo(name, tuple(t.shape), t.dtype, t.scale, t.zero_point, t.name)
        self.tensors.setdefault(name, info)
        return info

    def const(self, op: Operator, position: int, dtype: str | None = None, required: bool = True) -> Any:
        """The constant tensor (:class:`~..tflite_model.Tensor`) at input ``position``, or None if optional and absent.

        Raises:
            UnsupportedOperatorError: it is missing when required, not constant, or of another dtype.
        """
        if position >= len(op.inputs) or op.inputs[position] < 0:
            if required:
                raise self.fail(op, f"has no input {position}", "check the model file")
            return None
        t = self.model.tensor(op.inputs[position])
        if t.data is None:
            raise self.fail(op, f"input {position} ({t.name!r}) is computed at run time",
                            "the int8 lowering needs it constant (weights, shapes, paddings)")
        if dtype is not None and t.dtype != dtype:
            raise self.fail(op, f"constant {t.name!r} is {t.dtype}", f"it must be {dtype}")
        return t

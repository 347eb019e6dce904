"""LOGISTIC and TANH on int8: TFLM's integer functions evaluated for all 256 input values at compile
time; the kernel looks each element up in the table.

TFLM: ``reference_integer_ops::Logistic`` / ``Tanh`` (input rescaled to Q4.27, gemmlowp fixed point,
output 1/256 with zero point -128 / 1/128 with zero point 0), parameters as ``CalculateArithmeticOpData``
and ``TanhPrepare`` (tensorflow/lite/micro/kernels/logistic_common.cc, tanh.cc at tflite-micro
90b983c2). Kernel: ``zoo_int8_lut.c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import fixedpoint
from .base import Context, Layer, register, round_half_away

__all__ = ["Lut", "table"]

_INPUT_BITS = 4


@dataclass
class Lut(Layer):
    """An elementwise int8 -> int8 function as a 256-entry table (indexed by x + 128)."""

    count: int = 0
    values: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int8))
    in_place = True

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_lut_s8``."""
        t = em.array(f"l{i}_lut", self.values.astype(np.int8))
        return f"zoo_lut_s8({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, {self.count}, {t});"


def table(op: str, scale: float, zero_point: int) -> np.ndarray:
    """The int8 outputs of LOGISTIC or TANH for inputs -128..127 (TFLM's arithmetic)."""
    frac, shift = math.frexp(float(np.float32(scale)) * float(1 << (31 - _INPUT_BITS)))
    mult = round_half_away(frac * (1 << 31))
    radius = math.floor(1.0 * ((1 << _INPUT_BITS) - 1) * (1 << (31 - _INPUT_BITS)) / (1 << shift))
    out = np.empty(256, np.int8)
    for v in range(-128, 128):
        x = v - zero_point
        if x <= -radius:
            y = -128
        elif x >= radius:
            y = 127
        else:
            q4 = fixedpoint.srdhm(((x << shift) + 2**31) % 2**32 - 2**31, mult)
            if op == "LOGISTIC":
                y = fixedpoint.rdbpot(fixedpoint.logistic(q4, _INPUT_BITS), 31 - 8) - 128
            else:
                y = fixedpoint.rdbpot(fixedpoint.tanh(q4, _INPUT_BITS), 31 - 7)
        out[v + 128] = min(max(y, -128), 127)
    return out


@register("LOGISTIC", "TANH", summary="LOGISTIC / TANH (int8; output 1/256 zp -128 / 1/128 zp 0)")
def lower(op, ctx: Context) -> Lut:  # noqa: ANN001
    """Check the output quantization TFLM requires and tabulate the function."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    want = (1 / 256, -128) if op.name == "LOGISTIC" else (1 / 128, 0)
    if (np.float32(y.scale), y.zero_point) != (np.float32(want[0]), want[1]):
        raise ctx.fail(op, f"output scale {y.scale} zero point {y.zero_point}",
                       f"TFLM's int8 {op.name} needs scale {want[0]} and zero point {want[1]}")
    return Lut(op.name, op.index, [x.name], [y.name], count=x.size, values=table(op.name, x.scale, x.zero_point))

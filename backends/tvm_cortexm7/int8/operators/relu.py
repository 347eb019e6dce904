"""RELU, RELU6 and RELU_N1_TO_1 as operators of their own (not fused).

TFLM: ``ReluQuantized`` (requantized into the output, floored at its zero point) and
``Relu6Quantized`` (the raw values clamped to [zp, zp + round(6 / scale)] of the input)
(tensorflow/lite/micro/kernels/activations_common.cc at tflite-micro 90b983c2). Kernel:
``zoo_int8_relu.c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import quant
from .base import Context, Layer, register, round_half_away

__all__ = ["Relu", "Clamp"]


@dataclass
class Relu(Layer):
    """RELU: requantize, then clamp."""

    count: int = 0
    params: tuple[int, ...] = ()  # in_zp, out_zp, mult, shift, act_min, act_max
    in_place = True

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_relu_s8``."""
        return (f"zoo_relu_s8({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, {self.count}, "
                f"{', '.join(map(str, self.params))});")


@dataclass
class Clamp(Layer):
    """RELU6: clamp the raw values."""

    count: int = 0
    lo: int = -128
    hi: int = 127
    in_place = True

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_clamp_s8``."""
        return f"zoo_clamp_s8({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, {self.count}, {self.lo}, {self.hi});"


@register("RELU", "RELU6", summary="RELU / RELU6 (int8)")
def lower(op, ctx: Context) -> Layer:  # noqa: ANN001
    """RELU requantizes; RELU6 clamps in the input's quantization."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    if op.name == "RELU6":
        six = round_half_away(float(np.float32(6.0) / np.float32(x.scale))) + x.zero_point
        return Clamp(op.name, op.index, [x.name], [y.name], count=x.size, lo=x.zero_point, hi=min(six, 127))
    m, s = quant.quantize_multiplier(float(np.float32(np.float32(x.scale) / np.float32(y.scale))))
    lo = max(-128, y.zero_point)
    return Relu(op.name, op.index, [x.name], [y.name], count=x.size,
                params=(x.zero_point, y.zero_point, m, s, lo, 127))

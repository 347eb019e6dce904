"""QUANTIZE (float32 / uint8 / int8 -> int8) and DEQUANTIZE (int8 -> float32).

TFLM: ``reference_ops::AffineQuantize`` (float input), ``reference_ops::Requantize`` (integer input,
multiplier ``in_scale / out_scale`` in double), ``reference_ops::Dequantize``
(tensorflow/lite/micro/kernels/quantize_common.cc, dequantize_common.cc at tflite-micro 90b983c2).
Kernels: ``zoo_int8_requantize.c``, ``zoo_int8_quantize_f32.c``, ``zoo_int8_dequantize.c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import quant
from .base import Context, Layer, c_float, register

__all__ = ["Requantize", "QuantizeFloat", "Dequantize"]


@dataclass
class Requantize(Layer):
    """uint8/int8 -> int8: ``clamp(MBQM(x - in_zp) + out_zp)``."""

    count: int = 0
    in_dtype: str = "uint8"
    in_zp: int = 0
    out_zp: int = 0
    multiplier: int = 0
    shift: int = 0
    in_place = True

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_flip_u8`` where the scales are equal and the zero points 128 apart, else ``zoo_requantize_*``."""
        ctype = "uint8_t" if self.in_dtype == "uint8" else "int8_t"
        x, y = em.ptr(self.inputs[0], ctype), em.ptr(self.outputs[0])
        if (self.in_dtype == "uint8" and self.multiplier == 1 << 30 and self.shift == 1
                and self.in_zp - self.out_zp == 128):
            return f"zoo_flip_u8({x}, {y}, {self.count});"
        fn = "zoo_requantize_u8" if self.in_dtype == "uint8" else "zoo_requantize_s8"
        return f"{fn}({x}, {y}, {self.count}, {self.in_zp}, {self.out_zp}, {self.multiplier}, {self.shift});"


@dataclass
class QuantizeFloat(Layer):
    """float32 -> int8: ``clamp(round(x / scale) + zp)``."""

    count: int = 0
    scale: float = 1.0
    zp: int = 0

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_quantize_f32``."""
        return (f"zoo_quantize_f32({em.ptr(self.inputs[0], 'float')}, {em.ptr(self.outputs[0])}, {self.count}, "
                f"{c_float(self.scale)}, {self.zp});")


@dataclass
class Dequantize(Layer):
    """int8 -> float32: ``scale * (x - zp)``."""

    count: int = 0
    scale: float = 1.0
    zp: int = 0

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_dequantize_s8``."""
        return (f"zoo_dequantize_s8({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0], 'float')}, {self.count}, "
                f"{c_float(self.scale)}, {self.zp});")


@register("QUANTIZE", summary="QUANTIZE (float32, uint8 or int8 -> int8)")
def lower_quantize(op, ctx: Context) -> Layer:  # noqa: ANN001
    """A float32 input is quantized, an integer one requantized."""
    x, y = ctx.act(op, 0, ("float32", "uint8", "int8")), ctx.act(op, 0, ("int8",), out=True)
    if x.dtype == "float32":
        return QuantizeFloat(op.name, op.index, [x.name], [y.name], count=x.size, scale=y.scale, zp=y.zero_point)
    m, s = quant.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(y.scale)))
    return Requantize(op.name, op.index, [x.name], [y.name], count=x.size, in_dtype=x.dtype, in_zp=x.zero_point,
                      out_zp=y.zero_point, multiplier=m, shift=s)


@register("DEQUANTIZE", summary="DEQUANTIZE (int8 -> float32)")
def lower_dequantize(op, ctx: Context) -> Dequantize:  # noqa: ANN001
    """int8 -> float32."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, ("float32",), out=True)
    return Dequantize(op.name, op.index, [x.name], [y.name], count=x.size, scale=x.scale, zp=x.zero_point)

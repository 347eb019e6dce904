"""SOFTMAX int8 -> int8 over the last axis (output scale 1/256, zero point -128, as TFLM requires).

TFLM: ``reference_ops::Softmax`` (integer, gemmlowp fixed point) with the parameters of
``CalculateSoftmaxParams`` (tensorflow/lite/micro/kernels/softmax_common.cc at tflite-micro
90b983c2). Kernel: ``zoo_int8_softmax.c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import quant
from .base import Context, Layer, register

__all__ = ["Softmax"]


@dataclass
class Softmax(Layer):
    """int8 SOFTMAX."""

    rows: int = 1
    depth: int = 0
    multiplier: int = 0
    left_shift: int = 0
    diff_min: int = 0
    in_place = True

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_softmax_s8``."""
        return (f"zoo_softmax_s8({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, {self.rows}, {self.depth}, "
                f"{self.multiplier}, {self.left_shift}, {self.diff_min});")


@register("SOFTMAX", summary="SOFTMAX (int8 in, int8 out of scale 1/256 and zero point -128)")
def lower(op, ctx: Context) -> Softmax:  # noqa: ANN001
    """Check a SOFTMAX and derive TFLM's input scaling."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    if np.float32(y.scale) != np.float32(1.0 / 256) or y.zero_point != -128:
        raise ctx.fail(op, f"output quantization scale {y.scale} zero point {y.zero_point}",
                       "TFLM's int8 SOFTMAX needs scale 1/256 and zero point -128")
    mult, shift, diff_min = quant.softmax_params(float(op.options.Beta()), x.scale)
    return Softmax(op.name, op.index, [x.name], [y.name], rows=x.size // x.shape[-1], depth=x.shape[-1],
                   multiplier=mult, left_shift=shift, diff_min=diff_min)

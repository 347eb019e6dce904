"""ADD and MUL of two int8 tensors of the same shape, each with its own scale and zero point.

TFLM: ``CalculateOpDataAdd`` / ``reference_integer_ops::Add`` (left shift 20, inputs rescaled to
twice the larger scale) and ``reference_integer_ops::Mul`` (tensorflow/lite/micro/kernels/add_common.cc,
mul_common.cc at tflite-micro 90b983c2). Kernels: ``zoo_int8_add.c``, ``zoo_int8_mul.c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import quant
from .base import Context, Layer, activation_range, kernel_limit, register

__all__ = ["Binary"]

#: elements from which tabulating ADD's input terms (512 requantizations) pays off
LUT_FROM = 1024


@dataclass
class Binary(Layer):
    """ADD or MUL, elementwise, in place over either input allowed."""

    count: int = 0
    params: list[int] = field(default_factory=list)  # zoo_binary_t in order
    in_place = True

    def scratch_bytes(self) -> int:
        """A large ADD tabulates its two input terms (``ZOO_ADD_LUT_BYTES``: 2 x 256 int32)."""
        return kernel_limit("ZOO_ADD_LUT_BYTES") if self.op == "ADD" and self.count >= LUT_FROM else 0

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_add_s8`` / ``zoo_mul_s8``."""
        em.decl(f"static const zoo_binary_t s_l{i} = {{{', '.join(map(str, self.params))}}};")
        a, b, y = (em.ptr(n) for n in (*self.inputs, self.outputs[0]))
        if self.op == "MUL":
            return f"zoo_mul_s8(&s_l{i}, {a}, {b}, {y}, {self.count});"
        lut = f"(int32_t *)({em.scratch(i)})" if self.scratch_bytes() else "0"
        return f"zoo_add_s8(&s_l{i}, {a}, {b}, {y}, {self.count}, {lut});"


def _smaller_than_one(real: float) -> tuple[int, int]:
    m, s = quant.quantize_multiplier(real)
    return m, s


@register("ADD", "MUL", summary="ADD / MUL (int8, same shapes, any scales and zero points, fused RELU/RELU6)")
def lower(op, ctx: Context) -> Binary:  # noqa: ANN001
    """Check an ADD/MUL and derive TFLM's multipliers."""
    a, b, y = ctx.act(op, 0), ctx.act(op, 1), ctx.act(op, 0, out=True)
    if not a.size == b.size == y.size:  # same elements, maybe other ranks ([1, 40] + [40])
        raise ctx.fail(op, f"inputs of shapes {list(a.shape)} and {list(b.shape)} (broadcasting)",
                       "only inputs with the output's element count are supported (no broadcasting)")
    lo, hi = activation_range(op.options.FusedActivationFunction(), y)
    sa, sb, sy = (float(np.float32(t.scale)) for t in (a, b, y))
    if op.name == "ADD":
        left = 20
        twice_max = 2 * max(sa, sb)
        m1, s1 = _smaller_than_one(sa / twice_max)
        m2, s2 = _smaller_than_one(sb / twice_max)
        mo, so = _smaller_than_one(twice_max / ((1 << left) * sy))
    else:
        left, m1, s1, m2, s2 = 0, 0, 0, 0, 0
        mo, so = quant.quantize_multiplier(sa * sb / sy)
    params = [a.zero_point, b.zero_point, y.zero_point, left, m1, s1, m2, s2, mo, so, lo, hi]
    return Binary(op.name, op.index, [a.name, b.name], [y.name], count=y.size, params=params)

"""CONCATENATION of int8 tensors that share the output's quantization (TFLM requires it).

TFLM: ``reference_ops::Concatenation`` (tensorflow/lite/micro/kernels/concatenation.cc at
tflite-micro 90b983c2). Kernel: ``zoo_int8_concat.c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import Context, Layer, activation_range, register

__all__ = ["Concat"]


@dataclass
class Concat(Layer):
    """CONCATENATION along one axis."""

    outer: int = 1
    inner: list[int] = field(default_factory=list)

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_concat_s8``."""
        ptrs = ", ".join(f"(const int8_t *){em.ptr(n)}" for n in self.inputs)
        em.decl(f"static const int32_t s_l{i}_inner[{len(self.inner)}] = {{{', '.join(map(str, self.inner))}}};")
        return (f"{{ const int8_t *const parts[{len(self.inputs)}] = {{{ptrs}}}; "
                f"zoo_concat_s8(parts, s_l{i}_inner, {len(self.inputs)}, {self.outer}, {em.ptr(self.outputs[0])}); }}")


@register("CONCATENATION", summary="CONCATENATION (int8, inputs quantized like the output)")
def lower(op, ctx: Context) -> Concat:  # noqa: ANN001
    """Check a CONCATENATION."""
    y = ctx.act(op, 0, out=True)
    xs = [ctx.act(op, k) for k in range(len(op.inputs))]
    if activation_range(op.options.FusedActivationFunction(), y) != (-128, 127):
        raise ctx.fail(op, "a fused activation", "CONCATENATION without activation only")
    if any((x.scale, x.zero_point) != (y.scale, y.zero_point) for x in xs):
        raise ctx.fail(op, "inputs quantized differently from the output", "TFLM requires them equal")
    axis = int(op.options.Axis()) % len(y.shape)
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = [int(np.prod(x.shape[axis:], dtype=np.int64)) for x in xs]
    return Concat(op.name, op.index, [x.name for x in xs], [y.name], outer=outer, inner=inner)

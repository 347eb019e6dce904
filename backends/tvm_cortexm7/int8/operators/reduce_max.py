"""REDUCE_MAX over any axes of an int8 tensor of rank <= ZOO_MAX_DIMS.

TFLM: ``reference_ops::ReduceGeneric`` with max (tensorflow/lite/micro/kernels/reduce_common.cc at
tflite-micro 90b983c2), which requires the input's quantization on the output. Kernel:
``zoo_int8_reduce_max.c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Context, Layer, kernel_limit, register
from .mean import reduction_axes

__all__ = ["ReduceMax"]


@dataclass
class ReduceMax(Layer):
    """REDUCE_MAX."""

    dims: list[int] = field(default_factory=list)  # padded to 4 on the left
    reduce: list[int] = field(default_factory=list)

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_reduce_max_s8``."""
        em.decl(f"static const int32_t s_l{i}_dims[4] = {{{', '.join(map(str, self.dims))}}};\n"
                f"static const int32_t s_l{i}_red[4] = {{{', '.join(map(str, self.reduce))}}};")
        return f"zoo_reduce_max_s8({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, s_l{i}_dims, s_l{i}_red);"


@register("REDUCE_MAX", summary="REDUCE_MAX over any axes (rank <= 4, output quantized like the input)")
def lower(op, ctx: Context) -> ReduceMax:  # noqa: ANN001
    """Check a REDUCE_MAX."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    rank = len(x.shape)
    if rank > kernel_limit("ZOO_MAX_DIMS"):
        raise ctx.fail(op, f"rank {rank}", f"at most {kernel_limit('ZOO_MAX_DIMS')} dimensions")
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise ctx.fail(op, "output quantization differs from the input's", "TFLM requires them equal")
    axes = reduction_axes(ctx, op, rank)
    pad = 4 - rank
    return ReduceMax(op.name, op.index, [x.name], [y.name], dims=[1] * pad + list(x.shape),
                     reduce=[0] * pad + [int(a in axes) for a in range(rank)])

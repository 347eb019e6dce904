"""MEAN over H and W of an NHWC int8 tensor (``keep_dims`` either way).

TFLM: ``reference_ops::QuantizedMeanOrSum`` with the multiplier of ``PrepareMeanOrSumHelper``
(tensorflow/lite/micro/kernels/reduce_common.cc at tflite-micro 90b983c2). Kernel: ``zoo_int8_mean.c``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import quant
from .base import Context, Layer, register

__all__ = ["Mean"]


@dataclass
class Mean(Layer):
    """MEAN over H and W."""

    hw: int = 0
    channels: int = 0
    in_zp: int = 0
    out_zp: int = 0
    multiplier: int = 0
    shift: int = 0

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_mean_hw_s8``, or ``_c4`` where it applies (a model links only the one it calls)."""
        fn = "zoo_mean_hw_s8_c4" if self.hw <= 255 and self.channels % 4 == 0 else "zoo_mean_hw_s8"
        return (f"{fn}({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, {self.hw}, "
                f"{self.channels}, {self.in_zp}, {self.out_zp}, {self.multiplier}, {self.shift});")


def reduction_axes(ctx: Context, op, rank: int) -> list[int]:  # noqa: ANN001
    """The constant axes of a reduction, resolved to non-negative and sorted."""
    axes = ctx.const(op, 1)
    if axes.dtype not in ("int32", "int64"):
        raise ctx.fail(op, f"axes of dtype {axes.dtype}", "axes must be int32")
    return sorted({int(a) % rank for a in axes.data.reshape(-1)})


@register("MEAN", summary="MEAN over H and W of an NHWC int8 tensor")
def lower(op, ctx: Context) -> Mean:  # noqa: ANN001
    """Check a MEAN and fold 1/count into its multiplier."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    axes = reduction_axes(ctx, op, len(x.shape))
    if len(x.shape) != 4 or axes != [1, 2] or x.shape[0] != 1:
        raise ctx.fail(op, f"a mean over axes {axes} of shape {list(x.shape)}",
                       "only the mean over H and W of an NHWC tensor with batch 1 is supported")
    hw = x.shape[1] * x.shape[2]
    m, s = quant.mean_multiplier(x.scale, y.scale, hw)
    return Mean(op.name, op.index, [x.name], [y.name], hw=hw, channels=x.shape[3], in_zp=x.zero_point,
                out_zp=y.zero_point, multiplier=m, shift=s)

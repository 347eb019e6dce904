"""AVERAGE_POOL_2D and MAX_POOL_2D: NHWC int8, any window, stride and padding, fused activation.

TFLM: ``reference_integer_ops::AveragePool`` (divides by the number of cells inside the input,
rounding half away from zero) and ``MaxPool``; input and output share their quantization
(tensorflow/lite/micro/kernels/pooling_common.cc at tflite-micro 90b983c2). Kernels:
``zoo_int8_avgpool.c``, ``zoo_int8_maxpool.c``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Context, Layer, activation_range, kernel_limit, register
from .conv2d import same_padding

__all__ = ["Pool"]


@dataclass
class Pool(Layer):
    """A 2-D pooling layer."""

    in_hwc: tuple[int, int, int] = (0, 0, 0)
    out_hw: tuple[int, int] = (0, 0)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    act_min: int = -128
    act_max: int = 127

    def macs(self) -> int:
        """Additions (average) or comparisons (max), counted like MACs."""
        return self.out_hw[0] * self.out_hw[1] * self.in_hwc[2] * self.kernel[0] * self.kernel[1]

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_avgpool_s8`` / ``zoo_maxpool_s8``."""
        (ih, iw, c), (oh, ow) = self.in_hwc, self.out_hw
        em.decl(f"static const zoo_pool_t s_l{i} = {{{ih}, {iw}, {c}, {oh}, {ow}, {self.kernel[0]}, "
                f"{self.kernel[1]}, {self.stride[0]}, {self.stride[1]}, {self.pad[0]}, {self.pad[1]}, "
                f"{self.act_min}, {self.act_max}}};")
        fn = "zoo_avgpool_s8" if self.op == "AVERAGE_POOL_2D" else "zoo_maxpool_s8"
        return f"{fn}(&s_l{i}, {em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])});"


@register("AVERAGE_POOL_2D", "MAX_POOL_2D",
          summary="AVERAGE_POOL_2D / MAX_POOL_2D (int8, any window, stride, SAME/VALID, fused RELU/RELU6)")
def lower(op, ctx: Context) -> Pool:  # noqa: ANN001
    """Check a pooling layer."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    if len(x.shape) != 4 or x.shape[0] != 1:
        raise ctx.fail(op, f"input shape {list(x.shape)}", "the int8 lowering takes NHWC with batch 1")
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise ctx.fail(op, "output quantization differs from the input's", "TFLM requires them equal")
    o = op.options
    k, stride = (int(o.FilterHeight()), int(o.FilterWidth())), (int(o.StrideH()), int(o.StrideW()))
    if k[0] * k[1] > kernel_limit("ZOO_MAX_POOL_WINDOW"):
        raise ctx.fail(op, f"a {k[0]}x{k[1]} window", f"at most {kernel_limit('ZOO_MAX_POOL_WINDOW')} cells")
    pad = (0, 0)
    if int(o.Padding()) == 0:
        pad = (same_padding(x.shape[1], y.shape[1], k[0], stride[0]),
               same_padding(x.shape[2], y.shape[2], k[1], stride[1]))
    lo, hi = activation_range(o.FusedActivationFunction(), y)
    return Pool(op.name, op.index, [x.name], [y.name], in_hwc=tuple(x.shape[1:]), out_hw=tuple(y.shape[1:3]),
                kernel=k, stride=stride, pad=pad, act_min=lo, act_max=hi)

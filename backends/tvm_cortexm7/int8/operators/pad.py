"""PAD / PADV2 of an int8 tensor of rank <= ZOO_MAX_DIMS with constant paddings.

TFLM: ``reference_ops::Pad``: the pad value is the output zero point (PAD) or PADV2's constant,
input and output share their quantization (tensorflow/lite/micro/kernels/pad.cc at tflite-micro
90b983c2). Kernel: ``zoo_int8_pad.c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Context, Layer, kernel_limit, register

__all__ = ["Pad"]


@dataclass
class Pad(Layer):
    """PAD."""

    in_dims: list[int] = field(default_factory=list)  # padded to 4 on the left
    before: list[int] = field(default_factory=list)
    out_dims: list[int] = field(default_factory=list)
    value: int = 0

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_pad_s8``."""
        em.decl("\n".join(f"static const int32_t s_l{i}_{n}[4] = {{{', '.join(map(str, v))}}};"
                          for n, v in (("in", self.in_dims), ("before", self.before), ("out", self.out_dims))))
        return (f"zoo_pad_s8({em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, s_l{i}_in, s_l{i}_before, "
                f"s_l{i}_out, {self.value});")


@register("PAD", "PADV2", summary="PAD / PADV2 (int8, constant paddings, rank <= 4)")
def lower(op, ctx: Context) -> Pad:  # noqa: ANN001
    """Check a PAD."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    rank = len(x.shape)
    if rank > kernel_limit("ZOO_MAX_DIMS"):
        raise ctx.fail(op, f"rank {rank}", f"at most {kernel_limit('ZOO_MAX_DIMS')} dimensions")
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise ctx.fail(op, "output quantization differs from the input's", "TFLM requires them equal")
    pads = ctx.const(op, 1).data.reshape(rank, 2).astype(int)
    if (pads < 0).any():
        raise ctx.fail(op, "negative paddings", "paddings must be >= 0")
    value = y.zero_point
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = int(ctx.const(op, 2, "int8").data.reshape(-1)[0])
    lead = [1] * (4 - rank)
    return Pad(op.name, op.index, [x.name], [y.name], in_dims=lead + list(x.shape),
               before=[0] * (4 - rank) + pads[:, 0].tolist(), out_dims=lead + list(y.shape), value=value)

"""RESHAPE, SQUEEZE, EXPAND_DIMS (and flatten): the same bytes under another shape, no copy.

The output aliases the input's memory; the lowering only checks the quantization is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Context, Layer, register

__all__ = ["Alias"]


@dataclass
class Alias(Layer):
    """A layer with no call: its output is its input."""

    alias = True

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """Nothing (the planner gives the output the input's address; a model output is copied)."""
        return ""


@register("RESHAPE", "SQUEEZE", "EXPAND_DIMS", summary="RESHAPE / SQUEEZE / EXPAND_DIMS (free: aliases)")
def lower(op, ctx: Context) -> Alias:  # noqa: ANN001
    """Check the element count and quantization are unchanged."""
    x = ctx.act(op, 0, ("int8", "uint8", "float32"))
    y = ctx.act(op, 0, (x.dtype,), out=True)
    if x.size != y.size or (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise ctx.fail(op, "changes the element count or the quantization", "check the model file")
    return Alias(op.name, op.index, [x.name], [y.name])

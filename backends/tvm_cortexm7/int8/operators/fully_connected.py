"""FULLY_CONNECTED: int8 input rows, int8 weights (out, in) per-tensor or per-channel, int32 bias.

TFLM: ``reference_integer_ops::FullyConnected``; multipliers as ``CalculateOpDataFullyConnected``
(tensorflow/lite/micro/kernels/fully_connected_common.cc at tflite-micro 90b983c2). Kernel:
``zoo_int8_fc.c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import layout, quant
from .base import Context, Layer, activation_range, register

__all__ = ["FullyConnected", "exact_requant"]


@dataclass
class FullyConnected(Layer):
    """FULLY_CONNECTED over ``rows`` input rows."""

    rows: int = 1
    in_features: int = 0
    out_features: int = 0
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    multipliers: list[int] = field(default_factory=list)  # per output (equal when per-tensor)
    shifts: list[int] = field(default_factory=list)
    in_zp: int = 0
    out_zp: int = 0
    act_min: int = -128
    act_max: int = 127

    def macs(self) -> int:
        """rows x in x out."""
        return self.rows * self.in_features * self.out_features

    def scratch_bytes(self) -> int:
        """The widened input row of the blocked kernel (``ZOO_FC_SCRATCH_BYTES``)."""
        return 2 * self.in_features if self.in_features % 4 == 0 and self.out_features >= 4 else 0

    def emit(self, em, i: int) -> str:  # noqa: ANN001
        """``zoo_fc_s8`` (``zoo_fc_s8_exact`` where it applies: only the code a layer runs is linked): weights
        (``layout.fc_weights``), the folded bias and the requantization in flash."""
        data = layout.fc_data(self)
        w, b = em.array(f"l{i}_w", data.weights), em.array(f"l{i}_bias", data.bias)
        per_channel = int(len(set(zip(self.multipliers, self.shifts, strict=True))) > 1)
        n = len(self.multipliers) if per_channel else 1
        m = s = rq = rqx = "0"
        exact = None if per_channel or (self.act_min, self.act_max) != (-128, 127) else \
            exact_requant(int(data.mult[0]), int(data.shift[0]), self.out_zp)
        # the single step rounds negative ties differently from TFLM: only where the floor hides them
        fast = layout.single_step_requant(data.mult[:n], data.shift[:n], self.out_zp) \
            if self.act_min >= self.out_zp else None
        if exact is not None:
            rqx = em.array(f"l{i}_rqx", exact)
        elif fast is not None:
            rq = em.array(f"l{i}_rq", fast)
        else:
            m, s = em.array(f"l{i}_mult", data.mult[:n]), em.array(f"l{i}_shift", data.shift[:n])
        em.decl(f"static const zoo_fc_t s_l{i} = {{{self.rows}, {self.in_features}, {self.out_features}, "
                f"{self.out_zp}, {per_channel}, {self.act_min}, {self.act_max}, {w}, {b}, {m}, {s}, {rq}, {rqx}}};")
        scratch = f"(int16_t *)({em.scratch(i)})" if self.scratch_bytes() else "0"
        kernel = "zoo_fc_s8_exact" if exact is not None and self.in_features % 16 == 0 and \
            self.out_features % 4 == 0 else "zoo_fc_s8"
        return f"{kernel}(&s_l{i}, {em.ptr(self.inputs[0])}, {em.ptr(self.outputs[0])}, {scratch});"


def exact_requant(mult: int, shift: int, out_zp: int) -> np.ndarray | None:
    """``{m, c_lo, c_hi, e - 1}`` of ``zoo_rq_exact`` (TFLM's MultiplyByQuantizedMultiplier and the output
    zero point in one 64-bit step, negative ties included), or None unless e = -shift >= 1 and the
    constant ``c = 2^30 + 2^(30+e) + zp * 2^(31+e)`` has its high word in int32.

    Example:
        >>> exact_requant(1 << 30, -1, 0).tolist()
        [1073741824, -1073741824, 0, 0]
    """
    e = -shift
    if e < 1 or mult <= 0:
        return None
    c = (1 << 30) + (1 << (30 + e)) + out_zp * (1 << (31 + e))
    hi, lo = c >> 32, c & 0xFFFFFFFF
    if not -(2**31) <= hi < 2**31:
        return None
    return np.array([mult, lo - (1 << 32) if lo >= 2**31 else lo, hi, e - 1], np.int64).astype(np.int32)


@register("FULLY_CONNECTED", summary="FULLY_CONNECTED (int8, per-tensor or per-channel weights, fused RELU/RELU6)")
def lower(op, ctx: Context) -> FullyConnected:  # noqa: ANN001
    """Check a fully connected layer and derive its integer constants."""
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    w = ctx.const(op, 1, "int8")
    b = ctx.const(op, 2, "int32", required=False)
    if w.data.ndim != 2:
        raise ctx.fail(op, f"weights of shape {list(w.shape)}", "FULLY_CONNECTED weights are (out, in)")
    n_out, n_in = w.shape
    if x.size % n_in:
        raise ctx.fail(op, f"input of {x.size} elements for {n_in} features", "check the model file")
    if np.any(w.zero_points != 0) or w.scales.size not in (1, n_out):
        raise ctx.fail(op, "asymmetric or oddly quantized weights", "TFLM needs symmetric int8 weights, "
                       "per-tensor or per output channel")
    if w.scales.size == 1:
        m, s = quant.fc_multiplier(x.scale, float(w.scales[0]), y.scale)
        mults, shifts = [m] * n_out, [s] * n_out
    else:
        mults, shifts = quant.per_channel_multipliers(x.scale, list(w.scales), y.scale)
    lo, hi = activation_range(op.options.FusedActivationFunction(), y)
    bias = b.data.astype(np.int32).reshape(n_out) if b is not None else np.zeros(n_out, np.int32)
    return FullyConnected(op.name, op.index, [x.name], [y.name], rows=x.size // n_in, in_features=n_in,
                          out_features=n_out, weights=np.ascontiguousarray(w.data, np.int8), bias=bias,
                          multipliers=mults, shifts=shifts, in_zp=x.zero_point, out_zp=y.zero_point,
                          act_min=lo, act_max=hi)

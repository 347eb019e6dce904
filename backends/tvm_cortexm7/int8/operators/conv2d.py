"""CONV_2D and DEPTHWISE_CONV_2D: NHWC int8, per-channel int8 weights, int32 bias, fused activation.

TFLM: ``reference_integer_ops::ConvPerChannel`` / ``DepthwiseConvPerChannel``
(tensorflow/lite/kernels/internal/reference/integer_ops/conv.h, depthwise_conv.h at
tflite-micro 90b983c2); padding as ``ComputePaddingHeightWidth`` (SAME puts the odd extra row or
column after). Kernels: ``zoo_int8_conv.c``, ``zoo_int8_conv_1x1.c``, ``zoo_int8_conv_3x3.c``,
``zoo_int8_dwconv.c`` and ``zoo_int8_dwconv_rows.c`` (3x3 depthwise and one-channel convolutions), the
Helium ones in :mod:`..layout_mve`; weight layouts in :mod:`..layout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from zoo.errors import BackendError

from .. import layout, layout_mve, quant
from .base import Context, Layer, activation_range, kernel_limit, register

__all__ = ["Conv2D", "overlap_bytes", "same_padding"]


@dataclass
class Conv2D(Layer):
    """CONV_2D or DEPTHWISE_CONV_2D, NHWC, per-channel requantization, fused activation."""

    depthwise: bool = False
    depth_multiplier: int = 1
    in_hwc: tuple[int, int, int] = (0, 0, 0)
    out_hwc: tuple[int, int, int] = (0, 0, 0)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)  # top, left (bottom/right follow from the shapes)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # OHWI / HWO
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    multipliers: list[int] = field(default_factory=list)
    shifts: list[int] = field(default_factory=list)
    in_zp: int = 0
    out_zp: int = 0
    act_min: int = -128
    act_max: int = 127
    small_scratch: bool = False  # the pair kernel's two columns, not the 1x1 / 3x3 kernels' blocks of 4
    dw_chunk: int = 0  # zoo_dwconv_s8_rows: channels a pass (its row buffer in the scratch); 0: not that kernel

    def macs(self) -> int:
        """Output elements x taps per output."""
        oh, ow, oc = self.out_hwc
        return oh * ow * oc * self.kernel[0] * self.kernel[1] * (1 if self.depthwise else self.in_hwc[2])

    def scratch_bytes(self) -> int:
        """Two int16 im2col columns for a regular convolution (``ZOO_CONV2D_SCRATCH_BYTES``), four
        pixels' inputs for ``zoo_conv2d_s8_1x1`` (``ZOO_CONV1X1_SCRATCH_BYTES``), a 3 x 6 window for
        ``zoo_conv2d_s8_3x3`` (``ZOO_CONV3X3_SCRATCH_BYTES``), three rows of column pairs of a chunk of the
        channels for ``zoo_dwconv_s8_rows`` (``ZOO_DWROWS_SCRATCH_BYTES``)."""
        if self.dw_chunk or self.depthwise:
            return 12 * self.dw_chunk * ((self.out_hwc[1] + 1) // 2 * self.stride[1] + 1)
        k = self.kernel[0] * self.kernel[1] * self.in_hwc[2]
        return {None: 16 * ((k + 3) // 4), "1x1": 8 * self.in_hwc[2], "3x3": 36 * self.in_hwc[2]}[_block_kernel(self)]

    def use_small_scratch(self, small: bool) -> bool:
        """Between the 1x1 / 3x3 kernels (blocks of 4 pixels) and the pair kernel (two columns); for a
        depthwise layer between ``zoo_dwconv_s8_rows`` (all channels a pass) and the kernels without scratch;
        for a one-channel 3x3 convolution between ``zoo_dwconv_s8_rows`` and ``zoo_conv2d_s8_c1``."""
        if self.depthwise or layout.c1_rows(self) is not None:  # zoo_dwconv_s8_rows, or none / the c1 kernel
            if self.depthwise and not layout.dw_rows_applies(self, layout.conv_data(self)):
                return False
            self.dw_chunk = 0 if small else self.in_hwc[2]
            return True
        if _block_kernel(self) is None and not self.small_scratch:
            return False
        self.small_scratch = small
        return True

    in_place_smaller: ClassVar[bool] = True

    @property
    def in_place(self) -> bool:  # type: ignore[override]
        """``zoo_dwconv_s8_rows`` in one pass reads each input row once, into its ring, before any output
        row that could overlap it is written: in place where every output row ends before the first input
        row not yet read (:func:`rows_in_place`)."""
        return bool(self.depthwise and self.dw_chunk == self.in_hwc[2] and rows_in_place(self))

    def output_before_input(self) -> int | None:
        """A regular convolution's output may start :func:`overlap_bytes` before its input and overlap
        it (every kernel for it walks the output pixels in order, a few at a time)."""
        return None if self.depthwise else overlap_bytes(self)

    def narrower(self) -> bool:
        """Take ``zoo_dwconv_s8_rows``'s next smaller chunk of channels (less scratch); False if none."""
        smaller = [k for k in layout.dw_rows_chunks(self.in_hwc[2]) if k < self.dw_chunk]
        if not self.depthwise or not self.dw_chunk or not smaller:
            return False
        self.dw_chunk = smaller[0]
        return True

    def emit(self, em, i: int) -> str:  # noqa: ANN001 - codegen.Emitter
        """The kernel call (the variant picked from the layer's shape and requantization)."""
        return _emit(self, em, i)


def _block_kernel(layer: Conv2D) -> str | None:
    """"1x1" or "3x3" where ``zoo_conv2d_s8_1x1`` / ``_3x3`` run the layer, else None."""
    if layer.depthwise or layer.small_scratch or layout.c1_records(layer) is not None:
        return None
    data = layout.conv_data(layer)
    if layout.pointwise(layer, data) is not None:
        return "1x1"
    return "3x3" if layout.conv3x3(layer, data) is not None else None


def rows_in_place(layer: Conv2D) -> bool:
    """Whether ``zoo_dwconv_s8_rows`` (one pass) may write its output over its input: output row oy is
    written once the input rows up to ``oy * stride - pad_top + 2`` are in the ring, and must end before
    the next input row begins."""
    (ih, iw, c), (oh, ow, _) = layer.in_hwc, layer.out_hwc
    for oy in range(oh):
        read = min(oy * layer.stride[0] - layer.pad[0] + 2, ih - 1) + 1  # input rows read so far
        if (oy + 1) * ow * c > read * iw * c:
            return False
    return True


#: when a convolution kernel writes output pixel q, it has read the input of every pixel before
#: q - (OVERLAP_GROUP - 1): the 1x1 and Helium kernels take blocks of 4 (the Helium 1x1 reads its
#: columns straight from the input, a block may span two rows, pruned channels are filled first), the
#: 3x3 kernel blocks of 4 or 3 (one of 3 may write the pixel after it first), the im2col kernels 2;
#: ``zoo_dwconv_s8_rows`` reads a whole output row's input rows into its ring before it writes that row
OVERLAP_GROUP = 4


def overlap_bytes(layer: Conv2D, align: int = 8) -> int | None:
    """The least D (a multiple of `align`) such that the output may start D bytes before the input and
    overlap it: the input still unread when output pixel q is written belongs to pixels from
    q - (:data:`OVERLAP_GROUP` - 1) on, so each output pixel ends before the first input row of that
    pixel (later pixels read no earlier rows).
    None where that saves nothing (D as large as the output).

    Example: stmnist_v1's 14x14x16 -> 14x14x32 3x3 convolution needs D = 3,584, so its input and output
    take 6,720 bytes, not 9,408.
    """
    (_, iw, ic), (oh, ow, oc) = layer.in_hwc, layer.out_hwc
    need = 0
    for q in range(oh * ow):
        first = max(q - OVERLAP_GROUP + 1, 0)  # the earliest pixel whose input may be unread
        row = max((first // ow) * layer.stride[0] - layer.pad[0], 0)  # the first input row it reads
        need = max(need, (q + 1) * oc - row * iw * ic)
    need = (need + align - 1) // align * align
    return need if need < oh * ow * oc else None


def same_padding(in_size: int, out_size: int, k: int, stride: int, dilation: int = 1) -> int:
    """Padding before (top/left) as TFLM's ``ComputePadding``; the remainder goes after."""
    eff = (k - 1) * dilation + 1
    return max(((out_size - 1) * stride + eff - in_size) // 2, 0)


def _spatial(ctx: Context, op, in_shape, out_shape, kh: int, kw: int) -> tuple[tuple, tuple]:  # noqa: ANN001
    o = op.options
    dil = (int(o.DilationHFactor()), int(o.DilationWFactor()))
    if dil != (1, 1):
        raise ctx.fail(op, f"dilation {dil} is not supported", "use dilation 1 (or the float lowering)")
    stride = (int(o.StrideH()), int(o.StrideW()))
    if int(o.Padding()) == 0:  # SAME
        pad = (same_padding(in_shape[1], out_shape[1], kh, stride[0]),
               same_padding(in_shape[2], out_shape[2], kw, stride[1]))
    else:
        pad = (0, 0)
    return stride, pad


@register("CONV_2D", "DEPTHWISE_CONV_2D",
          summary="CONV_2D / DEPTHWISE_CONV_2D (int8, any stride, SAME/VALID, dilation 1, fused RELU/RELU6)")
def lower(op, ctx: Context) -> Conv2D:  # noqa: ANN001 - tflite_model.Operator
    """Check a convolution and derive its integer constants."""
    depthwise = op.name == "DEPTHWISE_CONV_2D"
    x, y = ctx.act(op, 0), ctx.act(op, 0, out=True)
    w = ctx.const(op, 1, "int8")
    b = ctx.const(op, 2, "int32", required=False)
    if len(x.shape) != 4 or x.shape[0] != 1:
        raise ctx.fail(op, f"input shape {list(x.shape)}", "the int8 lowering takes NHWC with batch 1")
    if np.any(w.zero_points != 0):
        raise ctx.fail(op, "weights have non-zero zero points", "TFLM needs symmetric int8 weights")
    oc = y.shape[3]
    if depthwise:
        _, kh, kw, _ = w.shape
        weights = w.data.reshape(kh, kw, oc)
        mult = int(op.options.DepthMultiplier()) or oc // x.shape[3]
        if oc != x.shape[3] * mult:
            raise ctx.fail(op, f"{x.shape[3]} input and {oc} output channels with depth multiplier {mult}",
                           "check the model file")
        if kh * kw > kernel_limit("ZOO_MAX_TAPS"):
            raise ctx.fail(op, f"a {kh}x{kw} kernel exceeds the kernels' {kernel_limit('ZOO_MAX_TAPS')} taps",
                           "use a smaller depthwise kernel")
    else:
        _, kh, kw, ic = w.shape
        if ic != x.shape[3]:
            raise ctx.fail(op, f"weights for {ic} channels, input has {x.shape[3]} (grouped convolution)",
                           "only regular and depthwise convolutions are supported")
        weights = w.data
        mult = 1
    stride, pad = _spatial(ctx, op, x.shape, y.shape, kh, kw)
    scales = np.broadcast_to(w.scales, (oc,))
    mults, shifts = quant.per_channel_multipliers(x.scale, list(scales), y.scale)
    lo, hi = activation_range(op.options.FusedActivationFunction(), y)
    bias = b.data.astype(np.int32).reshape(oc) if b is not None else np.zeros(oc, np.int32)
    return Conv2D(op.name, op.index, [x.name], [y.name], depthwise=depthwise, depth_multiplier=mult,
                  in_hwc=tuple(x.shape[1:]), out_hwc=tuple(y.shape[1:]), kernel=(kh, kw), stride=stride,
                  pad=pad, weights=np.ascontiguousarray(weights, np.int8), bias=bias, multipliers=mults,
                  shifts=shifts, in_zp=x.zero_point, out_zp=y.zero_point, act_min=lo, act_max=hi)


def _decl(layer: Conv2D, i: int, flags: int, ptrs: tuple[str, ...], depth_mult: int) -> str:
    (ih, iw, ic), (oh, ow, oc) = layer.in_hwc, layer.out_hwc
    return (f"static const zoo_conv_t s_l{i} = {{{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, "
            f"{layer.kernel[0]}, {layer.kernel[1]}, {layer.stride[0]}, {layer.stride[1]}, "
            f"{layer.pad[0]}, {layer.pad[1]}, {depth_mult}, {flags}, {layer.in_zp}, "
            f"{layer.out_zp}, {layer.act_min}, {layer.act_max}, {', '.join(ptrs)}}};")


def _decl_mve(layer: Conv2D, i: int, flags: int, ptrs: tuple[str, ...], depth_mult: int, shift8: str = "0") -> str:
    """:func:`_decl` for :mod:`..layout_mve`'s pointers (weights, 0, pad, bias, mult, shift, rq: the field
    that held int16 weights is gone); ``shift8`` the int8 shifts (:func:`..layout_mve.shift_bytes`) of a
    depthwise layer or a convolution with records in rq."""
    return _decl(layer, i, flags, (ptrs[0], *ptrs[2:], shift8), depth_mult)


def _emit(layer: Conv2D, em, i: int) -> str:  # noqa: ANN001, C901 - variant selection in one place
    if getattr(em, "mve", False) and layout_mve.applies(layer):
        return layout_mve.emit_conv(layer, em, i, _decl_mve)
    x, y = em.ptr(layer.inputs[0]), em.ptr(layer.outputs[0])
    if not all(-128 <= v <= 127 for v in (layer.in_zp, layer.out_zp, layer.act_min, layer.act_max)):
        raise BackendError(f"{layer.op} #{layer.index}: zero points and activation bounds must be int8 values")
    if layer.dw_chunk and not layer.depthwise:  # one input channel, 3x3: its rows once, every channel over them
        w = em.array(f"l{i}_w", layout.c1_rows(layer))
        em.decl(_decl(layer, i, layout.FLAG_PACKED | layout.FLAG_FULL8, (w, "0", "0", "0", "0", "0", "0"), 1))
        return f"zoo_dwconv_s8_rows(&s_l{i}, {x}, {y}, (int16_t *)({em.scratch(i)}));"
    rec = layout.c1_records(layer)
    if rec is not None:  # one input channel, <= 9 taps: zoo_conv2d_s8_c1
        r = em.array(f"l{i}_rec", rec)
        em.decl(_decl(layer, i, layout.FLAG_C1 | layout.FLAG_FULL8, ("0", "0", "0", "0", "0", r, "0"), 1))
        return f"zoo_conv2d_s8_c1(&s_l{i}, {x}, {y}, 0);"
    data = layout.conv_data(layer)
    oc = layer.out_hwc[2]
    four = layer.depthwise and layer.depth_multiplier == 1 and oc % 4 == 0  # 4 channels per step
    fast = layout.packable(layer, data)
    block = _block_kernel(layer)
    one = layout.pointwise(layer, data) if block == "1x1" else None
    three = layout.conv3x3(layer, data) if block == "3x3" else None
    shift8 = "0"
    if one is not None or three is not None:
        fn = "zoo_conv2d_s8_1x1" if one is not None else "zoo_conv2d_s8_3x3"
        stream, shifts = one or three
        shift8 = em.array(f"l{i}_shift8", shifts)
    elif not layer.depthwise and fast and oc % 2 == 0:
        fn, stream = "zoo_conv2d_s8_fast", layout.packed(data)  # bias, weights, requantization per pair
    elif layer.dw_chunk:
        fn, stream = "zoo_dwconv_s8_rows", layout.dw_rows(layer, data, layer.dw_chunk)
    elif four and fast and tuple(layer.kernel) == (3, 3):
        fn, stream = "zoo_dwconv_s8_3x3", layout.packed_dw(data, layer.kernel)
    else:
        fn = "zoo_dwconv_s8" if layer.depthwise else "zoo_conv2d_s8"
        if four and data.rq is not None and data.flags & layout.FLAG_FULL8:
            fn = "zoo_dwconv_s8_fast"
        stream = None
    if stream is not None:
        ptrs = (em.array(f"l{i}_w", stream), "0", "0", "0", "0", "0")
        data.flags |= layout.FLAG_PACKED
    else:
        m = s = rq = "0"
        if data.rq is not None:
            rq = em.array(f"l{i}_rq", data.rq)
        else:
            m, s = em.array(f"l{i}_mult", data.mult), em.array(f"l{i}_shift", data.shift)
        ptrs = (em.array(f"l{i}_w", data.weights), "0", em.array(f"l{i}_bias", data.bias), m, s, rq)
    if four and not layer.dw_chunk:  # what padding taps read
        ptrs = (ptrs[0], em.array(f"l{i}_pad", np.full(layer.in_hwc[2], layer.in_zp, np.int8)), *ptrs[2:])
    em.decl(_decl(layer, i, data.flags, (*ptrs, shift8), layer.depth_multiplier))
    if layer.depthwise and not layer.dw_chunk:
        return f"{fn}(&s_l{i}, {x}, {y});"
    return f"{fn}(&s_l{i}, {x}, {y}, (int16_t *)({em.scratch(i)}));"

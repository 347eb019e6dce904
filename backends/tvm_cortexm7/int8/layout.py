"""Compile-time re-layout of int8 weights for the C kernels, and bias folding.

The kernels accumulate ``x * w`` on raw int8 inputs and read padding as the input zero
point, so the zero-point term ``-in_zp * sum(w)`` is folded into the int32 bias here.

Weights stay the model's int8 values (re-ordered, never widened: the kernels sign-extend them on
the fly); per output channel the packed streams hold the folded int32 bias, the model's int32
multiplier and the shift in 16 (convolutions) or 8 (depthwise) bits, nothing derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import BackendError

from . import quant

if TYPE_CHECKING:
    from .operators.conv2d import Conv2D

__all__ = ["KernelData", "conv_data", "fc_data", "fc_weights", "single_step_requant",
           "FLAG_FULL8", "FLAG_C1", "FLAG_PACKED", "c1_records", "c1_rows", "dw_rows", "dw_rows_applies",
           "dw_rows_chunks", "packed", "packed_dw", "packable", "pointwise", "conv3x3", "constant_output"]

FLAG_FULL8 = 2  # ZOO_CONV_FULL8
FLAG_C1 = 4  # ZOO_CONV_C1
FLAG_PACKED = 8  # ZOO_CONV_PACKED


@dataclass
class KernelData:
    """Arrays one layer needs in flash, ready to print as C."""

    weights: np.ndarray | None  # int8, kernel layout
    bias: np.ndarray  # int32, folded (and padded to even length for convolutions)
    mult: np.ndarray  # int32 per channel (padded like bias)
    shift: np.ndarray  # int32 per channel
    rq: np.ndarray | None = None  # int32 [C][4] single-step requantization, when legal
    flags: int = 0  # ZOO_CONV_* bits


def _pad_even(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a, a[-1:]]) if a.size % 2 else a


def _fold(bias: np.ndarray, weight_sums: np.ndarray, in_zp: int) -> np.ndarray:
    folded = bias.astype(np.int64) - int(in_zp) * weight_sums.astype(np.int64)
    if np.any(np.abs(folded) >= 2**31):
        raise BackendError("folding the input zero point into the bias overflows int32")
    return folded.astype(np.int32)


def single_step_requant(mults: np.ndarray, shifts: np.ndarray, out_zp: int) -> np.ndarray | None:
    """``{m, 2^(e-2) + zp * 2^(e-1), e - 1}`` per channel for ``zoo_rq_fast``, or None
    unless every e >= 2.

    ``floor((x*m + 2^30 + 2^(30+e)) / 2^(31+e)) + zp`` with e = -shift is the double rounding
    with the second step half up (TFLM: half away from zero, equal except on negative ties) plus
    the output zero point, in one 64-bit step.
    """
    if np.any(shifts > -2):
        return None
    rows = []
    for m, s in zip(mults.tolist(), shifts.tolist(), strict=True):
        hi = (1 << (-s - 2)) + out_zp * (1 << (-s - 1))
        if not -(2**31) <= hi < 2**31:
            return None
        rows.append([m, hi, -s - 1])
    return np.array(rows, np.int64).astype(np.int32)


def _finish(data: KernelData, layer: Conv2D) -> KernelData:
    """Pick the requantization form and the clamp flag."""
    # the single step rounds the final shift half up; TFLM rounds half away from zero. They
    # differ only on negative results, which an activation floor at or above the zero point
    # clamps to the same value
    if layer.act_min >= layer.out_zp:
        data.rq = single_step_requant(data.mult, data.shift, layer.out_zp)
    if layer.act_min == -128 and layer.act_max == 127:
        data.flags |= FLAG_FULL8
    return data


def _regular_conv(layer: Conv2D) -> KernelData:
    oc = layer.out_hwc[2]
    w = layer.weights.reshape(oc, -1).astype(np.int8)  # (O, K) in ky, kx, c order
    k = w.shape[1]
    groups = (k + 3) // 4
    wp = np.zeros((oc + oc % 2, groups * 4), np.int8)
    wp[:oc, :k] = w
    # pairs of output channels, interleaved per group of 4 taps: [p][g][2][4]
    inter = wp.reshape(-1, 2, groups, 4).transpose(0, 2, 1, 3)
    bias = _fold(layer.bias, w.astype(np.int64).sum(axis=1), layer.in_zp)
    return KernelData(np.ascontiguousarray(inter).reshape(-1), _pad_even(bias),
                      _pad_even(np.array(layer.multipliers, np.int32)), _pad_even(np.array(layer.shifts, np.int32)))


def _depthwise(layer: Conv2D) -> KernelData:
    kh, kw = layer.kernel
    taps, oc = kh * kw, layer.out_hwc[2]
    w = layer.weights.reshape(taps, oc).astype(np.int8)  # [tap][c], as the model has them
    bias = _fold(layer.bias, w.astype(np.int64).sum(axis=0), layer.in_zp)
    return KernelData(np.ascontiguousarray(w).reshape(-1), bias, np.array(layer.multipliers, np.int32),
                      np.array(layer.shifts, np.int32))


def packable(layer: Conv2D, data: KernelData) -> bool:
    """Whether the packed streams' requantization (``zoo_rq_mm``: SMMLAR on twice the accumulator)
    is exact for this layer: single-step legal (:func:`single_step_requant`), the full int8 range,
    and every accumulator within +-2^30."""
    if data.rq is None or not data.flags & FLAG_FULL8:
        return False
    if not all(_rounding_fits(layer.out_zp, -int(s)) for s in data.shift):
        return False
    kh, kw = layer.kernel
    taps = kh * kw * (1 if layer.depthwise else layer.in_hwc[2])
    return int(np.abs(data.bias.astype(np.int64)).max(initial=0)) + taps * 128 * 128 < 2**30


def c1_records(layer: Conv2D) -> np.ndarray | None:
    """Per-channel records of ``zoo_conv2d_s8_c1`` (one input channel, at most 9 taps, single-step
    requantization into the full int8 range), int32 [C][5]: the model's int8 weights
    ``{w0..w3, w4..w7, w8 | (e - 1) << 8}`` (bytes, zero-padded), the folded ``bias`` and ``m``
    (:func:`_mm_channel`); None if it does not apply."""
    kh, kw = layer.kernel
    if layer.depthwise or layer.in_hwc[2] != 1 or kh * kw > 9 or not (
            layer.act_min == -128 and layer.act_max == 127) or layer.act_min < layer.out_zp:
        return None
    oc = layer.out_hwc[2]
    w = layer.weights.reshape(oc, -1).astype(np.int64)
    bias = _fold(layer.bias, w.sum(axis=1), layer.in_zp)
    rows = [_mm_channel(layer, int(bias[c]), int(layer.multipliers[c]), int(layer.shifts[c]), not w[c].any(),
                        kh * kw) for c in range(oc)]
    if any(r is None for r in rows):
        return None
    taps = np.zeros((oc, 12), np.int64)
    taps[:, :w.shape[1]] = w
    rec = np.zeros((oc, 5), np.int64)
    rec[:, :3] = ((taps & 0xFF).reshape(oc, 3, 4) << np.array([0, 8, 16, 24])).sum(axis=2)
    rec[:, 2] |= np.array([r[2] for r in rows], np.int64) << 8
    rec[:, 3:] = [r[:2] for r in rows]
    return ((rec + 2**31) % 2**32 - 2**31).astype(np.int32)


def _words(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, np.int64).astype("<u4").astype("<i4"))


def packed(data: KernelData) -> np.ndarray:
    """The ``zoo_conv2d_s8_fast`` stream of a regular convolution (even channel count,
    :func:`packable`), int32 words viewed as int8: per channel pair ``{bias0, bias1}``, its int8
    weight groups, ``{m0, m1, (e0 - 1) | (e1 - 1) << 16}`` (e = -shift)."""
    pairs = data.bias.size // 2
    w = np.ascontiguousarray(data.weights, np.int8).reshape(pairs, -1)
    e1 = (-data.shift.astype(np.int64) - 1).reshape(pairs, 2)
    tail = np.concatenate([data.mult.astype(np.int64).reshape(pairs, 2), (e1[:, 0] | e1[:, 1] << 16)[:, None]], axis=1)
    b = _words(data.bias.reshape(pairs, 2)).view(np.int8)
    return np.ascontiguousarray(np.concatenate([b, w, _words(tail).view(np.int8)], axis=1)).reshape(-1)


def packed_dw(data: KernelData, kernel: tuple[int, int]) -> np.ndarray:
    """The ``zoo_dwconv_s8_3x3`` stream (int32 words viewed as int8) of a 3x3 depthwise layer
    (depth multiplier 1, channels % 4 == 0, :func:`packable`): per group of 4 channels
    ``{bias0..3}``, the 9 taps' int8 weights of the 4 channels, ``{m0..m3}``, the 4 ``e - 1`` bytes."""
    taps = kernel[0] * kernel[1]
    groups = data.bias.size // 4
    w = np.ascontiguousarray(data.weights, np.int8).reshape(taps, groups, 4).transpose(1, 0, 2).reshape(groups, -1)
    e1 = (-data.shift.astype(np.int64) - 1).reshape(groups, 4)
    tail = np.concatenate([data.mult.astype(np.int64).reshape(groups, 4),
                           (e1 << np.array([0, 8, 16, 24])).sum(axis=1)[:, None]], axis=1)
    b = _words(data.bias.reshape(groups, 4)).view(np.int8)
    return np.ascontiguousarray(np.concatenate([b, w, _words(tail).view(np.int8)], axis=1)).reshape(-1)


def dw_rows_applies(layer: Conv2D, data: KernelData) -> bool:
    """Whether ``zoo_dwconv_s8_rows`` runs a depthwise layer: 3x3, depth multiplier 1, ``in_c % 4 == 0``,
    column stride 1 or 2, at most one padding row on top (SAME / VALID: what tests/ops covers; the ring
    would take more), and the packed streams' requantization exact (:func:`packable`)."""
    return (layer.depthwise and layer.depth_multiplier == 1 and tuple(layer.kernel) == (3, 3)
            and layer.in_hwc[2] % 4 == 0 and layer.stride[1] in (1, 2) and layer.pad[0] <= 1
            and packable(layer, data))


def dw_rows_chunks(channels: int) -> list[int]:
    """The chunks of channels ``zoo_dwconv_s8_rows`` can take a layer in, largest first (multiples of 4
    dividing the channel count)."""
    return [k for k in range(channels, 0, -4) if channels % k == 0]


def _rows_stream(chunk: int, bias: np.ndarray, mult: np.ndarray, e1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The ``zoo_dwconv_s8_rows`` stream (int32 words viewed as int8): ``{chunk}``, per output channel
    ``{bias, m}``, then per output channel a record of its 9 int8 weights ``[ky][kx]`` (``w``, (C, 9)) and
    its ``e - 1``; padded to whole words."""
    head = _words(np.concatenate([[chunk], np.stack([bias, mult], axis=1).reshape(-1)]))
    rec = np.concatenate([np.asarray(w, np.int8), np.asarray(e1, np.int64).astype(np.int8).reshape(-1, 1)],
                         axis=1).reshape(-1)
    rec = np.concatenate([rec, np.zeros(-rec.size % 4, np.int8)])
    return np.ascontiguousarray(np.concatenate([head.view(np.int8), rec]))


def dw_rows(layer: Conv2D, data: KernelData, chunk: int) -> np.ndarray:
    """The ``zoo_dwconv_s8_rows`` stream of a depthwise layer it runs (:func:`dw_rows_applies`), `chunk`
    channels a pass: the folded bias, the model's multiplier and weights, e = -shift."""
    c = layer.out_hwc[2]
    if chunk not in dw_rows_chunks(c):
        raise ValueError(f"chunk {chunk} of {c} channels")
    w = np.ascontiguousarray(data.weights, np.int8).reshape(9, c).T  # [c][ky * 3 + kx]
    return _rows_stream(chunk, data.bias, data.mult, -data.shift.astype(np.int64) - 1, w)


def c1_rows(layer: Conv2D) -> np.ndarray | None:
    """The ``zoo_dwconv_s8_rows`` stream of a 3x3 convolution of one input channel (each output channel a
    depthwise filter over it: the rows of that channel are built once and every output channel runs over
    them): column stride 1 or 2, at most one padding row on top, single-step requantization into the full
    int8 range exact per channel (:func:`_mm_channel`, pruned channels as constants); None where it does
    not apply."""
    if (layer.depthwise or layer.in_hwc[2] != 1 or tuple(layer.kernel) != (3, 3) or layer.stride[1] not in (1, 2)
            or layer.pad[0] > 1 or (layer.act_min, layer.act_max) != (-128, 127) or layer.act_min < layer.out_zp):
        return None
    oc = layer.out_hwc[2]
    w = layer.weights.reshape(oc, 9).astype(np.int64)
    bias = _fold(layer.bias, w.sum(axis=1), layer.in_zp)
    rows = [_mm_channel(layer, int(bias[c]), int(layer.multipliers[c]), int(layer.shifts[c]), not w[c].any(), 9)
            for c in range(oc)]
    if any(r is None for r in rows):
        return None
    r = np.array(rows, np.int64)
    return _rows_stream(1, r[:, 0], r[:, 1], r[:, 2], w)


def constant_output(layer: Conv2D, bias: int, m: int, shift: int) -> int:
    """The output of a channel whose weights are all zero (a pruned channel), the same at every pixel:
    TFLM's ``MultiplyByQuantizedMultiplier(bias, m, shift) + out_zp`` clamped to the activation range
    (the accumulator is the folded bias alone).

    Example: bias 1000, m 2^30 (0.5), shift -2, out_zp -128 gives 125 - 128 = -3.
    """
    v = quant.multiply_by_quantized_multiplier(bias, m, shift) + layer.out_zp
    return min(max(v, layer.act_min), layer.act_max)


def _rounding_fits(zp: int, e: int) -> bool:
    """Whether ``zoo_rq_mm``'s rounding constant ``(2 zp + 1) << (e - 1)`` (built in 32 bits by the
    kernels) fits an int32: e = 25 with zp = -128 does not, though ``single_step_requant``'s half of it does."""
    return e >= 1 and abs(2 * zp + 1) << (e - 1) < 2**31


def _mm_channel(layer: Conv2D, bias: int, m: int, shift: int, zero: bool, taps: int) -> tuple[int, int, int] | None:
    """``(bias, m, e - 1)`` of one channel for ``zoo_rq_mm`` (full int8 range), or None.

    A channel whose weights are all zero (a pruned channel: its scale gives e = 31 or a left shift)
    is a constant, TFLM's ``MultiplyByQuantizedMultiplier(bias) + zp`` clamped, encoded exactly as
    bias ``4 (v - zp) - 2``, m = 2^30, e = 1.
    """
    zp = layer.out_zp
    if zero:
        return 4 * (constant_output(layer, bias, m, shift) - zp) - 2, 1 << 30, 0
    e = -shift
    if e < 1 or not _rounding_fits(zp, e) or abs(bias) + taps * 128 * 128 >= 2**30:
        return None
    return bias, m, e - 1


def _channel_stream(layer: Conv2D, data: KernelData, w: np.ndarray,
                    elide: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """Per output channel ``{bias, m, the channel's weights w[c]}`` (int32 words viewed as int8) and
    the e - 1 bytes, or None unless every channel is exact in ``zoo_rq_mm`` (:func:`_mm_channel`) and
    the activation floor is at or above the output zero point (TFLM rounds negative ties away from
    zero, the single step up: equal once clamped)."""
    oc = layer.out_hwc[2]
    if layer.act_min < layer.out_zp:  # the single step rounds negative ties up; only a floor hides them
        return None
    rows = [_mm_channel(layer, int(data.bias[c]), int(data.mult[c]), int(data.shift[c]), not w[c].any(),
                        w.shape[1]) for c in range(oc)]
    if any(r is None for r in rows):
        return None
    head = _words(np.array([r[:2] for r in rows], np.int64)).view(np.int8)
    shifts = np.array([r[2] for r in rows], np.int64)
    if not elide:
        return np.ascontiguousarray(np.concatenate([head, w], axis=1)).reshape(-1), shifts.astype(np.int8)
    zero = ~w.any(axis=1)  # constant channels: {bias, m} only, bit 7 of their shift byte set
    parts = [head[c] if zero[c] else np.concatenate([head[c], w[c]]) for c in range(oc)]
    return np.concatenate(parts), np.where(zero, shifts | 0x80, shifts).astype(np.uint8).view(np.int8)


def pointwise(layer: Conv2D, data: KernelData) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``zoo_conv2d_s8_1x1`` data of a 1x1 convolution without padding, ``in_c % 4 == 0``, into the
    full int8 range: (stream, e - 1 bytes), per output channel ``{bias, m, the channel's int8 weights}``
    (the model's order; a channel whose weights are all zero is a constant: no weight words, bit 7 of its
    byte set); None where it does not apply."""
    ic, oc = layer.in_hwc[2], layer.out_hwc[2]
    if layer.depthwise or tuple(layer.kernel) != (1, 1) or any(layer.pad) or ic % 4 or not data.flags & FLAG_FULL8:
        return None
    return _channel_stream(layer, data, layer.weights.reshape(oc, ic).astype(np.int8), elide=True)


def conv3x3(layer: Conv2D, data: KernelData) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``zoo_conv2d_s8_3x3`` data of a 3x3 stride-1 convolution, ``in_c % 4 == 0``, into the full int8
    range: as :func:`pointwise`, the int8 weights of a channel re-ordered ``[ky][group of 4 channels][kx]``."""
    ic, oc = layer.in_hwc[2], layer.out_hwc[2]
    if (layer.depthwise or tuple(layer.kernel) != (3, 3) or tuple(layer.stride) != (1, 1) or ic % 4
            or not data.flags & FLAG_FULL8):
        return None
    (ih, iw), (oh, ow), (top, left) = layer.in_hwc[:2], layer.out_hwc[:2], layer.pad
    if max(top, left, oh + 2 - ih - top, ow + 2 - iw - left) > 1:  # SAME / VALID: the padding the tests cover
        return None
    w = layer.weights.reshape(oc, 3, 3, ic // 4, 4).transpose(0, 1, 3, 2, 4).reshape(oc, -1).astype(np.int8)
    return _channel_stream(layer, data, w)


def conv_data(layer: Conv2D) -> KernelData:
    """Weights (int8), folded bias and requantization arrays of a convolution."""
    return _finish(_depthwise(layer) if layer.depthwise else _regular_conv(layer), layer)


def fc_weights(w: np.ndarray) -> np.ndarray:
    """The ``zoo_fc_s8`` layout of (out, in) int8 weights, the same bytes re-ordered: when
    ``in % 4 == 0``, rows in blocks of 4 as ``[in / 4][4 rows][4 taps]``, then the remaining
    ``out % 4`` rows as they are; otherwise (out, in) unchanged."""
    n_out, n_in = w.shape
    if n_in % 4:
        return np.ascontiguousarray(w).reshape(-1)
    full = n_out - n_out % 4
    blocks = w[:full].reshape(full // 4, 4, n_in // 4, 4).transpose(0, 2, 1, 3)
    return np.concatenate([blocks.reshape(-1), w[full:].reshape(-1)])


def fc_data(layer: Any) -> KernelData:
    """Weights (in the :func:`fc_weights` layout) and folded bias of a fully connected layer."""
    w = layer.weights.astype(np.int8)
    bias = _fold(layer.bias, w.astype(np.int64).sum(axis=1), layer.in_zp)
    return KernelData(fc_weights(w), bias, np.array(layer.multipliers, np.int32),
                      np.array(layer.shifts, np.int32))

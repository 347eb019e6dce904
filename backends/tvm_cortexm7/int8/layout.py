"""Compile-time re-layout of int8 weights for the C kernels, and bias folding.

The kernels accumulate ``x * w`` on raw int8 inputs and read padding as the input zero
point, so the zero-point term ``-in_zp * sum(w)`` is folded into the int32 bias here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import BackendError

if TYPE_CHECKING:
    from .operators.conv2d import Conv2D

__all__ = ["KernelData", "conv_data", "fc_data", "fc_weights", "single_step_requant",
           "FLAG_W16", "FLAG_FULL8", "FLAG_C1", "FLAG_PACKED", "c1_records", "packed", "packed_dw"]

FLAG_W16 = 1  # ZOO_CONV_W16
FLAG_FULL8 = 2  # ZOO_CONV_FULL8
FLAG_C1 = 4  # ZOO_CONV_C1
FLAG_PACKED = 8  # ZOO_CONV_PACKED


@dataclass
class KernelData:
    """Arrays one layer needs in flash, ready to print as C."""

    weights: np.ndarray | None  # int8, kernel layout
    weights16: np.ndarray | None  # int16, depthwise fast-path layout
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


def _regular_conv(layer: Conv2D, wide: bool = False) -> KernelData:
    oc = layer.out_hwc[2]
    w = layer.weights.reshape(oc, -1).astype(np.int8)  # (O, K) in ky, kx, c order
    k = w.shape[1]
    groups = (k + 3) // 4
    wp = np.zeros((oc + oc % 2, groups * 4), np.int8)
    wp[:oc, :k] = w
    # pairs of output channels, interleaved per group of 4 taps: [p][g][2][4]
    inter = wp.reshape(-1, 2, groups, 4).transpose(0, 2, 1, 3)
    bias = _fold(layer.bias, w.astype(np.int64).sum(axis=1), layer.in_zp)
    w8, w16, flags = np.ascontiguousarray(inter).reshape(-1), None, 0
    if wide:  # int16 in SMLAD order: no sign extension in the inner loop
        w16 = np.ascontiguousarray(inter.astype(np.int16)[..., [0, 2, 1, 3]]).reshape(-1)
        w8, flags = None, FLAG_W16
    return KernelData(w8, w16, _pad_even(bias), _pad_even(np.array(layer.multipliers, np.int32)),
                      _pad_even(np.array(layer.shifts, np.int32)), flags=flags)


def _depthwise(layer: Conv2D) -> KernelData:
    kh, kw = layer.kernel
    taps, oc = kh * kw, layer.out_hwc[2]
    w = layer.weights.reshape(taps, oc).astype(np.int8)
    bias = _fold(layer.bias, w.astype(np.int64).sum(axis=0), layer.in_zp)
    mult, shift = np.array(layer.multipliers, np.int32), np.array(layer.shifts, np.int32)
    if layer.depth_multiplier == 1 and oc % 4 == 0:
        w16 = w.astype(np.int16).reshape(taps, oc // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2)
        return KernelData(None, np.ascontiguousarray(w16).reshape(-1), bias, mult, shift)
    return KernelData(np.ascontiguousarray(w).reshape(-1), None, bias, mult, shift)


def c1_records(layer: Conv2D) -> np.ndarray | None:
    """Per-channel records of ``zoo_conv2d_s8_c1`` (one input channel, at most 9 taps, single-step
    requantization into the full int8 range), int32 [C][8]:
    ``{w0|w1<<16, w2|w3<<16, w4|w5<<16, w6|w7<<16, (e-1)|w8<<16, bias, m, hi}``; None if it does not apply."""
    kh, kw = layer.kernel
    if layer.depthwise or layer.in_hwc[2] != 1 or kh * kw > 9 or not (
            layer.act_min == -128 and layer.act_max == 127) or layer.act_min < layer.out_zp:
        return None
    oc = layer.out_hwc[2]
    w = layer.weights.reshape(oc, -1).astype(np.int64)
    bias = _fold(layer.bias, w.sum(axis=1), layer.in_zp)
    rq = single_step_requant(np.array(layer.multipliers, np.int32), np.array(layer.shifts, np.int32),
                             layer.out_zp)
    if rq is None:
        return None
    taps = np.zeros((oc, 10), np.int64)
    taps[:, :w.shape[1]] = w
    u16 = taps & 0xFFFF
    rec = np.zeros((oc, 8), np.int64)
    rec[:, :4] = u16[:, 0:8:2] | (u16[:, 1:8:2] << 16)
    rec[:, 4] = (rq[:, 2].astype(np.int64) & 0xFF) | (u16[:, 8] << 16)
    rec[:, 5] = bias
    rec[:, 6] = rq[:, 0]
    rec[:, 7] = rq[:, 1]
    return ((rec + 2**31) % 2**32 - 2**31).astype(np.int32)


def packed(data: KernelData) -> np.ndarray:
    """The ``zoo_conv2d_s8_fast_w16`` / ``_fast_w8`` stream of a regular convolution with
    single-step requantization and an even channel count, as int32 words viewed in the weights'
    type (int16 or int8): per channel pair ``{bias0, bias1}``, its weight groups,
    ``{m0, hi0, e0-1, m1, hi1, e1-1}``."""
    pairs = data.bias.size // 2
    wide = data.weights16 is not None
    dt = np.int16 if wide else np.int8
    w = np.ascontiguousarray(data.weights16 if wide else data.weights, dt).reshape(pairs, -1)
    b = np.ascontiguousarray(data.bias.astype("<i4").reshape(pairs, 2)).view(dt)
    q = np.ascontiguousarray(data.rq.astype("<i4").reshape(pairs, 6)).view(dt)
    return np.ascontiguousarray(np.concatenate([b, w, q], axis=1)).reshape(-1)


def packed_dw(data: KernelData) -> np.ndarray:
    """The ``zoo_dwconv_s8_3x3`` stream (int16 view of int32 words) of a 3x3 depthwise fast-path
    layer: per group of 4 channels ``{bias0..3}``, its 9 x 4 int16 weights, ``{m, hi, e-1}`` x 4."""
    groups = data.bias.size // 4
    w = np.ascontiguousarray(data.weights16, np.int16).reshape(groups, -1)
    b = np.ascontiguousarray(data.bias.astype("<i4").reshape(groups, 4)).view(np.int16)
    q = np.ascontiguousarray(data.rq.astype("<i4").reshape(groups, 12)).view(np.int16)
    return np.ascontiguousarray(np.concatenate([b, w, q], axis=1)).reshape(-1)


def conv_data(layer: Conv2D, wide: bool = False) -> KernelData:
    """Weights, folded bias and requantization arrays of a convolution.

    Args:
        layer: the convolution.
        wide: store a regular convolution's weights as int16 (twice the flash, faster).
    """
    return _finish(_depthwise(layer) if layer.depthwise else _regular_conv(layer, wide), layer)


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
    return KernelData(fc_weights(w), None, bias, np.array(layer.multipliers, np.int32),
                      np.array(layer.shifts, np.int32))

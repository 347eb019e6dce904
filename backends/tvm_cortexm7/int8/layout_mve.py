"""Layouts and calls of the Helium (MVE) convolution kernels, for targets with MVE (Cortex-M55).

``zoo_conv2d_s8_mve`` / ``_rq`` and ``zoo_dwconv_s8_mve`` / ``_fast`` (:func:`dw_fast`; ``kernels/zoo_int8_conv_mve.c``,
``kernels/zoo_int8_dwconv_mve.c``) read the model's own int8 weights in the model's own order
(OHWI for CONV_2D, HWO for DEPTHWISE_CONV_2D: no padding, no widening, so flash holds the same
bytes as the .tflite), the bias with ``-in_zp * sum(w)`` folded in, and TFLM's multiplier and shift
per output channel, the shift as one byte where the kernel reads it so (:func:`records`,
:func:`shift_bytes`; the kernels requantize on vectors, exactly as TFLM, for any shift and any
activation range); a convolution's all-zero (pruned) output channels are constants, stored and
computed without their weights (:func:`elide_constants`). Without MVE the same calls run a portable
loop, so the library stays correct when built for another core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import BackendError

from . import layout

if TYPE_CHECKING:
    from .operators.conv2d import Conv2D

FLAG_RSHIFT = 128  # ZOO_CONV_RSHIFT: every shift <= 0
FLAG_CONST = 16  # ZOO_CONV_CONST: channels whose weights are all zero are constants, not computed

__all__ = ["FLAG_CONST", "FLAG_RSHIFT", "applies", "conv_arrays", "dw_fast", "dw_order", "elide_constants",
           "emit_conv", "records", "shift_bytes"]


def applies(layer: Conv2D) -> bool:
    """Whether the MVE kernels run this layer: depthwise with depth multiplier 1, any regular convolution
    (the one-channel 3x3 too: on stmnist_v1's first layer the Helium columns and VMLADAVA loop spend
    fewer instructions than ``zoo_conv2d_s8_c1``, 418,532 against 455,980 for the model, and the
    M55 build then links no DSP convolution)."""
    if layer.depthwise:
        return layer.depth_multiplier == 1
    return True


def conv_arrays(layer: Conv2D) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(int8 weights, folded int32 bias, int32 multipliers, int32 shifts) of the MVE layout.

    Example: a 1x1 convolution of 2 channels to 3 keeps its (3, 1, 1, 2) weights as 6 bytes in that order.
    """
    oc = layer.out_hwc[2]
    if layer.depthwise:
        w = layer.weights.reshape(-1, oc).astype(np.int8)  # [taps][c]
        sums = w.astype(np.int64).sum(axis=0)
    else:
        w = layer.weights.reshape(oc, -1).astype(np.int8)  # [oc][k]
        sums = w.astype(np.int64).sum(axis=1)
    mult, shift = np.array(layer.multipliers, np.int32), np.array(layer.shifts, np.int32)
    bias = layer.bias.astype(np.int64) - int(layer.in_zp) * sums
    if np.any(np.abs(bias) >= 2**31):
        raise BackendError(f"{layer.op} #{layer.index}: folding the input zero point into the bias overflows int32")
    bias = bias.astype(np.int32)
    if layer.depthwise:  # the depthwise kernel's accumulators: per full group of 8, channels 0 2 4 6 1 3 5 7
        order = dw_order(oc)
        bias, mult, shift = bias[order], mult[order], shift[order]
    return np.ascontiguousarray(w).reshape(-1), bias, mult, shift


def dw_order(c: int) -> np.ndarray:
    """Channel order of the depthwise kernel's per-channel arrays: each full group of 8 as 0 2 4 6 1 3 5 7.

    Example:
        >>> dw_order(10).tolist()
        [0, 2, 4, 6, 1, 3, 5, 7, 8, 9]
    """
    full = c - c % 8
    order = np.arange(full).reshape(-1, 8)[:, [0, 2, 4, 6, 1, 3, 5, 7]].reshape(-1)
    return np.concatenate([order, np.arange(full, c)]).astype(np.int64)


def elide_constants(layer: Conv2D) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The ``ZOO_CONV_CONST`` arrays of a regular convolution with all-zero (pruned) output channels whose
    other channels all shift right, or None (no such channel, a left shift, a depthwise layer).

    Returns:
        (int8 weights of the live channels only, int32 ``rq``: the number of runs of consecutive live
        channels, ``{first, count}`` per run, then ``{bias, mult}`` per live channel; int8 ``fill``:
        per output channel the constant output of a pruned channel (:func:`layout.constant_output`),
        0 for a live one; int8 ``shift8``: per output channel the live channel's shift, 0 for a pruned one,
        whose own shift is never applied and may be a left shift: ZOO_CONV_RSHIFT holds for the live
        channels).

    Example: channels [live, zero, live, live] give rq ``{2, 0, 1, 2, 2, <3 records>}``.
    """
    if layer.depthwise:
        return None
    oc = layer.out_hwc[2]
    w, bias, mult, shift = conv_arrays(layer)
    w = w.reshape(oc, -1)
    live = w.any(axis=1)
    if live.all() or np.any(shift[live] > 0):
        return None
    edges = np.diff(np.concatenate([[0], live.astype(np.int64), [0]]))
    first, end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    rec, _ = records(bias[live], mult[live], shift[live])
    rq = np.concatenate([[first.size], np.stack([first, end - first], axis=1).reshape(-1), rec])
    fill = np.zeros(oc, np.int8)
    for c in np.flatnonzero(~live):
        fill[c] = layout.constant_output(layer, int(bias[c]), int(mult[c]), int(shift[c]))
    return (np.ascontiguousarray(w[live]).reshape(-1), rq.astype(np.int32), fill,
            shift_bytes(np.where(live, shift, 0), -31, 0))


def records(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A regular convolution's ``zoo_mve_channels4`` arrays (every shift <= 0): int32 ``{bias, mult}`` per
    channel (``rq``) and the shifts as int8 (``shift8``: TFLM's shifts are within [-31, 0] here).

    Example: two channels give rq ``{b0, m0, b1, m1}`` and shift8 ``{s0, s1}``.
    """
    return np.stack([bias, mult], axis=1).astype(np.int32).reshape(-1), shift_bytes(shift, -31, 0)


def shift_bytes(shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """TFLM's per-channel shifts as the int8 ``shift8`` array the Helium kernels read (VLDRB.S32 / LDRSB);
    a shift outside [lo, hi] (what the kernel applies) is an error, never stored wrapped."""
    if shift.size and (shift.min() < lo or shift.max() > hi):
        raise BackendError(f"shifts {shift.min()}..{shift.max()} outside [{lo}, {hi}] for the Helium kernels")
    return shift.astype(np.int8)


def dw_fast(layer: Conv2D, flags: int) -> bool:
    """Whether a depthwise layer takes ``zoo_dwconv_s8_mve_fast`` (the asm path's own entry point, so that the
    linker drops the general paths): no left shift (``ZOO_CONV_RSHIFT``), a multiple of 8 channels, <= 9 taps
    (the C entry traps on any other layer); 8 channels at column stride 1 take ``_fast8`` (two pixels an asm
    block, in code other layers do not link)."""
    return bool(flags & FLAG_RSHIFT) and layer.in_hwc[2] % 8 == 0 and layer.kernel[0] * layer.kernel[1] <= 9


def emit_conv(layer: Conv2D, em, i: int, decl) -> str:  # noqa: ANN001 - codegen.Emitter, conv2d._decl
    """Declare the layer's arrays and parameters; return its ``zoo_*_mve`` call."""
    w, bias, mult, shift = conv_arrays(layer)
    flags = FLAG_RSHIFT if np.all(shift <= 0) else 0
    x, y = em.ptr(layer.inputs[0]), em.ptr(layer.outputs[0])
    scratch = f"(int8_t *)({em.scratch(i)})"
    if layer.depthwise:
        pad = em.array(f"l{i}_pad", np.full(layer.in_hwc[2], layer.in_zp, np.int8))
        ptrs = (em.array(f"l{i}_w", w), "0", pad, em.array(f"l{i}_bias", bias), em.array(f"l{i}_mult", mult), "0", "0")
        em.decl(decl(layer, i, flags, ptrs, 1, em.array(f"l{i}_sh", shift_bytes(shift, -31, 31))))
        fast = dw_fast(layer, flags)
        entry = "_fast8" if fast and layer.in_hwc[2] == 8 and layer.stride[1] == 1 else "_fast" if fast else ""
        return f"zoo_dwconv_s8_mve{entry}(&s_l{i}, {x}, {y});"
    elided = elide_constants(layer)  # (its live channels all shift right; a pruned one's shift is unused)
    if elided is not None:  # pruned channels: live weights and records only, the constants in pad
        lw, rq, fill, sh8 = elided
        ptrs = (em.array(f"l{i}_w", lw) if lw.size else "0", "0", em.array(f"l{i}_fill", fill), "0", "0", "0",
                em.array(f"l{i}_rec", rq))
        em.decl(decl(layer, i, FLAG_RSHIFT | FLAG_CONST, ptrs, 1, em.array(f"l{i}_sh", sh8)))
        return f"zoo_conv2d_s8_mve(&s_l{i}, {x}, {y}, {scratch});"
    if not flags:  # a left shift: bias, mult and shift arrays (the general entry's intrinsics path)
        em.decl(decl(layer, i, flags, (em.array(f"l{i}_w", w), "0", "0", em.array(f"l{i}_bias", bias),
                                       em.array(f"l{i}_mult", mult), em.array(f"l{i}_shift", shift), "0"), 1))
        return f"zoo_conv2d_s8_mve(&s_l{i}, {x}, {y}, {scratch});"
    rec, sh8 = records(bias, mult, shift)
    ptrs = (em.array(f"l{i}_w", w), "0", "0", "0", "0", "0", em.array(f"l{i}_rec", rec))
    em.decl(decl(layer, i, flags, ptrs, 1, em.array(f"l{i}_sh", sh8)))
    return f"zoo_conv2d_s8_mve_rq(&s_l{i}, {x}, {y}, {scratch});"

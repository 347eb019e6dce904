"""Fixed-point arithmetic of TensorFlow Lite's int8 kernels, computed in Python.

These functions produce the constants (multipliers, shifts) that the C kernels consume, with
the same floating-point steps TensorFlow Lite Micro takes when it prepares a model
(tensorflow/lite/kernels/internal/quantization_util.cc, tensorflow/lite/kernels/kernel_util.cc at
tflite-micro 90b983c2), and integer reference versions of the runtime arithmetic for tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "quantize_multiplier",
    "per_channel_multipliers",
    "fc_multiplier",
    "mean_multiplier",
    "multiply_by_quantized_multiplier",
    "softmax_params",
]

_INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Split a positive real multiplier into a Q31 significand and a power-of-two exponent.

    Same steps as TFLite's ``QuantizeMultiplier``: ``frexp``, round half away from zero
    to 31 bits, renormalise when rounding reaches 2^31, flush tiny values to zero.

    Args:
        real: the multiplier, >= 0.

    Returns:
        ``(multiplier, shift)`` with ``real ~= multiplier * 2**(shift - 31)``.
    """
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = int(math.floor(abs(frac) * (1 << 31) + 0.5)) * (1 if frac >= 0 else -1)  # std::round
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def per_channel_multipliers(input_scale: float, weight_scales: Sequence[float],
                            output_scale: float) -> tuple[list[int], list[int]]:
    """Per-output-channel (multiplier, shift) for CONV_2D / DEPTHWISE_CONV_2D.

    TFLite's ``PopulateConvolutionQuantizationParams``: the effective scale is computed in
    double precision from the float32 scales, ``in * w[c] / out``.
    """
    mults, shifts = [], []
    for ws in weight_scales:
        eff = float(np.float32(input_scale)) * float(np.float32(ws)) / float(np.float32(output_scale))
        m, s = quantize_multiplier(eff)
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def fc_multiplier(input_scale: float, weight_scale: float, output_scale: float) -> tuple[int, int]:
    """Per-tensor (multiplier, shift) for FULLY_CONNECTED: ``in * w / out`` in double precision.

    Measured against TFLM's interpreter (PyPI ``tflite-micro`` 0.dev20261023182759) on
    mlperf_ad01's last layer: it takes the product of the float32 scales in double (1462485049 there),
    not rounded to float32 first as ``GetQuantizedConvolutionMultipler`` reads at tflite-micro
    90b983c2 (1462485078); the two differ on rare rounding ties (tests/test_int8_models.py).
    """
    product = float(np.float32(input_scale)) * float(np.float32(weight_scale))
    return quantize_multiplier(product / float(np.float32(output_scale)))


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """(multiplier, shift) of an int8 MEAN over ``count`` elements (``QuantizedMeanOrSum``).

    The 1/count factor is folded into the multiplier by a truncating 64-bit division after
    shifting left by ``min(floor(log2(count)), 32, 31 + shift)``.
    """
    m, s = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    adj = min(count.bit_length() - 1, 32, 31 + s)
    return (m << adj) // count, s - adj


def _srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values."""
    if a == b == -(2**31):
        return _INT32_MAX
    p = a * b
    nudge = (1 << 30) if p >= 0 else 1 - (1 << 30)
    q = p + nudge
    return abs(q) // (1 << 31) * (1 if q >= 0 else -1)  # C division truncates toward zero


def _rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT (round half away from zero)."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's double-rounding ``MultiplyByQuantizedMultiplier`` (reference, for tests)."""
    left, right = max(shift, 0), max(-shift, 0)
    return _rdbpot(_srdhm(x * (1 << left), multiplier), right)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplierGreaterThanOne``: :func:`quantize_multiplier` with shift >= 0."""
    m, s = quantize_multiplier(real)
    if s < 0:
        raise ValueError(f"multiplier {real} is below one")
    return m, s


def softmax_params(beta: float, input_scale: float, integer_bits: int = 5) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLM's int8 SOFTMAX.

    ``PreprocessSoftmaxScaling`` and ``CalculateInputRadius`` (tensorflow/lite/kernels/internal/
    quantization_util.cc at tflite-micro 90b983c2), double-rounding build: the real multiplier is
    ``min(beta * scale * 2^(31 - integer_bits), 2^31 - 1)``.
    """
    real = min(float(beta) * float(np.float32(input_scale)) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier_greater_than_one(real)
    radius = math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << shift))
    return mult, shift, -radius

"""Typed descriptions of the integer layers the int8 lowering emits.

Each layer carries everything its C kernel needs (shapes, int8 weights in the kernel's
layout, int32 biases, fixed-point multipliers), computed in Python at compile time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TensorInfo", "Layer", "Requantize", "Conv2D", "Mean", "FullyConnected",
           "Softmax", "Dequantize", "Graph"]


@dataclass(frozen=True)
class TensorInfo:
    """An activation tensor: shape (batch 1 included), element type, quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "uint8" or "float32"
    scale: float = 0.0
    zero_point: int = 0

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return int(np.prod(self.shape)) * (4 if self.dtype == "float32" else 1)


@dataclass
class Layer:
    """One kernel call: reads ``inputs`` and writes ``output`` (tensor names)."""

    inputs: list[str]
    output: str
    op: str = ""  # the TFLite operator this implements, for messages and metadata

    #: bytes of scratch the kernel needs (int16 im2col columns, ...)
    def scratch_bytes(self) -> int:
        """Scratch memory the kernel needs during the call."""
        return 0

    #: whether the output may share the input's memory (elementwise, read-before-write)
    in_place_ok: bool = False


@dataclass
class Requantize(Layer):
    """QUANTIZE from uint8/int8 to int8: ``clamp(MBQM(x - in_zp) + out_zp)``."""

    count: int = 0
    in_dtype: str = "uint8"
    in_zp: int = 0
    out_zp: int = 0
    multiplier: int = 0
    shift: int = 0
    in_place_ok: bool = True


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

    def scratch_bytes(self) -> int:
        """Two int16 im2col columns for the DSP path of a regular convolution."""
        if self.depthwise:
            return 0
        k = self.kernel[0] * self.kernel[1] * self.in_hwc[2]
        return 4 * ((k + 3) // 4 * 4)


@dataclass
class Mean(Layer):
    """MEAN over H and W of an NHWC tensor (QuantizedMeanOrSum arithmetic)."""

    in_hwc: tuple[int, int, int] = (0, 0, 0)
    in_zp: int = 0
    out_zp: int = 0
    multiplier: int = 0
    shift: int = 0


@dataclass
class FullyConnected(Layer):
    """FULLY_CONNECTED, per-tensor or per-channel requantization, weights (out, in)."""

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


@dataclass
class Softmax(Layer):
    """int8 SOFTMAX over the last axis with LiteRT's float exp table."""

    rows: int = 1
    depth: int = 0
    table: np.ndarray = field(default_factory=lambda: np.zeros(256, np.float32))
    out_scale: float = 1.0 / 256
    out_zp: int = -128
    in_place_ok: bool = True


@dataclass
class Dequantize(Layer):
    """DEQUANTIZE int8 to float32: ``scale * (x - zp)``."""

    count: int = 0
    scale: float = 1.0
    zp: int = 0


@dataclass
class Graph:
    """The lowered model: tensors, layers in execution order, and its interface."""

    tensors: dict[str, TensorInfo]
    layers: list[Layer]
    input: str
    output: str
    logits: str | None  # int8 input of the final SOFTMAX, if any

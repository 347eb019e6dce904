"""Comparing one tensor of a TFLite model as two backends computed it, in that tensor's own steps.

- An integer tensor (int8, uint8, int16, int32) is compared on its raw values: Δ is the integer
  difference, i.e. steps of its own quantization (``scale``) when it is quantized.
- A float tensor is compared in steps of its own quantization scale where it has one, else in
  steps of the int8 tensor it was dequantized from (a ``DEQUANTIZE`` output, e.g. a classifier's
  float probabilities); a float tensor with neither (a float model) is compared in its own units,
  and then has no "step": it can differ, but is never a rounding tie or "over one step".

A difference is a *rounding tie* when it is exactly one step wherever it differs: the two
backends rounded a value that lay (almost) halfway between two steps in different directions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from zoo.tflite_model import TFLiteInfo

__all__ = ["LayerDiff", "compare_tensor", "step_of", "divergence_map"]

_INTEGER = ("int8", "uint8", "int16", "int32", "int64")
_EPS = 1e-6  # float Δ measured in steps: dequantized values are exact multiples of the step up to rounding


@dataclass(frozen=True)
class LayerDiff:
    """One operator output tensor, compared between two backends over a batch of examples.

    Attributes:
        operator: index of the operator that writes the tensor, in execution order.
        op: the operator's TFLite name ("CONV_2D").
        tensor: the tensor's index in the model's subgraph 0.
        name: the tensor's name in the model.
        shape: the tensor's shape, batch first (the batch is the number of examples compared).
        dtype: the tensor's dtype.
        unit: what one step of Δ is ("int8 steps", "steps of 0.00390625", "float32 units").
        step: the real value of one step; None for raw float units.
        status: "identical", "tie" (differs by exactly one step wherever it differs), "differs",
            or "not compared" (see `reason`).
        max_abs: largest |Δ| in `unit`; None when not compared.
        differing: share of the tensor's elements that differ; None when not compared.
        examples_differing: examples in which at least one element differs; None when not compared.
        reason: why the tensor was not compared.
    """

    operator: int
    op: str
    tensor: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    unit: str
    step: float | None
    status: str
    max_abs: float | None = None
    differing: float | None = None
    examples_differing: int | None = None
    reason: str = ""

    @property
    def differs(self) -> bool:
        return self.status in ("tie", "differs")

    @property
    def over_one_step(self) -> bool:
        """Differs by more than one of its own steps somewhere (never for a tensor without a step)."""
        return self.status == "differs" and self.step is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"shape": list(self.shape)}


def step_of(info: TFLiteInfo, tensor: int) -> tuple[str, float | None]:
    """How Δ of `tensor` is measured: a unit description and the real value of one step (None: raw units)."""
    t = info.tensors[tensor]
    if t.dtype in _INTEGER:
        return f"{t.dtype} steps", t.scale
    if t.scale is not None:
        return f"steps of {t.scale:.6g}", t.scale
    producer = info.producer(tensor)
    if producer is not None and producer.name == "DEQUANTIZE":
        source = info.tensors[producer.inputs[0]]
        if source.scale is not None:
            return f"steps of {source.scale:.6g} (the {source.dtype} input of DEQUANTIZE)", source.scale
    return f"{t.dtype} units", None


def _deltas(a: np.ndarray, b: np.ndarray, dtype: str, step: float | None) -> np.ndarray:
    """|Δ| per element in the tensor's steps (float64)."""
    if dtype in _INTEGER:
        return np.abs(a.astype(np.int64) - b.astype(np.int64)).astype(np.float64)
    delta = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return delta / step if step is not None else delta


def compare_tensor(info: TFLiteInfo, operator: int, tensor: int, a: np.ndarray | None, b: np.ndarray | None,
                   reason: str = "") -> LayerDiff:
    """Compare one tensor as backend A (`a`) and backend B (`b`) computed it, each ``(N, ...)``.

    Args:
        info: the model's tensors and operators.
        operator: index of the operator that writes `tensor`.
        tensor: the tensor's index.
        a, b: the values, or None where that backend could not expose the tensor.
        reason: why one of them is None.

    Returns:
        The comparison; status "not compared" when a value is missing or the two shapes differ.
    """
    t = info.tensors[tensor]
    unit, step = step_of(info, tensor)
    base = dict(operator=operator, op=info.operators[operator].name, tensor=tensor, name=t.name, dtype=t.dtype,
                unit=unit, step=step)
    if a is None or b is None:
        return LayerDiff(shape=t.shape, status="not compared", reason=reason, **base)
    if a.shape != b.shape:
        return LayerDiff(shape=t.shape, status="not compared", reason=f"shapes {list(a.shape)} and {list(b.shape)}"
                         " differ", **base)
    delta = _deltas(a, b, t.dtype, step)
    differ = delta > (_EPS if step is not None and t.dtype not in _INTEGER else 0)
    top = float(delta.max()) if delta.size else 0.0
    if not differ.any():
        status = "identical"
    elif step is not None and top <= 1 + _EPS:
        status = "tie"
    else:
        status = "differs"
    return LayerDiff(shape=a.shape, status=status, max_abs=round(top, 6), differing=float(differ.mean()),
                     examples_differing=int(differ.reshape(len(a), -1).any(axis=1).sum()), **base)


def divergence_map(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Where two values of one tensor differ: counts per channel (last axis), per pixel, per example.

    Returns:
        ``per_channel`` (differing elements per channel, summed over examples and positions),
        ``per_example``, and for image-like ``(N, H, W, C)`` tensors ``per_pixel`` (an H x W grid).
    """
    differ = a.astype(np.float64) != b.astype(np.float64)
    found: dict[str, Any] = {
        "per_channel": differ.reshape(-1, differ.shape[-1]).sum(axis=0).tolist() if differ.ndim >= 2 else [],
        "per_example": differ.reshape(len(differ), -1).sum(axis=1).tolist(),
    }
    if differ.ndim == 4:
        found["per_pixel"] = differ.sum(axis=(0, 3)).tolist()
    return found

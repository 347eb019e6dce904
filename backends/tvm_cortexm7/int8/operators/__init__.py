"""The operator units of the int8 lowering: one module per operator (family), registered on import.

``REGISTRY`` maps each supported TFLite builtin operator to its unit; :func:`lower_model` turns a
parsed model into the integer layer graph, or raises one error listing every operator it cannot
compile (name, index, why, what would work).
"""

from __future__ import annotations

from . import concatenation, conv2d, elementwise, fully_connected, lut, mean, pad, pool, quantize, reduce_max, relu, shape, softmax  # noqa: F401
from .base import REGISTRY, Context, Layer, TensorInfo, UnsupportedOperatorError

__all__ = ["REGISTRY", "Context", "Layer", "TensorInfo", "UnsupportedOperatorError", "supported_operators"]


def supported_operators() -> list[str]:
    """The TFLite builtin operators the int8 lowering compiles, sorted."""
    return sorted(REGISTRY)

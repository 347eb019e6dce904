"""Find the quantized operators of a TFLite model in its Relax form.

The TFLite frontend of TVM turns each int8 operator into float arithmetic between
``dequantize`` and ``quantize`` (QDQ). This module matches those QDQ groups with Relax
dataflow patterns and fuses each into one composite function
(``FuseOpsByPattern``), named after the integer kernel that will replace it. Whatever
is left outside a composite cannot be lowered and is reported.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard
from zoo.backends.tvm_tflite import import_tflite

from zoo.errors import BackendError

__all__ = ["SUPPORTED", "import_tflite", "partition", "composite_calls"]

#: composite name -> TFLite operator(s) it implements
SUPPORTED = {
    "zoo_int8.conv2d": "CONV_2D / DEPTHWISE_CONV_2D (+ fused RELU/RELU6/RELU_N1_TO_1)",
    "zoo_int8.fully_connected": "FULLY_CONNECTED",
    "zoo_int8.mean": "MEAN over H,W",
    "zoo_int8.softmax": "SOFTMAX",
    "zoo_int8.quantize": "QUANTIZE (uint8/int8 -> int8)",
    "zoo_int8.dequantize": "DEQUANTIZE (int8 -> float32)",
}


def _dq(x: object) -> object:
    return is_op("relax.dequantize")(x, is_const(), is_const())


def _q(x: object) -> object:
    return is_op("relax.quantize")(x, is_const(), is_const())


def _with_act(p: object) -> object:
    return is_op("relax.clip")(p, wildcard(), wildcard()) | p


def _patterns() -> list[tuple[str, object]]:
    """Patterns, highest priority first (bigger groups before their parts)."""
    w = _dq(is_const())
    w = is_op("relax.reshape")(w, wildcard()) | w  # depthwise weights are reshaped
    conv = is_op("relax.nn.conv2d")(_dq(wildcard()), w)
    conv = is_op("relax.add")(conv, _dq(is_const())) | conv
    fw = _dq(is_op("relax.permute_dims")(is_const()) | is_const())
    fc = is_op("relax.matmul")(_dq(wildcard()), fw)
    fc = is_op("relax.add")(fc, _dq(is_const())) | fc
    mean = is_op("relax.mean")(_dq(wildcard()))
    softmax = is_op("relax.nn.softmax")(_dq(wildcard()))
    return [
        ("zoo_int8.conv2d", _with_act(_q(conv))),
        ("zoo_int8.fully_connected", _with_act(_q(fc))),
        ("zoo_int8.mean", _q(mean)),
        ("zoo_int8.softmax", _q(softmax)),
        ("zoo_int8.quantize", _q(_dq(wildcard()))),
        ("zoo_int8.dequantize", _dq(wildcard())),
    ]


def partition(mod: tvm.IRModule) -> tvm.IRModule:
    """Group every recognised QDQ operator into a composite function.

    Raises:
        BackendError: naming each Relax operator left outside a composite.
    """
    seq = tvm.transform.Sequential([
        relax.transform.ConvertToDataflow(),
        relax.transform.FuseOpsByPattern(_patterns(), bind_constants=True),
    ])
    with tvm.transform.PassContext(opt_level=0):
        fused = seq(mod)
    _check_all_lowered(fused)
    return fused


@relax.expr_functor.visitor
class _Leftovers(relax.PyExprVisitor):
    """Collects operator calls in ``main`` that are not calls to a composite."""

    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__()
        self.mod = mod
        self.ops: list[str] = []

    def visit_call_(self, call: relax.Call) -> None:  # noqa: D401 - visitor hook
        """Record an operator call; visit its arguments."""
        if isinstance(call.op, tvm.ir.Op):
            self.ops.append(call.op.name)
        for arg in call.args:
            self.visit_expr(arg)


def _check_all_lowered(mod: tvm.IRModule) -> None:
    finder = _Leftovers(mod)
    finder.visit_expr(mod["main"])
    if finder.ops:
        names = ", ".join(sorted(set(finder.ops)))
        raise BackendError(
            f"the int8 lowering cannot map these Relax operators to integer kernels: {names}. "
            f"Supported int8 TFLite operators: {'; '.join(SUPPORTED.values())}. "
            "Use the float lowering for this model, or quantize it fully to int8.")


def composite_calls(mod: tvm.IRModule) -> list[tuple[relax.Var, str, relax.Function, list]]:
    """The composite calls of ``main`` in execution order.

    Returns:
        ``(bound variable, composite name, composite function, call arguments)`` tuples.
    """
    out = []
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            value = binding.value
            if not (isinstance(value, relax.Call) and isinstance(value.op, relax.GlobalVar)):
                raise BackendError(f"unexpected binding in main: {binding.var.name} = {value}")
            func = mod[value.op]
            name = str(func.attrs["Composite"]) if func.attrs and "Composite" in func.attrs else ""
            if name not in SUPPORTED:
                raise BackendError(f"{binding.var.name}: call to {value.op.name_hint} is not "
                                   f"a supported int8 operator ({', '.join(SUPPORTED)})")
            out.append((binding.var, name, func, list(value.args)))
    return out

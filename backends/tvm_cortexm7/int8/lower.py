"""Turn the composite functions found by :mod:`.partition` into integer layers.

Each composite's Relax body is read for its operator attributes and constants (int8
weights, int32 biases, float32 scales exactly as stored in the TFLite file); the
fixed-point constants are then derived as TFLite derives them (:mod:`.quant`).
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from zoo.errors import BackendError

from . import ops, quant
from .partition import composite_calls

__all__ = ["lower_module"]


class _Body:
    """The bindings of one composite function, looked up by operator name."""

    def __init__(self, func: relax.Function) -> None:
        self.values: dict[relax.Var, relax.Expr] = {}
        self.calls: dict[str, list[relax.Call]] = {}
        for block in func.body.blocks:
            for b in block.bindings:
                self.values[b.var] = b.value
                if isinstance(b.value, relax.Call) and isinstance(b.value.op, tvm.ir.Op):
                    self.calls.setdefault(b.value.op.name, []).append(b.value)

    def value(self, expr: relax.Expr) -> relax.Expr:
        """The expression bound to a variable (or the expression itself)."""
        while isinstance(expr, relax.Var) and expr in self.values:
            expr = self.values[expr]
        return expr

    def one(self, op: str) -> relax.Call | None:
        """The single call of ``op`` in the body, if present."""
        found = self.calls.get(op, [])
        return found[0] if found else None


def _const(expr: relax.Expr) -> np.ndarray:
    if not isinstance(expr, tvm.ir.expr.Constant):
        raise BackendError(f"expected a constant, got {type(expr).__name__}")
    return expr.value.numpy()


def _qparams(call: relax.Call) -> tuple[np.ndarray, np.ndarray]:
    """(scales float32 vector, zero points int vector) of a quantize/dequantize call."""
    return _const(call.args[1]).astype(np.float32).reshape(-1), _const(call.args[2]).reshape(-1)


def _act(body: _Body) -> tuple[int, int]:
    clip = body.one("relax.clip")
    if clip is None:
        return -128, 127
    lo, hi = (int(float(a.value.value if hasattr(a.value, "value") else a.value)) for a in clip.args[1:3])
    return max(lo, -128), min(hi, 127)


def _shape(expr: relax.Expr) -> tuple[int, ...]:
    return tuple(int(d) for d in expr.ty.shape)


class _Lowerer:
    """Builds the :class:`ops.Graph` while walking the composite calls in order."""

    def __init__(self) -> None:
        self.names: dict[relax.Var, str] = {}
        self.tensors: dict[str, ops.TensorInfo] = {}

    def name(self, var: relax.Expr, scale: float = 0.0, zp: int = 0) -> str:
        """A stable tensor name for a Relax variable (registered on first sight)."""
        if var not in self.names:
            name = f"t{len(self.names)}"
            self.names[var] = name
            self.tensors[name] = ops.TensorInfo(name, _shape(var), str(var.ty.dtype), scale, zp)
        return self.names[var]

    def out(self, var: relax.Var, body: _Body) -> str:
        """Register the composite's result with the output quantization."""
        q = body.one("relax.quantize")
        s, z = _qparams(q) if q is not None else (np.zeros(1, np.float32), np.zeros(1, int))
        return self.name(var, float(s[0]), int(z[0]))

    def input_of(self, body: _Body, call: relax.Call, arg: relax.Expr) -> tuple[str, float, int]:
        """Name, scale and zero point of an activation entering through a dequantize."""
        deq = body.value(call)
        s, z = _qparams(deq)
        return self.name(arg, float(s[0]), int(z[0])), float(s[0]), int(z[0])


def _conv(low: _Lowerer, var: relax.Var, body: _Body, args: list) -> ops.Conv2D:
    conv = body.one("relax.nn.conv2d")
    a = conv.attrs
    if a.data_layout != "NHWC" or tuple(int(d) for d in a.dilation) != (1, 1):
        raise BackendError(f"conv2d with layout {a.data_layout} / dilation {list(a.dilation)} "
                           "is not supported by the int8 lowering (NHWC, dilation 1 only)")
    x, in_s, in_zp = low.input_of(body, conv.args[0], args[0])
    out = low.out(var, body)
    wq = body.value(conv.args[1])
    if isinstance(wq, relax.Call) and wq.op.name == "relax.reshape":
        wq = body.value(wq.args[0])
    w = _const(wq.args[0]).astype(np.int8)
    w_s, _ = _qparams(wq)
    axis = int(wq.attrs.axis) % w.ndim
    in_hwc, out_hwc = _shape(args[0])[1:], _shape(var)[1:]
    groups = int(a.groups)
    depthwise = groups > 1
    if depthwise and (groups != in_hwc[2] or a.kernel_layout != "HWOI"):
        raise BackendError(f"grouped conv2d with {groups} groups over {in_hwc[2]} channels is not "
                           "supported (regular or depthwise convolutions only)")
    if not depthwise and a.kernel_layout != "HWIO":
        raise BackendError(f"conv2d kernel layout {a.kernel_layout} is not supported (HWIO)")
    w = np.moveaxis(w, axis, -1)  # ..., O
    kh, kw = (w.shape[1], w.shape[2]) if depthwise else (w.shape[0], w.shape[1])
    weights = w.reshape(kh, kw, -1) if depthwise else np.ascontiguousarray(w.transpose(3, 0, 1, 2))
    oc = out_hwc[2]
    w_s = np.broadcast_to(w_s, (oc,))
    bias = np.zeros(oc, np.int32)
    if body.one("relax.add") is not None:
        bias = _const(body.value(body.one("relax.add").args[1]).args[0]).astype(np.int32).reshape(oc)
    out_t = low.tensors[out]
    mults, shifts = quant.per_channel_multipliers(in_s, list(w_s), out_t.scale)
    lo, hi = _act(body)
    return ops.Conv2D(
        [x], out, op="DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", depthwise=depthwise,
        depth_multiplier=oc // in_hwc[2] if depthwise else 1, in_hwc=in_hwc, out_hwc=out_hwc,
        kernel=(kh, kw), stride=tuple(int(s) for s in a.strides),
        pad=(int(a.padding[0]), int(a.padding[1])), weights=np.ascontiguousarray(weights),
        bias=bias, multipliers=mults, shifts=shifts, in_zp=in_zp, out_zp=out_t.zero_point,
        act_min=max(lo, -128), act_max=hi)


def _fc(low: _Lowerer, var: relax.Var, body: _Body, args: list) -> ops.FullyConnected:
    mm = body.one("relax.matmul")
    x, in_s, in_zp = low.input_of(body, mm.args[0], args[0])
    out = low.out(var, body)
    wq = body.value(mm.args[1])
    src = body.value(wq.args[0])
    w = _const(src.args[0]) if isinstance(src, relax.Call) else _const(src).T  # (out, in)
    w_s, w_zp = _qparams(wq)
    if np.any(w_zp != 0) or w_s.size not in (1, w.shape[0]):
        raise BackendError("FULLY_CONNECTED with asymmetric int8 weights is not supported "
                           "(symmetric per-tensor or per-output-channel weights only)")
    bias = np.zeros(w.shape[0], np.int32)
    if body.one("relax.add") is not None:
        bias = _const(body.value(body.one("relax.add").args[1]).args[0]).astype(np.int32)
    out_t = low.tensors[out]
    if w_s.size == 1:
        m, s = quant.fc_multiplier(in_s, float(w_s[0]), out_t.scale)
        mults, shifts = [m] * w.shape[0], [s] * w.shape[0]
    else:
        mults, shifts = quant.per_channel_multipliers(in_s, list(w_s), out_t.scale)
    lo, hi = _act(body)
    return ops.FullyConnected([x], out, op="FULLY_CONNECTED", in_features=w.shape[1],
                              out_features=w.shape[0], weights=np.ascontiguousarray(w, np.int8),
                              bias=bias, multipliers=mults, shifts=shifts, in_zp=in_zp,
                              out_zp=out_t.zero_point, act_min=lo, act_max=hi)


def _mean(low: _Lowerer, var: relax.Var, body: _Body, args: list) -> ops.Mean:
    mean = body.one("relax.mean")
    in_shape = _shape(args[0])
    axes = sorted(int(a) % len(in_shape) for a in mean.attrs.axis)
    if len(in_shape) != 4 or axes != [1, 2]:
        raise BackendError(f"MEAN over axes {axes} of shape {in_shape} is not supported "
                           "(only over H and W of an NHWC tensor)")
    x, in_s, in_zp = low.input_of(body, mean.args[0], args[0])
    out = low.out(var, body)
    out_t = low.tensors[out]
    m, s = quant.mean_multiplier(in_s, out_t.scale, in_shape[1] * in_shape[2])
    return ops.Mean([x], out, op="MEAN", in_hwc=in_shape[1:], in_zp=in_zp,
                    out_zp=out_t.zero_point, multiplier=m, shift=s)


def _softmax(low: _Lowerer, var: relax.Var, body: _Body, args: list) -> ops.Softmax:
    sm = body.one("relax.nn.softmax")
    shape = _shape(args[0])
    if int(sm.attrs.axis) % len(shape) != len(shape) - 1:
        raise BackendError("SOFTMAX over an axis other than the last is not supported")
    x, in_s, _ = low.input_of(body, sm.args[0], args[0])
    out = low.out(var, body)
    out_t = low.tensors[out]
    return ops.Softmax([x], out, op="SOFTMAX", rows=int(np.prod(shape[:-1])), depth=shape[-1],
                       table=quant.softmax_exp_table(in_s), out_scale=out_t.scale,
                       out_zp=out_t.zero_point)


def _quantize(low: _Lowerer, var: relax.Var, body: _Body, args: list) -> ops.Requantize:
    q = body.one("relax.quantize")
    x, in_s, in_zp = low.input_of(body, q.args[0], args[0])
    out = low.out(var, body)
    out_t = low.tensors[out]
    if low.tensors[x].dtype not in ("uint8", "int8") or out_t.dtype != "int8":
        raise BackendError(f"QUANTIZE from {low.tensors[x].dtype} to {out_t.dtype} is not supported "
                           "(uint8/int8 -> int8 only; feed the model integer input)")
    m, s = quant.quantize_multiplier(float(np.float32(in_s)) / float(np.float32(out_t.scale)))
    return ops.Requantize([x], out, op="QUANTIZE", count=low.tensors[x].nbytes,
                          in_dtype=low.tensors[x].dtype, in_zp=in_zp, out_zp=out_t.zero_point,
                          multiplier=m, shift=s)


def _dequantize(low: _Lowerer, var: relax.Var, body: _Body, args: list) -> ops.Dequantize:
    d = body.one("relax.dequantize")
    x, s, zp = low.input_of(body, d, args[0])
    out = low.name(var)
    return ops.Dequantize([x], out, op="DEQUANTIZE", count=int(np.prod(_shape(var))), scale=s, zp=zp)


_BUILDERS = {"zoo_int8.conv2d": _conv, "zoo_int8.fully_connected": _fc, "zoo_int8.mean": _mean,
             "zoo_int8.softmax": _softmax, "zoo_int8.quantize": _quantize,
             "zoo_int8.dequantize": _dequantize}


def lower_module(mod: tvm.IRModule) -> ops.Graph:
    """Build the integer layer graph of a partitioned module (see :func:`.partition.partition`).

    Raises:
        BackendError: for operator variants the kernels do not implement.
    """
    low = _Lowerer()
    main = mod["main"]
    if len(main.params) != 1:
        raise BackendError(f"the int8 lowering supports one model input, got {len(main.params)}")
    layers = []
    for var, name, func, args in composite_calls(mod):
        layers.append(_BUILDERS[name](low, var, _Body(func), args))
    inp = low.names.get(main.params[0])
    out = layers[-1].output if layers else None
    if inp is None or out is None or low.tensors[inp].dtype not in ("uint8", "int8"):
        raise BackendError("the int8 lowering needs a uint8/int8 model input feeding a QUANTIZE")
    logits = next((layer.inputs[0] for layer in layers if isinstance(layer, ops.Softmax)), None)
    return ops.Graph(low.tensors, layers, inp, out, logits)

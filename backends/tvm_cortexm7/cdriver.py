"""Turn a memory-planned Relax ``main`` into a static C driver (the AOT part of the float lowering).

After ``CallTIRRewrite`` + ``StaticPlanBlockMemory`` the Relax function is a straight list of
``alloc_storage`` / ``alloc_tensor`` / kernel calls. :func:`plan_from_relax` reads it into a
:class:`DriverPlan` (arena offsets, constants, calls); :func:`render_model_c` and
:func:`render_weights_c` print that plan as C: one static arena, ``const`` weights, one
function that calls the kernels in order. No TVM runtime, no heap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from zoo.errors import BackendError

__all__ = ["Arg", "Call", "DriverPlan", "plan_from_relax", "render_model_c", "render_weights_c"]

ALIGN = 16
_C_TYPES = {"float32": "float", "int8": "int8_t", "uint8": "uint8_t", "int32": "int32_t", "int16": "int16_t",
            "uint16": "uint16_t", "uint32": "uint32_t", "int64": "int64_t"}


@dataclass(frozen=True)
class Arg:
    """Where a kernel argument lives: ``kind`` is arena, const, input, output (or unplanned while reading)."""

    kind: str
    offset: int = 0  # arena byte offset (unplanned: its size in bytes)
    const: int = -1  # index into DriverPlan.constants (unplanned: an id)


@dataclass(frozen=True)
class Call:
    symbol: str  # kernel name in the Relax module (its global symbol is set by the lowering)
    args: tuple[Arg, ...]


@dataclass
class DriverPlan:
    """Everything the driver needs, independent of TVM objects."""

    arena_bytes: int = 0
    constants: list[np.ndarray] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    result: Arg | None = None  # where the output ends up: Arg("output") (in place) or an arena slot (copied)
    output_bytes: int = 0
    output_dtype: str = "float32"

    @property
    def weights_bytes(self) -> int:
        return sum(int(c.nbytes) for c in self.constants)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _ints(shape_expr) -> list[int]:
    return [int(v) for v in shape_expr.values]


def _tensor_bytes(shape: list[int], dtype: str) -> int:
    return int(math.prod(shape)) * np.dtype(dtype).itemsize


def plan_from_relax(func) -> DriverPlan:
    """Read a memory-planned Relax function into a :class:`DriverPlan`.

    Args:
        func: the ``main`` ``relax.Function`` after ``CallTIRRewrite`` and ``StaticPlanBlockMemory``
            (and no further lowering), with one tensor parameter.

    Returns:
        The plan.

    Raises:
        BackendError: the function has a construct the static driver cannot express
            (dynamic shapes, several inputs, calls into packed functions).
    """
    from tvm import ir, relax  # noqa: PLC0415 - heavy, only when compiling

    if len(func.params) != 1:
        raise BackendError(f"the tvm-cortexm7 float lowering handles one input tensor, the model has "
                           f"{len(func.params)}; use a model with a single input")
    plan = DriverPlan()
    where: dict = {func.params[0]: Arg("input")}
    storage: dict = {}
    for block in func.body.blocks:
        for binding in block.bindings:
            _bind(plan, where, storage, binding.var, binding.value, relax, ir)
    result = func.body.body
    if result not in where:
        raise BackendError(f"the model's result {result} is not a tensor the driver knows; "
                           "the Relax graph has an unsupported form")
    plan.output_dtype = str(result.ty.dtype)
    plan.output_bytes = _tensor_bytes([int(v) for v in result.ty.shape.values], plan.output_dtype)
    _place_unplanned(plan, where[result])
    return plan


def _place_unplanned(plan: DriverPlan, result: Arg) -> None:
    """Unplanned tensors (``builtin.alloc_tensor``): the result is written straight into the caller's
    ``output``; any other gets its own arena slot. A result inside planned storage is copied out."""
    slots: dict[int, Arg] = {}

    def resolve(arg: Arg) -> Arg:
        if arg.kind != "unplanned":
            return arg
        if arg == result:
            return Arg("output")
        if arg.const not in slots:
            slots[arg.const] = Arg("arena", plan.arena_bytes)
            plan.arena_bytes += _align(arg.offset)
        return slots[arg.const]

    plan.calls = [Call(c.symbol, tuple(resolve(a) for a in c.args)) for c in plan.calls]
    plan.result = resolve(result)
    if plan.result.kind not in ("output", "arena"):
        raise BackendError(f"the model's result is its {plan.result.kind} tensor; the static driver "
                           "needs a computed output")


def _bind(plan: DriverPlan, where: dict, storage: dict, var, value, relax, ir) -> None:
    if isinstance(value, relax.Var):
        where[var] = where[value]
        return
    if not isinstance(value, relax.Call):
        raise BackendError(f"unsupported Relax binding {type(value).__name__} for {var}; "
                           "the static C driver handles allocations and kernel calls only")
    op = value.op
    if isinstance(op, ir.Op) and op.name == "relax.memory.alloc_storage":
        storage[var] = plan.arena_bytes
        plan.arena_bytes += _align(_ints(value.args[0])[0])
    elif isinstance(op, ir.Op) and op.name == "relax.memory.alloc_tensor":
        where[var] = Arg("arena", storage[value.args[0]] + int(value.args[1].value))
    elif isinstance(op, ir.Op) and op.name == "relax.builtin.alloc_tensor":  # placed by _place_unplanned
        nbytes = _tensor_bytes(_ints(value.args[0]), str(value.args[1].value))
        where[var] = Arg("unplanned", offset=nbytes, const=len(where))
    elif isinstance(op, ir.GlobalVar):
        args = []
        for a in value.args:
            if isinstance(a, ir.Constant):
                plan.constants.append(_const_array(a))
                args.append(Arg("const", const=len(plan.constants) - 1))
            elif a in where:
                args.append(where[a])
            else:
                raise BackendError(f"kernel {op.name_hint} takes an argument the driver cannot place: {a}")
        plan.calls.append(Call(op.name_hint, tuple(args)))
    else:
        raise BackendError(f"unsupported Relax call {op} in the planned graph; the static C driver "
                           "handles memory.alloc_storage/alloc_tensor and kernel calls only")


def _c_literal(x: np.generic, dtype: str) -> str:
    if dtype == "float32":
        if not math.isfinite(float(x)):
            raise BackendError("a weight constant is not finite (inf/nan); the model file is damaged")
        text = f"{float(x):.9g}"  # 9 significant digits: exact for float32
        return f"{text}f" if ("." in text or "e" in text) else f"{text}.0f"
    return str(int(x))


def render_weights_c(prefix: str, plan: DriverPlan) -> str:
    """The ``<prefix>_weights.c`` text: every constant as a ``const`` array (flash).

    Args:
        prefix: the C prefix.
        plan: the driver plan.

    Returns:
        C source text.

    Raises:
        BackendError: a constant has a dtype with no C type here.
    """
    lines = [f"/* {prefix}_weights.c - generated by zoo (backend tvm-cortexm7). Do not edit. */",
             "#include <stdint.h>", ""]
    for i, c in enumerate(plan.constants):
        dtype = str(c.dtype)
        if dtype not in _C_TYPES:
            raise BackendError(f"weight {i} has dtype {dtype}, which the C writer does not handle")
        flat = c.reshape(-1)
        body = ",".join(_c_literal(v, dtype) for v in flat)
        lines.append(f"/* shape {list(c.shape)} {dtype} */")
        lines.append(f"const {_C_TYPES[dtype]} {prefix}_w{i}[{max(flat.size, 1)}] __attribute__((aligned({ALIGN}))) "
                     f"= {{{body}}};")
    return "\n".join(lines) + "\n"


def _arg_expr(prefix: str, arg: Arg) -> str:
    if arg.kind == "input":
        return "(void *)input"
    if arg.kind == "output":
        return "(void *)output"
    if arg.kind == "const":
        return f"(void *){prefix}_w{arg.const}"
    return f"(void *)&arena[{arg.offset}]"


def _call_kernel_c(prefix: str, max_args: int) -> str:
    """The driver's helper that wraps raw pointers as the DLTensor arguments packed kernels read."""
    return f"""/* Wrap raw pointers as the DLTensor arguments the packed kernels read (data only). */
static int32_t call_kernel(kernel_fn fn, void *const *ptrs, int32_t n) {{
  DLTensor t[{max_args}];
  TVMFFIAny a[{max_args}];
  for (int32_t i = 0; i < n; ++i) {{
    memset(&t[i], 0, sizeof t[i]);
    t[i].data = ptrs[i];
    t[i].device.device_type = 1;
    t[i].ndim = 1;
    t[i].shape = unit_shape;
    memset(&a[i], 0, sizeof a[i]);
    a[i].type_index = 7;
    a[i].v_ptr = &t[i];
  }}
  {prefix}_last_error = 0;
  int32_t rc = fn(NULL, a, n, NULL);
  return rc != 0 ? rc : {prefix}_last_error;
}}"""


def render_model_c(prefix: str, plan: DriverPlan, kernel_symbols: dict[str, str]) -> str:
    """The ``<prefix>_model.c`` text: the arena and ``<prefix>_run``.

    Args:
        prefix: the C prefix.
        plan: the driver plan.
        kernel_symbols: Relax kernel name -> C function name in the kernels source.

    Returns:
        C source text.
    """
    externs = [f"extern const {_C_TYPES[str(c.dtype)]} {prefix}_w{i}[];" for i, c in enumerate(plan.constants)]
    protos = sorted({f"int32_t {s}(void *self, void *args, int32_t num_args, void *result);"
                     for s in kernel_symbols.values()})
    max_args = max((len(c.args) for c in plan.calls), default=1)
    body = []
    for call in plan.calls:
        ptrs = ", ".join(_arg_expr(prefix, a) for a in call.args)
        body.append(f"  {{ void *const a[] = {{{ptrs}}};\n"
                    f"    if ((rc = call_kernel({kernel_symbols[call.symbol]}, a, {len(call.args)})) != 0) "
                    "return rc; }")
    copy_out = ""
    if plan.result is not None and plan.result.kind == "arena":
        copy_out = f"\n  memcpy(output, &arena[{plan.result.offset}], {plan.output_bytes}u);"
    return f"""/* {prefix}_model.c - generated by zoo (backend tvm-cortexm7). Do not edit.
 * The static driver: one arena, the kernels of {prefix}_kernels.c called in order. */
#include <string.h>
#include "{prefix}.h"
#include "{prefix}_tvm_abi.h"

{chr(10).join(externs)}
{chr(10).join(protos)}

typedef int32_t (*kernel_fn)(void *, void *, int32_t, void *);

static uint8_t arena[{max(plan.arena_bytes, 1)}u] __attribute__((aligned({ALIGN})));
static int64_t unit_shape[1] = {{1}};

{_call_kernel_c(prefix, max_args)}

int32_t {prefix}_run(const uint8_t *input, float *output) {{
  int32_t rc;
{chr(10).join(body)}{copy_out}
  return 0;
}}

int32_t {prefix}_run_buffers(const uint8_t *inputs, uint8_t *outputs) {{
  return {prefix}_run(inputs, (float *)(void *)outputs);
}}
"""


def _const_array(const) -> np.ndarray:
    """The numpy value of a Relax constant (``data`` on older TVM, ``value`` on 0.27's GenericConst)."""
    value = getattr(const, "data", None)
    if value is None:
        value = getattr(const, "value", None)
    if value is None or not hasattr(value, "numpy"):
        raise BackendError(f"cannot read the value of constant {type(const).__name__}; the TVM version is not supported")
    return np.ascontiguousarray(value.numpy())

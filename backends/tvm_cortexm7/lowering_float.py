"""The "float" lowering: TVM 0.27 Relax, QDQ lowered to float math, kernels as plain C.

Route: ``relax.frontend.tflite`` -> LegalizeOps / FoldConstant (weights become float32
constants) / FuseOps / FuseTIR -> a schedule that inlines every elementwise stage into its
reduction (no intermediate buffers, so no kernel workspace) -> ``CallTIRRewrite`` +
``StaticPlanBlockMemory`` (the static arena) -> kernels through TVM's "c" target with the
packed-API checks compiled out (``SkipAssert``) -> a generated driver (:mod:`.cdriver`) and
a small shim for the runtime symbols the kernels reference.
"""

from __future__ import annotations

import re
from importlib import resources

from zoo.backends.tvm_tflite import import_tflite

from zoo.errors import BackendError

from .cdriver import plan_from_relax, render_model_c, render_weights_c
from .library import LoweringRequest, ModelLibrary, TensorSpec, render_header, write_metadata

__all__ = ["lower_float", "tflite_ops"]

_PIPELINE = "zoo_cortexm7_c"


def tflite_ops(buf: bytes) -> list[str]:
    """The builtin operator names of a tflite model's first subgraph, in execution order.

    Args:
        buf: the .tflite file contents.

    Returns:
        Operator names, e.g. ``["QUANTIZE", "CONV_2D", ...]``.
    """
    import tflite  # noqa: PLC0415

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    ops = []
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        ops.append(names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM"))
    return ops


def _inline_schedule(func):
    """Inline elementwise stages into reductions so no intermediate buffer is allocated."""
    from tvm import s_tir  # noqa: PLC0415

    sch = s_tir.Schedule(func)
    root = sch.get_sblock("root")
    for blk in list(sch.get_child_blocks(root)):
        try:
            sch.compute_inline(blk)
        except s_tir.ScheduleError:
            pass  # a reduction or an output: stays a block
    for blk in list(sch.get_child_blocks(root)):
        block = sch.get(blk)
        spatial = sum(1 for iv in block.iter_vars if iv.iter_type == 0)
        consumers = sch.get_consumers(blk)
        if spatial in (0, len(block.iter_vars)) or len(consumers) != 1:
            continue
        try:  # the epilogue moves inside the reduction's spatial loops: its buffer shrinks to one element
            sch.reverse_compute_at(consumers[0], sch.get_loops(blk)[spatial - 1])
        except s_tir.ScheduleError:
            pass
    return sch.mod["main"]


def _register_pipeline() -> None:
    import tvm  # noqa: PLC0415
    from tvm import s_tir, tirx  # noqa: PLC0415
    from tvm.tirx.compilation_pipeline import finalize_device_passes, finalize_host_passes  # noqa: PLC0415

    def factory():
        @tvm.transform.module_pass(opt_level=0)
        def _passes(mod, _ctx):
            st, tt = s_tir.transform, tirx.transform
            return tvm.ir.transform.Sequential([
                st.CanonicalizeLoop(), st.LowerInitBlock(), st.PlanAndUpdateBufferAllocationLocation(),
                st.ConvertBlocksToOpaque(), st.CompactBufferAllocation(), st.LowerMatchBuffer(),
                st.StmtSimplify(), st.LowerOpaqueBlock(), tt.FlattenBuffer(), tt.NarrowDataType(32),
                st.LoopPartition(), tt.VectorizeLoop(False), tt.StorageRewrite(), st.HoistIfThenElse(),
                tt.UnrollLoop(), tt.StmtSimplify(), tt.RemoveNoOp(), st.RewriteUnsafeSelect(),
                tt.CommonSubexprElim(), tt.VerifyMemory(), tt.AnnotateEntryFunc(),
                tt.MakePackedAPI(), tt.SkipAssert(),  # packed signature, no argument checks or error strings
            ])(mod)
        return _passes, finalize_host_passes, finalize_device_passes

    tvm.tirx.register_tir_pipeline(_PIPELINE, factory)


def _compile_graph(req: LoweringRequest):
    """Relax passes up to the static memory plan; returns (main function, {kernel: PrimFunc})."""
    import tvm  # noqa: PLC0415
    from tvm import relax, tirx  # noqa: PLC0415

    t = relax.transform
    mod = tvm.transform.Sequential([
        t.LegalizeOps(), t.AnnotateTIROpPattern(), t.FoldConstant(), t.FuseOps(), t.FuseTIR(),
        t.DeadCodeElimination(), t.RewriteDataflowReshape(), t.ToNonDataflow(), t.RemovePurityChecking(),
        t.CallTIRRewrite(), t.StaticPlanBlockMemory(),
    ])(import_tflite(req.artifact_path, req.input_name, req.input_shape, "uint8"))
    kernels = {gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}
    return mod["main"], kernels


def _kernels_c(req: LoweringRequest, kernels: dict) -> tuple[str, dict[str, str]]:
    """C source of all kernels and the map kernel name -> C function name."""
    import tvm  # noqa: PLC0415

    _register_pipeline()
    symbols = {name: f"{req.prefix}_k{i}" for i, name in enumerate(sorted(kernels))}
    funcs = {tvm.ir.GlobalVar(symbols[n]): _inline_schedule(f).with_attr("global_symbol", symbols[n])
             for n, f in kernels.items()}
    src = tvm.tirx.build(tvm.IRModule(funcs), target="c", pipeline=_PIPELINE).inspect_source()
    c_names = {}
    for name, sym in symbols.items():
        found = re.search(rf"int32_t (\w*{re.escape(sym)})\(void\* self_handle", src)
        if not found:
            raise BackendError(f"TVM's C output has no function for kernel {name} ({sym}); "
                               "the TVM version may have changed its C code generator")
        c_names[name] = found.group(1)
    return _portable(req.prefix, src), c_names


def _portable(prefix: str, src: str) -> str:
    """Swap TVM's runtime headers for the library's own ABI header."""
    lines = [ln for ln in src.splitlines() if not re.match(r'#(include "tvm/|define TVM_EXPORTS)', ln)]
    head = (f"/* {prefix}_kernels.c - generated by TVM's C code generator via zoo (backend tvm-cortexm7). "
            f"Do not edit. */\n#include \"{prefix}_tvm_abi.h\"\n"
            "#pragma GCC diagnostic ignored \"-Wunused-variable\"  /* TVM's packed-API prologue, checks compiled out */\n"
            "#pragma GCC diagnostic ignored \"-Wunused-but-set-variable\"\n"
            "#pragma GCC diagnostic ignored \"-Wunused-parameter\"\n"
            "#pragma GCC diagnostic ignored \"-Wmaybe-uninitialized\"  /* reductions initialised on their first step */\n")
    return head + "\n".join(lines) + "\n"


def _workspace_bytes(kernels_src: str) -> int:
    """The largest sum of workspace any one kernel allocates (they are freed before it returns)."""
    need = 0
    for body in kernels_src.split("\nTVM_DLL int32_t ")[1:]:
        sizes = [int(s) for s in re.findall(r"TVMBackendAllocWorkspace\([^,]*,[^,]*, \(uint64_t\)(\d+)ULL", body)]
        need = max(need, sum((s + 15) // 16 * 16 for s in sizes))
    return need


def _template(name: str, **subs: str | int) -> str:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    for key, value in subs.items():
        text = text.replace(f"@{key}@", str(value))
    return text


def lower_float(req: LoweringRequest) -> ModelLibrary:
    """Write the float-lowered model library for one int8 tflite file.

    Args:
        req: the tflite file, C prefix, the card's tensor facts and the (empty) output folder.

    Returns:
        The written library.

    Raises:
        BackendError: TVM cannot import or compile the model, or the output size disagrees with the card.
    """
    try:
        main, kernels = _compile_graph(req)
        plan = plan_from_relax(main)
        kernels_src, c_names = _kernels_c(req, kernels)
    except BackendError:
        raise
    except Exception as exc:  # TVM raises its own error types (TVMError, InternalError, ...)
        raise BackendError(f"TVM could not compile {req.artifact_path.name} (float lowering): "
                           f"{type(exc).__name__}: {str(exc).strip()[:500]}") from exc
    out_shape = [int(v) for v in main.ret_ty.shape.values]
    if tuple(out_shape) != tuple(req.output_shape) or plan.output_dtype != "float32":
        raise BackendError(f"the model's output is {plan.output_dtype}{out_shape}, the card says float32"
                           f"{list(req.output_shape)}; fix card.output.shape")
    p, d = req.prefix, req.out_dir
    workspace = _workspace_bytes(kernels_src)
    in_spec = TensorSpec(req.input_name, tuple(req.input_shape), "uint8")
    out_spec = TensorSpec("output", tuple(req.output_shape), "float32")
    files = {f"{p}_kernels.c": kernels_src, f"{p}_weights.c": render_weights_c(p, plan),
             f"{p}_model.c": render_model_c(p, plan, c_names),
             f"{p}_runtime.c": _template("tvm_shim_template.c", PREFIX=p, WORKSPACE_BYTES=workspace),
             f"{p}_tvm_abi.h": _template("tvm_abi_template.h", PREFIX=p),
             f"{p}.h": render_header(p, inputs=[in_spec], outputs=[out_spec],
                                     arena_bytes=plan.arena_bytes + workspace, logits=None,
                                     description=f"{req.artifact_path.name} compiled by TVM (Relax, float "
                                                 "lowering of the int8 QDQ graph) to C kernels + a static driver.")}
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    meta = write_metadata(d, prefix=p, lowering="float", artifact_path=req.artifact_path,
                          ops=tflite_ops(req.artifact_path.read_bytes()),
                          buffers={"arena_bytes": plan.arena_bytes + workspace, "activation_bytes": plan.arena_bytes,
                                   "workspace_bytes": workspace, "weights_bytes": plan.weights_bytes},
                          inputs=[in_spec], outputs=[out_spec], logits=None,
                          extra={"kernels": sorted(c_names.values()), "weights_dtype": "float32 (dequantized)"})
    del meta
    return ModelLibrary.load(d)

"""Integer-only int8 lowering of TFLite classifiers for the Cortex-M7 backend.

The TFLite model is imported with TVM's Relax frontend; a pattern-based partitioning pass
(:mod:`.partition`, ``FuseOpsByPattern`` over ``relax.dpl`` patterns) groups each quantized
operator's QDQ subgraph into a composite function; :mod:`.lower` reads those into integer
layers with TFLite's fixed-point constants (:mod:`.quant`); :mod:`.layout` re-lays the
weights out for the kernels; :mod:`.planner` places activations in one static arena by
liveness; :mod:`.codegen` writes a standalone C model library that runs on the project's
own int8 kernels (``kernels/``). :mod:`.hostbuild` builds it for the host (tests) or the M7.

Reference semantics: LiteRT's builtin kernels without delegate (x86 build of
ai-edge-litert 2.3), which the outputs match bit for bit. Measured there, and reproduced:
CONV_2D and FULLY_CONNECTED (ruy GEMM) round the final power-of-two shift half *up*;
DEPTHWISE_CONV_2D does so in blocks of 8 channels and rounds half *away from zero* in the
remaining channels; MEAN and QUANTIZE use gemmlowp's away-from-zero rounding; SOFTMAX is
the float-table variant (``expf`` table, float sum, round half away from zero). TFLite
Micro's reference requantization rounds away from zero everywhere, so it can differ from
LiteRT on exact negative ties in layers whose activation floor does not hide them (in
stmnist_v1 only the FULLY_CONNECTED layer).

Example:
    >>> lib = generate_int8_library(Path("stmnist_v1_int8.tflite"), Path("out"), "stmnist_v1")  # doctest: +SKIP
    >>> lib.metadata["buffers"]["arena_bytes"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import BackendError

__all__ = ["generate_int8_library", "lower_int8", "lower_tflite"]


def lower_tflite(tflite_path: Path) -> Any:
    """Import, partition and lower a .tflite file to an integer layer graph (:class:`.ops.Graph`).

    Raises:
        BackendError: the model cannot be imported or has operators the kernels lack.
    """
    from .lower import lower_module
    from .partition import import_tflite, partition

    return lower_module(partition(import_tflite(Path(tflite_path))))


def generate_int8_library(tflite_path: Path, out_dir: Path, prefix: str) -> Any:
    """Write the int8 model library of a TFLite classifier into ``out_dir``.

    Args:
        tflite_path: an int8-quantized .tflite (uint8/int8 input, float32 or int8 output).
        out_dir: the library folder (created if missing).
        prefix: the C identifier prefix of the public API (``<prefix>_run`` ...).

    Returns:
        The :class:`backends.tvm_cortexm7.library.ModelLibrary` written.

    Raises:
        BackendError: unsupported operators or layouts (the message names them).
    """
    from .. import library
    from . import codegen
    from .planner import plan_arena

    graph = lower_tflite(tflite_path)
    if graph.logits is None or graph.tensors[graph.output].dtype != "float32":
        raise BackendError(f"{Path(tflite_path).name}: the int8 lowering needs a classifier ending "
                           "in SOFTMAX then DEQUANTIZE to float32")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_arena(graph)
    src = codegen.emit_sources(graph, plan, prefix)
    in_t, out_t = graph.tensors[graph.input], graph.tensors[graph.output]
    output_count = out_t.nbytes // 4
    header = library.render_header(
        prefix, input_bytes=in_t.nbytes, output_count=output_count, arena_bytes=plan.size,
        has_logits=True, description=f"int8 integer-only lowering of {Path(tflite_path).name} "
        "(bit-exact with TFLite Micro / LiteRT builtin kernels).")
    (out_dir / f"{prefix}.h").write_text(header, encoding="utf-8")
    (out_dir / f"{prefix}{library.WEIGHTS_SUFFIX}.c").write_text(src.weights_c, encoding="utf-8")
    (out_dir / f"{prefix}_model.c").write_text(src.model_c, encoding="utf-8")
    codegen.copy_kernels(out_dir)
    logits = graph.tensors[graph.logits]
    library.write_metadata(
        out_dir, prefix=prefix, lowering="int8", artifact_path=Path(tflite_path),
        ops=[layer.op for layer in graph.layers],
        buffers={"input_bytes": in_t.nbytes, "output_count": output_count,
                 "arena_bytes": plan.size, "weights_bytes": src.weights_bytes},
        has_logits=True,
        extra={"logits": {"scale": logits.scale, "zero_point": logits.zero_point},
               "input": {"shape": list(in_t.shape), "dtype": in_t.dtype, "scale": in_t.scale,
                         "zero_point": in_t.zero_point},
               "arena_offsets": dict(sorted(plan.offsets.items()))})
    return library.ModelLibrary.load(out_dir)


def lower_int8(request: Any) -> Any:
    """The ``int8`` lowering in the backend's ``LoweringFn`` form.

    Args:
        request: a :class:`backends.tvm_cortexm7.library.LoweringRequest`.

    Returns:
        The :class:`~backends.tvm_cortexm7.library.ModelLibrary` written to ``request.out_dir``.

    Raises:
        BackendError: unsupported model, or its tensors disagree with the card.
    """
    lib = generate_int8_library(request.artifact_path, request.out_dir, request.prefix)
    buf = lib.metadata["buffers"]
    if (buf["input_bytes"], buf["output_count"]) != (request.input_bytes, request.output_count):
        raise BackendError(
            f"{Path(request.artifact_path).name} takes {buf['input_bytes']} input bytes and gives "
            f"{buf['output_count']} outputs, but the card says {request.input_bytes} and "
            f"{request.output_count}; fix the card's input/output shapes")
    return lib

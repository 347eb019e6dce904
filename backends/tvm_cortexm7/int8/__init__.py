"""Integer-only int8 lowering of TFLite models for the Cortex-M backends, bit-exact with TFLM.

The .tflite flatbuffer is read directly (:mod:`.tflite_model`); each operator goes to its unit
in :mod:`.operators` (one module per operator: checks, TFLite Micro's integer constants, C
emission, MACs, scratch), giving an integer layer graph (:mod:`.graph`); :mod:`.planner` places
activations in one static arena by liveness; :mod:`.codegen` writes a standalone C model library
that runs on the project's own int8 kernels (``kernels/``: one file per operator, portable C
with DSP fast paths selected by ``__ARM_FEATURE_DSP``). :mod:`.hostbuild` builds it for the host
(tests) or the target (size check).

Reference semantics: TensorFlow Lite Micro (tflite-micro 90b983c2; its reference kernels and
CMSIS-NN agree): MultiplyByQuantizedMultiplier rounding half away from zero in every layer, the
gemmlowp fixed-point int8 SOFTMAX, rounded averages. Not LiteRT, whose builtin kernels round some
ties half up (ruy) and use a float SOFTMAX, and so differ on some models.

Example:
    >>> lib = generate_int8_library(Path("kws_ref_model.tflite"), Path("out"), "kws")  # doctest: +SKIP
    >>> lib.metadata["buffers"]["arena_bytes"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import BackendError

__all__ = ["generate_int8_library", "layer_table", "lower_int8", "tensor_specs"]


def tensor_specs(graph: Any) -> tuple[list[Any], list[Any], Any]:
    """The library's input, output and logits :class:`~..library.TensorSpec` of a lowered graph."""
    from ..library import TensorSpec

    def spec(name: str) -> TensorSpec:
        t = graph.tensors[name]
        return TensorSpec(t.source, tuple(t.shape), t.dtype, t.scale, t.zero_point)

    logits = spec(graph.logits) if graph.logits is not None else None
    return [spec(n) for n in graph.inputs], [spec(n) for n in graph.outputs], logits


def _plan_small(graph: Any, plan_arena: Any) -> Any:
    """The arena plan with, for each layer that has a choice of kernels, the fastest one unless the one
    with the least scratch lowers the arena (RAM before speed): all small first, then each layer back to
    its fastest kernel where the arena does not grow (with the most scratch that kernel can take without
    growing it: a depthwise layer's largest chunk of channels that fits)."""
    choices = [layer for layer in graph.layers if layer.use_small_scratch(False)]
    fast = plan_arena(graph)
    if not choices:
        return fast
    for layer in choices:
        layer.use_small_scratch(True)
    small = plan_arena(graph)
    if small.size >= fast.size:
        for layer in choices:
            layer.use_small_scratch(False)
        return fast
    for layer in choices:
        layer.use_small_scratch(False)
        trial = plan_arena(graph)
        while trial.size > small.size and getattr(layer, "narrower", lambda: False)():
            trial = plan_arena(graph)  # the same kernel on less scratch (a depthwise layer's chunk)
        if trial.size <= small.size:
            small = trial
        else:
            layer.use_small_scratch(True)
    return small


def plan_graph(graph: Any, mve: bool = False) -> Any:
    """Each layer's kernel and the arena plan: on the M55 the Helium kernels (the pair kernel's two-column
    scratch); elsewhere the kernels :func:`_plan_small` picks on plans without convolutions written over
    their inputs (RAM before speed judged there, so an overlap never moves a layer to a slower kernel),
    then the buffers placed with those overlaps that make the arena smaller."""
    from . import layout_mve
    from .planner import plan_arena

    if mve:
        for layer in graph.layers:
            if getattr(layer, "small_scratch", None) is not None and layout_mve.applies(layer):
                layer.small_scratch = True
    else:
        _plan_small(graph, lambda g: plan_arena(g, overlap=False))
    return plan_arena(graph)


def layer_table(graph: Any) -> list[dict[str, Any]]:
    """Each layer in execution order: TFLite operator and index, MACs, and the tensors its hook reports
    (TFLite tensor index, name, shape, dtype and bytes; see :func:`.codegen.layer_hooks`), for ``metadata.json``."""
    def tensor(name: str) -> dict[str, Any]:
        t = graph.tensors[name]
        return {"tensor": int(name[1:]), "name": t.source, "shape": list(t.shape), "dtype": t.dtype,
                "bytes": int(t.nbytes)}

    return [{"operator": layer.index, "op": layer.op, "macs": int(layer.macs()), "alias": bool(layer.alias),
             "outputs": [tensor(name) for name in layer.outputs]} for layer in graph.layers]


def generate_int8_library(tflite_path: Path, out_dir: Path, prefix: str, mve: bool = False) -> Any:
    """Write the int8 model library of a .tflite model into ``out_dir``.

    Args:
        tflite_path: an int8-quantized .tflite (inputs and outputs int8, uint8 or float32).
        out_dir: the library folder (created if missing).
        prefix: the C identifier prefix of the public API (``<prefix>_run`` ...).
        mve: lay the convolutions out for the Helium kernels (:mod:`.layout_mve`; a target with MVE).

    Returns:
        The :class:`backends.tvm_cortexm7.library.ModelLibrary` written.

    Raises:
        BackendError: unsupported operators (one error naming each, with its index) or a damaged file.
    """
    from .. import library
    from . import codegen
    from .graph import lower_model

    graph = lower_model(Path(tflite_path))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_graph(graph, mve)
    src = codegen.emit_sources(graph, plan, prefix, mve)
    inputs, outputs, logits = tensor_specs(graph)
    header = library.render_header(
        prefix, inputs=inputs, outputs=outputs, arena_bytes=plan.size, logits=logits,
        description=f"int8 integer-only lowering of {Path(tflite_path).name} (bit-exact with TensorFlow "
                    "Lite Micro).")
    (out_dir / f"{prefix}.h").write_text(header, encoding="utf-8")
    (out_dir / f"{prefix}{library.WEIGHTS_SUFFIX}.c").write_text(src.weights_c, encoding="utf-8")
    (out_dir / f"{prefix}_model.c").write_text(src.model_c, encoding="utf-8")
    codegen.copy_kernels(out_dir)
    library.write_metadata(
        out_dir, prefix=prefix, lowering="int8", artifact_path=Path(tflite_path),
        ops=[layer.op for layer in graph.layers],
        buffers={"arena_bytes": plan.size, "weights_bytes": src.weights_bytes},
        inputs=inputs, outputs=outputs, logits=logits,
        extra={"macs": graph.macs(), "mve": mve, "arena_offsets": dict(sorted(plan.offsets.items())),
               "layers": layer_table(graph)})
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
    from ..library import check_against_card

    lib = generate_int8_library(request.artifact_path, request.out_dir, request.prefix, request.mve)
    first_in = lib.inputs[0]
    if first_in.name != request.input_name:
        raise BackendError(f"{Path(request.artifact_path).name}: the model's input is {first_in.name!r}, the card "
                           f"names {request.input_name!r}; fix the card's inputs")
    check_against_card(lib, request.card_tensors, Path(request.artifact_path).name)
    return lib

"""TVM 0.27 (Relax) backend for the host CPU: the int8 tflite imported with TVM's TFLite
frontend and compiled by LLVM into a shared library run by the Relax virtual machine.

Choices, measured on this project's machine (AMD EPYC znver3, 2 cores):

- Frontend: ``tvm.relax.frontend.tflite`` imports the int8 flatbuffer directly (through the
  ``tflite`` package); QDQ lowers to float arithmetic, as FACTS.md describes. No ONNX detour.
- Batch: the input's batch dimension is a symbolic ``n``: one library runs any batch size
  in one VM call (no padding, no chunking).
- Logits: the int8 tensor quantized right before the Softmax's dequantize is added as a
  second function output and returned under :data:`zoo.backend.LOGITS`.
- Target: generic ``llvm`` (no ``-mcpu``). ``-mcpu=znver3`` gave the same outputs and was
  ~6% faster on 5,000 images (5.0 s vs 5.3 s), not worth a host-specific library. The host
  CPU name is still part of the cache key, as LLVM's host defaults (triple) come from it.
- Linking: ``export_library`` with our own link step so the C compiler runs under a timeout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from zoo.backends.tvm_tflite import import_tflite, operator_converter

from zoo.backend import LOGITS, YES, Availability, Backend, Runner
from zoo.card import Artifact, Card
from zoo.errors import BackendError, ToolchainError
from zoo.proc import run as proc_run
from zoo.tflite_model import read_tflite

if TYPE_CHECKING:  # type hints only: tvm is imported inside the methods
    import tvm

__all__ = ["TARGET", "TVMHostBackend", "TVMHostRunner"]

TARGET: dict[str, str] = {"kind": "llvm"}  # generic x86-64 code: see the module docstring
LIB_FILE = "model.so"
META_FILE = "outputs.json"
LINK_TIMEOUT_S = 120


def _tvm_version() -> str:
    try:
        return metadata.version("apache-tvm")
    except metadata.PackageNotFoundError:
        import tvm

        return str(tvm.__version__)


def _link(output: str, objects: Sequence[str] | str, options: Sequence[str] | None = None,
          **_: Any) -> None:
    """``export_library``'s link step: ``cc -shared``, under a timeout.

    Raises:
        ToolchainError: no C compiler, the link failed or hung.
    """
    cc = shutil.which("cc")
    if cc is None:
        raise ToolchainError("no C compiler (cc) on PATH to link the TVM library; "
                             "install one, e.g. apt-get install gcc")
    objs = [objects] if isinstance(objects, str) else list(objects)
    cmd = [cc, "-shared", "-fPIC", "-o", output, *(options or []), *objs]
    try:
        proc = proc_run(cmd, timeout=LINK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"linking the TVM library timed out after {LINK_TIMEOUT_S} s: "
                             f"{' '.join(cmd)}") from None
    if proc.returncode != 0:
        raise ToolchainError(f"linking the TVM library failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")


def _import_tflite(card: Card, artifact: Artifact, artifact_path: Path, op_converter: type | None = None) -> tvm.IRModule:
    """Relax module of the tflite flatbuffer, with a symbolic batch dimension ``n``."""
    import tvm

    spec = card.tensors(artifact)[0][0]
    batch = tvm.tirx.Var("n", "int64")
    return import_tflite(artifact_path, spec.name, (batch, *spec.shape[1:]), spec.dtype, op_converter)


def _with_intermediates(card: Card, artifact: Artifact, artifact_path: Path) -> tuple[tvm.IRModule, list[int]]:
    """``main`` returning ``(output, *every operator output)``, and those outputs' tflite tensor indices.

    The frontend keeps a table from tflite tensor names to the Relax expressions it made for them
    (``ExprTable`` in ``tvm/relax/frontend/tflite/tflite_frontend.py``); a converter subclass emits
    each operator output found there as a dataflow block output, so the mapping is the frontend's
    own, not a guess. Re-emitting an expression repeats its computation, with the same kernels.
    """
    from tvm import relax

    info = read_tflite(artifact_path)
    exposed: dict[int, relax.Var] = {}

    class _Exposing(operator_converter()):  # type: ignore[misc]
        def convert_op_to_relax(self) -> None:
            super().convert_op_to_relax()
            for t in info.operator_outputs():
                if self.exp_tab.has_expr(info.tensors[t].name):
                    exposed[t] = self.bb.emit_output(self.exp_tab.get_expr(info.tensors[t].name))

    mod = _import_tflite(card, artifact, artifact_path, _Exposing)
    func = mod["main"]
    seq, tensors = func.body, list(exposed)
    body = relax.SeqExpr(seq.blocks, relax.Tuple([seq.body, *(exposed[t] for t in tensors)]))
    mod["main"] = relax.Function(func.params, body, relax.TupleType([seq.body.ty, *(exposed[t].ty for t in tensors)]),
                                 func.is_pure, func.attrs)
    return mod, tensors


def _call_name(expr: object) -> str:
    from tvm import relax

    return str(getattr(expr.op, "name", "")) if isinstance(expr, relax.Call) else ""


def _expose_logits(mod: tvm.IRModule) -> tuple[tvm.IRModule, bool]:
    """Return ``main`` as ``(output, int8 logits)`` where quantize -> dequantize -> softmax is found.

    Returns:
        The (possibly rewritten) module and whether the logits were exposed.
    """
    from tvm import relax

    flat = relax.transform.ToNonDataflow()(mod)  # the logits var must escape the dataflow block
    func = flat["main"]
    seq = func.body
    bound = {b.var: b.value for block in seq.blocks for b in block.bindings}
    softmax = next((v for v in bound.values() if _call_name(v) == "relax.nn.softmax"), None)
    dequant = bound.get(softmax.args[0]) if softmax is not None else None
    if dequant is None or _call_name(dequant) != "relax.dequantize":
        return mod, False
    logits = dequant.args[0]
    if _call_name(bound.get(logits)) != "relax.quantize":
        return mod, False
    body = relax.SeqExpr(seq.blocks, relax.Tuple([seq.body, logits]))
    flat["main"] = relax.Function(func.params, body, relax.TupleType([seq.body.ty, logits.ty]),
                                  func.is_pure, func.attrs)
    return relax.transform.ConvertToDataflow()(flat), True


class TVMHostRunner(Runner):
    """The compiled library in a Relax VM; a whole batch per ``run`` call."""

    def __init__(self, card: Card, artifact: Artifact, compiled_dir: Path, artifact_path: Path | None = None) -> None:
        import tvm
        from tvm import relax

        self._card, self._artifact, self._artifact_path = card, artifact, artifact_path
        self._inspect: tuple[Any, list[int]] | None = None  # (VM, tensor indices), built on first use
        try:
            lib = tvm.runtime.load_module(str(compiled_dir / LIB_FILE))
            self._vm = relax.VirtualMachine(lib, tvm.cpu())
            self._outputs: list[str] = json.loads((compiled_dir / META_FILE).read_text())["outputs"]
        except Exception as exc:  # TVM errors, a missing or corrupt file
            raise BackendError(f"TVM cannot load the compiled model in {compiled_dir}: {exc}; "
                               "delete that folder to recompile") from None
        self._tensor = tvm.runtime.tensor
        self._input = card.tensors(artifact)[0][0].name

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = np.ascontiguousarray(inputs[self._input])
        try:
            result = self._vm["main"](self._tensor(batch))
        except Exception as exc:
            raise BackendError(f"TVM failed on a batch of shape {batch.shape}: {exc}") from None
        values = [result] if len(self._outputs) == 1 else list(result)
        return {name: value.numpy() for name, value in zip(self._outputs, values, strict=True)}

    def intermediates(self) -> Availability:
        return YES if self._artifact_path is not None else Availability(False, "the runner was made without the tflite")

    def run_intermediates(self, inputs: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
        """Every operator output, from a second module built in memory on first use (~25 s for ResNet-8)."""
        import tvm
        from tvm import relax

        if self._inspect is None:
            try:
                mod, tensors = _with_intermediates(self._card, self._artifact, self._artifact_path)
                executable = relax.build(mod, target=tvm.target.Target(TARGET))
            except Exception as exc:  # TVM raises TVMError/InternalError/ValueError from deep inside
                raise BackendError(f"TVM cannot build {self._artifact.file} with its intermediates exposed: "
                                   f"{type(exc).__name__}: {exc}") from None
            self._inspect = (relax.VirtualMachine(executable, tvm.cpu()), tensors)
        vm, tensors = self._inspect
        batch = np.ascontiguousarray(inputs[self._input])
        try:
            result = vm["main"](self._tensor(batch))
        except Exception as exc:
            raise BackendError(f"TVM failed on a batch of shape {batch.shape}: {exc}") from None
        return {t: result[i + 1].numpy() for i, t in enumerate(tensors)}


class TVMHostBackend(Backend):
    """TVM 0.27 Relax, LLVM on the host CPU, from the int8 tflite.

    Example:
        >>> m = zoo.load("stmnist_v1", backend="tvm")  # doctest: +SKIP
        >>> m.predict(np.zeros((2, 28, 28), np.uint8)).shape  # doctest: +SKIP
        (2, 36)
    """

    name = "tvm"
    summary = "TVM 0.27 (Relax, TFLite frontend) compiled by LLVM for the host CPU, any batch size"
    extra = "tvm"
    formats = ("tflite",)
    python_modules = ("tvm", "tflite")
    executables = ("cc",)  # links the exported library
    system_packages = "apt-get install -y gcc"

    def supports(self, card: Card, artifact: Artifact) -> Availability:
        base = super().supports(card, artifact)
        ins = card.tensors(artifact)[0]
        if base and len(ins) != 1:
            return Availability(False, f"the tvm host backend feeds one input; {card.name} has {len(ins)} "
                                f"({', '.join(s.name for s in ins)})", "run it on tflm, tflite or onnxruntime")
        return base

    def cache_key(self) -> str:
        """TVM version, target and host CPU name (they decide the generated code)."""
        import tvm

        target = str(tvm.target.Target(TARGET))
        return f"tvm-{_tvm_version()}-{target}-cpu-{tvm.target.codegen.llvm_get_system_cpu()}"

    def compile(self, card: Card, artifact: Artifact, artifact_path: Path, out_dir: Path) -> None:
        """Import, build and export ``model.so`` (+ ``outputs.json``, the order of the outputs).

        Raises:
            BackendError: the frontend or the build failed (the message gives the cause).
            ToolchainError: the link step failed or hung.
        """
        import tvm
        from tvm import relax

        try:
            mod = _import_tflite(card, artifact, artifact_path)
            out_spec = card.tensors(artifact)[1][0]
            exposed = False
            if out_spec.logits_quantization is not None:
                mod, exposed = _expose_logits(mod)
            executable = relax.build(mod, target=tvm.target.Target(TARGET))
            executable.export_library(str(out_dir / LIB_FILE), fcompile=_link)
        except ToolchainError:
            raise
        except Exception as exc:  # TVM raises TVMError/InternalError/ValueError from deep inside
            raise BackendError(f"TVM cannot compile {artifact.file}: {type(exc).__name__}: {exc}") from exc
        outputs = [out_spec.name, *([LOGITS] if exposed else [])]
        (out_dir / META_FILE).write_text(json.dumps({"outputs": outputs}))

    def load(self, card: Card, artifact: Artifact, artifact_path: Path, compiled_dir: Path) -> Runner:
        return TVMHostRunner(card, artifact, compiled_dir, artifact_path)

"""Backend ``tflm``: TensorFlow Lite Micro's own interpreter (PyPI ``tflite-micro``), the
microcontroller reference.

TFLM's Python interpreter runs the same kernels as TFLM firmware: measured byte-identical
with TFLM built from source (reference kernels and CMSIS-NN alike) on the emulated Cortex-M4,
M7 and M33 for stmnist_v1 and the four MLPerf Tiny models (FACTS.md, "TensorFlow Lite Micro
itself"). LiteRT's builtin kernels are not: on ResNet-8 they differ from it by up to 43 output
steps. So every int8 card names ``tflm`` as its conformance reference.

TFLM invokes one example at a time; a batch is a loop of ``set_input``/``invoke``/``get_output``
over preallocated outputs (the per-image overhead is in ``ci/benchmark.py``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from zoo.backend import LOGITS, YES, Availability, Backend, Runner
from zoo.card import Artifact, Card
from zoo.errors import BackendError
from zoo.tflite_model import TFLiteInfo, read_tflite

__all__ = ["TFLMBackend", "TFLMRunner", "tflm_version"]

_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'")
_MAX_ARENA = 256 << 20


def tflm_version() -> str:
    from importlib.metadata import version

    return version("tflite-micro")


@contextmanager
def _captured_native_output() -> Iterator[list[str]]:
    """Collect what native code writes to fd 1/2 meanwhile (TFLM reports missing kernels there only)."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield lines
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            lines.extend(sink.read(1 << 16).decode("utf-8", errors="replace").splitlines())


def _refusal(model_path: Path, info: TFLiteInfo, log: list[str], exc: Exception) -> BackendError:
    missing = [m.group(1) for line in log if (m := _MISSING_OP.search(line))]
    if missing:
        where = ", ".join(f"{op.name} (operator #{op.index})" for op in info.operators if op.name in missing)
        return BackendError(f"TensorFlow Lite Micro has no kernel for {where} in {model_path.name}: the model "
                            "cannot run on a microcontroller with TFLM as it is. Replace the operator(s) in the "
                            "model (e.g. re-export without them), or run it on a host backend (tflite, onnxruntime)")
    detail = "; ".join(line.strip() for line in log if line.strip())[:500]
    return BackendError(f"TensorFlow Lite Micro cannot prepare {model_path.name}: {exc}"
                        + (f" (TFLM says: {detail})" if detail else ""))


def make_interpreter(model_path: Path, preserve_all_tensors: bool = False) -> object:
    """A TFLM interpreter for the file; errors name the operator TFLM lacks.

    The arena starts at TFLM's own heuristic (10x the model size) and grows when allocation fails.
    """
    from tflite_micro.python.tflite_micro import runtime

    config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors
              else runtime.InterpreterConfig.kAllocationRecording)
    info = read_tflite(model_path)
    data = model_path.read_bytes()
    arena = max(len(data) * 10, 64 << 10)
    while True:
        with _captured_native_output() as log:
            try:
                return runtime.Interpreter.from_bytes(data, arena_size=arena, intrepreter_config=config)
            except (RuntimeError, ValueError) as exc:
                failure = exc
        if any(_MISSING_OP.search(line) for line in log) or arena >= _MAX_ARENA:
            raise _refusal(model_path, info, log, failure)
        arena *= 4


class TFLMRunner(Runner):
    """One invoke per example; inputs and outputs in the model's order, keyed by the card's names."""

    def __init__(self, card: Card, model_path: Path) -> None:
        info = read_tflite(model_path)
        logits = info.logits() if any(o.logits_quantization for o in card.outputs) else None
        self._logits_index = logits.index if logits is not None else None
        self._interp = make_interpreter(model_path, preserve_all_tensors=self._logits_index is not None)
        self._inputs = [spec.name for spec in card.inputs]
        self._outputs = [(spec.name, tuple(spec.shape[1:]), np.dtype(spec.dtype)) for spec in card.outputs]
        self._logits_shape = tuple(logits.shape[1:]) if logits is not None else ()
        self._path, self._info = model_path, info
        self._preserving = self._interp if self._logits_index is not None else None

    def _invoke_all(self, inputs: Mapping[str, np.ndarray], logits: bool) -> dict[str, np.ndarray]:
        batches = [inputs[name] for name in self._inputs]
        n = batches[0].shape[0]
        out = {name: np.empty((n, *shape), dtype) for name, shape, dtype in self._outputs}
        want_logits = logits and self._logits_index is not None
        if want_logits:
            out[LOGITS] = np.empty((n, *self._logits_shape), np.int8)
        it = self._interp
        try:
            for i in range(n):
                for k, batch in enumerate(batches):
                    it.set_input(batch[i:i + 1], k)
                it.invoke()
                for k, (name, _, _) in enumerate(self._outputs):
                    out[name][i] = it.get_output(k)[0]
                if want_logits:
                    out[LOGITS][i] = it.GetTensor(self._logits_index, 0)["tensor_data"].reshape(self._logits_shape)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"TensorFlow Lite Micro failed on example {i} of {n}: {exc}") from None
        return out

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._invoke_all(inputs, logits=False)

    def intermediates(self) -> Availability:
        return YES

    def run_intermediates(self, inputs: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
        """Every operator output, read from an interpreter made with ``kPreserveAllTensors`` (one per runner)."""
        if self._preserving is None:
            self._preserving = make_interpreter(self._path, preserve_all_tensors=True)
        it, tensors = self._preserving, self._info.tensors
        batches = [inputs[name] for name in self._inputs]
        n = batches[0].shape[0]
        wanted = [t for t in self._info.operator_outputs() if not tensors[t].dtype.startswith("type")]
        out = {t: np.empty((n, *tensors[t].shape[1:]), np.dtype(tensors[t].dtype)) for t in wanted}
        try:
            for i in range(n):
                for k, batch in enumerate(batches):
                    it.set_input(batch[i:i + 1], k)
                it.invoke()
                for t in wanted:
                    out[t][i] = np.asarray(it.GetTensor(t, 0)["tensor_data"]).reshape(out[t].shape[1:])
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"TensorFlow Lite Micro failed on example {i} of {n}: {exc}") from None
        return out

    def run_with_logits(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._invoke_all(inputs, logits=True)


class TFLMBackend(Backend):
    """TensorFlow Lite Micro's interpreter on the host: the integer semantics a microcontroller runs."""

    name = "tflm"
    summary = "TensorFlow Lite Micro's own interpreter (tflite-micro): the microcontroller reference"
    extra = "tflm"
    formats = ("tflite",)
    python_modules = ("tflite_micro",)

    def supports(self, card: Card, artifact: Artifact) -> Availability:
        base = super().supports(card, artifact)
        if base and artifact.precision != "int8":
            return Availability(False, f"tflm is the integer reference; {artifact.file} is a {artifact.precision} "
                                "model", "run float models on a host backend (tflite, onnxruntime, tvm)")
        return base

    def cache_key(self) -> str:
        return f"tflite-micro-{tflm_version()}"

    def compile(self, card: Card, artifact: Artifact, artifact_path: Path, out_dir: Path) -> None:
        """TFLM runs the flatbuffer as it is; compiling checks that every operator has a kernel and allocates."""
        make_interpreter(artifact_path)

    def load(self, card: Card, artifact: Artifact, artifact_path: Path, compiled_dir: Path) -> Runner:
        return TFLMRunner(card, artifact_path)

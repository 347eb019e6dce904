"""LiteRT (TensorFlow Lite) backend, with a choice of kernels.

- ``builtin`` (default): LiteRT's builtin kernels with no delegate. Bit-exact with
  TensorFlow Lite Micro, i.e. the integer semantics a microcontroller runs, so it is the
  conformance reference (FACTS.md: "How far apart int8 runtimes are").
- ``reference``: LiteRT's reference kernels (rounds FULLY_CONNECTED requantization once,
  so it can differ from TFLM by a few output steps).
- ``xnnpack``: the default XNNPACK delegate, fastest on a host CPU, up to ~46 output steps
  away from TFLM on this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo.backend import LOGITS, Backend, Runner
from zoo.card import Artifact, Card
from zoo.errors import BackendError

KERNELS = ("builtin", "reference", "xnnpack")


def _resolver(kernels: str) -> Any:
    from ai_edge_litert.interpreter import OpResolverType

    return {"builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "reference": OpResolverType.BUILTIN_REF,
            "xnnpack": OpResolverType.AUTO}[kernels]


def litert_version() -> str:
    from importlib.metadata import version

    return version("ai-edge-litert")


def make_interpreter(model_path: Path, kernels: str, preserve_all_tensors: bool = False) -> Any:
    """A LiteRT interpreter with the chosen kernels; model errors become BackendError."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_path=str(model_path), experimental_op_resolver_type=_resolver(kernels),
                           experimental_preserve_all_tensors=preserve_all_tensors, num_threads=1)
    except (ValueError, RuntimeError) as exc:
        raise BackendError(f"LiteRT cannot load {model_path}: {exc}") from None


INT32_MAX = 2**31 - 1


def _im2col_batch_limit(interp: Any) -> int | None:
    """The largest batch LiteRT's CONV_2D can prepare: its im2col buffer counts N x out_h x out_w x k_h x k_w x
    c_in elements in a 32-bit int (tensorflow/lite/kernels/conv.cc, "Conv im2col elements ... exceed the 32-bit
    integer limit"); stmnist_v1 needs 28,224 per image, so one batch takes at most 76,087 images."""
    shapes = {t["index"]: t["shape"] for t in interp.get_tensor_details()}
    per_image = 0
    for op in interp._get_ops_details():  # noqa: SLF001 - LiteRT has no public op listing
        if op["op_name"] == "CONV_2D" and len(op["inputs"]) >= 2 and len(op["outputs"]) >= 1:
            weights, out = shapes.get(int(op["inputs"][1])), shapes.get(int(op["outputs"][0]))
            if weights is not None and out is not None and len(weights) == 4 and len(out) == 4:
                per_image = max(per_image, int(out[1] * out[2] * weights[1] * weights[2] * weights[3]))
    return INT32_MAX // per_image if per_image else None


class TFLiteRunner(Runner):
    """Runs whole batches: the input is resized to N and the interpreter re-allocated per new N."""

    def __init__(self, card: Card, model_path: Path, kernels: str) -> None:
        expose_logits = kernels != "xnnpack" and card.output.logits_quantization is not None
        self._interp = make_interpreter(model_path, kernels, preserve_all_tensors=expose_logits)
        self._card = card
        self._input = self._interp.get_input_details()[0]["index"]
        self._output = self._interp.get_output_details()[0]["index"]
        self._logits = self._softmax_input() if expose_logits else None
        self._interp.allocate_tensors()
        self._batch = 1
        self.max_batch = _im2col_batch_limit(self._interp)

    def _softmax_input(self) -> int | None:
        ops = self._interp._get_ops_details()  # noqa: SLF001 - LiteRT has no public op listing
        return next((int(op["inputs"][0]) for op in ops if op["op_name"] == "SOFTMAX"), None)

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self._interp.resize_tensor_input(self._input, [n, *self._card.input.shape[1:]], strict=False)
            self._interp.allocate_tensors()
            self._batch = n

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = inputs[self._card.input.name]
        try:
            self._resize(batch.shape[0])
            self._interp.set_tensor(self._input, batch)
            self._interp.invoke()
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"LiteRT failed on a batch of shape {batch.shape}: {exc}") from None
        return {self._card.output.name: self._interp.get_tensor(self._output)}

    def run_with_logits(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.run(inputs)
        if self._logits is not None:
            out[LOGITS] = self._interp.get_tensor(self._logits)
        return out


class TFLiteBackend(Backend):
    """LiteRT on the host. Options: ``kernels`` in ("builtin", "reference", "xnnpack")."""

    name = "tflite"
    summary = "LiteRT (TensorFlow Lite), builtin kernels without delegate: bit-exact with TFLite Micro"
    extra = "tflite"
    formats = ("tflite",)
    python_modules = ("ai_edge_litert",)
    default_kernels = "builtin"

    def __init__(self, kernels: str | None = None) -> None:
        kernels = kernels or self.default_kernels
        if kernels not in KERNELS:
            raise ValueError(f"kernels={kernels!r} is not one of {KERNELS}")
        self.kernels = kernels

    def cache_key(self) -> str:
        return f"litert-{litert_version()}-{self.kernels}"

    def compile(self, card: Card, artifact: Artifact, artifact_path: Path, out_dir: Path) -> None:
        """LiteRT runs the flatbuffer as it is; compiling checks that it loads and allocates."""
        interp = make_interpreter(artifact_path, self.kernels)
        try:
            interp.allocate_tensors()
        except RuntimeError as exc:
            raise BackendError(f"LiteRT cannot prepare {artifact.file}: {exc}") from None

    def load(self, card: Card, artifact: Artifact, artifact_path: Path, compiled_dir: Path) -> Runner:
        return TFLiteRunner(card, artifact_path, self.kernels)


class TFLiteRefBackend(TFLiteBackend):
    name = "tflite-ref"
    summary = "LiteRT reference kernels (BUILTIN_REF)"
    default_kernels = "reference"


class TFLiteXnnpackBackend(TFLiteBackend):
    name = "tflite-xnnpack"
    summary = "LiteRT with its default XNNPACK delegate (fastest on the host)"
    default_kernels = "xnnpack"

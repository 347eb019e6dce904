"""LiteRT (TensorFlow Lite) backend, with a choice of kernels.

- ``builtin`` (default): LiteRT's builtin kernels with no delegate. Bit-exact with TensorFlow
  Lite Micro on some models (stmnist_v1, kws, vww) and not on others (ResNet-8: up to 43 output
  steps; FACTS.md, "TensorFlow Lite Micro itself"): the reference is ``tflm``, not this.
- ``reference``: LiteRT's reference kernels (BUILTIN_REF; FULLY_CONNECTED requantization
  rounds once, so it can differ from TFLM by a few steps).
- ``xnnpack``: the default XNNPACK delegate, fastest on a host CPU, the furthest from TFLM
  (stmnist_v1: up to ~46 output steps).

Each card budgets each kernel set against TFLM from its measured spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo.backend import LOGITS, YES, Availability, Backend, Runner
from zoo.card import Artifact, Card
from zoo.errors import BackendError
from zoo.tflite_edit import with_outputs
from zoo.tflite_model import read_tflite

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
    """Runs whole batches: inputs are resized to N and the interpreter re-allocated per new N.

    Inputs and outputs are matched to the card's tensors by name (checked when the model loads).
    """

    def __init__(self, card: Card, artifact: Artifact, model_path: Path, kernels: str) -> None:
        in_specs, out_specs = card.tensors(artifact)
        self._path, self._kernels, self._info = model_path, kernels, read_tflite(model_path)
        self._inspect: Any = None  # the interpreter that exposes intermediates, made on first use
        logits = self._info.logits() if any(o.logits_quantization for o in out_specs) else None
        expose_logits = kernels != "xnnpack" and logits is not None
        self._interp = make_interpreter(model_path, kernels, preserve_all_tensors=expose_logits)
        details = {d["name"]: d for d in self._interp.get_input_details()}
        outs = {d["name"]: d for d in self._interp.get_output_details()}
        self._inputs = [(s.name, details[s.name]["index"], tuple(s.shape[1:])) for s in in_specs]
        self._outputs = [(s.name, outs[s.name]["index"]) for s in out_specs]
        self._logits = logits.index if expose_logits else None
        self._interp.allocate_tensors()
        self._batch = 1
        self.max_batch = _im2col_batch_limit(self._interp)

    def _resize(self, n: int) -> None:
        if n != self._batch:
            for _, index, shape in self._inputs:
                self._interp.resize_tensor_input(index, [n, *shape], strict=False)
            self._interp.allocate_tensors()
            self._batch = n

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = next(iter(inputs.values())).shape[0]
        try:
            self._resize(n)
            for name, index, _ in self._inputs:
                self._interp.set_tensor(index, inputs[name])
            self._interp.invoke()
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"LiteRT failed on a batch of {n}: {exc}") from None
        return {name: self._interp.get_tensor(index) for name, index in self._outputs}

    def run_with_logits(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.run(inputs)
        if self._logits is not None:
            out[LOGITS] = self._interp.get_tensor(self._logits)
        return out


    def intermediates(self) -> Availability:
        return YES

    def _inspector(self, n: int) -> Any:
        """An interpreter sized for batch `n` whose operator outputs can be read after invoke.

        builtin and reference kernels: ``experimental_preserve_all_tensors``. XNNPACK: that flag
        would switch the delegate off (LiteRT then falls back to builtin kernels), so the model is
        rewritten with every operator output as a graph output instead, and the delegate stays.
        """
        if self._inspect is None:
            if self._kernels == "xnnpack":
                from ai_edge_litert.interpreter import Interpreter

                data = with_outputs(self._path.read_bytes(), self._info.operator_outputs())
                self._inspect = Interpreter(model_content=data, experimental_op_resolver_type=_resolver("xnnpack"),
                                            num_threads=1)
            else:
                self._inspect = make_interpreter(self._path, self._kernels, preserve_all_tensors=True)
            self._inspect_batch = -1
        if n != self._inspect_batch:
            for _, index, shape in self._inputs:
                self._inspect.resize_tensor_input(index, [n, *shape], strict=False)
            self._inspect.allocate_tensors()
            self._inspect_batch = n
        return self._inspect

    def run_intermediates(self, inputs: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
        n = next(iter(inputs.values())).shape[0]
        try:
            interp = self._inspector(n)
            for name, index, _ in self._inputs:
                interp.set_tensor(index, inputs[name])
            interp.invoke()
            return {t: interp.get_tensor(t) for t in self._info.operator_outputs()}
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"LiteRT ({self._kernels} kernels) failed to expose intermediates on a batch of {n}: "
                               f"{exc}") from None


class TFLiteBackend(Backend):
    """LiteRT on the host. Options: ``kernels`` in ("builtin", "reference", "xnnpack")."""

    name = "tflite"
    summary = "LiteRT (TensorFlow Lite), builtin kernels without delegate (close to TFLM on some models, not all)"
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
        return TFLiteRunner(card, artifact, artifact_path, self.kernels)


class TFLiteRefBackend(TFLiteBackend):
    name = "tflite-ref"
    summary = "LiteRT reference kernels (BUILTIN_REF)"
    default_kernels = "reference"


class TFLiteXnnpackBackend(TFLiteBackend):
    name = "tflite-xnnpack"
    summary = "LiteRT with its default XNNPACK delegate (fastest on the host)"
    default_kernels = "xnnpack"

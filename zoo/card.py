"""The model card: typed, frozen, strictly validated data loaded from one YAML file.

The YAML card is the single source of truth for a registry entry; everything else
(the Markdown card, the conformance budgets, the input checks) is derived from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from zoo.errors import CardError, UnknownNameError
from zoo.paths import PlainName, SafeRelativePath
from zoo.strict import Strict, read_yaml, validate_document

__all__ = [
    "Artifact",
    "Card",
    "CLASSIFIER_TASKS",
    "Pixels",
    "Quantization",
    "ReportedFigure",
    "TASKS",
    "TensorSpec",
    "Tolerance",
    "load_card",
]

SCHEMA_VERSION = 2
T = TypeVar("T")


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# YAML gives lists; the card stores tuples (frozen) while still validating each item strictly.
Seq = Annotated[tuple[T, ...], BeforeValidator(_list_to_tuple)]
Pair = Annotated[tuple[T, T], BeforeValidator(_list_to_tuple)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


_Frozen = Strict


#: Every task a card may declare, and the kind of checks it gets (zoo.conformance.checks).
TASKS: dict[str, str] = {
    "image-classification": "classifier",
    "audio-classification": "classifier",  # keyword spotting on MFCC / spectrogram features
    "timeseries-classification": "classifier",  # sensor windows (accelerometer, ...)
    "classification": "classifier",
    "anomaly-detection": "autoencoder",  # reconstruction: anomaly score = mean squared error
    "regression": "regression",
}
CLASSIFIER_TASKS = frozenset(t for t, kind in TASKS.items() if kind == "classifier")
Task = Literal["image-classification", "audio-classification", "timeseries-classification", "classification",
               "anomaly-detection", "regression"]
Layout = Annotated[str, Field(pattern=r"^N[A-Z]*$")]  # one letter per axis, batch first: NHWC, NHW, NC, NTC, ...


class Reference(_Frozen):
    title: str
    url: str
    notes: str | None = None  # e.g. the conditions a publisher states for its figures


class Upstream(_Frozen):
    repo: str  # repository URL
    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]  # pinned commit
    path: str  # folder of the model inside the repository
    license: str  # license of the upstream files


class Quantization(_Frozen):
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    zero_point: int


class Preprocessing(_Frozen):
    """What a float format expects: x_float = x_card * scale + offset."""

    scale: float
    offset: float = 0.0


class Pixels(_Frozen):
    """How the 8-bit pixels of a picture become an image input (what `zoo predict` does with a PNG):
    ``real = pixel * scale + offset``, then quantized with the input's own quantization (half away from zero,
    as TFLite's QUANTIZE rounds) for an integer input. One channel reads a picture as grey, three as RGB."""

    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    offset: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    source: str  # where the training pipeline says so (a script at a commit)


class TensorSpec(_Frozen):
    """One input or output tensor: its name in the artifact, shape (batch 1 first), dtype, and steps.

    Conformance measures every difference in *steps* of the tensor (:attr:`step`): raw integer
    steps for an int8/uint8 tensor (its own ``quantization``), the steps of the int8 tensor a float
    output is dequantized from (``source_quantization``), or, for a float output with no integer
    source, ``rtol`` times the width of its ``value_range``.
    """

    name: str  # tensor name in the artifact
    shape: Seq[int]  # with batch dimension 1
    dtype: Literal["uint8", "int8", "float32"]
    layout: Layout  # one letter per axis, e.g. NHWC (image), NC (vector), NTC (time x channels)
    description: str
    value_range: Pair[float] | None = None  # inclusive; integer tensors default to the dtype's range
    quantization: Quantization | None = None  # of the tensor itself: required for int8/uint8
    source_quantization: Quantization | None = None  # the int8 tensor a float output is dequantized from
    logits_quantization: Quantization | None = None  # the int8 pre-softmax logits, where they exist
    rtol: Annotated[float, Field(gt=0, lt=1)] | None = None  # float outputs without integer source: step / range
    preprocessing: Preprocessing | None = None  # for float formats fed this tensor's values
    pixels: Pixels | None = None  # image inputs: how picture pixels map to this tensor
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TensorSpec:
        if len(self.layout) != len(self.shape):
            raise ValueError(f"layout {self.layout} names {len(self.layout)} axes but shape {list(self.shape)} has "
                             f"{len(self.shape)}; use one letter per axis (e.g. NHWC, NC, NTC)")
        if self.shape[0] != 1 or any(d <= 0 for d in self.shape):
            raise ValueError(f"shape must be positive with batch 1 first, got {list(self.shape)}")
        if self.value_range is not None and self.value_range[0] > self.value_range[1]:
            raise ValueError(f"value_range {list(self.value_range)} has low > high")
        if self.dtype != "float32" and self.quantization is None:
            article = "an" if self.dtype == "int8" else "a"
            raise ValueError(f"{article} {self.dtype} tensor needs its quantization {{scale, zero_point}} (read it from the "
                             "model, e.g. with `zoo card init`)")
        if self.pixels is not None and not (self.layout == "NHWC" and self.shape[-1] in (1, 3)):
            raise ValueError(f"pixels describe pictures: the tensor must be NHWC with 1 (grey) or 3 (RGB) channels, "
                             f"not {self.layout} {list(self.shape)}")
        if self.dtype != "float32" and self.value_range is not None:
            info = np.iinfo(self.dtype)
            if self.value_range[0] < info.min or self.value_range[1] > info.max:
                raise ValueError(f"value_range {list(self.value_range)} is outside {self.dtype}'s "
                                 f"[{info.min}, {info.max}]")
        return self

    @property
    def range(self) -> tuple[float, float] | None:
        """The inclusive value range: ``value_range``, else the integer dtype's, else None."""
        if self.value_range is not None:
            return float(self.value_range[0]), float(self.value_range[1])
        if self.dtype != "float32":
            info = np.iinfo(self.dtype)
            return float(info.min), float(info.max)
        return None

    @property
    def step(self) -> float | None:
        """The real value of one step of this tensor, as conformance counts differences (None: undefined)."""
        if self.dtype != "float32":
            return self.quantization.scale  # type: ignore[union-attr]
        if self.source_quantization is not None:
            return self.source_quantization.scale
        if self.rtol is not None and self.value_range is not None:
            return self.rtol * (self.value_range[1] - self.value_range[0])
        return None

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape[1:]))


def _check_output_steps(spec: TensorSpec, where: str) -> None:
    if spec.step is None:
        raise ValueError(f"{where} ({spec.name}) is float32 with no integer source: give source_quantization (the "
                         "int8 tensor it is dequantized from) or rtol with value_range (a relative step), so that "
                         "conformance can measure differences in its steps")


class Artifact(_Frozen):
    """One file of the model in one format, pinned by hash.

    ``inputs``/``outputs`` describe the artifact's own tensors where they differ from the card's (a
    float model of an int8 card takes and gives float32); the card's then convert to them explicitly
    (dequantize/quantize with the card's quantization), never silently inside a backend.
    """

    file: PlainName  # file name (also the name in a mirror: <model>/<file>)
    format: Literal["tflite", "keras_h5", "onnx"]
    precision: Literal["int8", "float32"]
    url: str  # upstream download URL at a pinned commit
    sha256: Sha256
    size: Annotated[int, Field(gt=0)]  # bytes
    inputs: Seq[TensorSpec] | None = None
    outputs: Seq[TensorSpec] | None = None


class ReportedFigure(_Frozen):
    """One figure as a publisher reported it: metric, value, unit, and the conditions it was measured in."""

    metric: Literal["top1_accuracy", "auc", "latency", "cycles", "activation_ram", "runtime_ram", "total_ram",
                    "weights_flash", "code_flash", "total_flash", "energy"]
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: Literal["%", "ratio", "ms", "cycles", "B", "KiB", "uJ"]
    approx: bool = False  # the source gives it as approximate ('~')
    artifact: str  # artifact id
    source: str  # key in the card's `sources`
    tool: str | None = None  # e.g. STM32Cube.AI
    tool_version: str | None = None
    board: str | None = None
    core: str | None = None  # e.g. Cortex-M7
    clock_mhz: Annotated[float, Field(gt=0)] | None = None
    series: str | None = None  # e.g. STM32H7
    dataset: str | None = None
    split: str | None = None
    samples: Annotated[int, Field(gt=0)] | None = None
    notes: str | None = None

    @property
    def bytes(self) -> int | None:
        """Memory figures in bytes (KiB x 1024), else None."""
        return {"B": round(self.value), "KiB": round(self.value * 1024)}.get(self.unit)


class Platform(_Frozen):
    name: str
    supported: bool
    recommended: bool
    source: str  # key in the card's `sources`
    core: str | None = None  # e.g. Cortex-M4, for zoo's measured fit


class Comparison(_Frozen):
    """Another runtime's figures for this model on a device, cited with their source."""

    name: str
    source: str
    target: str
    core: str | None = None  # e.g. Cortex-M7
    ram_bytes: Annotated[int, Field(gt=0)]
    flash_bytes: Annotated[int, Field(gt=0)]
    arena_bytes: Annotated[int, Field(gt=0)] | None = None
    instructions_per_inference: Annotated[int, Field(gt=0)] | None = None  # under emulation, never cycles
    notes: str | None = None


class Tolerance(_Frozen):
    """A conformance budget against the reference backend; `derivation` says where it comes from.

    All Δ are in steps of the output (:attr:`TensorSpec.step`). Classifier budgets (top-1,
    accuracy) and autoencoder budgets (anomaly score) are required by the checks of those tasks.
    """

    max_abs_lsb: Annotated[int, Field(ge=0)]  # largest |Δ| of an output element, in output steps
    mismatch_fraction: Annotated[float, Field(ge=0, le=1)]  # share of output elements that differ
    mismatch_gt1_fraction: Annotated[float, Field(ge=0, le=1)]  # share that differ by more than one step
    top1_agreement: Annotated[float, Field(ge=0, le=1)] | None = None  # classifiers: same top-1 share
    accuracy_delta_pct: Annotated[float, Field(ge=0)] | None = None  # |accuracy - reference accuracy|, pp
    logits_max_abs_lsb: Annotated[int, Field(ge=0)] | None = None  # where a backend exposes logits
    anomaly_score_rel_delta: Annotated[float, Field(ge=0)] | None = None  # autoencoders: max |Δscore| / score
    derivation: str


class KnownGap(_Frozen):
    backend: str
    check: str  # a check id of zoo.conformance.checks, e.g. "golden.max_abs_lsb"
    reason: str


class Conformance(_Frozen):
    reference_backend: str  # whose outputs the golden vectors hold: tflm for int8 cards
    reference_reason: str | None = None  # why this runtime is the reference, for the Markdown card
    golden: SafeRelativePath | None = None  # golden-vector file (.npz, with .npz.sha256), beside the card
    golden_inputs: Literal["image", "audio_features", "spectrogram", "timeseries", "generic"] = "generic"
    evaluation_dataset: str | None = None  # real data for accuracy when the card's own dataset is absent
    tolerances: dict[str, Tolerance]  # artifact id -> default budget
    backend_tolerances: dict[str, dict[str, Tolerance]] = {}  # backend -> artifact id -> budget
    reported_accuracy_delta_pct: Annotated[float, Field(ge=0)] = 0.5  # vs the card's figure, on its own dataset
    known_gaps: Seq[KnownGap] = ()
    notes: str | None = None  # e.g. why no dataset is measured

    def tolerance(self, backend: str, artifact: str) -> Tolerance:
        """The budget for `backend` on `artifact`: its own if declared, else the artifact's default."""
        return self.backend_tolerances.get(backend, {}).get(artifact) or self.tolerances[artifact]


class Card(_Frozen):
    """A registry entry: the model, its files, its tensors, its published figures and its budgets."""

    schema_version: Literal[2]
    name: Name
    version: str
    task: Task
    description: str
    publisher: str
    license: str
    upstream: Upstream | None = None
    references: Seq[Reference] = ()
    labels: Seq[str] = ()  # classifiers: one per class of the first output, in order; others: none
    artifacts: dict[Name, Artifact]
    default_artifact: str
    inputs: Seq[TensorSpec]
    outputs: Seq[TensorSpec]
    dataset: str | None = None  # dataset the reported metrics used
    sources: dict[str, Reference] = {}  # citations for reported figures and platforms
    reported: Seq[ReportedFigure] = ()
    platforms: Seq[Platform] = ()
    comparisons: Seq[Comparison] = ()  # other runtimes' device figures, for the footprint table
    conformance: Conformance

    @model_validator(mode="after")
    def _consistent(self) -> Card:
        self._check_tensors()
        if TASKS[self.task] == "classifier":
            if not self.labels:
                raise ValueError(f"task {self.task} needs labels: one per class of output {self.output.name}")
            if self.output.shape[-1] != len(self.labels):
                raise ValueError(f"outputs[0].shape {list(self.output.shape)} has {self.output.shape[-1]} classes "
                                 f"but labels has {len(self.labels)}")
            if len(set(self.labels)) != len(self.labels):
                raise ValueError("labels are not unique")
        elif self.labels:
            raise ValueError(f"task {self.task} has no classes: remove labels (they are for classifiers)")
        if TASKS[self.task] == "autoencoder" and self.input.shape != self.output.shape:
            raise ValueError(f"anomaly-detection compares the reconstruction with the input: outputs[0].shape "
                             f"{list(self.output.shape)} must equal inputs[0].shape {list(self.input.shape)}")
        missing = sorted(set(self.artifacts) - set(self.conformance.tolerances))
        if missing:
            raise ValueError(f"conformance.tolerances has no budget for artifact(s) {missing}; add one per artifact")
        needed = {"classifier": "top1_agreement", "autoencoder": "anomaly_score_rel_delta"}.get(self.kind)
        budgets = [(f"tolerances.{a}", t) for a, t in self.conformance.tolerances.items()]
        budgets += [(f"backend_tolerances.{b}.{a}", t) for b, per in self.conformance.backend_tolerances.items()
                    for a, t in per.items()]
        for where, tol in budgets:
            if needed and getattr(tol, needed) is None:
                raise ValueError(f"conformance.{where} needs {needed}: task {self.task} is checked on it")
        self._check_references()
        from zoo.conformance.checks import check_ids  # the checks registry names what a known gap may name

        known = check_ids(self.task)
        for gap in self.conformance.known_gaps:
            if gap.check not in known:
                raise ValueError(f"conformance.known_gaps names check {gap.check!r}, which task {self.task} does not "
                                 f"have; known checks: {', '.join(sorted(known))}")
        return self

    def _check_tensors(self) -> None:
        for role, specs in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not specs:
                raise ValueError(f"{role} is empty; describe at least one tensor")
            names = [s.name for s in specs]
            if len(set(names)) != len(names):
                raise ValueError(f"{role} has duplicate tensor names {names}")
        for i, spec in enumerate(self.outputs):
            _check_output_steps(spec, f"outputs[{i}]")
        for art_id, art in self.artifacts.items():
            for i, spec in enumerate(art.outputs or ()):
                _check_output_steps(spec, f"artifacts.{art_id}.outputs[{i}]")
            for role, own, card in (("inputs", art.inputs, self.inputs), ("outputs", art.outputs, self.outputs)):
                if own is not None and [s.shape for s in own] != [s.shape for s in card]:
                    raise ValueError(f"artifacts.{art_id}.{role} shapes {[list(s.shape) for s in own]} differ from "
                                     f"the card's {[list(s.shape) for s in card]}; an artifact may change dtypes, "
                                     "not shapes")

    def _check_references(self) -> None:
        ids = set(self.artifacts)
        refs = {"default_artifact": [self.default_artifact],
                "conformance.tolerances": list(self.conformance.tolerances),
                "conformance.backend_tolerances": [a for t in self.conformance.backend_tolerances.values() for a in t],
                "reported": [r.artifact for r in self.reported]}
        for key, used in refs.items():
            for artifact_id in used:
                if artifact_id not in ids:
                    raise ValueError(f"{key} names artifact {artifact_id!r}; the card's artifacts are {sorted(ids)}")
        for key, cited in (("reported", [r.source for r in self.reported]),
                           ("platforms", [p.source for p in self.platforms])):
            for source in cited:
                if source not in self.sources:
                    raise ValueError(f"{key} cites source {source!r}, which is not in sources "
                                     f"({', '.join(sorted(self.sources)) or 'none'}); add it there")

    @property
    def input(self) -> TensorSpec:
        """The first (for most models the only) input."""
        return self.inputs[0]

    @property
    def output(self) -> TensorSpec:
        """The first output: a classifier's class scores, an autoencoder's reconstruction."""
        return self.outputs[0]

    @property
    def kind(self) -> str:
        """What the task's checks treat it as: "classifier", "autoencoder" or "regression"."""
        return TASKS[self.task]

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def tensors(self, artifact: str | Artifact | None = None) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        """(inputs, outputs) of an artifact (id or object): its own where declared, else the card's."""
        art = artifact if isinstance(artifact, Artifact) else self.artifact(artifact)
        return art.inputs or self.inputs, art.outputs or self.outputs

    def figures(self, metric: str, artifact: str | None = None) -> list[ReportedFigure]:
        """The reported figures of one metric (for one artifact, when given)."""
        return [f for f in self.reported if f.metric == metric and (artifact is None or f.artifact == artifact)]

    def artifact(self, artifact_id: str | None = None) -> Artifact:
        """The artifact with this id (the card's default when None)."""
        key = artifact_id or self.default_artifact
        try:
            return self.artifacts[key]
        except KeyError:
            raise UnknownNameError(f"model {self.name!r} has no artifact {key!r}; "
                                   f"choose one of {sorted(self.artifacts)}") from None


def parse_card(data: Any, path: Path) -> Card:
    """Validate already-parsed YAML data as a card; `path` is used in messages."""
    if isinstance(data, dict) and data.get("schema_version") == 1:
        raise CardError(f"model card {path} is schema version 1; this zoo reads version {SCHEMA_VERSION}: rename "
                        "input/output to inputs/outputs lists, move reported figures into flat `reported:` records "
                        "with `sources:`, name the reference (tflm), or regenerate the card with `zoo card init`")
    return validate_document(Card, data, path, "model card")


def load_card(path: str | Path) -> Card:
    """Load and validate one YAML model card.

    Args:
        path: the card's file.

    Returns:
        The validated, frozen card.

    Raises:
        CardError: the file is missing, not YAML, or does not match the schema; the message
            names the file and each offending key.

    Example:
        >>> card = load_card("model_cards/stmnist_v1.yaml")
        >>> card.labels[:3]
        ('0', '1', '2')
    """
    path = Path(path)
    return parse_card(read_yaml(path, "model card"), path)


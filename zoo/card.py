"""The model card: typed, frozen, strictly validated data loaded from one YAML file.

The YAML card is the single source of truth for a registry entry; everything else
(the Markdown card, the conformance budgets, the input checks) is derived from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, model_validator

from zoo.errors import UnknownNameError
from zoo.paths import PlainName, SafeRelativePath
from zoo.strict import Strict, read_yaml, validate_document

__all__ = [
    "Artifact",
    "Card",
    "Figure",
    "Quantization",
    "TensorSpec",
    "Tolerance",
    "load_card",
]

SCHEMA_VERSION = 1
T = TypeVar("T")


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# YAML gives lists; the card stores tuples (frozen) while still validating each item strictly.
Seq = Annotated[tuple[T, ...], BeforeValidator(_list_to_tuple)]
Pair = Annotated[tuple[T, T], BeforeValidator(_list_to_tuple)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


_Frozen = Strict


class Reference(_Frozen):
    title: str
    url: str


class Upstream(_Frozen):
    repo: str  # repository URL
    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]  # pinned commit
    path: str  # folder of the model inside the repository
    license: str  # license of the upstream files


class Artifact(_Frozen):
    """One file of the model in one format, pinned by hash."""

    file: PlainName  # file name (also the name in a mirror: <model>/<file>)
    format: Literal["tflite", "keras_h5", "onnx"]
    precision: Literal["int8", "float32"]
    url: str  # upstream download URL at a pinned commit
    sha256: Sha256
    size: Annotated[int, Field(gt=0)]  # bytes


class Quantization(_Frozen):
    scale: Annotated[float, Field(gt=0)]
    zero_point: int


class Preprocessing(_Frozen):
    """What a float format expects: x_float = x_uint8 * scale + offset."""

    scale: float
    offset: float = 0.0


class TensorSpec(_Frozen):
    name: str  # tensor name in the artifact
    shape: Seq[int]  # with batch dimension 1
    dtype: Literal["uint8", "int8", "float32"]
    layout: Literal["NHWC", "NC"]
    description: str
    value_range: Pair[float] | None = None  # inclusive; None = the dtype's range
    quantization: Quantization | None = None  # of the tensor itself (int8 models)
    source_quantization: Quantization | None = None  # the int8 tensor a float output is dequantized from
    logits_quantization: Quantization | None = None  # the int8 pre-softmax logits, where they exist
    preprocessing: Preprocessing | None = None  # for float formats
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TensorSpec:
        expected_rank = {"NHWC": 4, "NC": 2}[self.layout]
        if len(self.shape) != expected_rank:
            raise ValueError(f"layout {self.layout} needs a shape of rank {expected_rank}, got {list(self.shape)}")
        if self.shape[0] != 1 or any(d <= 0 for d in self.shape):
            raise ValueError(f"shape must be positive with batch 1 first, got {list(self.shape)}")
        if self.value_range is not None and self.value_range[0] > self.value_range[1]:
            raise ValueError(f"value_range {list(self.value_range)} has low > high")
        return self


class Figure(_Frozen):
    """A number as published: its unit and whether the source gives it as approximate ('~')."""

    value: float
    unit: str
    approx: bool = False


class ReportedAccuracy(_Frozen):
    artifact: str  # artifact id
    top1_percent: Annotated[float, Field(ge=0, le=100)]
    dataset: str
    split: str
    samples: Annotated[int, Field(gt=0)]


class ReportedFootprint(_Frozen):
    artifact: str
    series: str
    activation_ram: Figure
    runtime_ram: Figure
    weights_flash: Figure
    code_flash: Figure
    total_ram: Figure
    total_flash: Figure


class ReportedLatency(_Frozen):
    artifact: str
    board: str
    clock_mhz: Annotated[float, Field(gt=0)]
    inference_ms: Annotated[float, Field(gt=0)]


class Platform(_Frozen):
    name: str
    supported: bool
    recommended: bool


class Reported(_Frozen):
    """Figures exactly as the publisher reported them, with where and how."""

    source: Reference
    tool: str  # e.g. STM32Cube.AI
    tool_version: str
    conditions: str
    accuracy: Seq[ReportedAccuracy]
    footprint: Seq[ReportedFootprint] = ()
    inference_time: Seq[ReportedLatency] = ()
    platforms: Seq[Platform] = ()


class Comparison(_Frozen):
    """Another runtime's figures for this model on a device, cited with their source."""

    name: str
    source: str
    target: str
    ram_bytes: Annotated[int, Field(gt=0)]
    flash_bytes: Annotated[int, Field(gt=0)]
    instructions_per_inference: Annotated[int, Field(gt=0)] | None = None  # under emulation, never cycles
    notes: str | None = None


class Tolerance(_Frozen):
    """A conformance budget against the reference backend; `derivation` says where it comes from."""

    max_abs_lsb: Annotated[int, Field(ge=0)]  # largest |Δ| of an output, in output steps
    mismatch_fraction: Annotated[float, Field(ge=0, le=1)]  # share of output elements that differ
    mismatch_gt1_fraction: Annotated[float, Field(ge=0, le=1)]  # share that differ by more than one step
    top1_agreement: Annotated[float, Field(ge=0, le=1)]  # minimum share of images with the same top-1
    accuracy_delta_pct: Annotated[float, Field(ge=0)]  # |accuracy - reference accuracy|, percentage points
    logits_max_abs_lsb: Annotated[int, Field(ge=0)] | None = None  # where a backend exposes logits
    derivation: str


class KnownGap(_Frozen):
    backend: str
    check: str
    reason: str


class Conformance(_Frozen):
    reference_backend: str  # whose outputs the golden vectors hold
    golden: SafeRelativePath | None = None  # golden-vector file (.npz, with .npz.sha256), beside the card
    evaluation_dataset: str | None = None  # real images for accuracy when the card's own dataset is absent
    tolerances: dict[str, Tolerance]  # artifact id -> default budget
    backend_tolerances: dict[str, dict[str, Tolerance]] = {}  # backend -> artifact id -> budget
    reported_accuracy_delta_pct: Annotated[float, Field(ge=0)] = 0.5  # vs the card's figure, on its own dataset
    known_gaps: Seq[KnownGap] = ()

    def tolerance(self, backend: str, artifact: str) -> Tolerance:
        """The budget for `backend` on `artifact`: its own if declared, else the artifact's default."""
        return self.backend_tolerances.get(backend, {}).get(artifact) or self.tolerances[artifact]


class Card(_Frozen):
    """A registry entry: the model, its files, its tensors, its published figures and its budgets."""

    schema_version: Literal[1]
    name: Name
    version: str
    task: Literal["image-classification"]
    description: str
    publisher: str
    license: str
    upstream: Upstream | None = None
    references: Seq[Reference] = ()
    labels: Seq[str]
    artifacts: dict[Name, Artifact]
    default_artifact: str
    input: TensorSpec
    output: TensorSpec
    dataset: str | None = None  # dataset the reported metrics used
    reported: Reported | None = None
    comparisons: Seq[Comparison] = ()  # other runtimes' device figures, for the footprint table
    conformance: Conformance

    @model_validator(mode="after")
    def _consistent(self) -> Card:
        if self.output.shape[-1] != len(self.labels):
            raise ValueError(f"output.shape {list(self.output.shape)} has {self.output.shape[-1]} classes "
                             f"but labels has {len(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels are not unique")
        if self.input.layout != "NHWC":
            raise ValueError(f"input.layout is {self.input.layout}; an image classifier takes NHWC images")
        missing = sorted(set(self.artifacts) - set(self.conformance.tolerances))
        if missing:
            raise ValueError(f"conformance.tolerances has no budget for artifact(s) {missing}; add one per artifact")
        if self.output.source_quantization is None:
            raise ValueError("output.source_quantization is required: conformance measures output differences "
                             "in the steps of the int8 tensor the output comes from")
        ids = set(self.artifacts)
        refs = {"default_artifact": [self.default_artifact],
                "conformance.tolerances": list(self.conformance.tolerances)}
        refs["conformance.backend_tolerances"] = [a for t in self.conformance.backend_tolerances.values() for a in t]
        if self.reported:
            refs["reported"] = [r.artifact for r in (*self.reported.accuracy, *self.reported.footprint,
                                                     *self.reported.inference_time)]
        for key, used in refs.items():
            for artifact_id in used:
                if artifact_id not in ids:
                    raise ValueError(f"{key} names artifact {artifact_id!r}; the card's artifacts are {sorted(ids)}")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.labels)

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


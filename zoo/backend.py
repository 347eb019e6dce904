"""The backend interface: a small class that says whether it can run a card, compiles
once into a cached folder, and loads a runner that executes batches.

A backend joins zoo (and its conformance suite) through the ``zoo.backends`` entry-point
group, exactly as the built-in ones do::

    [project.entry-points."zoo.backends"]
    mybackend = "my_package.backend:MyBackend"
"""

from __future__ import annotations

import importlib.util
import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zoo.card import Artifact, Card
from zoo.errors import BackendError

__all__ = ["Availability", "Backend", "Footprint", "LayerInstructions", "LayerProfile", "Runner", "LOGITS"]

#: Optional extra output key: the int8 pre-softmax logits, for backends that expose them.
LOGITS = "logits"


@dataclass(frozen=True)
class Availability:
    """Whether something can be used, and if not, why and how to fix it."""

    ok: bool
    reason: str = ""
    fix: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def message(self) -> str:
        return self.reason + (f"; {self.fix}" if self.fix else "")


YES = Availability(True)


@dataclass(frozen=True)
class Footprint:
    """Memory a compiled model needs on a device, in bytes, split as STM32Cube.AI splits it."""

    flash_bytes: int  # code + weights + initialised data of the model
    ram_bytes: int  # arena + other static data + stack high-water mark
    weights_bytes: int
    code_bytes: int
    stack_bytes: int
    arena_bytes: int
    harness: dict[str, int] = field(default_factory=dict)  # test-harness bytes, reported apart
    # Where the backend targets a real part: its name, whether the image fits it, and per memory region
    # {region, bytes, uses, used_bytes, free_bytes, overflow_bytes} (the whole image, harness included).
    part: str | None = None
    fits: bool | None = None
    regions: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in
                ("flash_bytes", "ram_bytes", "weights_bytes", "code_bytes", "stack_bytes", "arena_bytes")} | {
            "harness": dict(self.harness), "part": self.part, "fits": self.fits, "regions": [dict(r) for r in self.regions]}


@dataclass(frozen=True)
class LayerInstructions:
    """Instructions retired under emulation by one layer of one inference (never cycles)."""

    operator: int  # TFLite operator index
    op: str  # its builtin name, e.g. "CONV_2D"
    tensor: int  # the TFLite index of the tensor it writes
    name: str  # that tensor's name in the .tflite
    instructions: int
    share: float  # of the whole inference (the normal build's per-inference figure)
    macs: int | None  # where the operator's unit knows them

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("operator", "op", "tensor", "name", "instructions", "share", "macs")}


@dataclass(frozen=True)
class LayerProfile:
    """Where an inference's instructions go, layer by layer, beside the whole-inference figure.

    ``per_inference`` is the normal build's figure (:meth:`Runner.instructions_per_inference`); the
    layers come from an instrumented build whose hook cost is subtracted, and ``unattributed`` is what
    is left (``per_inference - sum of the layers``: the driver's entry and return, and what the hooks
    changed in the code around them), for the same input.
    """

    layers: tuple[LayerInstructions, ...]
    per_inference: int
    unattributed: int
    hook_overhead: int  # instructions one hook costs outside its own timer reads, subtracted from each layer
    method: str

    @property
    def layer_sum(self) -> int:
        return sum(layer.instructions for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        return {"per_inference": self.per_inference, "layer_sum": self.layer_sum, "unattributed": self.unattributed,
                "hook_overhead": self.hook_overhead, "method": self.method,
                "layers": [layer.as_dict() for layer in self.layers]}


class Runner(ABC):
    """A loaded, compiled model. Inputs and outputs are keyed by the card's tensor names."""

    #: The largest batch one :meth:`run` call takes (None: any); zoo.Model splits larger batches into chunks.
    max_batch: int | None = None

    @abstractmethod
    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a batch. Inputs are already checked against the card (dtype, shape with any batch size N).

        Returns at least the card's output tensor, shape (N, ...) of the card's dtype; may add
        ``LOGITS`` (int8 pre-softmax values, shape (N, classes)) when the backend exposes them.
        """

    def run_with_logits(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Like :meth:`run`, and add ``LOGITS`` where the backend can expose them.

        The default is :meth:`run`; a runner for which logits cost extra work overrides this and
        leaves them out of :meth:`run`.
        """
        return self.run(inputs)

    def intermediates(self) -> Availability:
        """Whether :meth:`run_intermediates` works for this runner, and if not, why.

        The default is "no": a backend that can read its intermediate tensors overrides both.
        """
        return Availability(False, "its runner does not implement Runner.run_intermediates",
                            "implement Runner.intermediates and Runner.run_intermediates in the backend")

    def run_intermediates(self, inputs: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
        """Run a batch and return every operator output tensor of the TFLite model it runs.

        Args:
            inputs: as for :meth:`run`.

        Returns:
            Tensor index in the model's subgraph 0 -> array of shape ``(N, *tensor shape[1:])``
            and the tensor's own dtype (raw int8 values for int8 tensors). A tensor the backend
            cannot map back to the model is left out.

        Raises:
            BackendError: this runner exposes no intermediates (see :meth:`intermediates`), or it failed.
        """
        raise BackendError(f"{type(self).__name__} exposes no intermediate tensors: {self.intermediates().message()}")

    def footprint(self) -> Footprint | None:
        """Device memory of the compiled model, where the backend targets a device."""
        return None

    def instructions_per_inference(self) -> int | None:
        """Instructions retired per inference under emulation, where measured (never 'cycles')."""
        return None

    def layer_instructions(self) -> LayerProfile | None:
        """Instructions retired under emulation per layer of one inference, where measured (never 'cycles')."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release runtime resources."""


class Backend(ABC):
    """A way to compile and execute a model card's artifact.

    Subclasses set the class attributes and implement :meth:`compile` and :meth:`load`.
    """

    name: ClassVar[str]  # registry name, e.g. "tflite"
    summary: ClassVar[str]  # one line for `zoo backends`
    extra: ClassVar[str | None] = None  # pip extra that installs what it needs
    formats: ClassVar[tuple[str, ...]]  # artifact formats it can run ("tflite", "keras_h5", ...)
    python_modules: ClassVar[tuple[str, ...]] = ()  # modules that must import
    executables: ClassVar[tuple[str, ...]] = ()  # programs that must be on PATH
    system_packages: ClassVar[str] = ""  # install hint for the executables
    core: ClassVar[str | None] = None  # a device backend's core, e.g. "Cortex-M7" (None: runs on the host)
    measures_cores: ClassVar[tuple[str, ...]] = ()  # further card-platform cores it measures, e.g. "Cortex-M0+"

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"backend {self.name!r} takes no options, got {sorted(options)}")

    @classmethod
    def availability(cls) -> Availability:
        """Whether this backend's packages and tools are present here (cheap: imports nothing)."""
        missing = [m for m in cls.python_modules if importlib.util.find_spec(m.split(".")[0]) is None]
        if missing:
            hint = f"pip install 'zoo[{cls.extra}]'" if cls.extra else f"pip install {' '.join(missing)}"
            return Availability(False, f"Python package(s) not installed: {', '.join(missing)}", f"run: {hint}")
        tools = [t for t in cls.executables if shutil.which(t) is None]
        if tools:
            return Availability(False, f"program(s) not on PATH: {', '.join(tools)}",
                                f"run: {cls.system_packages}" if cls.system_packages else "install them")
        return YES

    def supports(self, card: Card, artifact: Artifact) -> Availability:
        """Whether this backend can run this artifact of this card (and why not)."""
        if artifact.format not in self.formats:
            return Availability(False, f"backend {self.name!r} runs {', '.join(self.formats)} files, "
                                f"not {artifact.format} ({artifact.file})",
                                f"choose an artifact of format {' or '.join(self.formats)}")
        return YES

    def refusals(self, card: Card) -> str:
        """Why this backend runs none of the card's artifacts: each artifact's own reason from :meth:`supports`."""
        return "; ".join(f"{k} ({a.file}): {self.supports(card, a).message()}" for k, a in card.artifacts.items())

    def pick_artifact(self, card: Card) -> str | None:
        """The id of the artifact this backend runs by default: the card's default if it can, else the first it can."""
        order = [card.default_artifact, *card.artifacts]
        return next((a for a in order if self.supports(card, card.artifacts[a])), None)

    @abstractmethod
    def cache_key(self) -> str:
        """A string that changes whenever the compiled form would: runtime versions and options."""

    @abstractmethod
    def compile(self, card: Card, artifact: Artifact, artifact_path: Path, out_dir: Path) -> None:
        """Compile into `out_dir` (an empty temporary folder the cache moves into place afterwards)."""

    @abstractmethod
    def load(self, card: Card, artifact: Artifact, artifact_path: Path, compiled_dir: Path) -> Runner:
        """Load the compiled form into a runner."""

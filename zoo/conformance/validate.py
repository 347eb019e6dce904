"""`zoo validate`: every backend through the conformance harness, one report."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

import zoo
from zoo.artifacts import cached_build, no_download
from zoo.atomic import atomic_write
from zoo.backend import LOGITS
from zoo.card import Card
from zoo.conformance.golden import check_dataset_fits
from zoo.conformance.harness import BackendResult, EvalData, check_backend, entries
from zoo.errors import ArtifactError, UnknownNameError
from zoo.model import tensors_digest

__all__ = ["ValidationReport", "evaluation_data", "reference_outputs", "validate"]

REFERENCE_FILE = "outputs.npz"
REFERENCE_FORMAT = "reference-outputs-1"  # bump when what is stored (or how it is computed) changes

PACKAGES = ("zoo", "numpy", "tflite-micro", "ai-edge-litert", "onnxruntime", "onnx", "tf2onnx", "tensorflow-cpu", "apache-tvm",
            "tflite")


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def evaluation_data(card: Card, dataset: str | None = None, limit: int | None = None,
                    note: Callable[[str], None] | None = None) -> EvalData | None:
    """Labelled images for the accuracy checks and the reference backend's outputs on them.

    Uses `dataset` if given (downloading it if needed); else the card's own dataset when it is
    in the cache or the mirror (never a large download behind the user's back), else the card's
    ``conformance.evaluation_dataset``; None when neither can be had (golden vectors only).

    Raises:
        UnknownNameError, ArtifactError: a requested or stand-in dataset is unknown or unavailable.
        CardError: the dataset's classes or image shape are not the card's.
    """
    from zoo.datasets import load_dataset

    say = note or (lambda _msg: None)
    if dataset:
        data = load_dataset(dataset, split="test", limit=limit)
    else:
        data = None
        if card.dataset:
            try:
                with no_download():
                    data = load_dataset(card.dataset, split="test", limit=limit)
            except (ArtifactError, UnknownNameError) as exc:
                say(f"the card's dataset {card.dataset} is not available here ({type(exc).__name__})")
        if data is None and card.conformance.evaluation_dataset:
            data = load_dataset(card.conformance.evaluation_dataset, split="test", limit=limit)
        if data is None:
            return None
    check_dataset_fits(card, data)
    outputs = reference_outputs(card, data.images, say)
    logits = outputs.pop(LOGITS, None)
    return EvalData(data.name, data.images, data.labels, {s.name: outputs[s.name] for s in card.outputs}, logits)


def reference_outputs(card: Card, images: np.ndarray, note: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """The reference backend's outputs (and logits, where it exposes them) on `images`, computed once.

    The reference is deterministic, so its outputs are kept in the cache (``reference/<backend>/<model>``,
    an entry of :func:`~zoo.artifacts.cached_build`: written whole or not at all, its sha256 manifest
    checked at every use) under a key of what they depend on: the model, the artifact's sha256 and
    tensor specs, the reference backend and its runtime version (``cache_key``), the source of the
    modules that run it (the backend's and runner's classes and their bases, zoo's model, input and
    TFLite-reading code) and the images' bytes, dtype and shape. A second validation of the same images
    (another backend, a re-run) then skips the reference: TensorFlow Lite Micro's interpreter costs
    1.44-2.24 ms per stmnist_v1 image here, 129-200 s on its 89,264 test images. Where a module's source
    cannot be read (an install without sources) nothing is cached.

    A cache that cannot take the entry (full, read-only) costs only the saving: the outputs are
    computed and returned uncached, with a note.

    Raises:
        BackendError, BackendUnavailableError: the reference cannot run here or fails (nothing is cached).
    """
    say = note or (lambda _msg: None)
    images = np.ascontiguousarray(images)
    with zoo.load(card.name, backend=card.conformance.reference_backend) as reference:
        name = reference.backend.name
        sources = _sources(type(reference.backend), type(reference.runner))
        if sources is None:
            say("the reference's outputs are not cached: the source of its modules cannot be read")
            return reference.run(images, logits=True)
        key = [REFERENCE_FORMAT, card.name, reference.artifact_id, card.artifact(reference.artifact_id).sha256,
               "tensors=" + tensors_digest(card, reference.artifact_id), name, reference.backend.cache_key(), "sources=" + sources,
               f"images={images.dtype.str}{list(images.shape)}:{hashlib.sha256(images.data).hexdigest()}"]
        computed: dict[str, np.ndarray] = {}

        def run(folder: Path) -> None:
            say(f"running the reference ({name}) on {len(images)} inputs")
            computed.update(reference.run(images, logits=True))
            # keys prefixed: an output may be named like np.savez's own parameters (file, allow_pickle)
            np.savez(folder / REFERENCE_FILE, **{_KEY + k: v for k, v in computed.items()})

        try:
            folder = cached_build(f"reference/{name}/{card.name}", key, run)
        except ArtifactError as exc:  # the cache cannot take it: the outputs still count, uncached
            say(f"the reference's outputs are not cached: {exc}")
            if not computed:
                computed.update(reference.run(images, logits=True))
            return computed
    if computed:
        return computed
    say(f"the reference's ({name}) outputs on these {len(images)} inputs: from the cache")
    with np.load(folder / REFERENCE_FILE, allow_pickle=False) as stored:
        return {k[len(_KEY):]: stored[k] for k in stored.files}


_KEY = "output:"
# zoo's own code on the reference's path besides the backend's and runner's classes
_REFERENCE_MODULES = ("zoo.backend", "zoo.model", "zoo.inputs", "zoo.tflite_model")


def _sources(*classes: type) -> str | None:
    """One sha256 over the source files of the classes' modules (and their bases') and of
    :data:`_REFERENCE_MODULES`; None if one cannot be read."""
    modules = {importlib.import_module(m) for m in _REFERENCE_MODULES}
    modules |= {inspect.getmodule(c) for cls in classes for c in cls.__mro__ if c.__module__ != "builtins"}
    digest = hashlib.sha256()
    for module in sorted(modules, key=lambda m: m.__name__ if m else ""):
        try:
            path = inspect.getsourcefile(module) if module is not None else None
            if path is None:
                return None
            digest.update(module.__name__.encode() + b"\0" + Path(path).read_bytes())
        except (OSError, TypeError):
            return None
    return digest.hexdigest()


@dataclass
class ValidationReport:
    """The results of `zoo validate` for one card."""

    card: Card
    dataset: str | None
    reference_accuracy: float | None
    results: dict[str, BackendResult]
    data: EvalData | None = None  # the evaluation images and the reference's outputs (not in the JSON)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def passed(self) -> bool:
        return all(r.status != "fail" for r in self.results.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.card.name,
            "reference": self.card.conformance.reference_backend,
            "dataset": self.dataset,
            "reference_accuracy": self.reference_accuracy,
            "passed": self.passed,
            "backends": {k: r.as_dict() for k, r in self.results.items()},
            "provenance": {
                "artifacts": {k: {"file": a.file, "sha256": a.sha256} for k, a in self.card.artifacts.items()},
                "packages": _versions(),
                "python": platform.python_version(),
                "machine": f"{platform.system()} {platform.machine()}",
                "date": self.created,
            },
        }

    def write_json(self, path: Path) -> None:
        """Write the results as JSON, atomically (see :mod:`zoo.atomic`).

        Raises:
            OutputError: `path` is not a regular file or cannot be written.
        """
        atomic_write(path, json.dumps(self.as_dict(), indent=2) + "\n", "validation results")


def validate(model: str, backends: list[str] | None = None, dataset: str | None = None, limit: int | None = None,
             timing: bool = True, progress: Callable[[str], None] | None = None) -> ValidationReport:
    """Run the conformance suite for every (or the given) backend on one model.

    Args:
        model: registered model name or card path.
        backends: backend names (default: every registered backend).
        dataset: evaluation dataset name (default: the card's own if available, else its
            ``conformance.evaluation_dataset``).
        limit: use at most this many evaluation images.
        timing: measure latency and throughput.
        progress: called with a short message at each stage.

    Returns:
        The report; ``report.passed`` is False if any backend failed a check.

    Example:
        >>> report = validate("stmnist_v1", backends=["tflite", "onnxruntime"])  # doctest: +SKIP
        >>> report.passed
        True
    """
    card = zoo.get_card(model)
    known = zoo.registry.backend_names()
    names = backends or known
    for name in [n for n in names if n not in known]:
        zoo.registry.backend_class(name)  # raises UnknownNameError, with suggestions
    data = evaluation_data(card, dataset, limit, progress)
    results = {}
    for entry, backend, artifact in entries(card, names):
        results[entry] = check_backend(card, entry, backend, artifact, data, timing, progress)
    return ValidationReport(card, data.name if data else None, data.reference_accuracy if data else None, results,
                            data)

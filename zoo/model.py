"""A loaded model: a card, a backend's runner, and `predict`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo import artifacts, registry
from zoo.backend import LOGITS, Backend, Footprint, Runner
from zoo.card import Card
from zoo.errors import BackendError, BackendUnavailableError, InputError
from zoo.formats import check_model_file
from zoo.inputs import check_images

__all__ = ["Model", "load"]


@dataclass
class Model:
    """A model compiled by one backend, ready to run.

    Attributes:
        card: the model card.
        backend: the backend instance that compiled it.
        artifact_id: which of the card's artifacts it runs.
        runner: the backend's loaded runner.
    """

    card: Card
    backend: Backend
    artifact_id: str
    runner: Runner

    def _run(self, images: Any, logits: bool = False) -> dict[str, np.ndarray]:
        step = self.runner.max_batch
        if step is None or not isinstance(images, np.ndarray) or images.ndim < 1 or len(images) <= step:
            return self._run_batch(images, logits)  # the common case: one call
        return self._run_chunks(images, step, logits)

    def _run_batch(self, images: Any, logits: bool) -> dict[str, np.ndarray]:
        batch = check_images(images, self.card.input)
        run = self.runner.run_with_logits if logits else self.runner.run
        outputs = run({self.card.input.name: batch})
        out = outputs.get(self.card.output.name)
        want = (batch.shape[0], *self.card.output.shape[1:])
        if out is None or out.shape != want:
            got = None if out is None else out.shape
            raise BackendError(f"backend {self.backend.name!r} returned output {self.card.output.name!r} "
                               f"of shape {got}; expected {want}")
        return outputs

    def _run_chunks(self, images: np.ndarray, step: int, logits: bool) -> dict[str, np.ndarray]:
        """A batch larger than the runner takes, `step` images at a time, into outputs allocated once."""
        n, spec = len(images), self.card.output
        try:
            outputs = {spec.name: np.empty((n, *spec.shape[1:]), spec.dtype)}  # before any work: does it fit?
            first = self._run_batch(images[:step], logits)
            outputs |= {k: np.empty((n, *v.shape[1:]), v.dtype) for k, v in first.items() if k != spec.name}
        except MemoryError:
            raise InputError(f"the outputs of {n:,} images do not fit in memory; pass smaller batches") from None
        for k, v in first.items():
            outputs[k][:step] = v
        for i in range(step, n, step):
            for k, v in self._run_batch(images[i:i + step], logits).items():
                outputs[k][i:i + len(v)] = v
        return outputs

    def predict(self, images: Any) -> np.ndarray:
        """Per-class confidences for a batch of images.

        Args:
            images: ``(N, H, W, C)`` or, for one-channel models, ``(N, H, W)`` pixels of the
                card's input dtype (uint8 for stmnist_v1).

        Returns:
            ``(N, classes)`` float32, in the order of ``card.labels``.

        Raises:
            InputError: the images do not match the card's input spec.
            BackendError: the backend failed.

        Example:
            >>> m = zoo.load("stmnist_v1", backend="tflite")
            >>> m.predict(np.zeros((2, 28, 28), np.uint8)).shape
            (2, 36)
        """
        return self._run(images)[self.card.output.name]

    def predict_logits(self, images: Any) -> np.ndarray | None:
        """The int8 pre-softmax logits ``(N, classes)``, or None where the backend does not expose them."""
        return self._run(images, logits=True).get(LOGITS)

    def predict_with_logits(self, images: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Outputs and logits (or None) from one run: see :meth:`predict` and :meth:`predict_logits`."""
        outputs = self._run(images, logits=True)
        return outputs[self.card.output.name], outputs.get(LOGITS)

    def footprint(self) -> Footprint | None:
        """Device memory of the compiled model (device backends only)."""
        return self.runner.footprint()

    def instructions_per_inference(self) -> int | None:
        """Instructions retired per inference under emulation (device backends only; not cycles)."""
        return self.runner.instructions_per_inference()

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load(name: str, backend: str = "tflite", artifact: str | None = None, **options: Any) -> Model:
    """Load a registered model (or a card file) and compile it with a backend.

    Compilation happens once per artifact hash, tensor specs of the card, backend version and
    options; later loads reuse the cached compiled form.

    Args:
        name: a registered model name, or the path of a YAML card.
        backend: a backend name from ``zoo.list_backends()``.
        artifact: which of the card's artifacts to run (default: the backend's pick).
        **options: backend options (e.g. ``kernels="reference"`` for tflite).

    Returns:
        The loaded model.

    Raises:
        UnknownNameError: unknown model, backend or artifact.
        BackendUnavailableError: the backend cannot run here or cannot run this artifact.
        ArtifactError: the artifact cannot be fetched or fails verification.
        InputError: the backend does not take these options.

    Example:
        >>> model = zoo.load("stmnist_v1", backend="tvm-cortexm7")
        >>> model.predict(images).argmax(1)  # doctest: +SKIP
    """
    card = registry.get_card(name)
    cls = registry.backend_class(backend)
    ok = cls.availability()
    if not ok:
        raise BackendUnavailableError(f"backend {backend!r} is not available: {ok.message()}")
    try:
        instance = cls(**options)
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid options {options} for backend {backend!r}: {exc}") from None
    artifact_id = artifact or instance.pick_artifact(card)
    if artifact_id is None:
        raise BackendUnavailableError(f"backend {backend!r} runs none of {card.name!r}'s artifacts "
                                      f"({', '.join(f'{k}: {a.format}' for k, a in card.artifacts.items())}); "
                                      f"it runs {', '.join(cls.formats)}")
    entry = card.artifact(artifact_id)
    support = instance.supports(card, entry)
    if not support:
        raise BackendUnavailableError(f"backend {backend!r} cannot run {card.name}/{artifact_id}: {support.message()}")
    path = artifacts.fetch(card.name, entry, base_dir=registry.card_path(card.name).parent)
    check_model_file(path, entry.format, entry.size)
    tensors = hashlib.sha256((card.input.model_dump_json() + card.output.model_dump_json()).encode()).hexdigest()
    compiled = artifacts.cached_build(
        f"compiled/{backend}/{card.name}",
        [card.name, entry.sha256, f"tensors={tensors}", backend, instance.cache_key()],
        lambda out: instance.compile(card, entry, path, out))
    return Model(card, instance, artifact_id, instance.load(card, entry, path, compiled))

"""A loaded model: a card, a backend's runner, and `predict`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo import artifacts, registry
from zoo.backend import LOGITS, Backend, Footprint, LayerProfile, Runner
from zoo.card import Card, TensorSpec
from zoo.errors import BackendError, BackendUnavailableError, InputError
from zoo.formats import check_model_file
from zoo.inputs import check_tensor
from zoo.tflite_model import check_card_tensors, read_tflite

__all__ = ["Model", "load"]


def _batch_size(inputs: Any) -> int | None:
    """N of a batch given as an array or a dict of arrays, before any check (None: not an array)."""
    first = next(iter(inputs.values()), None) if isinstance(inputs, Mapping) else inputs
    return len(first) if isinstance(first, np.ndarray) and first.ndim >= 1 else None


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

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        """The tensors this artifact takes (the card's, or the artifact's own where it declares them)."""
        return self.card.tensors(self.artifact_id)[0]

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return self.card.tensors(self.artifact_id)[1]

    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        specs = self.input_specs
        if isinstance(inputs, Mapping):
            unknown = sorted(set(inputs) - {s.name for s in specs})
            missing = [s.name for s in specs if s.name not in inputs]
            if unknown or missing:
                raise InputError(f"inputs must be keyed by the model's input names {[s.name for s in specs]}; "
                                 f"got {sorted(inputs)}" + (f" (missing {missing})" if missing else ""))
            feeds = {s.name: check_tensor(inputs[s.name], s) for s in specs}
        elif len(specs) == 1:
            feeds = {specs[0].name: check_tensor(inputs, specs[0])}
        else:
            raise InputError(f"{self.card.name} takes {len(specs)} inputs: pass a dict keyed by "
                             f"{[s.name for s in specs]}")
        sizes = {a.shape[0] for a in feeds.values()}
        if len(sizes) != 1:
            raise InputError(f"inputs have different batch sizes {sorted(sizes)}; give each the same N")
        return feeds

    def run(self, inputs: Any, logits: bool = False) -> dict[str, np.ndarray]:
        """Every output of a batch, keyed by the output tensors' names (and ``LOGITS`` when asked and exposed).

        Args:
            inputs: one array for a single-input model, else a dict keyed by input name.
            logits: also return the int8 pre-softmax logits where the backend exposes them.

        Raises:
            InputError: the inputs do not match the artifact's input specs.
            BackendError: the backend failed or returned outputs of the wrong shape or dtype.
        """
        n, step = _batch_size(inputs), self.runner.max_batch
        if step is not None and n is not None and n > step:  # more than the runtime takes: in chunks
            return self._run_chunks(inputs, n, step, logits)
        return self._run_once(inputs, logits)

    def _run_once(self, inputs: Any, logits: bool) -> dict[str, np.ndarray]:
        feeds = self._feeds(inputs)
        n = next(iter(feeds.values())).shape[0]
        run = self.runner.run_with_logits if logits else self.runner.run
        outputs = run(feeds)
        for spec in self.output_specs:
            out = outputs.get(spec.name)
            want = (n, *spec.shape[1:])
            if out is None or out.shape != want or out.dtype != np.dtype(spec.dtype):
                got = None if out is None else f"{out.dtype}{list(out.shape)}"
                raise BackendError(f"backend {self.backend.name!r} returned output {spec.name!r} as {got}; "
                                   f"expected {spec.dtype}{list(want)}")
        return outputs

    def _run_chunks(self, inputs: Any, n: int, step: int, logits: bool) -> dict[str, np.ndarray]:
        """A batch larger than the runner takes, `step` examples at a time, into outputs allocated once."""
        def part(i: int) -> Any:
            return {k: v[i:i + step] for k, v in inputs.items()} if isinstance(inputs, Mapping) else inputs[i:i + step]

        try:  # before any work: do the outputs fit?
            outputs = {s.name: np.empty((n, *s.shape[1:]), s.dtype) for s in self.output_specs}
            first = self._run_once(part(0), logits)
            outputs |= {k: np.empty((n, *v.shape[1:]), v.dtype) for k, v in first.items() if k not in outputs}
        except MemoryError:
            raise InputError(f"the outputs of {n:,} examples do not fit in memory; pass smaller batches") from None
        for i in range(0, n, step):
            for k, v in (first if i == 0 else self._run_once(part(i), logits)).items():
                outputs[k][i:i + len(v)] = v
        return outputs

    def run_intermediates(self, inputs: Any) -> dict[int, np.ndarray]:
        """Every operator output tensor of the TFLite model, keyed by tensor index (see :meth:`Runner.run_intermediates`).

        Raises:
            InputError: the inputs do not match the artifact's input specs.
            BackendError: the backend exposes no intermediates (``model.runner.intermediates()`` says why) or failed.
        """
        return self.runner.run_intermediates(self._feeds(inputs))

    def _run(self, images: Any, logits: bool = False) -> dict[str, np.ndarray]:
        return self.run(images, logits)

    def predict(self, images: Any) -> np.ndarray:
        """The first output for a batch: a classifier's per-class scores, an autoencoder's reconstruction.

        Args:
            images: ``(N, ...)`` examples of the input's dtype and shape (images ``(N, H, W, C)`` or,
                for one-channel models, ``(N, H, W)``); a dict keyed by input name for several inputs.

        Returns:
            ``(N, ...)`` of the output's own dtype: float32 for stmnist_v1 (``(N, 36)``, in the order
            of ``card.labels``), int8 for the MLPerf Tiny models. Use :meth:`run` for every output.

        Raises:
            InputError: the images do not match the card's input spec.
            BackendError: the backend failed.

        Example:
            >>> m = zoo.load("stmnist_v1", backend="tflite")
            >>> m.predict(np.zeros((2, 28, 28), np.uint8)).shape
            (2, 36)
        """
        return self._run(images)[self.output_specs[0].name]

    def predict_logits(self, images: Any) -> np.ndarray | None:
        """The int8 pre-softmax logits ``(N, classes)``, or None where the backend does not expose them."""
        return self._run(images, logits=True).get(LOGITS)

    def predict_with_logits(self, images: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Outputs and logits (or None) from one run: see :meth:`predict` and :meth:`predict_logits`."""
        outputs = self._run(images, logits=True)
        return outputs[self.output_specs[0].name], outputs.get(LOGITS)

    def footprint(self) -> Footprint | None:
        """Device memory of the compiled model (device backends only)."""
        return self.runner.footprint()

    def instructions_per_inference(self) -> int | None:
        """Instructions retired per inference under emulation (device backends only; not cycles)."""
        return self.runner.instructions_per_inference()

    def layer_instructions(self) -> LayerProfile | None:
        """Instructions retired under emulation by each layer of one inference (device backends only; not
        cycles): operator, instructions, share and MACs per layer, beside the whole-inference figure.

        Example:
            >>> prof = zoo.load("stmnist_v1", backend="tvm-cortexm7").layer_instructions()  # doctest: +SKIP
            >>> max(prof.layers, key=lambda x: x.instructions).op  # doctest: +SKIP
            'CONV_2D'
        """
        return self.runner.layer_instructions()

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tensors_digest(card: Card, artifact_id: str) -> str:
    """sha256 of an artifact's input and output specs (the card's, or the artifact's own): part of the
    cache keys of what is computed from them (compiled forms, the reference's outputs)."""
    ins, outs = card.tensors(artifact_id)
    return hashlib.sha256("".join(s.model_dump_json() for s in (*ins, *outs)).encode()).hexdigest()


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
        raise BackendUnavailableError(f"backend {backend!r} cannot run any of {card.name!r}'s artifacts: "
                                      f"{instance.refusals(card)}")
    entry = card.artifact(artifact_id)
    support = instance.supports(card, entry)
    if not support:
        raise BackendUnavailableError(f"backend {backend!r} cannot run {card.name}/{artifact_id}: {support.message()}")
    path = artifacts.fetch(card.name, entry, base_dir=registry.card_path(card.name).parent)
    check_model_file(path, entry.format, entry.size)
    ins, outs = card.tensors(artifact_id)
    if entry.format == "tflite":
        check_card_tensors(card.name, artifact_id, ins, outs, read_tflite(path))
    tensors = tensors_digest(card, artifact_id)
    compiled = artifacts.cached_build(
        f"compiled/{backend}/{card.name}",
        [card.name, entry.sha256, f"tensors={tensors}", backend, instance.cache_key()],
        lambda out: instance.compile(card, entry, path, out))
    return Model(card, instance, artifact_id, instance.load(card, entry, path, compiled))

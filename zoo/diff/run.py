"""`zoo diff`: run the same inputs through two backends and find the first layer where they part.

Every operator output tensor both backends can expose (:meth:`zoo.backend.Runner.run_intermediates`)
is compared in execution order, under the TFLite model's own tensor names and operator indices.
The device backends (``tvm-cortexm*``, int8 lowering) expose them through an instrumented build of
the firmware that writes each layer's output from the arena through semihosting
(``backends/tvm_cortexm7/instrumented.py``). When either backend exposes only its outputs, the two
are compared on the model's outputs only, and the report says so and why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import zoo
from zoo import artifacts, registry
from zoo.atomic import atomic_write
from zoo.card import Card
from zoo.diff.compare import LayerDiff, compare_tensor, divergence_map
from zoo.errors import BackendUnavailableError, InputError
from zoo.model import Model
from zoo.tflite_model import TFLiteInfo, read_tflite

__all__ = ["DiffReport", "diff", "load_inputs"]

#: Examples on which a backend's run with intermediates exposed is checked against its normal run
#: (the normal run is repeated only for these: TFLM takes ~40 ms per ResNet-8 inference on the host).
CHECKED = 32


@dataclass
class DiffReport:
    """Two backends compared layer by layer on one model.

    Attributes:
        model, artifact: what ran.
        backends: the two backend names, A then B (Δ is A - B).
        inputs: where the inputs came from, and how many examples.
        scope: "layers" (every operator output both expose) or "outputs" (the model's outputs only).
        layers: one entry per compared tensor, in execution order.
        notes: what the reader must know (a backend that exposes only outputs and why, a backend
            whose intermediates run did not reproduce its normal outputs).
        divergence: where the first differing tensor differs (see :func:`divergence_map`).
        first_values: that tensor's values from A and from B (for the report's figure; not in the JSON).
    """

    model: str
    artifact: str
    backends: tuple[str, str]
    inputs: str
    examples: int
    scope: str
    layers: list[LayerDiff]
    notes: list[str] = field(default_factory=list)
    divergence: dict[str, Any] | None = None
    first_values: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def first_differing(self) -> LayerDiff | None:
        return next((layer for layer in self.layers if layer.differs), None)

    @property
    def first_over_one_step(self) -> LayerDiff | None:
        return next((layer for layer in self.layers if layer.over_one_step), None)

    @property
    def identical(self) -> bool:
        """Every compared tensor is identical (and at least one was compared)."""
        compared = [layer for layer in self.layers if layer.status != "not compared"]
        return bool(compared) and not any(layer.differs for layer in compared)

    def as_dict(self) -> dict[str, Any]:
        first, over = self.first_differing, self.first_over_one_step
        return {"model": self.model, "artifact": self.artifact, "backends": list(self.backends),
                "inputs": self.inputs, "examples": self.examples, "scope": self.scope, "identical": self.identical,
                "first_differing": first.as_dict() if first else None,
                "first_over_one_step": over.as_dict() if over else None,
                "divergence": self.divergence, "notes": self.notes, "layers": [x.as_dict() for x in self.layers]}

    def write_json(self, path: Path) -> None:
        """Write :meth:`as_dict` to `path` atomically (a temporary file beside it, then renamed)."""
        if path.is_dir():
            raise InputError(f"--json {path} is a folder; give a file name")
        atomic_write(path, json.dumps(self.as_dict(), indent=2) + "\n", "diff results")


def load_inputs(path: Path, card: Card) -> dict[str, np.ndarray]:
    """Inputs from a ``.npy`` (single-input models) or a ``.npz`` keyed by the card's input names.

    Raises:
        InputError: the file cannot be read or does not fit the card (the message says what to give).
    """
    names = [spec.name for spec in card.inputs]
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {path} as .npy/.npz: {exc}; save the batch with np.save") from None
    if isinstance(loaded, np.ndarray):
        if len(names) != 1:
            raise InputError(f"{card.name} takes {len(names)} inputs {names}: give a .npz keyed by those names")
        return {names[0]: loaded}
    with loaded:
        missing = [n for n in names if n not in loaded.files]
        if missing:
            raise InputError(f"{path} has arrays {loaded.files}; {card.name} needs {names} (missing {missing})")
        return {n: loaded[n] for n in names}


def _common_artifact(card: Card, backends: Sequence[str]) -> str:
    """The first tflite artifact (the card's default first) every backend can run."""
    order = list(dict.fromkeys([card.default_artifact, *card.artifacts]))
    instances = [registry.backend_class(b)() for b in backends]
    for aid in order:
        entry = card.artifacts[aid]
        if entry.format == "tflite" and all(i.supports(card, entry) for i in instances):
            return aid
    raise BackendUnavailableError(f"{' and '.join(backends)} share no tflite artifact of {card.name} "
                                  f"({', '.join(f'{k}: {a.format}' for k, a in card.artifacts.items())}); "
                                  "zoo diff names layers after a TFLite model both run")


def _by_index(outputs: Mapping[str, np.ndarray], model: Model, info: TFLiteInfo) -> dict[int, np.ndarray]:
    """A backend's outputs (keyed by the card's names) keyed by the model's output tensor indices."""
    return {t.index: outputs[spec.name] for t, spec in zip(info.outputs, model.output_specs, strict=False)}


def _collect(model: Model, feeds: Mapping[str, np.ndarray], info: TFLiteInfo,
             notes: list[str]) -> tuple[dict[int, np.ndarray], bool]:
    """The tensors a backend exposes (outputs always), and whether it exposed its intermediates."""
    name = model.backend.name
    support = model.runner.intermediates()
    if not support:
        notes.append(f"{name} exposes no intermediate tensors ({support.reason}): compared on outputs only")
        return _by_index(model.run(feeds), model, info), False
    tensors = model.run_intermediates(feeds)
    if any(t.index not in tensors for t in info.outputs):  # outputs are always compared: take them from a normal run
        tensors = {**_by_index(model.run(feeds), model, info), **tensors}
    some = {k: v[:CHECKED] for k, v in feeds.items()}
    outputs = _by_index(model.run(some), model, info)
    changed = [t for t, value in outputs.items() if not np.array_equal(tensors[t][:CHECKED], value)]
    if changed:
        notes.append(f"{name}'s run with intermediates exposed gave other outputs than its normal run (tensor(s) "
                     f"{changed}): its layer differences may come from exposing them, not from the backend")
    return tensors, True


def _compare(info: TFLiteInfo, values: tuple[dict[int, np.ndarray], dict[int, np.ndarray]], backends: Sequence[str],
             layers: bool) -> list[LayerDiff]:
    wanted = set(info.operator_outputs()) if layers else {t.index for t in info.outputs}
    found = []
    for op in info.operators:
        for t in (t for t in op.outputs if t in wanted):
            a, b = values[0].get(t), values[1].get(t)
            lacking = [name for name, v in zip(backends, (a, b), strict=True) if v is None]
            reason = f"{' and '.join(lacking)} cannot expose this tensor" if lacking else ""
            found.append(compare_tensor(info, op.index, t, a, b, reason))
    return found


def diff(model: str, backends: Sequence[str], inputs: Mapping[str, np.ndarray] | np.ndarray | None = None,
         limit: int | None = None, input_source: str | None = None) -> DiffReport:
    """Compare two backends on one model, layer by layer where both can, else on outputs.

    Args:
        model: a registered model name or a card path.
        backends: exactly two backend names (Δ is the first minus the second).
        inputs: a batch (one array for a single-input model, or a dict keyed by input name);
            default: the card's golden inputs.
        limit: use at most this many examples.
        input_source: how to describe `inputs` in the report (default: "given").

    Returns:
        The report.

    Raises:
        InputError: not two backends, or inputs that do not fit the card.
        UnknownNameError, BackendUnavailableError, ArtifactError, BackendError: as for :func:`zoo.load`.

    Example:
        >>> report = diff("mlperf_ic01", ["tflm", "tflite"])  # doctest: +SKIP
        >>> report.first_differing.operator, report.first_differing.op  # doctest: +SKIP
        (2, 'CONV_2D')
    """
    if len(backends) != 2:
        raise InputError(f"zoo diff compares two backends; got {len(backends)}: {list(backends)}; give -b A -b B")
    card = zoo.get_card(model)
    aid = _common_artifact(card, backends)
    entry = card.artifact(aid)
    info = read_tflite(artifacts.fetch(card.name, entry, base_dir=registry.card_path(card.name).parent))
    if inputs is None:
        from zoo.conformance.golden import load_golden

        inputs, input_source = load_golden(card).inputs_by_name, "golden vectors"
    feeds = dict(inputs) if isinstance(inputs, Mapping) else {card.tensors(aid)[0][0].name: inputs}
    if limit is not None:
        feeds = {k: v[:limit] for k, v in feeds.items()}
    notes: list[str] = []
    values, layered = [], []
    for name in backends:
        with zoo.load(card.name, backend=name, artifact=aid) as m:
            tensors, exposed = _collect(m, feeds, info, notes)
        values.append(tensors)
        layered.append(exposed)
    layers = _compare(info, (values[0], values[1]), backends, all(layered))
    n = len(next(iter(values[0].values())))
    report = DiffReport(card.name, aid, (backends[0], backends[1]), input_source or "given", n,
                        "layers" if all(layered) else "outputs", layers, notes)
    first = report.first_differing
    if first is not None:
        pair = (values[0][first.tensor], values[1][first.tensor])
        report.first_values, report.divergence = pair, {"tensor": first.tensor, **divergence_map(*pair)}
    return report

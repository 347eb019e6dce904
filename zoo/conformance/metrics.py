"""How far a backend's outputs are from the reference's, in the steps of each output tensor.

A step is :attr:`zoo.card.TensorSpec.step` of the *reference's* output: one integer step of an
int8/uint8 output (so Δ is the raw integer difference), one step of the int8 tensor a float
output is dequantized from, or a stated relative step for a float output with no integer
source. Each value is first turned into the real number it stands for (dequantized with its
own tensor's quantization), then into reference steps; so an int8 output compared with an int8
reference gives exact integer differences, and a float artifact's output compared with an int8
reference is measured in the reference's steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from zoo.card import TensorSpec

__all__ = ["Comparison", "compare", "dequantize", "to_steps", "anomaly_scores"]


def dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """The real values a tensor of `spec` stands for (float64)."""
    if spec.dtype == "float32":
        return values.astype(np.float64)
    q = spec.quantization
    return (values.astype(np.float64) - q.zero_point) * q.scale  # type: ignore[union-attr]


def to_steps(values: np.ndarray, spec: TensorSpec, step: float) -> np.ndarray:
    """Values of a tensor of `spec` as integer counts of `step` (int64): round(real / step)."""
    return np.rint(dequantize(values, spec) / step).astype(np.int64)


def anomaly_scores(reconstruction: np.ndarray, out_spec: TensorSpec, inputs: np.ndarray,
                   in_spec: TensorSpec) -> np.ndarray:
    """Per-example anomaly score of an autoencoder: mean squared error of the real-valued reconstruction."""
    rec = dequantize(reconstruction, out_spec).reshape(len(reconstruction), -1)
    x = dequantize(inputs, in_spec).reshape(len(inputs), -1)
    return ((rec - x) ** 2).mean(axis=1)


@dataclass(frozen=True)
class Comparison:
    """Differences between a backend's and the reference's outputs over one set of examples.

    All Δ are in steps of the reference's output tensors (see the module docstring).
    """

    images: int  # examples compared
    max_abs_lsb: int
    mismatch_fraction: float  # share of output elements that differ
    mismatch_gt1_fraction: float  # share that differ by more than one step
    top1_agreement: float | None  # classifiers: share of examples with the same top-1 class
    flips: int  # examples whose top-1 differs
    near_tie_flips: int  # ... where the reference's top two were within one step (a coin toss)
    logits_max_abs_lsb: int | None  # pre-softmax, in logit steps, where the backend exposes them
    anomaly_score_rel_delta: float | None  # autoencoders: max |score - reference score| / reference score
    histogram: dict[int, int]  # |Δ| -> element count

    @property
    def real_disagreements(self) -> int:
        return self.flips - self.near_tie_flips

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"real_disagreements": self.real_disagreements}


def _top2_gap(steps: np.ndarray) -> np.ndarray:
    part = np.sort(steps, axis=1)[:, -2:]
    return part[:, 1] - part[:, 0]


def _logit_delta(logits: np.ndarray | None, reference: np.ndarray | None) -> int | None:
    if logits is None or reference is None:
        return None
    return int(np.abs(logits.astype(np.int64) - reference.astype(np.int64)).max())


def compare(outputs: Mapping[str, np.ndarray], specs: Sequence[TensorSpec], reference: Mapping[str, np.ndarray],
            reference_specs: Sequence[TensorSpec], kind: str, logits: np.ndarray | None = None,
            reference_logits: np.ndarray | None = None, inputs: np.ndarray | None = None,
            input_spec: TensorSpec | None = None) -> Comparison:
    """Compare a batch of outputs with the reference's.

    Args:
        outputs: the backend's outputs by the reference specs' order (``specs[i]`` describes the i-th).
        specs: the backend artifact's output specs (same order and shapes as `reference_specs`).
        reference: the reference's outputs, keyed by ``reference_specs[i].name``.
        reference_specs: the card's output specs.
        kind: "classifier", "autoencoder" or "regression" (:attr:`zoo.card.Card.kind`).
        logits, reference_logits: int8 pre-softmax values of both, where exposed.
        inputs, input_spec: the first input (autoencoders: the anomaly score needs it).

    Returns:
        The comparison.
    """
    deltas, first = [], None
    for spec, ref_spec in zip(specs, reference_specs, strict=True):
        step = ref_spec.step
        ours = to_steps(outputs[spec.name], spec, step)
        ref = to_steps(reference[ref_spec.name], ref_spec, step)
        deltas.append(np.abs(ours - ref).ravel())
        first = first if first is not None else (ours, ref)
    delta = np.concatenate(deltas)
    n = int(first[0].shape[0])
    top1, flips, near = None, 0, 0
    if kind == "classifier":
        ours, ref = first[0].reshape(n, -1), first[1].reshape(n, -1)
        flipped = ours.argmax(1) != ref.argmax(1)
        flips, near = int(flipped.sum()), int((flipped & (_top2_gap(ref) <= 1)).sum())
        top1 = float(1 - flipped.mean())
    score = None
    if kind == "autoencoder" and inputs is not None and input_spec is not None:
        mine = anomaly_scores(outputs[specs[0].name], specs[0], inputs, input_spec)
        theirs = anomaly_scores(reference[reference_specs[0].name], reference_specs[0], inputs, input_spec)
        score = float((np.abs(mine - theirs) / np.maximum(theirs, 1e-12)).max())
    values, counts = np.unique(delta, return_counts=True)
    return Comparison(
        images=n, max_abs_lsb=int(delta.max()), mismatch_fraction=float((delta > 0).mean()),
        mismatch_gt1_fraction=float((delta > 1).mean()), top1_agreement=top1, flips=flips, near_tie_flips=near,
        logits_max_abs_lsb=_logit_delta(logits, reference_logits), anomaly_score_rel_delta=score,
        histogram={int(v): int(c) for v, c in zip(values, counts, strict=True)},
    )

"""How far a backend's outputs are from the reference's, in the int8 steps that produced them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from zoo.card import Quantization

__all__ = ["Comparison", "compare", "to_steps"]


def to_steps(values: np.ndarray, quant: Quantization) -> np.ndarray:
    """Float outputs as integer steps of their int8 source: round(x / scale) (int64)."""
    return np.rint(values.astype(np.float64) / quant.scale).astype(np.int64)


@dataclass(frozen=True)
class Comparison:
    """Differences between a backend's and the reference's outputs over one image set.

    All Δ are in output steps (one step = the int8 scale of the output; 1/256 for a softmax).
    """

    images: int
    max_abs_lsb: int
    mismatch_fraction: float  # share of output elements that differ
    mismatch_gt1_fraction: float  # share that differ by more than one step
    top1_agreement: float  # share of images with the same top-1 class
    flips: int  # images whose top-1 differs
    near_tie_flips: int  # ... where the reference's top two were within one step (a coin toss)
    logits_max_abs_lsb: int | None  # pre-softmax, in logit steps, where the backend exposes them
    histogram: dict[int, int]  # |Δ| -> element count

    @property
    def real_disagreements(self) -> int:
        return self.flips - self.near_tie_flips

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"real_disagreements": self.real_disagreements}


def _top2_gap(steps: np.ndarray) -> np.ndarray:
    part = np.sort(steps, axis=1)[:, -2:]
    return part[:, 1] - part[:, 0]


def compare(outputs: np.ndarray, logits: np.ndarray | None, reference: np.ndarray,
            reference_logits: np.ndarray | None, quant: Quantization) -> Comparison:
    """Compare a batch of outputs with the reference's.

    Args:
        outputs: ``(N, C)`` float outputs of the backend under test.
        logits: its int8 pre-softmax values, or None.
        reference: ``(N, C)`` float outputs of the reference backend on the same inputs.
        reference_logits: the reference's int8 pre-softmax values, or None.
        quant: the int8 quantization the outputs are dequantized from (the card's
            ``output.source_quantization``).

    Returns:
        The comparison.
    """
    ours, ref = to_steps(outputs, quant), to_steps(reference, quant)
    delta = np.abs(ours - ref)
    top_ours, top_ref = outputs.argmax(1), reference.argmax(1)
    flipped = top_ours != top_ref
    near_tie = flipped & (_top2_gap(ref) <= 1)
    values, counts = np.unique(delta, return_counts=True)
    logit_delta = None
    if logits is not None and reference_logits is not None:
        logit_delta = int(np.abs(logits.astype(np.int64) - reference_logits.astype(np.int64)).max())
    return Comparison(
        images=int(outputs.shape[0]),
        max_abs_lsb=int(delta.max()),
        mismatch_fraction=float((delta > 0).mean()),
        mismatch_gt1_fraction=float((delta > 1).mean()),
        top1_agreement=float(1 - flipped.mean()),
        flips=int(flipped.sum()),
        near_tie_flips=int(near_tie.sum()),
        logits_max_abs_lsb=logit_delta,
        histogram={int(v): int(c) for v, c in zip(values, counts)},
    )

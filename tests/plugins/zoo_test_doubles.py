"""Deliberately broken backends, registered through the real ``zoo.backends`` entry-point group
(see tests/test_validate.py), to prove that the conformance checks catch them.

Each wraps the conformance reference itself (``tflm``, TensorFlow Lite Micro's interpreter), so
its only difference from the reference's outputs is the one it makes on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from zoo.backends.tflm import TFLMBackend, TFLMRunner

from zoo.backend import LOGITS, Runner


class _Wrapped(Runner):
    def __init__(self, inner: TFLMRunner, output: str, alter) -> None:
        self._inner, self._output, self._alter = inner, output, alter

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self._inner.run(inputs)
        out.pop(LOGITS, None)
        out[self._output] = self._alter(out[self._output])
        return out


class ShiftBackend(TFLMBackend):
    """The reference, with every element of the first output moved up by 2 of its steps."""

    name = "test-shift2"
    summary = "test double: the reference's outputs + 2 steps"

    def load(self, card, artifact, artifact_path, compiled_dir):
        inner = super().load(card, artifact, artifact_path, compiled_dir)
        step = np.float32(card.output.step)  # 1/256 for stmnist_v1's softmax
        return _Wrapped(inner, card.output.name, lambda y: (y + 2 * step).astype(y.dtype))


def _flip_every_tenth(step: float):
    def flip(y: np.ndarray) -> np.ndarray:
        y = y.copy()
        for i in range(0, len(y), 10):
            order = np.argsort(-y[i], kind="stable")
            y[i, order[1]] = y[i, order[0]] + np.float32(step)  # the runner-up now wins, even on a tie
        return y
    return flip


class FlipBackend(TFLMBackend):
    """The reference, with the runner-up of every tenth example raised one step above the top class."""

    name = "test-flip"
    summary = "test double: the reference with every tenth top-1 flipped"

    def load(self, card, artifact, artifact_path, compiled_dir):
        inner = super().load(card, artifact, artifact_path, compiled_dir)
        return _Wrapped(inner, card.output.name, _flip_every_tenth(card.output.step))


class BrokenBackend(TFLMBackend):
    """Installed and available, but fails to compile every model."""

    name = "test-broken"
    summary = "test double: compilation always fails"

    def compile(self, card, artifact, artifact_path, out_dir):
        from zoo.errors import BackendError

        raise BackendError("test-broken cannot compile anything (deliberately)")

"""Deliberately broken backends, registered through the real ``zoo.backends`` entry-point group
(see tests/test_validate.py), to prove that the conformance checks catch them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from zoo.backends.tflite import TFLiteBackend, TFLiteRunner

from zoo.backend import LOGITS, Runner


class _Wrapped(Runner):
    def __init__(self, inner: TFLiteRunner, output: str, alter) -> None:
        self._inner, self._output, self._alter = inner, output, alter

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self._inner.run(inputs)
        out.pop(LOGITS, None)
        out[self._output] = self._alter(out[self._output])
        return out


class ShiftBackend(TFLiteBackend):
    """The reference, with every output moved up by 2 output steps (2/256)."""

    name = "test-shift2"

    def load(self, card, artifact, artifact_path, compiled_dir):
        inner = super().load(card, artifact, artifact_path, compiled_dir)
        return _Wrapped(inner, card.output.name, lambda y: (y + np.float32(2 / 256)).astype(np.float32))


def _flip_every_tenth(y: np.ndarray) -> np.ndarray:
    y = y.copy()
    for i in range(0, len(y), 10):
        order = np.argsort(-y[i], kind="stable")
        y[i, order[1]] = y[i, order[0]] + np.float32(1 / 256)  # the runner-up now wins, even on a tie
    return y


class FlipBackend(TFLiteBackend):
    """The reference, with the runner-up of every tenth image raised one step above the top class."""

    name = "test-flip"

    def load(self, card, artifact, artifact_path, compiled_dir):
        inner = super().load(card, artifact, artifact_path, compiled_dir)
        return _Wrapped(inner, card.output.name, _flip_every_tenth)

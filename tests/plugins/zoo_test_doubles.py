"""Deliberately broken backends, registered through the real ``zoo.backends`` entry-point group
(see tests/test_validate.py), to prove that the conformance checks catch them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from zoo.backends.tflite import TFLiteBackend, TFLiteRunner
from zoo.backends.tflm import TFLMBackend, TFLMRunner

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


# --- zoo diff: TensorFlow Lite Micro running a model with one layer's requantization off by one step ---

def nudge_bias(data: bytes, operator: int) -> bytes:
    """The model with operator `operator`'s bias raised by one output step per channel.

    One output step of a conv/FC is out_scale / (in_scale * weight_scale[c]) in bias units (the bias
    is int32 at in_scale * weight_scale), so every output that is not clamped moves up by ~1 step:
    the layer's requantization is off by one, and only that layer is wrong.
    """
    from zoo.tflite_edit import edit_tflite

    def change(model) -> None:
        graph = model.subgraphs[0]
        op = graph.operators[operator]
        x, w, b = (graph.tensors[int(i)] for i in op.inputs[:3])
        y = graph.tensors[int(op.outputs[0])]
        steps = np.rint(y.quantization.scale[0] / (x.quantization.scale[0] * np.asarray(w.quantization.scale)))
        buffer = model.buffers[b.buffer]
        bias = np.frombuffer(bytes(bytearray(buffer.data)), "<i4") + steps.astype(np.int64)
        buffer.data = np.frombuffer(bias.astype("<i4").tobytes(), np.uint8)

    return edit_tflite(data, change)


class NudgedTFLMBackend(TFLMBackend):
    """TFLM on the card's model with operator ``OPERATOR``'s requantization one step off (see `nudge_bias`)."""

    OPERATOR = 3

    def cache_key(self) -> str:
        return f"{super().cache_key()}-nudged-op{self.OPERATOR}"

    def compile(self, card, artifact, artifact_path, out_dir):
        (out_dir / "nudged.tflite").write_bytes(nudge_bias(artifact_path.read_bytes(), self.OPERATOR))

    def load(self, card, artifact, artifact_path, compiled_dir):
        return TFLMRunner(card, compiled_dir / "nudged.tflite")


class NudgedConv3(NudgedTFLMBackend):
    name = "test-nudge-op3"
    OPERATOR = 3  # stmnist_v1: the second CONV_2D (16 -> 32 channels)


class NudgedFC7(NudgedTFLMBackend):
    name = "test-nudge-op7"
    OPERATOR = 7  # stmnist_v1: the FULLY_CONNECTED before the softmax


class OutputsOnlyTFLMBackend(TFLMBackend):
    """TFLM whose runner keeps the default Runner.intermediates (no intermediates): outputs only."""

    name = "test-outputs-only"

    def load(self, card, artifact, artifact_path, compiled_dir):
        return _OutputsOnly(super().load(card, artifact, artifact_path, compiled_dir))


class _OutputsOnly(Runner):
    def __init__(self, inner: Runner) -> None:
        self._inner = inner

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._inner.run(inputs)

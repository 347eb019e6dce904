"""Deliberately altered backends for `zoo diff` (tests/test_diff.py), registered through the real
``zoo.backends`` entry-point group: TensorFlow Lite Micro running a model with one layer's
requantization one step off, and TFLM behind a runner that exposes only outputs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from zoo.backends.tflm import TFLMBackend, TFLMRunner

from zoo.backend import Runner


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

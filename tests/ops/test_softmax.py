"""SOFTMAX with int8 output (TFLM's integer reference), host build bit-exact with TFLM: after a
FULLY_CONNECTED, straight on an input of wide range, over the last axis of a 2-D tensor."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _dense_softmax(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Softmax()(keras.layers.Dense(10, kernel_initializer=keras.initializers.RandomNormal(stddev=2))(x[0]))


def _softmax(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Softmax()(x[0])


CASES = [
    Case("dense_softmax", [(16,)], _dense_softmax),
    Case("wide", [(12,)], _softmax, spread=(6.0,)),
    Case("narrow", [(5,)], _softmax, spread=(0.2,)),
    Case("rows", [(3, 7)], _softmax, spread=(2.0,)),
]


def test_softmax_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("softmax", CASES), tmp_path)
    assert meta["ops"].count("SOFTMAX") == 4

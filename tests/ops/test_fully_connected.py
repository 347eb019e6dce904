"""FULLY_CONNECTED, host build bit-exact with TFLM: with and without activation, chains, without
bias, after a flatten (RESHAPE), an int8 output with no SOFTMAX after it."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _dense(*units, act=None, **kw):  # noqa: ANN001, ANN202
    def build(keras, tf, x):  # noqa: ANN001, ANN202
        y = x[0]
        for u in units:
            y = keras.layers.Dense(u, activation=act, **kw)(y)
        return y
    return build


def _flatten_dense(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Dense(6, activation="relu")(keras.layers.Flatten()(x[0]))


CASES = [
    Case("relu", [(20,)], _dense(16, act="relu")),
    Case("noact", [(33,)], _dense(7)),
    Case("chain", [(64,)], _dense(32, 24, 8, act="relu")),
    Case("no_bias", [(12,)], _dense(10, use_bias=False)),
    Case("flatten", [(2, 3, 4)], _flatten_dense),
]


def test_fully_connected_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("fully_connected", CASES), tmp_path)
    assert meta["ops"].count("FULLY_CONNECTED") == 7 and "RESHAPE" in meta["ops"]

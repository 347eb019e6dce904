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
    Case("rows", [(3, 32)], _dense(8)),  # three input rows
]
# Per-tensor weights (TFLM's exact one-step requantization, zoo_rq_exact): 64->32, 32->24, the 3 rows of
# 32->8 and 16->4 (one pass of the asm loop, one block) take zoo_fc_s8_exact, 24->8, 20->16 and 33->7 zoo_fc_s8.
PER_TENSOR = [
    Case("chain", [(64,)], _dense(32, 24, 8, act="relu")),
    Case("rows", [(3, 32)], _dense(8)),
    Case("smallest", [(16,)], _dense(4)),
    Case("relu", [(20,)], _dense(16, act="relu")),
    Case("noact", [(33,)], _dense(7)),
]


def test_fully_connected_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("fully_connected", CASES), tmp_path)
    assert meta["ops"].count("FULLY_CONNECTED") == 8 and "RESHAPE" in meta["ops"]


def test_fully_connected_per_tensor_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    assert_host_bit_exact(op_models.model("fully_connected", PER_TENSOR, per_tensor_dense=True), tmp_path)
    assert_exact_kernels(tmp_path / "lib")


def assert_exact_kernels(lib) -> None:  # noqa: ANN001
    """The per-tensor layers whose shapes allow it call zoo_fc_s8_exact, the others zoo_fc_s8."""
    calls = (lib / "m_model.c").read_text()
    assert calls.count("zoo_fc_s8_exact(") == 4 and calls.count("zoo_fc_s8(") == 3, calls

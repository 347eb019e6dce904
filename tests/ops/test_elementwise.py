"""ADD and MUL, host build bit-exact with TFLM: inputs of different scales and zero points, fused
RELU, a residual branch (a tensor read by two operators), an ADD large enough to tabulate its input
terms, MUL of two inputs."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _add_relu(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.ReLU()(keras.layers.Add()([x[0], x[1]]))


def _add(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Add()([x[0], x[1]])


def _residual(keras, tf, x):  # noqa: ANN001, ANN202
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x[0])
    y = keras.layers.Conv2D(4, 3, padding="same")(y)
    return keras.layers.ReLU()(keras.layers.Add()([x[0], y]))


def _mul(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Multiply()([x[0], x[1]])


CASES = [
    Case("add_relu_scales", [(6, 6, 4), (6, 6, 4)], _add_relu, spread=(1.0, 5.0)),
    Case("add_plain", [(40,), (40,)], _add, spread=(0.3, 2.0)),
    # 2,048 elements: zoo_add_s8 tabulates both inputs' terms (operators/elementwise.py LUT_FROM)
    Case("add_tabulated", [(16, 16, 8), (16, 16, 8)], _add_relu, spread=(0.5, 4.0)),
    Case("residual", [(6, 6, 4)], _residual),
    Case("mul", [(5, 5, 3), (5, 5, 3)], _mul, spread=(1.0, 3.0)),
]


def test_add_mul_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("elementwise", CASES), tmp_path)
    assert meta["ops"].count("ADD") == 4 and meta["ops"].count("MUL") == 1

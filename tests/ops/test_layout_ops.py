"""PAD, CONCATENATION, RESHAPE and standalone RELU / RELU6, host build bit-exact with TFLM (the
converter requantizes CONCATENATION inputs with int8 -> int8 QUANTIZE where their scales differ)."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _pad(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 2], [0, 1], [0, 0]]))(x[0])


def _pad_conv(keras, tf, x):  # noqa: ANN001, ANN202
    y = keras.layers.ZeroPadding2D(((2, 1), (1, 1)))(x[0])
    return keras.layers.Conv2D(4, 3, strides=2, activation="relu")(y)


def _concat(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Concatenate(axis=-1)([x[0], x[1]])


def _reshape(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Reshape((6, 4))(x[0])


def _relu(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.ReLU()(x[0])


def _relu6(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.ReLU(6.0)(x[0])


CASES = [
    Case("pad", [(5, 4, 3)], _pad),
    Case("pad_conv", [(8, 8, 2)], _pad_conv),
    Case("concat", [(4, 4, 3), (4, 4, 5)], _concat, spread=(1.0, 4.0)),
    Case("reshape", [(2, 3, 4)], _reshape),
    Case("relu", [(30,)], _relu, spread=(3.0,)),
    Case("relu6", [(30,)], _relu6, spread=(8.0,)),
]


def test_pad_concat_reshape_relu_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("layout", CASES), tmp_path)
    for op in ("PAD", "CONCATENATION", "RESHAPE", "RELU", "RELU6"):
        assert op in meta["ops"], f"{op} not in the generated model: {meta['ops']}"

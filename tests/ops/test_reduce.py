"""MEAN and REDUCE_MAX, host build bit-exact with TFLM: global average pooling with and without
keep_dims, max over H and W, max over channels."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _gap(keepdims):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: keras.layers.GlobalAveragePooling2D(keepdims=keepdims)(x[0])


def _max(axis, keepdims):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: keras.layers.Lambda(lambda t: tf.reduce_max(t, axis=axis, keepdims=keepdims))(x[0])


CASES = [
    Case("gap", [(7, 7, 6)], _gap(False)),
    Case("gap_keep", [(5, 3, 8)], _gap(True)),
    Case("max_hw", [(6, 4, 5)], _max([1, 2], False)),
    Case("max_c", [(4, 4, 6)], _max(-1, True)),
]


def test_mean_reduce_max_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("reduce", CASES), tmp_path)
    assert meta["ops"].count("MEAN") == 2 and meta["ops"].count("REDUCE_MAX") == 2

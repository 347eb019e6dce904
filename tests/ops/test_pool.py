"""AVERAGE_POOL_2D and MAX_POOL_2D, host build bit-exact with TFLM: windows, strides, VALID and
SAME (averages over fewer cells at the border), kws's 25x5 window."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _pool(kind, size, **kw):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: getattr(keras.layers, kind)(size, **kw)(x[0])


CASES = [
    Case("avg2_valid", [(8, 8, 4)], _pool("AveragePooling2D", 2)),
    Case("avg3_s2_same", [(9, 9, 3)], _pool("AveragePooling2D", 3, strides=2, padding="same")),
    Case("avg_25x5", [(25, 5, 8)], _pool("AveragePooling2D", (25, 5))),
    Case("avg_3x2_s1_same", [(5, 7, 2)], _pool("AveragePooling2D", (3, 2), strides=1, padding="same")),
    Case("max2", [(8, 8, 4)], _pool("MaxPooling2D", 2)),
    Case("max3_s2_same", [(9, 9, 3)], _pool("MaxPooling2D", 3, strides=2, padding="same")),
]


def test_pool_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("pool", CASES), tmp_path)
    assert meta["ops"].count("AVERAGE_POOL_2D") == 4 and meta["ops"].count("MAX_POOL_2D") == 2

"""QUANTIZE (float32 -> int8, uint8 -> int8) and DEQUANTIZE (int8 -> float32) at the model's edges,
host build bit-exact with TFLM, and the library's tensors in the model's own dtypes."""

from __future__ import annotations

import pytest
from opmodels import Case, assert_host_bit_exact


def _conv(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Conv2D(3, 3, padding="same")(x[0])


def _dense(keras, tf, x):  # noqa: ANN001, ANN202
    return keras.layers.Dense(5)(x[0])


CASES = [Case("conv", [(6, 6, 2)], _conv, spread=(3.0,)), Case("dense", [(9,)], _dense)]


@pytest.mark.parametrize(("in_type", "out_type"), [("float32", "float32"), ("uint8", "int8"), ("int8", "float32")])
def test_quantize_dequantize_bit_exact(op_models, tmp_path, in_type: str, out_type: str) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("quantize", CASES, in_type, out_type), tmp_path)
    assert {t["dtype"] for t in meta["io"]["inputs"]} == {in_type}
    assert {t["dtype"] for t in meta["io"]["outputs"]} == {out_type}
    if in_type != "int8":
        assert "QUANTIZE" in meta["ops"]
    if out_type == "float32":
        assert "DEQUANTIZE" in meta["ops"]

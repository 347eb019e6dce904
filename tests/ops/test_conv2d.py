"""CONV_2D and DEPTHWISE_CONV_2D, host build bit-exact with TFLM: strides, SAME with asymmetric
padding, VALID, non-square kernels, one input channel, odd channel counts, no activation (negative
rounding ties), RELU / RELU6, depth multiplier 2, without bias."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _conv(filters, kernel, **kw):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: keras.layers.Conv2D(filters, kernel, **kw)(x[0])


def _dw(kernel, **kw):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: keras.layers.DepthwiseConv2D(kernel, **kw)(x[0])


CONV = [
    Case("same3_relu", [(9, 9, 3)], _conv(8, 3, padding="same", activation="relu")),
    Case("kws_10x4_s2_same", [(13, 10, 1)], _conv(6, (10, 4), strides=2, padding="same", activation="relu")),
    Case("valid_5x3_s21_noact", [(11, 9, 5)], _conv(7, (5, 3), strides=(2, 1), padding="valid")),
    Case("one_by_one_s2", [(8, 8, 6)], _conv(10, 1, strides=2)),
    Case("gray_c1", [(11, 11, 1)], _conv(8, 3, padding="same", activation="relu")),
    Case("relu6_odd", [(7, 7, 3)], _conv(5, 3, padding="same", activation="relu6")),
    Case("wide16", [(6, 6, 16)], _conv(16, 3, padding="same", activation="relu")),
    Case("no_bias", [(6, 5, 4)], _conv(4, (2, 3), padding="same", use_bias=False)),
]

DEPTHWISE = [
    Case("dw3_same_relu", [(9, 9, 8)], _dw(3, padding="same", activation="relu")),
    Case("dw3_s2_same", [(9, 9, 8)], _dw(3, strides=2, padding="same")),
    Case("dw_mult2_relu6", [(7, 7, 3)], _dw(3, padding="same", depth_multiplier=2, activation="relu6")),
    Case("dw5_valid_noact", [(9, 9, 4)], _dw(5, padding="valid")),
    Case("dw_odd_channels", [(8, 8, 5)], _dw(3, padding="same", activation="relu")),
    Case("dw_2x4_s2", [(10, 9, 4)], _dw((2, 4), strides=2, padding="same", activation="relu")),
]

#: Shapes for the Helium kernels' loops: 16-tap groups with and without a tail, 16-channel groups of
#: the depthwise kernel with a 4-channel and a partial remainder, an output pixel count % 4 != 0.
MVE = [
    Case("mve_1x1_c32", [(5, 3, 32)], _conv(24, 1, activation="relu")),
    Case("mve_3x3_c16_s2", [(9, 7, 16)], _conv(12, 3, strides=2, padding="same")),
    Case("mve_dw_c22", [(7, 6, 22)], _dw(3, padding="same")),
    Case("mve_dw_c32_s2", [(7, 8, 32)], _dw(3, strides=2, padding="same", activation="relu")),
]

def test_conv2d_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("conv2d", CONV), tmp_path)
    assert meta["ops"].count("CONV_2D") == len(CONV)
    calls = (tmp_path / "lib" / "m_model.c").read_text()
    for fn in ("zoo_conv2d_s8_c1(", "zoo_conv2d_s8(", "zoo_conv2d_s8_fast_w"):
        assert fn in calls, f"{fn} not exercised"


def test_depthwise_conv2d_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("depthwise", DEPTHWISE), tmp_path)
    assert meta["ops"].count("DEPTHWISE_CONV_2D") == len(DEPTHWISE)
    calls = (tmp_path / "lib" / "m_model.c").read_text()
    for fn in ("zoo_dwconv_s8_3x3(", "zoo_dwconv_s8("):
        assert fn in calls, f"{fn} not exercised"


def test_helium_layouts_in_portable_c_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    """A library laid out for the M55 (layout_mve: per-channel records, the depthwise channel order) built for
    another core stays correct: the _mve kernels' portable C reads the same arrays."""
    path = op_models.model("mve_convolutions", [*CONV, *DEPTHWISE, *MVE])
    assert_host_bit_exact(path, tmp_path, mve=True)
    calls = (tmp_path / "lib" / "m_model.c").read_text()
    assert "zoo_conv2d_s8_mve(" in calls and "zoo_dwconv_s8_mve(" in calls

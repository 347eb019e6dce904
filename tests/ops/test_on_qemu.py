"""Every operator family on the emulated Cortex-M7 (the DSP kernels), bit-exact with TFLM: all
int8 cases side by side in one model, so one firmware run covers them (plus one run with float32
and uint8 edges); the Helium (MVE) kernels on the emulated Cortex-M55."""

from __future__ import annotations

import shutil

import pytest
import test_conv2d
import test_elementwise
import test_fully_connected
import test_layout_ops
import test_logistic_tanh
import test_pool
import test_quantize
import test_reduce
import test_softmax
from opmodels import assert_qemu_bit_exact

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs arm-none-eabi-gcc and qemu-system-arm")]

ALL_INT8 = [*test_conv2d.CONV, *test_conv2d.DEPTHWISE, *test_fully_connected.CASES, *test_pool.CASES,
            *test_elementwise.CASES, *test_softmax.CASES, *test_reduce.CASES, *test_layout_ops.CASES,
            *test_logistic_tanh.CASES]


def test_all_operators_on_qemu(op_models, tmp_path) -> None:  # noqa: ANN001
    assert_qemu_bit_exact(op_models.model("all_ops", ALL_INT8), tmp_path, n=24)


@pytest.mark.parametrize("target", ["cortexm7", "cortexm4"])
def test_depthwise_rows_kernel_on_qemu(op_models, tmp_path, target) -> None:  # noqa: ANN001
    """zoo_dwconv_s8_rows' asm (the DSP tier) on every DW_ROWS shape, bit-exact with TFLM."""
    assert_qemu_bit_exact(op_models.model("dw_rows", test_conv2d.DW_ROWS), tmp_path, n=24, target=target)
    assert (tmp_path / "lib" / "m_model.c").read_text().count("zoo_dwconv_s8_rows(") == test_conv2d.DW_ROWS_LAYERS


@pytest.mark.parametrize("target", ["cortexm7", "cortexm55"])
def test_convolutions_over_their_inputs_on_qemu(op_models, tmp_path, target, monkeypatch) -> None:  # noqa: ANN001
    """The DSP asm (1x1 and 3x3 blocks, pairs) and the Helium kernels writing their output over their
    dying input (test_conv2d.OVERLAP, every layer that can), bit-exact with TFLM."""
    path = op_models.model("overlap", test_conv2d.OVERLAP)
    assert len(test_conv2d.overlap_plan(path, monkeypatch)[2]) == test_conv2d.OVERLAP_NESTED
    assert_qemu_bit_exact(path, tmp_path, n=24, target=target)


@pytest.mark.parametrize("target", ["cortexm7", "cortexm0", "cortexm55"])
def test_fully_connected_per_tensor_on_qemu(op_models, tmp_path, target) -> None:  # noqa: ANN001
    """Per-tensor FULLY_CONNECTED: zoo_fc_s8_exact (the asm loop on the DSP, MVE blocks on the M55, zoo_fc_s8
    in portable C on the M0) and zoo_rq_exact in zoo_fc_s8 for the shapes zoo_fc_s8_exact does not take."""
    path = op_models.model("fully_connected", test_fully_connected.PER_TENSOR, per_tensor_dense=True)
    assert_qemu_bit_exact(path, tmp_path, n=24, target=target)
    test_fully_connected.assert_exact_kernels(tmp_path / "lib")


def test_fully_connected_helium_on_qemu(op_models, tmp_path) -> None:  # noqa: ANN001
    """The M55's MVE FULLY_CONNECTED path (VLD4 + VMLADAVA over blocks of 4 rows): whole blocks of 16
    inputs, leftover groups of 4 (20 and 24 inputs), leftover rows (10 and 6 outputs), no DSP fallback."""
    assert_qemu_bit_exact(op_models.model("fully_connected", test_fully_connected.CASES), tmp_path,
                          n=24, target="cortexm55")


def test_convolutions_helium_on_qemu(op_models, tmp_path) -> None:  # noqa: ANN001
    """The M55's MVE CONV_2D and DEPTHWISE_CONV_2D (layout_mve): taps not a multiple of 16 (VCTP tails),
    pixel counts not a multiple of 4, channel counts not a multiple of 4 or 16 (and of 16: the asm step on
    every pixel, windows over the border at offsets from the input), padding, strides, no
    activation (negative rounding ties), RELU6, pruned (all-zero) channels kept as constants, the
    one-channel 3x3, left shifts; both CONV_2D entry points (zoo_conv2d_s8_mve_rq: the records and int8
    shifts; zoo_conv2d_s8_mve: the pruned and left-shift layers); depth multiplier 2 stays on the DSP
    kernel."""
    path = op_models.model("mve_convolutions", [*test_conv2d.CONV, *test_conv2d.DEPTHWISE, *test_conv2d.MVE])
    assert_qemu_bit_exact(path, tmp_path, n=24, target="cortexm55")
    calls = (tmp_path / "lib" / "m_model.c").read_text()
    mve_dw = sum(case.name.startswith("mve_dw") for case in test_conv2d.MVE)
    general, records = calls.count("zoo_conv2d_s8_mve("), calls.count("zoo_conv2d_s8_mve_rq(")
    assert general + records == len(test_conv2d.CONV) + len(test_conv2d.MVE) - mve_dw
    assert general == test_conv2d.PRUNED_MVE + test_conv2d.LSHIFT_MVE
    # the left shifts are there: the conv case and the depthwise one (which the fast entry cannot take)
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model

    left = [layer.depthwise for layer in lower_model(path).layers
            if layer.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and max(layer.shifts) > 0]
    assert sorted(left) == [False] * test_conv2d.LSHIFT_MVE + [True]
    assert (tmp_path / "lib" / "m_weights.c").read_text().count("_fill[") == test_conv2d.PRUNED_MVE
    fast, general = calls.count("zoo_dwconv_s8_mve_fast("), calls.count("zoo_dwconv_s8_mve(")
    fast8 = calls.count("zoo_dwconv_s8_mve_fast8(")
    assert fast + fast8 + general == len(test_conv2d.DEPTHWISE) - 1 + mve_dw
    # every entry point runs: multiples of 8 channels (24, 32, 8), 8 at stride 1 (two pixels a block), 22, 4
    assert fast >= 3 and fast8 >= 1 and general >= 2
    assert "zoo_conv2d_s8_c1(" not in calls and "zoo_dwconv_s8(" in calls


def test_float_and_uint8_edges_on_qemu(op_models, tmp_path) -> None:  # noqa: ANN001
    assert_qemu_bit_exact(op_models.model("quantize", test_quantize.CASES, "float32", "float32"), tmp_path / "f")
    assert_qemu_bit_exact(op_models.model("quantize", test_quantize.CASES, "uint8", "int8"), tmp_path / "u")

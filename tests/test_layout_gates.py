"""The int8 layouts' gates: a layer reaches a fast kernel only when the kernel's 32-bit arithmetic is exact.

``zoo_conv2d_s8_fast`` / ``zoo_dwconv_s8_3x3`` build ``zoo_rq_mm``'s rounding constant
``(2 zp + 1) << (e - 1)`` in a 32-bit register; with e = 25 and zp = -128 it overflows while the
single-step half ``2^(e-2) + zp 2^(e-1)`` still fits, so that check alone let the layer through and the
kernel returned 0 where TFLM returns -128.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from zoo.backends.tvm_cortexm7.int8 import layout


def _layer_and_data(e: int, zp: int) -> tuple[SimpleNamespace, layout.KernelData]:
    layer = SimpleNamespace(kernel=(3, 3), depthwise=False, in_hwc=(8, 8, 4), out_zp=zp, act_min=-128, act_max=127)
    mult, shift = np.full(2, 1 << 30, np.int32), np.full(2, -e, np.int32)
    data = layout.KernelData(np.zeros(72, np.int8), np.zeros(2, np.int32), mult, shift,
                             rq=layout.single_step_requant(mult, shift, zp), flags=layout.FLAG_FULL8)
    return layer, data


@pytest.mark.parametrize(("e", "zp", "fast"), [(24, -128, True), (25, -128, False), (25, 63, True),
                                               (25, 64, False), (31, 0, True), (31, 1, False)])
def test_packed_kernels_only_where_the_rounding_constant_fits_32_bits(e: int, zp: int, fast: bool) -> None:
    layer, data = _layer_and_data(e, zp)
    assert data.rq is not None  # the single-step check alone would have let every case through
    assert layout.packable(layer, data) is fast
    assert (abs(2 * zp + 1) << (e - 1) < 2**31) is fast


@pytest.mark.parametrize(("channels", "kernel", "flags", "fast"), [
    (16, (3, 3), 128, True), (8, (3, 3), 128, True), (24, (1, 1), 128, True), (8, (3, 3), 128 | 16, True),
    (8, (5, 5), 128, False), (8, (2, 5), 128, False), (12, (3, 3), 128, False), (4, (3, 3), 128, False),
    (16, (3, 3), 0, False)])
def test_helium_depthwise_fast_entry_only_for_the_asm_paths_layers(channels: int, kernel: tuple[int, int], flags: int,
                                                                   fast: bool) -> None:
    """zoo_dwconv_s8_mve_fast traps unless ZOO_CONV_RSHIFT, in_c % 8 == 0 and k_h * k_w <= 9
    (kernels/zoo_int8_dwconv_mve.c): the generator picks it exactly for those layers."""
    from zoo.backends.tvm_cortexm7.int8.layout_mve import FLAG_RSHIFT, dw_fast
    from zoo.backends.tvm_cortexm7.int8.operators.conv2d import Conv2D

    assert FLAG_RSHIFT == 128
    layer = Conv2D("dw", 0, [], [], depthwise=True, in_hwc=(6, 6, channels), kernel=kernel)
    assert dw_fast(layer, flags) is fast


@pytest.mark.parametrize(("shifts", "ok"), [([0, -31], True), ([-5, -12], True), ([1, -3], False), ([-32, 0], False)])
def test_helium_records_hold_only_right_shifts_that_fit_a_byte(shifts: list[int], ok: bool) -> None:
    """zoo_conv2d_s8_mve_rq reads {bias, mult} records and the shifts as int8 (LDRSB into VRSHL): a left
    shift or one past -31 is refused, never stored wrapped."""
    from zoo.backends.tvm_cortexm7.int8.layout_mve import records

    from zoo.errors import BackendError

    bias, mult, shift = np.array([7, -9], np.int32), np.array([1 << 30, (1 << 31) - 1], np.int32), np.array(shifts)
    if not ok:
        with pytest.raises(BackendError, match="outside"):
            records(bias, mult, shift)
        return
    rq, sh8 = records(bias, mult, shift)
    assert rq.tolist() == [7, 1 << 30, -9, (1 << 31) - 1] and sh8.dtype == np.int8 and sh8.tolist() == shifts


def test_helium_pruned_channels_stay_constants_whatever_their_own_shift() -> None:
    """A pruned (all-zero) channel's own shift is never applied: a convolution whose live channels all shift
    right keeps its pruned channels as constants (ZOO_CONV_CONST, the live channels' records and shifts),
    even where a pruned channel's shift is a left shift."""
    from zoo.backends.tvm_cortexm7.int8.layout_mve import emit_conv
    from zoo.backends.tvm_cortexm7.int8.operators.conv2d import Conv2D, _decl_mve

    w = np.ones((3, 1, 1, 4), np.int8)
    w[1] = 0
    layer = Conv2D("c", 0, ["x"], ["y"], in_hwc=(2, 2, 4), out_hwc=(2, 2, 3), weights=w,
                   bias=np.array([5, 9, -3], np.int32), multipliers=[1 << 30] * 3, shifts=[-3, 4, -2])
    arrays: dict[str, np.ndarray] = {}

    def array(name: str, values: np.ndarray) -> str:
        arrays[name] = np.asarray(values)
        return name

    decls: list[str] = []
    em = SimpleNamespace(array=array, decl=decls.append, ptr=lambda name: name, scratch=lambda i: "s")
    call = emit_conv(layer, em, 0, _decl_mve)
    assert call.startswith("zoo_conv2d_s8_mve(") and "l0_shift" not in arrays
    assert ", 1, 144, " in decls[0]  # depth multiplier 1, flags ZOO_CONV_RSHIFT | ZOO_CONV_CONST
    assert arrays["l0_fill"].tolist() == [0, 72, 0]  # TFLM's 9 x 2^4 x 2^30 / 2^31 for the pruned channel
    assert arrays["l0_sh"].tolist() == [-3, 0, -2] and arrays["l0_w"].size == 8
    assert arrays["l0_rec"].tolist()[:5] == [2, 0, 1, 2, 1]  # two runs of one live channel each


@pytest.mark.parametrize(("in_hw", "out_hw", "pad", "block"), [
    ((6, 7), (6, 7), (1, 1), True),   # SAME
    ((6, 7), (4, 5), (0, 0), True),   # VALID
    ((6, 7), (8, 9), (2, 2), False),  # two rows / columns of padding on every side (explicit padding)
    ((6, 7), (6, 8), (1, 1), False),  # two columns on the right
    ((6, 7), (7, 7), (2, 1), False),  # two rows on top
])
def test_3x3_window_kernel_only_for_same_or_valid_padding(in_hw: tuple[int, int], out_hw: tuple[int, int],
                                                          pad: tuple[int, int], block: bool) -> None:
    """zoo_conv2d_s8_3x3 is taken with SAME or VALID padding (at most one padded row / column per side, what
    tests/ops runs on QEMU); a layer with more padding takes the pair kernel instead."""
    from zoo.backends.tvm_cortexm7.int8.operators.conv2d import Conv2D

    rng = np.random.default_rng(0)
    layer = Conv2D("c", 0, ["x"], ["y"], in_hwc=(*in_hw, 8), out_hwc=(*out_hw, 4), kernel=(3, 3), pad=pad,
                   weights=rng.integers(-127, 128, (4, 3, 3, 8)).astype(np.int8), bias=np.zeros(4, np.int32),
                   multipliers=np.full(4, 1 << 30, np.int32), shifts=np.full(4, -8, np.int32), out_zp=-128)
    assert (layout.conv3x3(layer, layout.conv_data(layer)) is not None) is block


def _depthwise(in_hwc: tuple[int, int, int], out_hwc: tuple[int, int, int], stride: tuple[int, int],
               pad: tuple[int, int]):  # noqa: ANN202
    from zoo.backends.tvm_cortexm7.int8.operators.conv2d import Conv2D

    c = in_hwc[2]
    rng = np.random.default_rng(1)
    return Conv2D("d", 0, ["x"], ["y"], depthwise=True, in_hwc=in_hwc, out_hwc=out_hwc, kernel=(3, 3), stride=stride,
                  pad=pad, weights=rng.integers(-127, 128, (3, 3, c)).astype(np.int8), bias=np.zeros(c, np.int32),
                  multipliers=[1 << 30] * c, shifts=[-8] * c, out_zp=-128)


@pytest.mark.parametrize(("in_hwc", "out_hwc", "stride", "pad", "rows"), [
    ((14, 14, 16), (14, 14, 16), (1, 1), (1, 1), True),   # SAME
    ((14, 14, 32), (7, 7, 32), (2, 2), (0, 0), True),     # SAME at stride 2: the padding after
    ((9, 9, 8), (5, 5, 8), (2, 2), (1, 1), True),         # a padding row and column in front
    ((9, 9, 8), (9, 9, 8), (3, 1), (1, 1), True),         # any row stride
    ((9, 9, 8), (9, 3, 8), (1, 3), (1, 1), False),        # column stride 3
    ((9, 9, 8), (10, 9, 8), (1, 1), (2, 1), False),       # two padding rows on top (explicit padding)
    ((9, 9, 6), (9, 9, 6), (1, 1), (1, 1), False),        # channels not a multiple of 4
])
def test_depthwise_rows_kernel_gate(in_hwc, out_hwc, stride, pad, rows: bool) -> None:  # noqa: ANN001
    """zoo_dwconv_s8_rows takes 3x3 depthwise layers of column stride 1 or 2, at most one padding row on
    top, channels % 4 == 0 (and the packed streams' exact requantization)."""
    layer = _depthwise(in_hwc, out_hwc, stride, pad)
    assert layout.dw_rows_applies(layer, layout.conv_data(layer)) is rows


def test_depthwise_rows_kernel_in_place_only_where_output_rows_trail_the_reads() -> None:
    """The rows kernel writes its output over its input only in one pass (each input row read once into
    the ring) and only where every output row ends before the first input row not yet read."""
    from zoo.backends.tvm_cortexm7.int8.operators.conv2d import rows_in_place

    for shapes in [((14, 14, 16), (14, 14, 16), (1, 1), (1, 1)), ((14, 14, 32), (7, 7, 32), (2, 2), (0, 0)),
                   ((9, 9, 8), (7, 7, 8), (1, 1), (0, 0))]:
        layer = _depthwise(*shapes)
        assert rows_in_place(layer)
        layer.dw_chunk = layer.in_hwc[2]
        assert layer.in_place and layer.in_place_smaller
        layer.dw_chunk = 4  # a chunk a pass: the input is read again by the next chunk
        assert not layer.in_place
        layer.dw_chunk = 0  # another kernel
        assert not layer.in_place
    # SAME / VALID shapes always pass; an output taller than its input (which TFLite's SAME / VALID do not
    # give) shows the condition at work: its last row would overwrite input not yet read
    tall = _depthwise((2, 3, 4), (3, 3, 4), (1, 1), (1, 1))
    assert not rows_in_place(tall)


def test_stmnist_v1_plan_runs_its_first_three_layers_on_the_rows_kernel_in_place(mirror) -> None:  # noqa: ANN001
    """The planner puts stmnist_v1's one-channel first convolution and both depthwise layers on
    zoo_dwconv_s8_rows, the depthwise ones in one pass over their input's memory, without growing the
    arena; the 16 -> 32 convolution writes its output over its input, so the arena is 9,728 B (the second
    depthwise layer's input and row buffer), not 9,984 (that convolution's input, output and window)."""
    from zoo.backends.tvm_cortexm7.int8 import plan_graph
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model

    graph = lower_model(mirror / "stmnist_v1" / "stmnist_v1_int8.tflite")
    plan = plan_graph(graph)
    convs = [layer for layer in graph.layers if layer.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert [(layer.dw_chunk, layer.in_place) for layer in convs] == [(1, False), (16, True), (0, False), (32, True),
                                                                     (0, False)]
    assert plan.size == 9728
    conv3 = convs[2]
    assert plan.address(conv3.inputs[0]) - plan.address(conv3.outputs[0]) == 3584  # overlap_bytes
    assert all(plan.address(layer.outputs[0]) == plan.address(layer.inputs[0]) for layer in (convs[1], convs[3]))

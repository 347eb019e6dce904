"""CONV_2D and DEPTHWISE_CONV_2D, host build bit-exact with TFLM: strides, SAME with asymmetric
padding, VALID, non-square kernels, one input channel, odd channel counts, no activation (negative
rounding ties), RELU / RELU6, depth multiplier 2, without bias."""

from __future__ import annotations

from opmodels import Case, assert_host_bit_exact


def _conv(filters, kernel, **kw):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: keras.layers.Conv2D(filters, kernel, **kw)(x[0])


def _pointwise_dead(keras, tf, x):  # noqa: ANN001, ANN202
    """A 1x1 conv whose channel 3 has all-zero weights (a pruned channel: its scale gives TFLM a
    degenerate shift, as in MLPerf vww01) and channel 5 a large bias."""
    layer = keras.layers.Conv2D(8, 1, activation="relu")
    y = layer(x[0])
    w, b = layer.get_weights()
    w[..., 3] = 0.0
    b[3], b[5] = 0.7, 3.0
    layer.set_weights([w, b])
    return y


def _pruned(filters, kernel, dead, bias=0.5, **kw):  # noqa: ANN001, ANN202
    """A conv whose output channels `dead` have all-zero weights (pruned: constants), each with `bias`."""
    def build(keras, tf, x):  # noqa: ANN001, ANN202
        layer = keras.layers.Conv2D(filters, kernel, **kw)
        y = layer(x[0])
        w, b = layer.get_weights()
        w[..., list(dead)] = 0.0
        b[list(dead)] = bias
        layer.set_weights([w, b])
        return y
    return build


def _dw(kernel, **kw):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: keras.layers.DepthwiseConv2D(kernel, **kw)(x[0])


CONV = [
    Case("same3_relu", [(9, 9, 3)], _conv(8, 3, padding="same", activation="relu")),
    Case("kws_10x4_s2_same", [(13, 10, 1)], _conv(6, (10, 4), strides=2, padding="same", activation="relu")),
    Case("valid_5x3_s21_noact", [(11, 9, 5)], _conv(7, (5, 3), strides=(2, 1), padding="valid")),
    Case("one_by_one_s2", [(8, 8, 6)], _conv(10, 1, strides=2)),
    Case("gray_c1", [(11, 11, 1)], _conv(8, 3, padding="same", activation="relu")),  # zoo_dwconv_s8_rows
    Case("gray_c1_2x3", [(9, 8, 1)], _conv(6, (2, 3), padding="same", activation="relu")),  # zoo_conv2d_s8_c1
    Case("relu6_odd", [(7, 7, 3)], _conv(5, 3, padding="same", activation="relu6")),
    Case("wide16", [(6, 6, 16)], _conv(16, 3, padding="same", activation="relu")),
    Case("no_bias", [(6, 5, 4)], _conv(4, (2, 3), padding="same", use_bias=False)),
    Case("pointwise16_tail", [(5, 7, 16)], _conv(12, 1, activation="relu")),  # 35 pixels: a tail of 3
    Case("pointwise8_s2", [(9, 7, 8)], _conv(6, 1, strides=2, activation="relu")),  # 20 pixels
    Case("pointwise_dead", [(6, 6, 4)], _pointwise_dead),
    Case("conv3x3_s1_valid", [(7, 9, 8)], _conv(6, 3, activation="relu")),  # rows of 7: a block of 3
    Case("conv3x3_s1_noact", [(6, 6, 8)], _conv(8, 3, padding="same")),  # negative ties: not the single step
    Case("conv3x3_s1_pairs", [(5, 6, 4)], _conv(4, 3, strides=(2, 1), padding="same", activation="relu")),
]

DEPTHWISE = [
    Case("dw3_same_relu", [(9, 9, 8)], _dw(3, padding="same", activation="relu")),
    Case("dw3_s2_same", [(9, 9, 8)], _dw(3, strides=2, padding="same")),
    Case("dw_mult2_relu6", [(7, 7, 3)], _dw(3, padding="same", depth_multiplier=2, activation="relu6")),
    Case("dw5_valid_noact", [(9, 9, 4)], _dw(5, padding="valid")),
    Case("dw_odd_channels", [(8, 8, 5)], _dw(3, padding="same", activation="relu")),
    Case("dw_2x4_s2", [(10, 9, 4)], _dw((2, 4), strides=2, padding="same", activation="relu")),
]

def _dw_chain(expand, *layers):  # noqa: ANN001, ANN202
    """Depthwise layers in a row (keyword arguments of each), then a 1x1 convolution to `expand` x the
    channels and one back to the channels: the expansion, inside the arena, is its peak, so the depthwise
    row buffers fit beside their layers (zoo_dwconv_s8_rows, on all their channels or on a chunk)."""
    def build(keras, tf, x):  # noqa: ANN001, ANN202
        y = x[0]
        for kw in layers:
            y = keras.layers.DepthwiseConv2D(3, activation="relu", **kw)(y)
        y = keras.layers.Conv2D(expand * x[0].shape[-1], 1, activation="relu")(y)
        return keras.layers.Conv2D(x[0].shape[-1], 1)(y)
    return build


#: zoo_dwconv_s8_rows (3x3, depth multiplier 1, channels % 4 == 0, RELU into the full int8 range: the
#: single-step requantization needs the activation floor at the zero point): column strides 1 and 2, odd
#: and even output widths (the last block's second pixel past the row), SAME with and without a padding
#: column / row in front, VALID, row strides 1, 2 and 3 (the ring of rows), 4, 8 and 12 channels, one column.
DW_ROWS = [
    # 9x13 -> s2 SAME 5x7 (a padding row and column in front) -> SAME 5x7 (odd) -> VALID 3x5 -> s(2,1) SAME 2x5
    Case("dwr_chain12", [(9, 13, 12)], _dw_chain(16, dict(strides=2, padding="same"), dict(padding="same"),
                                                 dict(padding="valid"), dict(strides=(2, 1), padding="same"))),
    # 10x12 -> s2 SAME 5x6 (padding after only) -> s(1,2) SAME 5x3 -> s(3,1) VALID 1x1
    Case("dwr_chain8", [(10, 12, 8)], _dw_chain(16, dict(strides=2, padding="same"),
                                                dict(strides=(1, 2), padding="same"), dict(strides=(3, 1), padding="valid"))),
    # 9x11 -> s2 VALID 4x5; 4x1 SAME (a block of one pixel)
    Case("dwr_s2_valid", [(9, 11, 4)], _dw_chain(16, dict(strides=2, padding="valid"))),
    Case("dwr_w1", [(4, 1, 4)], _dw_chain(16, dict(padding="same"))),
    # 32 channels beside the others' peak: a chunk of them a pass (the row buffer of all would grow the arena)
    Case("dwr_chunked", [(4, 16, 32)], _dw_chain(1, dict(padding="same"))),
]
DW_ROWS_LAYERS = 10

def _conv_chain(*layers):  # noqa: ANN001, ANN202
    """Convolutions in a row, (filters, kernel, keyword arguments[, output channels with all-zero weights])
    each: every one but the first reads an arena tensor that dies with it, so the planner may write its
    output over that input."""
    def build(keras, tf, x):  # noqa: ANN001, ANN202
        y = x[0]
        for filters, kernel, kw, *dead in layers:
            layer = keras.layers.Conv2D(filters, kernel, **kw)
            y = layer(y)
            if dead:  # pruned channels: constants (the Helium kernels fill them in before the live runs)
                w, b = layer.get_weights()
                w[..., list(dead[0])] = 0.0
                b[list(dead[0])] = 0.4
                layer.set_weights([w, b])
        return y
    return build


#: Convolutions writing their output over their dying input from overlap_bytes() before it: the 3x3 block
#: kernel growing the channels (blocks of 4 and 3 in rows of 7, SAME padding rows), the same size, stride 2
#: (the pair kernel), 1x1 layers growing and shrinking whose blocks of 4 span rows and end in a tail (3x2,
#: 5x5 pixels; the Helium 1x1 reads its columns straight from the input), pruned channels, channel counts
#: not a multiple of 4 (the generic im2col), a VALID window taller than wide, one-channel 3x3 and 2x3
#: convolutions (zoo_dwconv_s8_rows, zoo_conv2d_s8_c1).
OVERLAP = [
    Case("ovl_chain", [(9, 7, 4)], _conv_chain(
        (8, 1, dict(activation="relu")), (16, 3, dict(padding="same", activation="relu")),
        (16, 3, dict(padding="same")), (24, 3, dict(strides=2, padding="same", activation="relu")),
        (40, 1, dict(activation="relu")), (6, 1, {}), (10, (3, 2), dict(padding="valid", activation="relu6")),
        (8, 1, {}))),
    Case("ovl_wide", [(5, 13, 8)], _conv_chain(
        (8, 3, dict(padding="same", activation="relu")), (32, 3, dict(padding="same", activation="relu")),
        (12, 1, {}))),
    Case("ovl_narrow", [(3, 2, 8)], _conv_chain((16, 1, {}), (8, 1, {}), (16, 1, dict(activation="relu")), (4, 1, {}))),
    Case("ovl_tail", [(5, 5, 8)], _conv_chain(
        (16, 1, {}), (16, 1, dict(activation="relu")), (24, 1, dict(activation="relu"), (0, 7, 8, 23)),
        (8, 1, dict(activation="relu")), (4, 1, {}))),
    Case("ovl_c1", [(7, 9, 4)], _conv_chain(
        (1, 1, {}), (8, 3, dict(padding="same", activation="relu")), (1, 1, dict(activation="relu")),
        (6, (2, 3), dict(padding="same", activation="relu")), (8, 1, {}))),
]
#: the layers of OVERLAP that write over their inputs: all but the first of each chain (it reads the model
#: input) and the last (it writes the model output)
OVERLAP_NESTED = 6 + 1 + 2 + 3 + 3


def nest_all(graph, overlap=True):  # noqa: ANN001, ANN201
    """planner.plan_arena with every convolution that can write over its input doing so (the planner
    itself keeps only those that make the arena smaller): to run the kernels that way on every shape."""
    from zoo.backends.tvm_cortexm7.int8 import planner

    able = {i: d for i, layer in enumerate(graph.layers) if overlap and (d := layer.output_before_input()) is not None}
    return min((planner._plan(graph, able, order) for order in planner._ORDERS), key=lambda plan: plan.size)


def arena_tensors(plan):  # noqa: ANN001, ANN201
    """The tensors a plan places in the arena (not the model's inputs and outputs)."""
    return {name for name in plan.root if plan.root[name] in plan.offsets}


def overlap_plan(path, monkeypatch):  # noqa: ANN001, ANN201
    """The generator's plan of `path` with :func:`nest_all` in place of the planner's choice (patched for the
    rest of the test), and the convolutions whose output starts exactly overlap_bytes() before their input."""
    from zoo.backends.tvm_cortexm7.int8 import plan_graph, planner
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model
    from zoo.backends.tvm_cortexm7.int8.operators.conv2d import overlap_bytes

    monkeypatch.setattr(planner, "plan_arena", nest_all)
    graph = lower_model(path)
    plan = plan_graph(graph)
    inside = arena_tensors(plan)
    nested = [layer for layer in graph.layers if layer.op == "CONV_2D" and {layer.inputs[0], layer.outputs[0]} <= inside
              and overlap_bytes(layer) is not None
              and plan.address(layer.inputs[0]) - plan.address(layer.outputs[0]) == overlap_bytes(layer)]
    return graph, plan, nested


#: Shapes for the Helium kernels' loops: 16-tap groups with and without a tail, 16-channel groups of
#: the depthwise kernel with a 4-channel and a partial remainder, an output pixel count % 4 != 0.
MVE = [
    Case("mve_1x1_c32", [(5, 3, 32)], _conv(24, 1, activation="relu")),
    Case("mve_3x3_c16_s2", [(9, 7, 16)], _conv(12, 3, strides=2, padding="same")),
    # pruned channels first, in a run, last (constants in the fill row), live runs between; 20 taps (a tail)
    Case("mve_1x1_pruned", [(5, 3, 20)], _pruned(24, 1, (0, 5, 6, 7, 23), bias=-0.8)),
    Case("mve_3x3_pruned", [(6, 5, 8)], _pruned(12, 3, (2, 3, 11), padding="same", activation="relu6")),
    # im2col rows copied whole: 9 bytes (one predicated vector, as vww01's first layer), 16 (one whole vector,
    # no tail lane), 18 (a vector and a tail); SAME over an odd size puts border windows at the bottom/right
    Case("mve_3x3_c3_s2", [(11, 13, 3)], _conv(8, 3, strides=2, padding="same")),
    Case("mve_2x2_c8_s2", [(7, 9, 8)], _conv(5, 2, strides=2, padding="same", activation="relu")),
    Case("mve_3x3_c6", [(6, 7, 6)], _conv(4, 3, padding="valid")),
    Case("mve_dw_c22", [(7, 6, 22)], _dw(3, padding="same")),
    # 8 channels at stride 1: two inside pixels an asm block (rows of 7: pairs, then a single inside pixel)
    Case("mve_dw_c8_pairs", [(5, 7, 8)], _dw(3, padding="same", activation="relu")),
    Case("mve_dw_c32_s2", [(7, 8, 32)], _dw(3, strides=2, padding="same", activation="relu")),
    # 16 channels in one asm step, then the last 8 in the 8-channel one (vww01's first depthwise: 8 channels)
    Case("mve_dw_c24_s2", [(8, 7, 24)], _dw(3, strides=2, padding="same", activation="relu6")),
    # left shifts (TFLM shift +2: an input range of 1,000 into RELU6's 0..6): the general entry's
    # intrinsics paths, the conv's bias / mult / shift arrays and the depthwise requantization's left shift
    Case("mve_lshift_relu6", [(6, 6, 4)], _conv(4, 3, padding="same", activation="relu6"), spread=(1000.0,)),
    Case("mve_dw_lshift_relu6", [(6, 6, 8)], _dw(3, padding="same", activation="relu6"), spread=(1000.0,)),
]

def test_conv2d_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("conv2d", CONV), tmp_path)
    assert meta["ops"].count("CONV_2D") == len(CONV)
    calls = (tmp_path / "lib" / "m_model.c").read_text()
    for fn in ("zoo_conv2d_s8_c1(", "zoo_conv2d_s8(", "zoo_conv2d_s8_fast(", "zoo_conv2d_s8_1x1(", "zoo_conv2d_s8_3x3(",
               "zoo_dwconv_s8_rows("):
        assert fn in calls, f"{fn} not exercised"


def test_convolutions_write_over_their_inputs_bit_exact(op_models, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """OVERLAP's convolutions, each writing its output over its dying input from overlap_bytes() before it, in
    portable C for the host and with the Helium layout: bit-exact with TFLM. The planner's own choice keeps
    some of them, for a smaller arena than with every buffer apart."""
    from zoo.backends.tvm_cortexm7.int8 import plan_graph
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model
    from zoo.backends.tvm_cortexm7.int8.planner import plan_arena

    path = op_models.model("overlap", OVERLAP)
    graph = lower_model(path)
    own = plan_graph(graph)
    assert own.size < plan_arena(graph, overlap=False).size
    graph, plan, nested = overlap_plan(path, monkeypatch)
    assert len(nested) == OVERLAP_NESTED, [layer.index for layer in nested]
    assert_host_bit_exact(path, tmp_path / "dsp")
    assert_host_bit_exact(path, tmp_path / "mve", mve=True)
    calls = (tmp_path / "dsp" / "lib" / "m_model.c").read_text()
    for fn in ("zoo_conv2d_s8(", "zoo_conv2d_s8_fast(", "zoo_conv2d_s8_1x1(", "zoo_conv2d_s8_3x3(", "zoo_conv2d_s8_c1(",
               "zoo_dwconv_s8_rows("):
        assert fn in calls, f"{fn} not exercised"
    assert "zoo_conv2d_s8_mve(" in (tmp_path / "mve" / "lib" / "m_model.c").read_text()


def test_depthwise_conv2d_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    meta = assert_host_bit_exact(op_models.model("depthwise", DEPTHWISE), tmp_path)
    assert meta["ops"].count("DEPTHWISE_CONV_2D") == len(DEPTHWISE)
    calls = (tmp_path / "lib" / "m_model.c").read_text()
    for fn in ("zoo_dwconv_s8_3x3(", "zoo_dwconv_s8("):
        assert fn in calls, f"{fn} not exercised"


def _rows_calls(lib_dir) -> int:  # noqa: ANN001
    return (lib_dir / "m_model.c").read_text().count("zoo_dwconv_s8_rows(")


def test_depthwise_rows_kernel_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    """zoo_dwconv_s8_rows in portable C (the host): every DW_ROWS layer takes it, one on a chunk of its
    channels, bit-exact with TFLM."""
    from zoo.backends.tvm_cortexm7.int8 import plan_graph
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model

    path = op_models.model("dw_rows", DW_ROWS)
    assert_host_bit_exact(path, tmp_path)
    assert _rows_calls(tmp_path / "lib") == DW_ROWS_LAYERS
    graph = lower_model(path)
    plan = plan_graph(graph)
    dws = [layer for layer in graph.layers if layer.op == "DEPTHWISE_CONV_2D"]
    chunks = [(layer.dw_chunk, layer.in_hwc[2]) for layer in dws]
    assert all(chunk for chunk, _ in chunks) and any(chunk < c for chunk, c in chunks), chunks
    inside = arena_tensors(plan)
    in_place = [{layer.inputs[0], layer.outputs[0]} <= inside
                and plan.address(layer.outputs[0]) == plan.address(layer.inputs[0]) for layer in dws]
    assert any(in_place) and not all(in_place), in_place  # some write their output over their input


def test_helium_layouts_in_portable_c_bit_exact(op_models, tmp_path) -> None:  # noqa: ANN001
    """A library laid out for the M55 (layout_mve: per-channel records, the depthwise channel order, pruned
    channels as constants) built for another core stays correct: the _mve kernels' portable C reads the same
    arrays."""
    path = op_models.model("mve_convolutions", [*CONV, *DEPTHWISE, *MVE])
    assert_host_bit_exact(path, tmp_path, mve=True)
    calls = (tmp_path / "lib" / "m_model.c").read_text()
    for fn in ("zoo_conv2d_s8_mve(", "zoo_conv2d_s8_mve_rq(", "zoo_dwconv_s8_mve(", "zoo_dwconv_s8_mve_fast("):
        assert fn in calls, f"{fn} not exercised"
    assert (tmp_path / "lib" / "m_weights.c").read_text().count("_fill[") == PRUNED_MVE


#: The convolutions above with all-zero channels that the MVE layout keeps as constants (ZOO_CONV_CONST).
PRUNED_MVE = 3  # pointwise_dead, mve_1x1_pruned, mve_3x3_pruned
#: The regular convolutions above with a left shift (the MVE layout's bias, mult and shift arrays).
LSHIFT_MVE = 1  # mve_lshift_relu6


def test_conv_weights_stored_as_int8(op_models, tmp_path) -> None:  # noqa: ANN001
    """Every regular and depthwise convolution (the one-channel c1 records included) keeps its weights
    as the model's int8 values (issue 14):
    its flash arrays are the weights (taps padded to groups of 4, channels to pairs) plus at most 16 B
    per channel (folded bias and requantization) and a row of padding bytes, never an int16 copy."""
    import re

    from zoo.backends.tvm_cortexm7.int8 import generate_int8_library
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model

    width = {"int8_t": 1, "int16_t": 2, "int32_t": 4}
    checked = 0
    for family, cases in (("conv2d", CONV), ("depthwise", DEPTHWISE)):
        path = op_models.model(family, cases)
        lib = generate_int8_library(path, tmp_path / family, "m")
        stored: dict[int, int] = {}
        for ctype, layer_index, n in re.findall(r"const (\w+) m_l(\d+)_\w+\[(\d+)\]", (lib.dir / "m_weights.c").read_text()):
            stored[int(layer_index)] = stored.get(int(layer_index), 0) + int(n) * width[ctype]
        for i, layer in enumerate(lower_model(path).layers):
            if layer.op not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                continue
            oc, taps = layer.out_hwc[2], layer.weights.size // layer.out_hwc[2]
            weights = layer.weights.size if layer.depthwise else (oc + oc % 2) * 4 * ((taps + 3) // 4)
            assert stored[i] <= weights + 16 * (oc + 1) + layer.in_hwc[2], f"{family} layer {i}: {stored[i]} B"
            checked += 1
    assert checked == len(CONV) + len(DEPTHWISE)

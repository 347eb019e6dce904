"""The `tflm` backend (TensorFlow Lite Micro's own interpreter) and TFLM as the reference of every int8 card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.backend import LOGITS
from zoo.conformance.golden import load_golden
from zoo.conformance.harness import check_backend
from zoo.conformance.metrics import compare
from zoo.errors import BackendError, BackendUnavailableError
from zoo.tflite_model import read_tflite

INT8_CARDS = [n for n in zoo.list_models() if zoo.get_card(n).artifact().precision == "int8"]


def _direct(model_path: Path, inputs: np.ndarray) -> np.ndarray:
    """TFLM's interpreter called directly, one invoke per example, as its documentation shows."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_file(str(model_path))
    out = []
    for x in inputs:
        it.set_input(x[None], 0)
        it.invoke()
        out.append(it.get_output(0)[0].copy())
    return np.stack(out)


def test_tflm_is_listed() -> None:
    assert "tflm" in zoo.list_backends() and zoo.list_backends()["tflm"]


@pytest.mark.parametrize("name", INT8_CARDS)
def test_predict_equals_tflm_called_directly(name: str, mirror: Path) -> None:
    """zoo's tflm backend gives exactly what TFLM's interpreter gives, element for element, on every card."""
    card = zoo.get_card(name)
    golden = load_golden(card)
    inputs = golden.inputs[:48]
    got = zoo.load(name, backend="tflm").predict(inputs)
    expected = _direct(mirror / name / card.artifact().file, inputs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", INT8_CARDS)
def test_every_int8_card_is_checked_against_tflm(name: str) -> None:
    """TFLM is the reference of every int8 card and its golden vectors hold TFLM's outputs."""
    card = zoo.get_card(name)
    golden = load_golden(card)
    assert card.conformance.reference_backend == "tflm" and golden.meta["reference_backend"] == "tflm"
    again = zoo.load(name, backend="tflm").run(golden.inputs_by_name)
    for spec in card.outputs:
        np.testing.assert_array_equal(again[spec.name], golden.outputs_by_name[spec.name])


def test_logits_are_the_softmax_input(mirror: Path) -> None:
    """The exposed int8 logits are the tensor feeding the model's SOFTMAX."""
    from tflite_micro.python.tflite_micro import runtime

    card = zoo.get_card("mlperf_kws01")
    x = load_golden(card).inputs[:4]
    out = zoo.load("mlperf_kws01", backend="tflm").run(x, logits=True)
    path = mirror / "mlperf_kws01" / card.artifact().file
    index = read_tflite(path).logits().index
    it = runtime.Interpreter.from_file(str(path), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    for i in range(4):
        it.set_input(x[i:i + 1], 0)
        it.invoke()
        np.testing.assert_array_equal(out[LOGITS][i], it.GetTensor(index, 0)["tensor_data"].reshape(-1))


def test_a_model_with_an_operator_tflm_lacks_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TOPK_V2 has no TFLM kernel: the error names the operator and its index, not TFLM's 'failed to allocate'."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32)])
    def topk(x: tf.Tensor) -> tf.Tensor:
        values, _ = tf.math.top_k(x, 3)
        return values

    model = tmp_path / "topk.tflite"
    model.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([topk.get_concrete_function()], topk).convert())
    from zoo.backends.tflm import make_interpreter

    with pytest.raises(BackendError, match=r"no kernel for TOPK_V2 \(operator #0\)"):
        make_interpreter(model)


def test_float_artifacts_are_not_the_reference() -> None:
    """tflm runs int8 models only; a float artifact is refused with the reason."""
    with pytest.raises(BackendUnavailableError, match="integer reference"):
        zoo.load("mlperf_kws01", backend="tflm", artifact="float")


def test_int8_outputs_are_measured_in_raw_steps() -> None:
    """An int8 output one step off in one element reports |Δ| = 1 (not 256) and one differing element."""
    card = zoo.get_card("mlperf_kws01")
    golden = load_golden(card)
    name = card.output.name
    ours = {name: golden.outputs.copy()}
    ours[name][3, 5] = ours[name][3, 5] + (1 if ours[name][3, 5] < 127 else -1)
    cmp = compare(ours, card.outputs, golden.outputs_by_name, card.outputs, card.kind)
    assert cmp.max_abs_lsb == 1
    assert cmp.mismatch_fraction == pytest.approx(1 / golden.outputs.size)
    assert cmp.mismatch_gt1_fraction == 0.0


def test_litert_rounding_fails_bit_exactness_on_resnet8() -> None:
    """A backend with LiteRT's builtin rounding (LiteRT itself) fails the device backends' bit-exact budget on
    ResNet-8, where LiteRT and TFLM differ; it passes its own measured budget."""
    card = zoo.get_card("mlperf_ic01")
    exact = card.conformance.backend_tolerances["tvm-cortexm7"]
    strict = card.model_copy(update={"conformance": card.conformance.model_copy(update={
        "backend_tolerances": {**card.conformance.backend_tolerances, "tflite": exact}})})
    result = check_backend(strict, "tflite", "tflite", "int8", None, timing=False)  # budgets from `strict`
    failed = {c.name for c in result.failures()}
    assert result.status == "fail" and "golden.max_abs_lsb" in failed, result.reason
    assert check_backend(card, "tflite", "tflite", "int8", None, timing=False).status == "pass"


@pytest.mark.emulator
def test_cortexm7_bit_exact_with_tflm_on_1000_structured_inputs() -> None:
    """stmnist_v1 on the emulated Cortex-M7 equals TFLM, outputs and logits, on 1,000 structured inputs
    (gradients, sparse blobs, saturated blocks, stripes, noise, flat levels, smooth fields), not only noise."""
    from structured_inputs import images

    card = zoo.get_card("stmnist_v1")
    x = images(tuple(card.input.shape), card.input.dtype, 1000, seed=10)
    reference = zoo.load("stmnist_v1", backend="tflm").run(x, logits=True)
    device = zoo.load("stmnist_v1", backend="tvm-cortexm7").run(x, logits=True)
    assert len(np.unique(reference[card.output.name].argmax(1))) > 5  # the inputs do not saturate one class
    for key in (card.output.name, LOGITS):
        np.testing.assert_array_equal(device[key], reference[key])

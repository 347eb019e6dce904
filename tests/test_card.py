"""The YAML card loads strictly: every malformed card names the file and the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import autoencoder_card_data, regression_card_data, timeseries_card_data

import zoo
from zoo.card import load_card
from zoo.errors import CardError
from zoo.registry import card_path

CARD = card_path("stmnist_v1")


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def data() -> dict:
    return yaml.safe_load(CARD.read_text())


def test_stmnist_card_matches_st_facts() -> None:
    card = zoo.get_card("stmnist_v1")
    assert card.schema_version == 2 and card.task == "image-classification" and card.kind == "classifier"
    assert card.labels == tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert len(card.inputs) == len(card.outputs) == 1
    assert card.input is card.inputs[0] and card.output is card.outputs[0]
    assert card.input.shape == (1, 28, 28, 1) and card.input.dtype == "uint8" and card.input.layout == "NHWC"
    assert card.input.quantization.scale == pytest.approx(1 / 255) and card.input.quantization.zero_point == 0
    assert card.output.shape == (1, 36) and card.output.dtype == "float32"
    assert card.artifact("int8").sha256 == "991a93a5f2255f879fa7dda61227fa26a5b1ef4e9d62b54f8853182c84d385e9"
    assert card.artifact("int8").size == 19832
    assert card.output.source_quantization.scale == 1 / 256 and card.output.source_quantization.zero_point == -128
    assert card.output.step == 1 / 256  # conformance counts output differences in the int8 softmax's steps
    top1 = {f.artifact: f.value for f in card.figures("top1_accuracy")}
    assert top1 == {"int8": 93.38, "float": 93.48}
    assert all(f.unit == "%" and f.dataset == card.dataset and f.samples == 89_264 for f in card.figures("top1_accuracy"))
    device = [f for f in card.reported if f.metric != "top1_accuracy"]
    assert device and all(f.tool == "STM32Cube.AI" and f.tool_version == "7.3.0" and f.core == "Cortex-M7"
                          and f.clock_mhz == 400 for f in device)
    assert [f.value for f in card.figures("latency", "int8")] == [4.718]
    assert card.figures("total_ram", "int8")[0].bytes == 19 * 1024
    assert {f.source for f in card.reported} | {p.source for p in card.platforms} == {"st_card"}
    assert {p.name: p.recommended for p in card.platforms}["STM32H7"] is True
    assert card.conformance.reference_backend == "tflm"


def test_card_is_frozen() -> None:
    card = zoo.get_card("stmnist_v1")
    with pytest.raises(ValueError, match="Instance is frozen"):
        card.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="Instance is frozen"):  # the tensor specs too
        card.inputs[0].shape = (1, 784)  # type: ignore[misc]
    assert isinstance(card.inputs, tuple) and isinstance(card.reported, tuple)


def _int8_input(d: dict) -> None:
    d["inputs"][0].update(dtype="int8", value_range=[-128, 127])
    d["inputs"][0].pop("quantization")


def _float_output_without_steps(d: dict) -> None:
    d["outputs"][0].pop("source_quantization")


def _rtol_without_range(d: dict) -> None:
    d["outputs"][0].pop("source_quantization")
    d["outputs"][0].pop("value_range")
    d["outputs"][0]["rtol"] = 0.01


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(colour="blue"), "colour: unknown key"),
        (lambda d: d.pop("inputs"), "inputs: missing required key"),
        (lambda d: d.update(schema_version=1), "is schema version 1; this zoo reads version 2: rename input/output"),
        (lambda d: d.update(task="object-detection"), "task: Input should be"),
        (lambda d: d["inputs"][0].update(shape=[1, "28", 28, 1]), "inputs.0.shape.1"),
        (lambda d: d["inputs"][0].update(shape=[1, 28, 28]), "layout NHWC names 4 axes but shape [1, 28, 28] has 3"),
        (lambda d: d["outputs"][0].update(layout="NHWC"), "outputs.0: Value error, layout NHWC names 4 axes"),
        (lambda d: d["inputs"][0].update(layout="nhwc"), "inputs.0.layout"),
        (lambda d: d["inputs"][0].update(layout="HWC", shape=[28, 28, 1]), "inputs.0.layout"),  # batch axis first
        (lambda d: d["inputs"][0].update(value_range=[0, 300]), "value_range [0.0, 300.0] is outside uint8's [0, 255]"),
        (lambda d: d["inputs"][0].pop("quantization"), "inputs.0: Value error, a uint8 tensor needs its quantization"),
        (_int8_input, "inputs.0: Value error, an int8 tensor needs its quantization"),
        (_float_output_without_steps, "outputs[0] (StatefulPartitionedCall:0) is float32 with no integer source"),
        (_rtol_without_range, "outputs[0] (StatefulPartitionedCall:0) is float32 with no integer source"),
        (lambda d: d["outputs"][0].update(rtol=1.5), "outputs.0.rtol"),
        (lambda d: d.update(inputs=[]), "inputs is empty"),
        (lambda d: d.update(outputs=d["outputs"] * 2), "outputs has duplicate tensor names"),
        (lambda d: d.pop("labels"), "task image-classification needs labels"),
        (lambda d: d["labels"].pop(), "has 36 classes but labels has 35"),
        (lambda d: d["labels"].__setitem__(1, "0"), "labels are not unique"),
        (lambda d: d["artifacts"]["int8"].update(sha256="abc"), "artifacts.int8.sha256"),
        (lambda d: d["artifacts"]["int8"].update(size="19832"), "artifacts.int8.size"),
        (lambda d: d["artifacts"]["float"].update(inputs=[dict(d["inputs"][0], shape=[1, 28, 28, 3])]),
         "artifacts.float.inputs shapes [[1, 28, 28, 3]] differ from the card's [[1, 28, 28, 1]]"),
        (lambda d: d.update(default_artifact="fp16"), "default_artifact names artifact 'fp16'"),
        (lambda d: d["conformance"]["tolerances"]["int8"].pop("max_abs_lsb"), "max_abs_lsb: missing"),
        (lambda d: d["conformance"]["tolerances"]["int8"].pop("top1_agreement"),
         "conformance.tolerances.int8 needs top1_agreement"),
        (lambda d: d["conformance"]["backend_tolerances"]["tflm"]["int8"].pop("top1_agreement"),
         "conformance.backend_tolerances.tflm.int8 needs top1_agreement"),
        (lambda d: d["reported"][1].update(value=float("inf")), "reported.1.value"),
        (lambda d: d["reported"][1].update(unit="percent"), "reported.1.unit"),
        (lambda d: d["reported"][1].update(metric="top5_accuracy"), "reported.1.metric"),
        (lambda d: d["reported"][1].update(artifact="fp16"), "reported names artifact 'fp16'"),
        (lambda d: d["reported"][1].update(source="st_blog"), "reported cites source 'st_blog', which is not in sources"),
        (lambda d: d["platforms"][0].update(source="st_blog"), "platforms cites source 'st_blog'"),
        (lambda d: d.pop("sources"), "reported cites source 'st_card', which is not in sources (none)"),
        (lambda d: d["conformance"].update(known_gaps=[{"backend": "tflite", "check": "golden.top1", "reason": "r"}]),
         "conformance.known_gaps names check 'golden.top1', which task image-classification does not have"),
        (lambda d: d["conformance"].update(known_gaps=[{"backend": "tflite", "check": "top1_agreement", "reason": "r"}]),
         "names check 'top1_agreement'"),  # a check id carries its scope: golden.top1_agreement
    ],
)
def test_malformed_card_names_file_and_key(tmp_path: Path, data: dict, mutate, needle: str) -> None:
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(CardError) as info:
        load_card(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_known_gap_error_lists_the_checks_a_gap_may_name(tmp_path: Path, data: dict) -> None:
    from zoo.conformance.checks import check_ids

    data["conformance"]["known_gaps"] = [{"backend": "tflite", "check": "golden.top1", "reason": "r"}]
    with pytest.raises(CardError) as info:
        load_card(_write(tmp_path, data))
    known = check_ids("image-classification")
    assert {"golden.max_abs_lsb", "golden.top1_agreement", "accuracy.vs_reported_pct"} <= known
    assert ", ".join(sorted(known)) in str(info.value)


def test_known_gap_naming_a_registered_check_loads(tmp_path: Path, data: dict) -> None:
    data["conformance"]["known_gaps"] = [{"backend": "tflite", "check": "data.top1_agreement", "reason": "ties"}]
    gap = load_card(_write(tmp_path, data)).conformance.known_gaps[0]
    assert (gap.backend, gap.check, gap.reason) == ("tflite", "data.top1_agreement", "ties")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "name: [unclosed\n", "\xff\xfe"])
def test_not_a_card(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(CardError, match="bad.yaml"):
        load_card(path)


def test_missing_card_file(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="cannot read model card"):
        load_card(tmp_path / "nope.yaml")


def test_user_card_through_zoo_cards(tmp_path: Path, data: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    data["name"] = "my_model"
    (tmp_path / "cards").mkdir()
    _write(tmp_path / "cards", data)
    monkeypatch.setenv("ZOO_CARDS", str(tmp_path / "cards"))
    assert "my_model" in zoo.list_models()
    assert zoo.get_card("my_model").name == "my_model"


def test_duplicate_card_name_is_an_error(tmp_path: Path, data: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, data)  # same name as the packaged card
    monkeypatch.setenv("ZOO_CARDS", str(path))
    with pytest.raises(CardError, match="defined twice"):
        zoo.list_models()


def test_unknown_model_suggests_close_match() -> None:
    with pytest.raises(zoo.UnknownNameError, match="Did you mean 'stmnist_v1'"):
        zoo.get_card("stmnist_v2")


def test_card_opened_by_path_is_then_found_by_name(tmp_path: Path, data: dict) -> None:
    data["name"] = "by_path_model"
    path = _write(tmp_path, data)
    assert zoo.get_card(str(path)).name == "by_path_model"
    assert zoo.get_card("by_path_model").name == "by_path_model"
    assert card_path("by_path_model") == path.resolve()


def test_clashing_card_opened_by_path_does_not_poison_the_registry(tmp_path: Path, data: dict) -> None:
    packaged = zoo.list_models()
    assert packaged == sorted(p.stem for p in CARD.parent.glob("*.yaml")) and "stmnist_v1" in packaged
    path = _write(tmp_path, data)  # a copy of stmnist_v1.yaml: the same name
    with pytest.raises(CardError, match="defined twice"):
        zoo.get_card(str(path))
    assert zoo.get_card("stmnist_v1").name == "stmnist_v1" and zoo.list_models() == packaged


def test_card_consistency(tmp_path: Path, data: dict) -> None:
    data["conformance"]["tolerances"].pop("float")
    with pytest.raises(CardError) as info:
        load_card(_write(tmp_path, data))
    assert "no budget for artifact(s) ['float']" in str(info.value)


# --- Schema 2: any task, any rank, several tensors. (Schema 1 took only NHWC image classifiers.)


def test_layout_is_one_letter_per_axis_of_any_rank(tmp_path: Path) -> None:
    card = load_card(_write(tmp_path, timeseries_card_data()))
    assert card.kind == "classifier" and [s.layout for s in card.inputs] == ["NTC", "NC"]
    assert card.input.name == "window" and card.input.elements == 384  # card.input: the first input
    assert card.inputs[1].range == (-1.0, 1.0) and card.input.range == (-128.0, 127.0)  # int8's own range
    data = timeseries_card_data()
    data["inputs"][0]["shape"] = [1, 128]
    with pytest.raises(CardError, match=r"layout NTC names 3 axes but shape \[1, 128\] has 2"):
        load_card(_write(tmp_path, data))


def test_an_image_classifier_may_take_a_flat_vector(tmp_path: Path, data: dict) -> None:
    """Schema 1 refused a non-NHWC input for image classifiers; schema 2 takes the layout as declared."""
    data["inputs"][0].update(layout="NC", shape=[1, 784])
    card = load_card(_write(tmp_path, data))
    assert card.input.layout == "NC" and card.input.elements == 784


def test_regression_card_measures_floats_in_a_relative_step(tmp_path: Path) -> None:
    card = load_card(_write(tmp_path, regression_card_data()))
    assert card.kind == "regression" and card.labels == () and card.num_classes == 0
    assert card.output.source_quantization is None and card.output.step == pytest.approx(0.01 * (1.0 - 0.0))


def test_regression_card_with_labels_is_refused(tmp_path: Path) -> None:
    data = regression_card_data()
    data["labels"] = ["low", "high"]
    with pytest.raises(CardError, match="task regression has no classes: remove labels"):
        load_card(_write(tmp_path, data))


def test_known_gap_must_be_a_check_of_the_cards_own_task(tmp_path: Path) -> None:
    data = regression_card_data()  # a regression has no top-1: classifier checks are not its checks
    data["conformance"]["known_gaps"] = [{"backend": "tflite", "check": "golden.top1_agreement", "reason": "r"}]
    with pytest.raises(CardError, match="names check 'golden.top1_agreement', which task regression does not have"):
        load_card(_write(tmp_path, data))
    data["conformance"]["known_gaps"][0]["check"] = "golden.max_abs_lsb"
    assert load_card(_write(tmp_path, data)).conformance.known_gaps[0].check == "golden.max_abs_lsb"


def test_autoencoder_card(tmp_path: Path) -> None:
    card = load_card(_write(tmp_path, autoencoder_card_data()))
    assert card.kind == "autoencoder" and card.output.shape == card.input.shape
    assert card.output.step == 0.0039  # an int8 output: its own quantization's steps
    data = autoencoder_card_data()
    data["outputs"][0]["shape"] = [1, 14, 14, 1]
    with pytest.raises(CardError, match=r"outputs\[0\].shape \[1, 14, 14, 1\] must equal inputs\[0\].shape"):
        load_card(_write(tmp_path, data))
    data = autoencoder_card_data()
    data["outputs"][0].pop("quantization")
    with pytest.raises(CardError, match="outputs.0: Value error, an int8 tensor needs its quantization"):
        load_card(_write(tmp_path, data))
    data = autoencoder_card_data()
    data["conformance"]["tolerances"]["float"].pop("anomaly_score_rel_delta")
    with pytest.raises(CardError, match="conformance.tolerances.float needs anomaly_score_rel_delta"):
        load_card(_write(tmp_path, data))


def _float_input_card(tmp_path: Path, value_range: list[float] | None) -> Path:
    data = regression_card_data()
    data["name"] = "float_input_model"
    spec = data["inputs"][0]
    spec.update(dtype="float32", description="real values")
    spec.pop("quantization")
    spec.pop("value_range")
    if value_range is not None:
        spec["value_range"] = value_range
    return _write(tmp_path, data)


def test_float_input_without_value_range_is_a_card_error_from_golden_generation(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from zoo.cli import main
    from zoo.conformance.golden import make_inputs

    path = _float_input_card(tmp_path, None)
    card = load_card(path)  # a valid card: the range only matters for drawing golden inputs
    with pytest.raises(CardError, match="input 'serving_default_input_1:0' is float32 with no value_range"):
        make_inputs(card)
    out = tmp_path / "golden.npz"
    result = CliRunner().invoke(main, ["--card", str(path), "golden", "float_input_model", "--out", str(out)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "is float32 with no value_range" in result.output and "add value_range" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_float_input_golden_values_stay_inside_its_value_range(tmp_path: Path) -> None:
    from zoo.conformance.golden import make_inputs

    card = load_card(_float_input_card(tmp_path, [-2.0, 3.0]))
    inputs, kinds = make_inputs(card)
    x = inputs[card.input.name]
    assert x.dtype == np.float32 and x.shape[1:] == (28, 28, 1) and len(x) == len(kinds)
    assert x.min() >= -2.0 and x.max() <= 3.0 and x.min() == -2.0 and x.max() == 3.0  # the edges are reached

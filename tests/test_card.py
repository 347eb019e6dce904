"""The YAML card loads strictly: every malformed card names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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
    assert card.labels == tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert card.input.shape == (1, 28, 28, 1) and card.input.dtype == "uint8"
    assert card.output.shape == (1, 36) and card.output.dtype == "float32"
    assert card.artifact("int8").sha256 == "991a93a5f2255f879fa7dda61227fa26a5b1ef4e9d62b54f8853182c84d385e9"
    assert card.artifact("int8").size == 19832
    assert card.output.source_quantization.scale == 1 / 256 and card.output.source_quantization.zero_point == -128
    top1 = {a.artifact: a.top1_percent for a in card.reported.accuracy}
    assert top1 == {"int8": 93.38, "float": 93.48}
    assert card.reported.tool_version == "7.3.0"


def test_card_is_frozen() -> None:
    card = zoo.get_card("stmnist_v1")
    with pytest.raises(Exception):
        card.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(colour="blue"), "colour: unknown key"),
        (lambda d: d.pop("labels"), "labels: missing required key"),
        (lambda d: d["input"].update(shape=[1, "28", 28, 1]), "input.shape.1"),
        (lambda d: d["input"].update(shape=[1, 28, 28]), "layout NHWC needs a shape of rank 4"),
        (lambda d: d["labels"].pop(), "has 36 classes but labels has 35"),
        (lambda d: d["artifacts"]["int8"].update(sha256="abc"), "artifacts.int8.sha256"),
        (lambda d: d["artifacts"]["int8"].update(size="19832"), "artifacts.int8.size"),
        (lambda d: d.update(default_artifact="fp16"), "default_artifact names artifact 'fp16'"),
        (lambda d: d["conformance"]["tolerances"]["int8"].pop("max_abs_lsb"), "max_abs_lsb: missing"),
        (lambda d: d["reported"]["accuracy"][0].update(top1_percent=193.0), "top1_percent"),
        (lambda d: d["output"].pop("source_quantization"), "output.source_quantization is required"),
    ],
)
def test_malformed_card_names_file_and_key(tmp_path: Path, data: dict, mutate, needle: str) -> None:
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(CardError) as info:
        load_card(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


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
    path = _write(tmp_path, data)  # a copy of stmnist_v1.yaml: the same name
    with pytest.raises(CardError, match="defined twice"):
        zoo.get_card(str(path))
    assert zoo.get_card("stmnist_v1").name == "stmnist_v1" and zoo.list_models() == ["stmnist_v1"]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["input"].update(layout="NC", shape=[1, 784]), "an image classifier takes NHWC"),
        (lambda d: d["conformance"]["tolerances"].pop("float"), "no budget for artifact(s) ['float']"),
    ],
)
def test_card_consistency(tmp_path: Path, data: dict, mutate, needle: str) -> None:
    mutate(data)
    with pytest.raises(CardError) as info:
        load_card(_write(tmp_path, data))
    assert needle in str(info.value)

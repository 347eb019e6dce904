"""Issue 15, finding 6: user text is data, never markup, on the terminal and in the Markdown card; a hostile
validation JSON is a clean error for `zoo card`."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile import card_data, write_card

import zoo
from zoo.cardgen import render_card
from zoo.cli import main

REPO = Path(__file__).resolve().parents[1]
VALIDATION = json.loads((REPO / "model_cards" / "stmnist_v1.validation.json").read_text())
HOSTILE = "[/x] [link=javascript:alert(1)]click[/link] <script>alert(1)</script> | a\nb [z](javascript:alert(2)) `"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not result.exception or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def _hostile_strings(node: object, skip: tuple[str, ...] = ()) -> object:
    """Every free-text string of a card replaced by HOSTILE (names, hashes, literals and file names kept)."""
    keep = {"name", "file", "sha256", "format", "precision", "dtype", "layout", "task", "commit", "artifact",
            "default_artifact", "reference_backend", "golden", "evaluation_dataset", "backend", "schema_version",
            "source", "core", "golden_inputs", "metric", "unit"}
    if isinstance(node, dict):
        return {k: v if k in keep or k in skip else _hostile_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hostile_strings(v) for v in node]
    return HOSTILE if isinstance(node, str) else node


def _hostile_card(tmp_path: Path) -> Path:
    data = card_data()
    data = {**_hostile_strings(data), "name": data["name"], "artifacts": data["artifacts"]}
    data["inputs"][0]["name"], data["outputs"][0]["name"] = HOSTILE, HOSTILE
    data["labels"] = [f"{HOSTILE}{i}" for i in range(36)]
    data["references"] = [{"title": HOSTILE, "url": "javascript:alert(3)"}, {"title": "ok", "url": "https://x.org/a"}]
    return write_card(tmp_path, data)


def test_rich_markup_in_card_text_is_printed_literally(tmp_path: Path) -> None:
    card = _hostile_card(tmp_path)
    code, text = run("--card", str(card), "info", "hostile_model")
    assert code == 0, text
    assert "[/x]" in text and "[link=javascript:alert(1)]" in text


def test_rich_markup_in_a_path_of_an_error_is_printed_literally(tmp_path: Path) -> None:
    missing = tmp_path / "[/x][link=https://evil]a.png"
    code, text = run("predict", "stmnist_v1", str(missing))
    assert code == 2 and str(missing) in text and "does not exist" in text


def test_rich_markup_in_a_path_of_a_prediction(tmp_path: Path) -> None:
    import numpy as np

    image = tmp_path / "[red]x[bold on red].npy"
    np.save(image, np.zeros((28, 28), np.uint8))
    code, text = run("predict", "stmnist_v1", str(image))
    assert code == 0 and "[red]x[bold on red].npy" in text, text


def _cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_card_escapes_html_links_pipes_and_newlines(tmp_path: Path) -> None:
    card = zoo.get_card(str(_hostile_card(tmp_path)))
    validation = copy.deepcopy(VALIDATION)
    validation["backends"] = {HOSTILE: {**v, "status": HOSTILE, "artifact": HOSTILE}
                              for v in list(validation["backends"].values())[:1]}
    validation["dataset"] = validation["reference"] = HOSTILE
    validation["provenance"] = {**validation["provenance"], "machine": HOSTILE, "date": HOSTILE, "python": HOSTILE,
                                "packages": {HOSTILE: HOSTILE}}
    text = render_card(card, validation, None, "v.json")
    live = re.sub(r"(?<!\\)`[^`]*`", "", text)  # outside the template's code spans (inert: text shown as is)
    assert not re.search(r"(?<![\\&])<script", live, re.IGNORECASE)  # HTML only escaped (or inert in a code span)
    assert not re.search(r"(?<!\\)\]\(\s*<?javascript:", live)  # no link to javascript: opened by card text
    assert live.count("`") == live.count("\\`")  # every backtick of card text escaped: no code span can shift
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            assert len({_cells(r) for r in rows}) == 1, rows  # no cell opened or closed by card text
    assert "[ok](https://x.org/a)" in text  # an http(s) URL still becomes a link


BAD_RESULTS = [
    lambda v: v.update(backends=[1, 2]),
    lambda v: v["backends"]["tflite"].update(accuracy="high"),
    lambda v: v["backends"]["tflite"].update(footprint={"flash_bytes": "lots"}),
    lambda v: v["backends"]["tflite"].update(golden={"flips": -1}),
    lambda v: v["backends"]["tflite"].update(status=None),
    lambda v: v.update(provenance={"packages": 3}),
    lambda v: v["backends"]["tflite"].update(confusion=[[1, 2], [3]]),
    lambda v: v.clear(),
]


@pytest.mark.parametrize("mangle", BAD_RESULTS)
def test_hostile_validation_json_is_a_clean_error(tmp_path: Path, mangle) -> None:  # noqa: ANN001
    card = write_card(tmp_path, card_data())
    results = copy.deepcopy(VALIDATION)
    mangle(results)
    (tmp_path / "hostile_model.validation.json").write_text(json.dumps(results))
    code, text = run("--card", str(card), "card", "hostile_model")
    assert code in (0, 2) and "Traceback" not in text, text
    if code == 2:
        assert "validation results" in text and "zoo validate" in text


@pytest.mark.parametrize("raw", ['{"backends": {}, "x": NaN}', "[" * 100_000, '{"backends": {', "\xff\xfe"])
def test_broken_validation_json_is_a_clean_error(tmp_path: Path, raw: str) -> None:
    card = write_card(tmp_path, card_data())
    (tmp_path / "hostile_model.validation.json").write_bytes(raw.encode("latin-1"))
    code, text = run("--card", str(card), "card", "hostile_model")
    assert code == 2 and "validation results" in text, text
    assert not (tmp_path / "hostile_model.md").exists()


def test_valid_results_still_render(tmp_path: Path) -> None:
    card = write_card(tmp_path, card_data())
    shutil.copy(REPO / "model_cards" / "stmnist_v1.validation.json", tmp_path / "hostile_model.validation.json")
    code, text = run("--card", str(card), "card", "hostile_model")
    assert code == 0 and (tmp_path / "hostile_model.md").is_file(), text

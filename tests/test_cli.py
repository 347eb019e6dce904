"""The `zoo` command, run in-process through click's runner and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from zoo.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


PACKAGED = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "model_cards").glob("*.yaml"))


def test_list() -> None:
    code, text = run("list", "--json")
    assert code == 0 and [m["name"] for m in json.loads(text)] == PACKAGED and "stmnist_v1" in PACKAGED
    code, text = run("list")
    assert code == 0 and all(name in text for name in PACKAGED) and "image-classification" in text


def test_info() -> None:
    code, text = run("info", "stmnist_v1", "--json")
    card = json.loads(text)
    assert code == 0 and card["name"] == "stmnist_v1" and len(card["labels"]) == 36 and card["schema_version"] == 2
    assert [t["name"] for t in card["inputs"]] == ["serving_default_input_1:0"]
    top1 = {f["artifact"]: f["value"] for f in card["reported"] if f["metric"] == "top1_accuracy"}
    assert top1 == {"int8": 93.38, "float": 93.48}
    code, text = run("info", "stmnist_v1")
    assert code == 0 and "image-classification, 36 classes, by STMicroelectronics" in text
    assert "reported top1_accuracy (int8): 93.38 % — emnist_byclass_digits_upper" in text
    assert "reported latency (int8): 4.718 ms — STM32Cube.AI, 7.3.0, STM32H747I-DISCO" in text
    assert "input: serving_default_input_1:0 [1, 28, 28, 1] uint8 NHWC" in text and "reference: tflm" in text


def test_info_of_a_card_without_classes(tmp_path: Path) -> None:
    """A regression card has no labels: `zoo info` says its task and shows no class count."""
    import yaml
    from helpers import regression_card_data

    path = tmp_path / "regression_model.yaml"
    path.write_text(yaml.safe_dump(regression_card_data()))
    code, text = run("--card", str(path), "info", "regression_model")
    assert code == 0, text
    header = text.splitlines()[0]
    assert header == "regression_model 1.0 — regression, by STMicroelectronics"
    assert "output: StatefulPartitionedCall:0 [1, 36] float32 NC" in text


def test_info_unknown_model_exit_2() -> None:
    code, text = run("info", "stmnist")
    assert code == 2 and "Did you mean 'stmnist_v1'" in text


def test_backends() -> None:
    code, text = run("backends", "--json")
    found = json.loads(text)
    assert code == 0 and found["tflite"]["available"] is True
    assert found["tflm"]["available"] is True  # the conformance reference of every card
    for name, info in found.items():
        assert info["available"] or info["reason"], name


def test_predict_png_and_npy(tmp_path: Path, sample_images: np.ndarray) -> None:
    png = tmp_path / "square.png"
    Image.fromarray(sample_images[2, ..., 0]).save(png)
    npy = tmp_path / "batch.npy"
    np.save(npy, sample_images[:3])
    code, text = run("predict", "stmnist_v1", str(png), str(npy), "--top-k", "2", "--json")
    assert code == 0, text
    preds = json.loads(text)["predictions"]
    assert len(preds) == 4 and all(len(p["top"]) == 2 for p in preds)
    assert [p["image"] for p in preds] == [str(png)] + [f"{npy}[{i}]" for i in range(3)]
    assert preds[0]["top"] == preds[3]["top"]  # the PNG and the .npy hold the same square image
    scores = [t["score"] for t in preds[1]["top"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("content", "name", "needle"),
    [
        (b"hello", "notes.txt", "not an image file"),
        (None, "missing.png", "does not exist"),
        ("rgb", "colour.png", "RGB image"),
        ("big", "big.png", "Resize the images to 28x28"),
    ],
)
def test_predict_bad_files_exit_2(tmp_path: Path, content: object, name: str, needle: str) -> None:
    path = tmp_path / name
    if content == "rgb":
        Image.new("RGB", (28, 28)).save(path)
    elif content == "big":
        Image.new("L", (64, 64)).save(path)
    elif content is not None:
        path.write_bytes(content)
    code, text = run("predict", "stmnist_v1", str(path))
    assert code == 2 and needle in text


def test_predict_unknown_backend_exit_2(tmp_path: Path) -> None:
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((28, 28), np.uint8))
    code, text = run("predict", "stmnist_v1", str(npy), "--backend", "nope")
    assert code == 2 and "no backend named 'nope'" in text


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("zoo")
    proc = subprocess.run([str(exe), "list", "--json"], capture_output=True, text=True, timeout=120,
                          env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    assert [m["name"] for m in json.loads(proc.stdout)] == PACKAGED


@pytest.mark.emulator
def test_export_library_builds_alone_with_arm_gcc(tmp_path: Path) -> None:
    import shutil

    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    out = tmp_path / "lib"
    code, text = run("export", "stmnist_v1", str(out))
    assert code == 0, text
    assert (out / "stmnist_v1.h").is_file() and (out / "metadata.json").is_file()
    flags = ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb", "-O2", "-Wall", "-Werror"]
    for source in sorted(out.glob("*.c")):
        proc = subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(source), "-o", str(source.with_suffix(".o"))],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    code, text = run("export", "stmnist_v1", str(out))  # refuses to write into a non-empty folder
    assert code == 2 and "not empty" in text

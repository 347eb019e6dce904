"""Pictures for models whose image input is not raw uint8 pixels: the card's ``pixels`` mapping.

MLPerf Tiny's ResNet-8 takes ``pixel - 128`` as int8 and its visual-wake-words MobileNet ``pixel / 255``
quantized with scale ~1/255 and zero point -128 (the sources are in the cards); `zoo predict` must feed
a PNG to them exactly as their training code does, and refuse what it cannot map.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.card import parse_card
from zoo.cli import main
from zoo.errors import CardError, InputError
from zoo.inputs import pixels_to_input

pytestmark = pytest.mark.usefixtures("mirror")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _picture(seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("model", ["mlperf_ic01", "mlperf_vww01"])
def test_every_pixel_value_maps_as_the_training_code_does(model: str) -> None:
    """Both models' int8 input is pixel - 128 (ic01: scale 1; vww01: 1/255 then scale 0.0039215689)."""
    spec = zoo.get_card(model).input
    h, w, _ = spec.shape[1:]
    pixels = np.resize(np.arange(256, dtype=np.uint8), (1, h, w, 3))
    got = pixels_to_input(pixels, spec, model)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got.astype(np.int16), pixels.astype(np.int16) - 128)


def test_predict_png_on_resnet8_equals_the_int8_tensor(tmp_path: Path) -> None:
    pics = np.stack([_picture(1), _picture(2)])
    paths = []
    for i, pic in enumerate(pics):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(pic).save(paths[-1])
    npy = tmp_path / "pixels.npy"
    np.save(npy, pics)  # uint8 pixels in a .npy: mapped the same way
    code, text = run("predict", "mlperf_ic01", *map(str, paths), str(npy), "-b", "tflm", "-k", "10", "--json")
    assert code == 0, text
    preds = json.loads(text)["predictions"]
    m = zoo.load("mlperf_ic01", backend="tflm")
    want = m.predict((pics.astype(np.int16) - 128).astype(np.int8))
    card = m.card
    q = card.output.quantization
    for i, pred in enumerate(preds):
        scores = {t["label"]: t["score"] for t in pred["top"]}
        real = (want[i % 2].astype(np.float64) - q.zero_point) * q.scale
        assert [scores[label] for label in card.labels] == pytest.approx(real.tolist())


def test_int8_npy_is_taken_as_tensor_values(tmp_path: Path) -> None:
    values = (_picture(3).astype(np.int16) - 128).astype(np.int8)[None]
    npy = tmp_path / "values.npy"
    np.save(npy, values)
    code, text = run("predict", "mlperf_ic01", str(npy), "-b", "tflm", "--json")
    assert code == 0, text
    want = zoo.load("mlperf_ic01", backend="tflm").predict(values)
    top = json.loads(text)["predictions"][0]["top"][0]
    assert top["index"] == int(np.argmax(want[0]))


def test_grey_picture_is_expanded_to_rgb(tmp_path: Path) -> None:
    grey = _picture(4)[..., 0]
    png = tmp_path / "grey.png"
    Image.fromarray(grey).save(png)
    code, text = run("predict", "mlperf_ic01", str(png), "-b", "tflm", "--json")
    assert code == 0, text
    want = zoo.load("mlperf_ic01", backend="tflm").predict(
        (np.repeat(grey[None, ..., None], 3, axis=-1).astype(np.int16) - 128).astype(np.int8))
    assert json.loads(text)["predictions"][0]["top"][0]["index"] == int(np.argmax(want[0]))


def test_wrong_size_and_unmappable_pictures_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.fromarray(_picture(5, 64)).save(big)
    code, text = run("predict", "mlperf_ic01", str(big), "-b", "tflm")
    assert code == 2 and "Resize the images to 32x32" in text
    spec = zoo.get_card("mlperf_ic01").input.model_copy(update={"pixels": None})
    with pytest.raises(InputError, match="does not say how picture pixels map"):
        pixels_to_input(_picture(6)[None], spec, "mlperf_ic01")
    with pytest.raises(InputError, match="float64 values"):
        pixels_to_input(_picture(6)[None].astype(np.float64), spec, "mlperf_ic01")


def test_pixels_only_on_picture_tensors(tmp_path: Path) -> None:
    card = zoo.get_card("mlperf_ad01")
    data = card.model_dump(mode="json", exclude_none=True)
    data["inputs"][0]["pixels"] = {"scale": 1.0, "source": "nowhere"}
    with pytest.raises(CardError, match="pixels describe pictures"):
        parse_card(data, tmp_path / "mlperf_ad01.yaml")


def test_card_init_asks_for_the_pixel_mapping_of_an_int8_image_input(mirror: Path) -> None:
    from zoo.cardinit import draft_card

    _, todo = draft_card(mirror / "mlperf_ic01" / "pretrainedResnet_quant.tflite", "resnet8",
                         task="image-classification")
    assert any("pixels {scale, offset, source}" in t and "input_1_int8" in t for t in todo)
    _, todo = draft_card(mirror / "mlperf_kws01" / "kws_ref_model.tflite", "kws", task="audio-classification")
    assert not any("pixels" in t for t in todo)  # MFCC features, not pictures

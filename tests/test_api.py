"""zoo.load / predict on the real artifact and the real LiteRT runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import litert_direct

import zoo
from zoo.errors import BackendUnavailableError, InputError, UnknownNameError


@pytest.fixture(scope="module")
def model() -> zoo.Model:
    return zoo.load("stmnist_v1", backend="tflite")


def test_predict_equals_litert_direct(model: zoo.Model, tflite_path: Path, sample_images: np.ndarray) -> None:
    ours = model.predict(sample_images)
    assert ours.shape == (len(sample_images), 36) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, litert_direct(tflite_path, sample_images))


def test_predict_accepts_hw_batches_and_batch_sizes(model: zoo.Model, sample_images: np.ndarray) -> None:
    full = model.predict(sample_images)
    np.testing.assert_array_equal(model.predict(sample_images[..., 0]), full)
    np.testing.assert_array_equal(model.predict(sample_images[:1]), full[:1])
    np.testing.assert_array_equal(model.predict(sample_images[3:10]), full[3:10])


def test_outputs_are_softmax_steps(model: zoo.Model, sample_images: np.ndarray) -> None:
    out = model.predict(sample_images)
    steps = out * 256
    np.testing.assert_array_equal(steps, np.round(steps))
    assert np.all(np.abs(out.sum(1) - 1) < 0.1)


def test_logits_exposed_by_builtin_kernels(model: zoo.Model, sample_images: np.ndarray) -> None:
    logits = model.predict_logits(sample_images)
    assert logits.dtype == np.int8 and logits.shape == (len(sample_images), 36)
    np.testing.assert_array_equal(logits.argmax(1), model.predict(sample_images).argmax(1))


def test_model_carries_its_card(model: zoo.Model) -> None:
    assert model.card.name == "stmnist_v1" and model.artifact_id == "int8"


@pytest.mark.parametrize(
    ("images", "needle"),
    [
        (np.zeros((2, 28, 28), np.float32), "dtype float32"),
        (np.full((2, 28, 28), np.nan, np.float32), "NaN"),
        (np.zeros((28, 28), np.uint8), "add a batch axis"),
        (np.zeros((2, 32, 32), np.uint8), "Resize the images to 28x28"),
        (np.zeros((2, 28, 28, 3), np.uint8), "3 channel(s)"),
        (np.zeros((0, 28, 28), np.uint8), "empty batch"),
        (np.full((1, 28, 28), 300, np.int32), "values span [300, 300]"),
        (np.full((1, 28, 28), -1, np.int16), "expected [0, 255]"),
        ("not an image", "dtype <U"),
    ],
)
def test_bad_input_is_a_clear_error(model: zoo.Model, images: object, needle: str) -> None:
    with pytest.raises(InputError) as info:
        model.predict(images)
    assert needle in str(info.value)


def test_integer_images_in_range_are_accepted(model: zoo.Model, sample_images: np.ndarray) -> None:
    np.testing.assert_array_equal(model.predict(sample_images.astype(np.int64)), model.predict(sample_images))


def test_unknown_backend_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'tflite'"):
        zoo.load("stmnist_v1", backend="tflit")


def test_unknown_artifact() -> None:
    with pytest.raises(UnknownNameError, match="no artifact 'fp16'"):
        zoo.load("stmnist_v1", backend="tflite", artifact="fp16")


def test_backend_refuses_a_format_it_cannot_run() -> None:
    with pytest.raises(BackendUnavailableError, match="keras_h5"):
        zoo.load("stmnist_v1", backend="tflite", artifact="float")


def test_list_backends_reports_availability() -> None:
    found = zoo.list_backends()
    assert found["tflite"].ok
    assert {"tflite", "tflite-ref", "tflite-xnnpack", "onnxruntime", "tvm", "tvm-cortexm7"} <= set(found)


@pytest.mark.parametrize(("options", "needle"), [({"kernels": "fast"}, "kernels='fast' is not one of"),
                                                 ({"colour": 1}, "colour")])
def test_bad_backend_options(options: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        zoo.load("stmnist_v1", backend="tflite", **options)

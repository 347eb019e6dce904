"""Build a user's own int8 image classifier, as a zoo user would (its card then comes from `zoo card init`).

The model is not stmnist_v1: 20x20x1 uint8 images, 6 classes of synthetic shapes
(generated with numpy, seeded), a small depthwise-separable CNN trained for a few seconds
with TensorFlow, then quantized post-training to full int8 with the TFLite converter
(uint8 input, float32 output = DEQUANTIZE of the int8 softmax, like ST's model).

Example:
    >>> build_user_model(Path("/tmp/my_model")).name  # doctest: +SKIP
    'my_model.tflite'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LABELS", "NAME", "SIZE", "build_user_model", "make_shapes", "train_and_quantize"]

NAME = "my_model"
SIZE = 20  # images are SIZE x SIZE x 1
LABELS = ("square", "cross", "hbar", "vbar", "ring", "diagonal")
SEED = 7
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
EPOCHS = 12


def _shape(kind: int, rng: np.random.Generator) -> np.ndarray:
    """One white-on-black SIZE x SIZE image of shape `kind` at a random place and size."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    r = int(rng.integers(3, 6))
    cy, cx = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, size=2))
    dy, dx = np.abs(yy - cy), np.abs(xx - cx)
    masks = [
        (dy <= r) & (dx <= r),                                  # square (filled)
        ((dy <= 1) & (dx <= r)) | ((dx <= 1) & (dy <= r)),      # cross
        (dy <= 1) & (dx <= r + 2),                              # horizontal bar
        (dx <= 1) & (dy <= r + 2),                              # vertical bar
        np.abs(np.hypot(yy - cy, xx - cx) - r) <= 0.8,          # ring
        (np.abs((yy - cy) - (xx - cx)) <= 1) & (dy <= r),       # diagonal line
    ]
    bright = rng.uniform(150, 255)
    img = masks[kind] * bright + rng.normal(0, 20, (SIZE, SIZE))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_shapes(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A shuffled, labelled set of shape images.

    Args:
        per_class: images per class.
        seed: the numpy seed.

    Returns:
        ``images`` (N, SIZE, SIZE, 1) uint8 and ``labels`` (N,) int64.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(LABELS)), per_class)
    rng.shuffle(labels)
    images = np.stack([_shape(int(k), rng) for k in labels])[..., None]
    return images, labels.astype(np.int64)


def _keras_model() -> Any:
    """Conv -> depthwise-separable blocks -> global average pooling -> dense -> softmax."""
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((SIZE, SIZE, 1), name="image"),
        layers.Rescaling(1 / 255.0),
        layers.Conv2D(12, 3, strides=2, padding="same", activation="relu"),
        layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        layers.Conv2D(24, 1, activation="relu"),
        layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(32, 1, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(len(LABELS)),
        layers.Softmax(),
    ])


def train_and_quantize(out_path: Path) -> dict[str, float]:
    """Train the classifier (seeded, deterministic ops) and write the full-int8 ``.tflite``.

    Returns:
        ``{"float_accuracy": ...}`` on a held-out synthetic test set.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    x, y = make_shapes(TRAIN_PER_CLASS, SEED)
    xt, yt = make_shapes(TEST_PER_CLASS, SEED + 1)
    model = _keras_model()
    # label smoothing keeps the logits small, so one int8 logit step moves the softmax little
    loss = tf.keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    onehot = np.eye(len(LABELS), dtype=np.float32)
    model.fit(x.astype(np.float32), onehot[y], epochs=EPOCHS, batch_size=64, shuffle=True, verbose=0)
    float_acc = float(model.evaluate(xt.astype(np.float32), onehot[yt], verbose=0)[1])

    def representative() -> Any:
        for img in x[:200]:
            yield [img[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.float32
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(converter.convert())
    return {"float_accuracy": float_acc}


def build_user_model(out_dir: Path) -> Path:
    """Train and quantize the user's model; write ``my_model.tflite`` (its card comes from `zoo card init`).

    Args:
        out_dir: the folder to write into (created if missing).

    Returns:
        The path of the ``.tflite``.
    """
    tflite = Path(out_dir).resolve() / f"{NAME}.tflite"
    train_and_quantize(tflite)
    return tflite

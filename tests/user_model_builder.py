"""Build a user's own int8 image classifier and its YAML card, as a zoo user would.

The model is not stmnist_v1: 20x20x1 uint8 images, 6 classes of synthetic shapes
(generated with numpy, seeded), a small depthwise-separable CNN trained for a few seconds
with TensorFlow, then quantized post-training to full int8 with the TFLite converter
(uint8 input, float32 output = DEQUANTIZE of the int8 softmax, like ST's model). The card
is written beside the ``.tflite`` with the file's sha256 and size, the tensor names and
quantizations read back from the flatbuffer with LiteRT, and conformance budgets derived
from measuring LiteRT's XNNPACK path against its builtin kernels on this very model.

Example:
    >>> card_path = build_user_model(Path("/tmp/my_model"))  # doctest: +SKIP
    >>> card_path.name
    'my_model.yaml'
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from helpers import litert_direct

__all__ = ["LABELS", "NAME", "SIZE", "build_user_model", "make_shapes", "train_and_quantize", "write_card"]

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


def _tensor_facts(tflite: Path) -> dict[str, Any]:
    """Input/output names and quantizations, and the int8 softmax's input and output, from the file."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    details = {t["index"]: t for t in interp.get_tensor_details()}
    softmax = next(op for op in interp._get_ops_details() if op["op_name"] == "SOFTMAX")  # noqa: SLF001

    def quant(t: dict[str, Any]) -> dict[str, float | int]:
        scale, zp = t["quantization"]
        return {"scale": float(scale), "zero_point": int(zp)}

    return {"input": inp["name"], "output": out["name"], "input_q": quant(inp),
            "logits_q": quant(details[softmax["inputs"][0]]), "softmax_q": quant(details[softmax["outputs"][0]])}


def measure(tflite: Path, facts: dict[str, Any]) -> dict[str, float]:
    """Accuracy of the int8 model and the XNNPACK-vs-builtin spread, on held-out shapes and noise.

    The noise images (uniform and sparse random pixels) stand in for the golden vectors' random
    inputs, which sit far from the training data and are where kernels disagree most.
    """
    images, labels = make_shapes(TEST_PER_CLASS, SEED + 1)
    rng = np.random.default_rng(SEED + 2)
    noise = rng.integers(0, 256, (64, SIZE, SIZE, 1))
    noise[32:] *= rng.random((32, SIZE, SIZE, 1)) < 0.2
    batch = np.concatenate([images, noise.astype(np.uint8)])
    ref, xnn = litert_direct(tflite, batch, "builtin"), litert_direct(tflite, batch, "xnnpack")
    step = facts["softmax_q"]["scale"]
    delta = np.rint(np.abs(ref - xnn) / step)
    return {"int8_accuracy": float((ref[: len(images)].argmax(1) == labels).mean()),
            "xnnpack_max_abs_lsb": int(delta.max()), "xnnpack_mismatch": float((delta > 0).mean()),
            "xnnpack_mismatch_gt1": float((delta > 1).mean()),
            "xnnpack_top1": float((ref.argmax(1) == xnn.argmax(1)).mean()), "images": len(batch)}


def _dumper() -> type:
    """A YAML dumper that writes lists of numbers or strings on one line, like the hand-written cards."""
    import yaml

    class CardDumper(yaml.SafeDumper):
        pass

    def flow_list(dumper: yaml.SafeDumper, value: list) -> yaml.Node:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)

    CardDumper.add_representer(list, flow_list)
    return CardDumper


def _budgets(m: dict[str, float], facts: dict[str, Any]) -> dict[str, Any]:
    """Default int8 budget: the measured XNNPACK spread rounded up with a margin, with its derivation.

    XNNPACK exposes no logits, so the logits budget is the smallest logit change that explains its
    output spread: d softmax / d logit <= 1/4, so one logit step moves a probability by at most
    ``logit_scale / 4``, i.e. ``logit_scale / 4 / output_scale`` output steps.
    """
    steps_per_logit = facts["logits_q"]["scale"] / 4 / facts["softmax_q"]["scale"]
    logits = max(1, math.ceil(m["xnnpack_max_abs_lsb"] / steps_per_logit))
    budget = {"max_abs_lsb": max(4, 2 * int(m["xnnpack_max_abs_lsb"]) + 2),
              "mismatch_fraction": min(1.0, max(0.02, math.ceil(m["xnnpack_mismatch"] * 200) / 100)),
              "mismatch_gt1_fraction": min(1.0, max(0.01, math.ceil(m["xnnpack_mismatch_gt1"] * 200) / 100)),
              "top1_agreement": min(0.95, math.floor(m["xnnpack_top1"] * 100 - 1) / 100),
              "accuracy_delta_pct": 1.0, "logits_max_abs_lsb": logits}
    budget["derivation"] = (
        f"A host backend must be about as close to the reference (LiteRT builtin kernels = TFLite Micro) as "
        f"LiteRT's own XNNPACK path. Measured XNNPACK vs builtin by tests/user_model_builder.py on "
        f"{m['images']} images ({TEST_PER_CLASS * len(LABELS)} held-out shapes + 64 noise images): largest "
        f"difference {m['xnnpack_max_abs_lsb']} steps, {m['xnnpack_mismatch']:.2%} of elements differ, "
        f"{m['xnnpack_mismatch_gt1']:.2%} by more than one step, top-1 agreement {m['xnnpack_top1']:.2%}. "
        f"Budgets are twice those figures plus a margin (at least 4 steps, 2% / 1% of elements). Top-1 "
        f"agreement: one point below the measured figure and at most 95%, because the golden set holds only "
        f"80 images, all noise or patterns far from the training data, where near-tie flips are common "
        f"(one flip is 1.25%). Logits: XNNPACK exposes none; one logit step ({facts['logits_q']['scale']:.4g}) "
        f"moves a probability by at most {steps_per_logit:.2f} output steps (d softmax/d logit <= 1/4), so "
        f"XNNPACK's {m['xnnpack_max_abs_lsb']} steps mean logits at least {logits} logit steps apart; that "
        f"is the logits budget.")
    return budget


def write_card(tflite: Path, facts: dict[str, Any], m: dict[str, float], float_acc: float) -> Path:
    """Write ``<name>.yaml`` beside the ``.tflite``: the user's card, no code change needed."""
    import yaml

    data = tflite.read_bytes()
    exact = {"max_abs_lsb": 0, "mismatch_fraction": 0.0, "mismatch_gt1_fraction": 0.0, "top1_agreement": 1.0,
             "accuracy_delta_pct": 0.0, "logits_max_abs_lsb": 0,
             "derivation": "The reference itself must reproduce its golden vectors exactly."}
    card = {
        "schema_version": 1, "name": NAME, "version": "0.1", "task": "image-classification",
        "description": (f"A user's own int8 shape classifier: {SIZE}x{SIZE} grey images, {len(LABELS)} classes of "
                        f"synthetic shapes, trained with TensorFlow (float top-1 {float_acc:.2%}, int8 "
                        f"{m['int8_accuracy']:.2%} on {TEST_PER_CLASS * len(LABELS)} held-out images)."),
        "publisher": "zoo user", "license": "MIT",
        "labels": list(LABELS),
        "artifacts": {"int8": {"file": tflite.name, "format": "tflite", "precision": "int8", "url": str(tflite),
                               "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}},
        "default_artifact": "int8",
        "input": {"name": facts["input"], "shape": [1, SIZE, SIZE, 1], "layout": "NHWC", "dtype": "uint8",
                  "value_range": [0, 255], "description": f"One {SIZE}x{SIZE} grey image, white shape on black.",
                  "quantization": facts["input_q"]},
        "output": {"name": facts["output"], "shape": [1, len(LABELS)], "layout": "NC", "dtype": "float32",
                   "value_range": [0.0, 1.0], "description": "Per-class softmax, in the order of labels.",
                   "source_quantization": facts["softmax_q"], "logits_quantization": facts["logits_q"]},
        "conformance": {"reference_backend": "tflite", "golden": f"{NAME}_golden.npz",
                        "tolerances": {"int8": _budgets(m, facts)},
                        "backend_tolerances": {"tflite": {"int8": exact}}},
    }
    path = tflite.with_name(f"{NAME}.yaml")
    path.write_text("# A user's own model card, written by tests/user_model_builder.py.\n"
                    + yaml.dump(card, Dumper=_dumper(), sort_keys=False, width=100, allow_unicode=True))
    return path


def build_user_model(out_dir: Path) -> Path:
    """Train, quantize and measure the user's model; write ``my_model.tflite`` and ``my_model.yaml``.

    Args:
        out_dir: the folder to write into (created if missing).

    Returns:
        The path of the YAML card.
    """
    tflite = Path(out_dir).resolve() / f"{NAME}.tflite"
    float_acc = train_and_quantize(tflite)["float_accuracy"]
    facts = _tensor_facts(tflite)
    return write_card(tflite, facts, measure(tflite, facts), float_acc)

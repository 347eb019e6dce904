"""Helpers shared by the backend test modules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Spread:
    """How far a backend's outputs are from the reference's, in output steps (1/256)."""

    max_lsb: int
    mismatch: float
    top1: float


def spread(ours: np.ndarray, ref: np.ndarray, label: str) -> Spread:
    """Max |Δ| in output steps, share of differing elements and top-1 agreement (printed; see ``-s``)."""
    steps = np.abs(ours.astype(np.float64) - ref) * 256
    result = Spread(int(np.rint(steps.max())), float(np.mean(steps > 0.5)),
                    float(np.mean(ours.argmax(1) == ref.argmax(1))))
    print(f"\n[{label}] n={len(ours)} max|Δ|={result.max_lsb} steps, differing={result.mismatch:.2%}, "
          f"top-1 agreement={result.top1:.2%}")
    return result


def litert_direct(tflite: Path, images: np.ndarray, kernels: str = "builtin") -> np.ndarray:
    """Outputs of LiteRT called directly, one image at a time: builtin kernels (no delegate) or XNNPACK."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {"builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, "xnnpack": OpResolverType.AUTO}[kernels]
    interp = Interpreter(model_path=str(tflite), experimental_op_resolver_type=resolver, num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    rows = []
    for image in images:
        interp.set_tensor(inp, image[None])
        interp.invoke()
        rows.append(interp.get_tensor(out)[0].copy())
    return np.stack(rows)


# Card documents (schema 2) for the card tests: stmnist_v1's own, and variants of it for the other
# tasks and tensor kinds, so that each rule of the schema is exercised on a card that is valid
# except for the one thing a test breaks.


def stmnist_card_data() -> dict:
    """stmnist_v1.yaml as a plain document (a fresh copy each call)."""
    import yaml

    from zoo.registry import card_path

    return yaml.safe_load(card_path("stmnist_v1").read_text())


def _without_classes(data: dict, task: str) -> dict:
    data["task"] = task
    data.pop("labels")
    data["conformance"].pop("evaluation_dataset")  # real digits are labelled with the 36 classes
    data["conformance"]["backend_tolerances"] = {}
    data["reported"] = [r for r in data["reported"] if r["metric"] != "top1_accuracy"]
    for tol in data["conformance"]["tolerances"].values():
        for key in ("top1_agreement", "accuracy_delta_pct", "logits_max_abs_lsb"):
            tol.pop(key, None)
    return data


def regression_card_data() -> dict:
    """A regression card: no labels, a float32 output measured in a relative step (rtol x range)."""
    data = _without_classes(stmnist_card_data(), "regression")
    data["name"] = "regression_model"
    out = data["outputs"][0]
    out.pop("source_quantization")
    out.pop("logits_quantization")
    out |= {"rtol": 0.01, "value_range": [0.0, 1.0], "description": "36 regressed values in [0, 1]"}
    return data


def autoencoder_card_data() -> dict:
    """An anomaly-detection card: the output is an int8 reconstruction shaped like the input."""
    data = _without_classes(stmnist_card_data(), "anomaly-detection")
    data["name"] = "autoencoder_model"
    data["outputs"] = [{"name": "reconstruction", "shape": [1, 28, 28, 1], "layout": "NHWC", "dtype": "int8",
                        "quantization": {"scale": 0.0039, "zero_point": -128}, "description": "the image, rebuilt"}]
    for tol in data["conformance"]["tolerances"].values():
        tol["anomaly_score_rel_delta"] = 0.05
    return data


def timeseries_card_data() -> dict:
    """A sensor-window classifier: one int8 input of time x channels (NTC) and a second input (NC)."""
    data = stmnist_card_data()
    data["name"] = "timeseries_model"
    data["task"] = "timeseries-classification"
    data["inputs"] = [
        {"name": "window", "shape": [1, 128, 3], "layout": "NTC", "dtype": "int8",
         "quantization": {"scale": 0.05, "zero_point": 0}, "description": "128 accelerometer samples, x y z"},
        {"name": "context", "shape": [1, 4], "layout": "NC", "dtype": "float32", "value_range": [-1.0, 1.0],
         "description": "four float features"},
    ]
    data["conformance"].pop("evaluation_dataset")  # digits are images, not sensor windows
    data["conformance"]["golden_inputs"] = "timeseries"
    return data

"""`zoo card init MODEL.tflite`: write a valid card for a model, with golden vectors and measured budgets.

Reads the model's tensors, quantization and operators (:mod:`zoo.tflite_model`), pins the file
by sha256 and size, writes the card, generates its golden vectors with the reference backend
(``tflm``), then measures how far LiteRT's kernel sets are from the reference on them and sets
the budgets by the project's rule: every host backend must be at least as close to TFLM as the
furthest of LiteRT's own kernel sets, with a margin; each LiteRT kernel set gets its own measured
spread with a margin; the reference and the device backends must be exact. The derivation is
written into the card.

Example:
    >>> path = init_card(Path("kws_ref_model.tflite"), "my_kws", out_dir=Path("cards"),
    ...                  task="audio-classification", labels=["down", "go", ...])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from zoo.artifacts import sha256_of
from zoo.atomic import atomic_write
from zoo.card import TASKS, parse_card
from zoo.errors import CardError, InputError
from zoo.tflite_model import TensorInfo, TFLiteInfo, read_tflite

__all__ = ["InitResult", "init_card", "measure_budgets", "measure_float_budget", "write_card_data", "LITERT_SETS",
           "DEVICE_BACKENDS"]

LITERT_SETS = ("tflite", "tflite-ref", "tflite-xnnpack")  # LiteRT's kernel sets: the measured spread
DEVICE_BACKENDS = ("tvm-cortexm0", "tvm-cortexm4", "tvm-cortexm7", "tvm-cortexm33", "tvm-cortexm55")
REFERENCE_REASON = (
    "A microcontroller runs TensorFlow Lite Micro's (or CMSIS-NN's, which equals it) integer arithmetic, and TFLM's "
    "Python interpreter is byte-identical with TFLM firmware built for the emulated Cortex-M4, M7 and M33, with "
    "CMSIS-NN and with reference kernels (FACTS.md, 'TensorFlow Lite Micro itself'). LiteRT's kernels are close "
    "to it on some models and not on others: the table below gives their measured distance on this one.")
GOLDEN_KIND = {"image-classification": "image", "audio-classification": "audio_features",
               "timeseries-classification": "timeseries", "anomaly-detection": "spectrogram"}
LAYOUTS = {1: "N", 2: "NC", 3: "NTC", 4: "NHWC"}


@dataclass(frozen=True)
class InitResult:
    card_path: Path
    golden_path: Path
    todo: list[str]  # what the user should fill in


def _quant(t: TensorInfo) -> dict[str, Any] | None:
    return None if t.scale is None else {"scale": t.scale, "zero_point": t.zero_point}


def _source_of(info: TFLiteInfo, t: TensorInfo) -> TensorInfo | None:
    """The int8 tensor a float output is dequantized from (the input of its DEQUANTIZE), if any."""
    op = info.producer(t.index)
    if op is not None and op.name == "DEQUANTIZE":
        src = info.tensors[op.inputs[0]]
        return src if src.scale is not None else None
    return None


def _float_input_range(info: TFLiteInfo, t: TensorInfo) -> list[float] | None:
    """The real range a float input is quantized into by the model's first QUANTIZE of it."""
    op = next((o for o in info.operators if o.name == "QUANTIZE" and t.index in o.inputs), None)
    if op is None:
        return None
    q = info.tensors[op.outputs[0]]
    low, high = {"int8": (-128, 127), "uint8": (0, 255)}.get(q.dtype, (None, None))
    if q.scale is None or low is None:
        return None
    return [round((low - q.zero_point) * q.scale, 6), round((high - q.zero_point) * q.scale, 6)]


def _spec(info: TFLiteInfo, t: TensorInfo, role: str, value_range: list[float] | None) -> dict[str, Any]:
    if t.dtype not in ("uint8", "int8", "float32"):
        raise CardError(f"{role} {t.name!r} is {t.dtype}; zoo cards describe uint8, int8 and float32 tensors")
    shape = [1, *t.shape[1:]] if t.shape else [1]
    spec: dict[str, Any] = {"name": t.name, "shape": shape, "dtype": t.dtype,
                            "layout": LAYOUTS.get(len(shape), "N" + "X" * (len(shape) - 1)),
                            "description": f"[fill in: what the {role} holds]"}
    if t.dtype != "float32":
        spec["quantization"] = _quant(t)
    elif role == "input":
        rng = value_range or _float_input_range(info, t)
        if rng is None:
            raise CardError(f"input {t.name!r} is float32 and the model does not say what range it quantizes it "
                            "into; pass --value-range LOW HIGH (the range real inputs span)")
        spec["value_range"] = rng
    else:
        src = _source_of(info, t)
        if src is None:
            raise CardError(f"output {t.name!r} is float32 with no int8 source (no DEQUANTIZE before it); zoo "
                            "measures differences in integer steps: give this model's card an `rtol` by hand")
        spec["source_quantization"] = _quant(src)
    return spec


def _task(info: TFLiteInfo, task: str | None) -> str:
    if task is not None:
        if task not in TASKS:
            raise InputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        return task
    i, o = info.inputs[0], info.outputs[0]
    if math.prod(i.shape[1:]) == math.prod(o.shape[1:]) and len(info.outputs) == 1:
        return "anomaly-detection"
    if info.operators and info.operators[-1].name in ("SOFTMAX", "DEQUANTIZE") and any(
            op.name == "SOFTMAX" for op in info.operators):
        return "image-classification" if len(i.shape) == 4 else "classification"
    return "regression"


def draft_card(model: Path, name: str, task: str | None = None, labels: list[str] | None = None,
               url: str | None = None, value_range: list[float] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The card (as YAML data, budgets still open) for a model file, and what the user must fill in."""
    info = read_tflite(model)
    task = _task(info, task)
    todo = ["description, publisher, license (and each tensor's description)"]
    quantized = any(t.dtype in ("int8", "uint8") for t in info.tensors if t.scale is not None)
    ins = [_spec(info, t, "input", value_range) for t in info.inputs]
    outs = [_spec(info, t, "output", None) for t in info.outputs]
    logits = info.logits()
    if logits is not None and TASKS[task] == "classifier":
        outs[0]["logits_quantization"] = _quant(logits)
    card: dict[str, Any] = {
        "schema_version": 2, "name": name, "version": "1.0", "task": task,
        "description": f"[fill in] {model.name}: {', '.join(sorted(set(info.op_names())))}.",
        "publisher": "[fill in]", "license": "[fill in]",
        "artifacts": {"int8" if quantized else "float": {
            "file": model.name, "format": "tflite", "precision": "int8" if quantized else "float32",
            "url": url or str(model.resolve()), "sha256": sha256_of(model), "size": model.stat().st_size}},
        "default_artifact": "int8" if quantized else "float", "inputs": ins, "outputs": outs,
    }
    if labels is not None and TASKS[task] != "classifier":
        raise InputError(f"--labels names classes, but task {task} has none; drop --labels or pass a classifier --task")
    if TASKS[task] == "classifier":
        classes = int(info.outputs[0].shape[-1])
        if labels is None:
            labels = [f"class_{k}" for k in range(classes)]
            todo.insert(0, f"labels: {classes} class names in the order of the output (placeholders written)")
        elif len(labels) != classes:
            raise InputError(f"--labels gives {len(labels)} names but the output has {classes} classes")
        card["labels"] = list(labels)
    pictures = [s["name"] for s in ins if s["layout"] == "NHWC" and s["shape"][-1] in (1, 3) and s["dtype"] != "uint8"]
    if pictures and task == "image-classification":
        todo.append(f"inputs {pictures}: pixels {{scale, offset, source}}, how the training code maps a picture's "
                    "pixels to the input's real values (value = pixel x scale + offset), so `zoo predict` takes PNGs")
    return card, todo


def _open_budget(kind: str) -> dict[str, Any]:
    tol: dict[str, Any] = {"max_abs_lsb": 1 << 30, "mismatch_fraction": 1.0, "mismatch_gt1_fraction": 1.0,
                           "derivation": "provisional: replaced by the measured budget once measured"}
    if kind == "classifier":
        tol["top1_agreement"] = 0.0
    if kind == "autoencoder":
        tol["anomaly_score_rel_delta"] = 1e9
    return tol


def _exact(kind: str, why: str) -> dict[str, Any]:
    tol: dict[str, Any] = {"max_abs_lsb": 0, "mismatch_fraction": 0.0, "mismatch_gt1_fraction": 0.0, "derivation": why}
    if kind == "classifier":
        tol |= {"top1_agreement": 1.0, "logits_max_abs_lsb": 0}
    if kind == "autoencoder":
        tol["anomaly_score_rel_delta"] = 0.0
    return tol


def _with_margin(cmps: list[Any], kind: str, elements: int) -> dict[str, Any]:
    """A budget just above the worst of the measured comparisons: a step, an element, an example of margin."""
    worst_abs = max(c.max_abs_lsb for c in cmps)
    tol: dict[str, Any] = {
        "max_abs_lsb": worst_abs + max(1, math.ceil(worst_abs / 10)),
        "mismatch_fraction": min(1.0, round(max(c.mismatch_fraction for c in cmps) * 1.25 + 1 / elements, 6)),
        "mismatch_gt1_fraction": min(1.0, round(max(c.mismatch_gt1_fraction for c in cmps) * 1.25 + 1 / elements, 6)),
    }
    n = cmps[0].images
    if kind == "classifier":
        low = min(c.top1_agreement for c in cmps)
        tol["top1_agreement"] = max(0.0, round(low - max((1 - low) * 0.25, 1 / n), 6))
        logit = [c.logits_max_abs_lsb for c in cmps]
        if logit and None not in logit:  # budget logits only where every measured runtime exposes them
            tol["logits_max_abs_lsb"] = max(logit) + 1
    if kind == "autoencoder":
        tol["anomaly_score_rel_delta"] = round(max(c.anomaly_score_rel_delta or 0.0 for c in cmps) * 1.25 + 1e-3, 6)
    return tol


def _describe(name: str, c: Any) -> str:
    text = (f"{name}: max |Δ| {c.max_abs_lsb} steps, {c.mismatch_fraction:.4%} of elements differ "
            f"({c.mismatch_gt1_fraction:.4%} by more than one step)")
    if c.top1_agreement is not None:
        text += f", top-1 agreement {c.top1_agreement:.2%}"
    if c.logits_max_abs_lsb is not None:
        text += f", logits {c.logits_max_abs_lsb} steps"
    if c.anomaly_score_rel_delta is not None:
        text += f", anomaly score relative Δ {c.anomaly_score_rel_delta:.3g}"
    return text


def _measure_golden(card: Any, runs: list[tuple[str, str, str]]) -> list[Any]:
    """Each ``(entry, backend, artifact)`` run on the card's golden vectors: its comparison with the reference."""
    from zoo.conformance.harness import check_backend

    measured = []
    for entry, backend, artifact in runs:
        result = check_backend(card, entry, backend, artifact, None, timing=False)
        if result.golden is None:
            raise CardError(f"cannot measure {backend} on the {artifact} artifact of {card.name}: {result.reason}")
        measured.append(result.golden)
    return measured


def measure_budgets(card_path: Path) -> dict[str, Any]:
    """Measure LiteRT's kernel sets against the card's reference on its golden vectors; return the budget every
    host backend (LiteRT's own kernel sets included) is held to, with its derivation."""
    from importlib.metadata import version

    import zoo
    from zoo.conformance.harness import entries

    card = zoo.get_card(str(card_path))
    runs = [(e, b, a) for e, b, a in entries(card, [b for b in LITERT_SETS if zoo.backend_availability(b)])
            if a == card.default_artifact]
    measured = {b: c for (_, b, _), c in zip(runs, _measure_golden(card, runs), strict=True)}
    if not measured:
        raise CardError("no LiteRT backend is available to measure budgets with; pip install 'zoo[tflite]'")
    elements = sum(s.elements for s in card.outputs) * next(iter(measured.values())).images
    stamp = (f"measured by `zoo card init` on {date.today().isoformat()} (LiteRT {version('ai-edge-litert')}, "
             f"tflite-micro {version('tflite-micro')}) on the {next(iter(measured.values())).images} golden vectors")
    figures = "; ".join(_describe(b, c) for b, c in measured.items())
    default = _with_margin(list(measured.values()), card.kind, elements)
    unbudgeted = card.kind == "classifier" and "logits_max_abs_lsb" not in default
    default["derivation"] = (
        f"Every host backend (LiteRT's own kernel sets included) must be at least as close to the reference "
        f"({card.conformance.reference_backend}) as the furthest of LiteRT's kernel sets, with a margin of a step, "
        f"an element and an example; {stamp}: {figures}."
        + (" XNNPACK does not expose logits, so host backends' logits are not budgeted (device backends must "
           "still match them exactly)." if unbudgeted else ""))
    return default


def init_card(model: Path, name: str, out_dir: Path, task: str | None = None, labels: list[str] | None = None,
              url: str | None = None, value_range: list[float] | None = None,
              extra: dict[str, Any] | None = None, copy_model: bool = False) -> InitResult:
    """Write ``<out_dir>/<name>.yaml`` and its golden vectors for a .tflite model, budgets measured.

    Args:
        model: the .tflite file.
        name: the registry name (lower case, digits, ``_.-``).
        out_dir: where the card, its golden vectors (and with `copy_model` the model) go.
        task, labels: see :data:`zoo.card.TASKS`; classifiers without labels get placeholders.
        url: where the file is published (default: the model's local path).
        value_range: real range of a float32 input the model does not state.
        extra: card keys to add or replace (e.g. upstream, references, reported figures).

    Returns:
        The written paths and what the user should fill in.

    Raises:
        CardError, InputError: the model cannot be described (the message says what to pass).
    """
    import zoo
    from zoo.conformance.golden import make_golden, write_golden

    model = Path(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    if copy_model:
        shutil.copy2(model, out_dir / model.name)
    data, todo = draft_card(model, name, task, labels, url, value_range)
    data |= extra or {}
    kind = TASKS[data["task"]]
    art = data["default_artifact"]
    data["conformance"] = {"reference_backend": "tflm", "reference_reason": REFERENCE_REASON,
                           "golden": f"{name}_golden.npz",
                           "golden_inputs": GOLDEN_KIND.get(data["task"], "generic"),
                           "tolerances": {a: _open_budget(kind) for a in data["artifacts"]}} | (
                               (extra or {}).get("conformance", {}))
    path = out_dir / f"{name}.yaml"
    write_card_data(data, path)
    card = zoo.get_card(str(path))
    golden = out_dir / data["conformance"]["golden"]
    write_golden(make_golden(card), golden)
    default = measure_budgets(path)
    exact = {"tflm": _exact(kind, "The reference itself must reproduce its golden vectors exactly.")}
    exact |= {d: _exact(kind, "A device backend runs TFLite Micro's integer arithmetic: bit-exact with it, outputs "
                              "and logits identical on every input.") for d in DEVICE_BACKENDS}
    data["conformance"]["tolerances"][art] = default
    data["conformance"]["backend_tolerances"] = {b: {art: t} for b, t in exact.items()}
    write_card_data(data, path)
    gaps = measured_gaps(path)
    if gaps:
        data["conformance"]["known_gaps"] = [*data["conformance"].get("known_gaps", []), *gaps]
        write_card_data(data, path)
        todo.append(f"{len(gaps)} known gap(s) measured and declared (see conformance.known_gaps): check their reasons")
    return InitResult(path, golden, todo)


OTHER_HOSTS = ("onnxruntime", "tvm")


def measured_gaps(card_path: Path) -> list[dict[str, str]]:
    """Run the other host backends (ONNX Runtime, TVM) on the golden vectors; every check one of them fails
    becomes a declared known gap whose reason gives the measured figure, so the card says where they part
    from TFLM further than LiteRT does instead of hiding it or loosening the budget."""
    import zoo
    from zoo.conformance.harness import check_backend, entries

    card = zoo.get_card(str(card_path))
    gaps = []
    for entry, backend, artifact in entries(card, [b for b in OTHER_HOSTS if zoo.backend_availability(b)]):
        if artifact is None:
            continue
        result = check_backend(card, entry, backend, artifact, None, timing=False)
        for check in result.failures():
            why = "further from the reference than LiteRT's kernel sets" if check.name != "compile.ok" else "fails"
            gaps.append({"backend": entry, "check": check.name,
                         "reason": f"measured by `zoo card init` on {date.today().isoformat()}: {backend} {why} on "
                                   f"this model ({check.message[:300]})"})
    return gaps


def write_card_data(data: dict[str, Any], path: Path) -> None:
    """Validate card data and write it atomically as YAML (never a card that does not load)."""
    parse_card(data, path)  # never write a card that does not load
    text = "# Written by `zoo card init`; edit the [fill in] fields, keep the measured budgets.\n"
    text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    atomic_write(path, text, "model card")


def measure_float_budget(card_path: Path, artifact: str) -> dict[str, Any]:
    """A loose budget for a float artifact of an int8 card: a different model than the int8 one, measured
    (LiteRT builtin running it against the int8 reference, on the golden vectors) with a margin."""
    from importlib.metadata import version

    import zoo

    card = zoo.get_card(str(card_path))
    (c,) = _measure_golden(card, [(f"tflite:{artifact}", "tflite", artifact)])
    elements = sum(s.elements for s in card.outputs) * c.images
    budget = _with_margin([c], card.kind, elements)
    budget.pop("logits_max_abs_lsb", None)
    return budget | {"derivation": (
        f"The float model is a different model from the int8 one, so it is compared with the int8 reference "
        f"loosely: its real-valued outputs in the reference's output steps. Measured by `zoo card init` on "
        f"{date.today().isoformat()} (LiteRT {version('ai-edge-litert')} builtin kernels running the float file, "
        f"against {card.conformance.reference_backend} on the int8 file, {c.images} golden vectors converted to "
        f"floats with the card's input quantization): {_describe('tflite', c)}; budget: that with a margin.")}

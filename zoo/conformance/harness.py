"""The conformance harness: every check of one backend on one card, as data.

`zoo validate` and the pytest suite (zoo.conformance.suite) both run this code. Budgets,
thresholds and known gaps come from the card's ``conformance`` section, never from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import zoo
from zoo.backend import LOGITS
from zoo.card import Card, TensorSpec, Tolerance
from zoo.conformance.checks import CheckDef, checks_for
from zoo.conformance.golden import load_golden
from zoo.conformance.metrics import Comparison, compare, dequantize
from zoo.errors import DoesNotFitError, ZooError

__all__ = ["Check", "BackendResult", "EvalData", "check_backend", "comparison_checks", "convert_inputs", "entries"]


@dataclass(frozen=True)
class Check:
    """One conformance check: measured value against its budget."""

    name: str
    value: float | int | None
    budget: float | int | None
    passed: bool
    message: str
    known_gap: str | None = None  # the card's reason, when the card declares this check a known gap

    @property
    def status(self) -> str:
        if self.known_gap:
            return "xpass" if self.passed else "xfail"
        return "pass" if self.passed else "fail"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "budget": self.budget, "status": self.status,
                "message": self.message, "known_gap": self.known_gap}


@dataclass(frozen=True)
class EvalData:
    """Labelled images for the accuracy checks, with the reference backend's outputs on them."""

    name: str
    images: np.ndarray  # the first (only) input
    labels: np.ndarray
    reference_outputs_by_name: dict[str, np.ndarray]
    reference_logits: np.ndarray | None

    @property
    def reference_outputs(self) -> np.ndarray:
        """The reference's first output (class scores)."""
        return next(iter(self.reference_outputs_by_name.values()))

    @property
    def reference_accuracy(self) -> float:
        scores = self.reference_outputs.reshape(len(self.labels), -1)
        return float((scores.argmax(1) == self.labels).mean())


@dataclass
class BackendResult:
    """Everything measured for one backend (and artifact) on one card."""

    entry: str
    backend: str
    artifact: str | None
    status: str = "skipped"
    reason: str = ""
    checks: list[Check] = field(default_factory=list)
    golden: Comparison | None = None
    data: Comparison | None = None
    accuracy: float | None = None
    top5_accuracy: float | None = None
    confusion: np.ndarray | None = None  # (classes, classes): rows true label, columns prediction
    predictions: np.ndarray | None = None
    latency_ms: float | None = None
    throughput_ips: float | None = None
    footprint: dict[str, Any] | None = None
    instructions_per_inference: int | None = None
    fit: dict[str, Any] | None = None  # device backends: the part's regions, and overflows when it does not fit

    def per_class_accuracy(self) -> list[float | None] | None:
        """Top-1 accuracy of each class (None where the data has no image of it)."""
        if self.confusion is None:
            return None
        totals = self.confusion.sum(1)
        return [None if t == 0 else float(self.confusion[i, i] / t) for i, t in enumerate(totals)]

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def as_dict(self) -> dict[str, Any]:
        worst = [c for c in (self.golden, self.data) if c is not None]
        return {
            "status": self.status, "reason": self.reason, "backend": self.backend, "artifact": self.artifact,
            "accuracy": self.accuracy, "top5_accuracy": self.top5_accuracy,
            "per_class_accuracy": self.per_class_accuracy(),
            "confusion": None if self.confusion is None else self.confusion.tolist(),
            "max_abs_lsb": max((c.max_abs_lsb for c in worst), default=None),
            "mismatch_fraction": max((c.mismatch_fraction for c in worst), default=None),
            "top1_agreement": min((c.top1_agreement for c in worst if c.top1_agreement is not None), default=None),
            "latency_ms": self.latency_ms, "throughput_ips": self.throughput_ips,
            "golden": self.golden.as_dict() if self.golden else None,
            "data": self.data.as_dict() if self.data else None,
            "checks": [c.as_dict() for c in self.checks],
            "footprint": self.footprint, "instructions_per_inference": self.instructions_per_inference,
            "fit": self.fit,
        }


def entries(card: Card, backends: list[str]) -> list[tuple[str, str, str | None]]:
    """(entry name, backend, artifact id) for each backend: its default artifact, plus the card's
    other artifacts it can run (named ``backend:artifact``)."""
    out: list[tuple[str, str, str | None]] = []
    for name in backends:
        ok = zoo.backend_availability(name)
        if not ok:
            out.append((name, name, None))
            continue
        backend = zoo.registry.backend_class(name)()
        first = backend.pick_artifact(card)
        out.append((name, name, first))
        out += [(f"{name}:{a}", name, a) for a, art in card.artifacts.items()
                if a != first and first is not None and backend.supports(card, art)]
    return out


def _describe(check_id: str, definition: CheckDef, value: float, budget: float | None, passed: bool,
              cmp: Comparison | None) -> str:
    shown = definition.fmt.format(value) if isinstance(value, int) or "d" not in definition.fmt else f"{value}"
    if budget is None:
        text = f"{check_id} = {shown} (reported, no budget)"
    else:
        verdict = "ok" if passed else "FAILED"
        text = f"{check_id} = {shown} ({verdict}: budget {definition.relation} {definition.fmt.format(budget)})"
    if cmp is not None and definition.name == "top1_agreement" and cmp.flips:
        text += f"; {cmp.flips} flip(s) of {cmp.images}: {cmp.near_tie_flips} near-tie, {cmp.real_disagreements} real"
    return text


def _gap(card: Card, entry: str, backend: str, check_id: str) -> str | None:
    """The card's reason when it declares this check a known gap of the backend (or of this entry, e.g. tvm:float)."""
    return next((g.reason for g in card.conformance.known_gaps
                 if g.backend in (backend, entry) and g.check == check_id), None)


def _make_check(card: Card, backend: str, check_id: str, definition: CheckDef, value: float,
                budget: float | None, cmp: Comparison | None = None, entry: str | None = None) -> Check:
    passed = budget is None or definition.passes(value, budget)
    gap = _gap(card, entry or backend, backend, check_id)
    return Check(check_id, value, budget, bool(passed), _describe(check_id, definition, value, budget, passed, cmp), gap)


def comparison_checks(card: Card, backend: str, scope: str, cmp: Comparison, tol: Tolerance,
                      entry: str | None = None) -> list[Check]:
    """Every registered check of this card's kind on one comparison (see :mod:`zoo.conformance.checks`).

    A check is skipped where nothing was measured (e.g. logits a backend does not expose) or where
    its budget is optional and the card sets none.
    """
    out = []
    for definition in checks_for(card.kind, scope):
        value = definition.metric(cmp)
        budget = getattr(tol, definition.budget) if definition.budget else None
        if value is None or (definition.budget and budget is None):
            continue
        out.append(_make_check(card, backend, f"{scope}.{definition.name}", definition, value, budget, cmp, entry))
    return out


def _time(model: zoo.Model, images: np.ndarray, repeats: int = 10) -> tuple[float, float]:
    """Median per-image latency at batch 1 (ms) and throughput on the whole batch (images/s)."""
    one = images[:1]
    model.predict(one)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(one)
        samples.append(time.perf_counter() - start)
    start = time.perf_counter()
    model.predict(images)
    return float(np.median(samples) * 1e3), len(images) / (time.perf_counter() - start)


def _accuracy_checks(card: Card, result: BackendResult, data: EvalData, tol: Tolerance) -> list[Check]:
    defs = {d.name: d for d in checks_for(card.kind, "accuracy")}
    acc, ref = result.accuracy or 0.0, data.reference_accuracy
    delta = abs(acc - ref) * 100
    checks = []
    if "vs_reference_pct" in defs and tol.accuracy_delta_pct is not None:
        checks.append(_make_check(card, result.backend, "accuracy.vs_reference_pct", defs["vs_reference_pct"], delta,
                                  tol.accuracy_delta_pct))
    reported = next((r for r in card.figures("top1_accuracy", result.artifact) if r.dataset == data.name), None)
    if reported is not None and "vs_reported_pct" in defs:
        gap = abs(acc * 100 - reported.value)
        checks.append(_make_check(card, result.backend, "accuracy.vs_reported_pct", defs["vs_reported_pct"], gap,
                                  card.conformance.reported_accuracy_delta_pct))
    return checks


def convert_inputs(values: dict[str, np.ndarray], card_specs: tuple[TensorSpec, ...],
                   specs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    """The card's inputs in an artifact's own input dtypes: dequantized with the card's quantization,
    then quantized with the artifact's (a float artifact of an int8 card takes the real values)."""
    out = {}
    for card_spec, spec in zip(card_specs, specs, strict=True):
        x = values[card_spec.name]
        if spec.dtype == card_spec.dtype and spec.quantization == card_spec.quantization:
            out[spec.name] = x
            continue
        real = dequantize(x, card_spec)
        if spec.dtype == "float32":
            out[spec.name] = real.astype(np.float32)
        else:
            q = spec.quantization
            low, high = spec.range
            out[spec.name] = np.clip(np.rint(real / q.scale) + q.zero_point, low, high).astype(spec.dtype)
    return out


def check_backend(card: Card, entry: str, backend: str, artifact: str | None, data: EvalData | None,
                  timing: bool = True, progress: Callable[[str], None] | None = None) -> BackendResult:
    """Run every conformance check of one backend on one card.

    Args:
        card: the model card.
        entry: the name the result is reported under.
        backend: the backend name.
        artifact: the card's artifact id to run (None: the backend cannot run here).
        data: evaluation data with the reference's outputs (None: golden vectors only).
        timing: measure latency and throughput.
        progress: called with a short message at each stage.

    Returns:
        The result; ``status`` is "pass", "fail" or "skipped", with ``reason``.
    """
    say = progress or (lambda _msg: None)
    result = BackendResult(entry, backend, artifact)
    avail = zoo.backend_availability(backend)
    if not avail or artifact is None:
        result.reason = (avail.message() if not avail else
                         f"{backend} cannot run any of {card.name}'s artifacts: "
                         f"{zoo.registry.backend_class(backend)().refusals(card)}")
        return result
    try:
        say(f"{entry}: compiling")
        model = zoo.load(card.name, backend=backend, artifact=artifact)
        _run_checks(card, model, result, data, timing, say)
    except DoesNotFitError as exc:  # a fact about the part, not a conformance failure
        result.reason, result.fit = f"does not fit: {exc}", exc.fit()
        return result
    except Exception as exc:  # noqa: BLE001 - a backend's own failure is a result to report, not a crash of the run
        kind = "" if isinstance(exc, ZooError) else " (an unexpected error: please report it)"
        result.reason = f"{type(exc).__name__}{kind}: {exc}"
        gap = _gap(card, entry, backend, "compile.ok")
        result.checks.append(Check("compile.ok", 0, None, False, result.reason, gap))
        result.status = "xfail" if gap else "fail"
        return result
    failed = result.failures()
    gaps = [c for c in result.checks if c.status == "xfail"]
    result.status = "fail" if failed else ("xfail" if gaps else "pass")
    result.reason = "; ".join(c.message for c in failed) if failed else "; ".join(
        f"{c.message} [known gap: {c.known_gap}]" for c in gaps)
    return result


def _score(result: BackendResult, outputs: np.ndarray, labels: np.ndarray, classes: int) -> None:
    outputs = outputs.reshape(len(labels), -1)
    result.predictions = outputs.argmax(1)
    result.accuracy = float((result.predictions == labels).mean())
    top5 = np.argsort(-outputs.astype(np.float64), axis=1, kind="stable")[:, :5]
    result.top5_accuracy = float((top5 == labels[:, None]).any(1).mean())
    result.confusion = np.zeros((classes, classes), np.int64)
    np.add.at(result.confusion, (labels, result.predictions), 1)


def _compare_run(card: Card, model: zoo.Model, inputs: dict[str, np.ndarray], reference: dict[str, np.ndarray],
                 reference_logits: np.ndarray | None) -> tuple[Comparison, dict[str, np.ndarray]]:
    ins, outs = model.input_specs, model.output_specs
    got = model.run(convert_inputs(inputs, card.inputs, ins), logits=True)
    first = inputs[card.input.name]
    cmp = compare(got, outs, reference, card.outputs, card.kind, got.get(LOGITS), reference_logits, first, card.input)
    return cmp, got


def _run_checks(card: Card, model: zoo.Model, result: BackendResult, data: EvalData | None, timing: bool,
                say: Callable[[str], None]) -> None:
    tol = card.conformance.tolerance(result.backend, result.artifact or card.default_artifact)
    golden = load_golden(card)
    say(f"{result.entry}: golden vectors ({len(golden.inputs)})")
    result.golden, _ = _compare_run(card, model, golden.inputs_by_name, golden.outputs_by_name, golden.logits)
    result.checks += comparison_checks(card, result.backend, "golden", result.golden, tol, result.entry)
    if data is not None:
        say(f"{result.entry}: {data.name} ({len(data.images)} images)")
        result.data, got = _compare_run(card, model, {card.input.name: data.images}, data.reference_outputs_by_name,
                                        data.reference_logits)
        if card.kind == "classifier":
            _score(result, got[model.output_specs[0].name], data.labels, card.num_classes)
        result.checks += comparison_checks(card, result.backend, "data", result.data, tol, result.entry)
        if card.kind == "classifier":
            result.checks += _accuracy_checks(card, result, data, tol)
    if timing:
        say(f"{result.entry}: timing")
        images = data.images[:256] if data is not None else golden.inputs
        if len(card.inputs) == 1:
            result.latency_ms, result.throughput_ips = _time(model, convert_inputs(
                {card.input.name: images}, card.inputs, model.input_specs)[model.input_specs[0].name])
    fp = model.footprint()
    result.footprint = fp.as_dict() if fp else None
    result.instructions_per_inference = model.instructions_per_inference()

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
from zoo.card import Card, Tolerance
from zoo.conformance.golden import load_golden
from zoo.conformance.metrics import Comparison, compare
from zoo.errors import ZooError

__all__ = ["Check", "BackendResult", "EvalData", "check_backend", "entries"]


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
    images: np.ndarray
    labels: np.ndarray
    reference_outputs: np.ndarray
    reference_logits: np.ndarray | None

    @property
    def reference_accuracy(self) -> float:
        return float((self.reference_outputs.argmax(1) == self.labels).mean())


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
            "top1_agreement": min((c.top1_agreement for c in worst), default=None),
            "latency_ms": self.latency_ms, "throughput_ips": self.throughput_ips,
            "golden": self.golden.as_dict() if self.golden else None,
            "data": self.data.as_dict() if self.data else None,
            "checks": [c.as_dict() for c in self.checks],
            "footprint": self.footprint, "instructions_per_inference": self.instructions_per_inference,
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


def _budget_checks(prefix: str, cmp: Comparison, tol: Tolerance) -> list[tuple[str, float, float, bool]]:
    rows = [(f"{prefix}.max_abs_lsb", cmp.max_abs_lsb, tol.max_abs_lsb, cmp.max_abs_lsb <= tol.max_abs_lsb),
            (f"{prefix}.mismatch_fraction", cmp.mismatch_fraction, tol.mismatch_fraction,
             cmp.mismatch_fraction <= tol.mismatch_fraction),
            (f"{prefix}.mismatch_gt1_fraction", cmp.mismatch_gt1_fraction, tol.mismatch_gt1_fraction,
             cmp.mismatch_gt1_fraction <= tol.mismatch_gt1_fraction),
            (f"{prefix}.top1_agreement", cmp.top1_agreement, tol.top1_agreement,
             cmp.top1_agreement >= tol.top1_agreement)]
    if cmp.logits_max_abs_lsb is not None and tol.logits_max_abs_lsb is not None:
        rows.append((f"{prefix}.logits_max_abs_lsb", cmp.logits_max_abs_lsb, tol.logits_max_abs_lsb,
                     cmp.logits_max_abs_lsb <= tol.logits_max_abs_lsb))
    return rows


def _describe(name: str, value: float, budget: float, passed: bool, cmp: Comparison | None) -> str:
    relation = ">=" if "agreement" in name else "<="
    verdict = "ok" if passed else "FAILED"
    text = f"{name} = {value:.6g} ({verdict}: budget {relation} {budget:.6g})"
    if cmp is not None and "top1" in name and cmp.flips:
        text += f"; {cmp.flips} flip(s) of {cmp.images}: {cmp.near_tie_flips} near-tie, {cmp.real_disagreements} real"
    return text


def _make_check(card: Card, backend: str, name: str, value: float, budget: float, passed: bool,
                cmp: Comparison | None = None) -> Check:
    gap = next((g.reason for g in card.conformance.known_gaps if g.backend == backend and g.check == name), None)
    return Check(name, value, budget, bool(passed), _describe(name, value, budget, passed, cmp), gap)


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
    acc, ref = result.accuracy or 0.0, data.reference_accuracy
    delta = abs(acc - ref) * 100
    checks = [_make_check(card, result.backend, "accuracy.vs_reference_pct", delta, tol.accuracy_delta_pct,
                          delta <= tol.accuracy_delta_pct)]
    reported = next((r for r in (card.reported.accuracy if card.reported else ())
                     if r.artifact == result.artifact and r.dataset == data.name), None)
    if reported is not None:
        gap = abs(acc * 100 - reported.top1_percent)
        budget = card.conformance.reported_accuracy_delta_pct
        checks.append(_make_check(card, result.backend, "accuracy.vs_reported_pct", gap, budget, gap <= budget))
    return checks


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
        result.reason = avail.message() if not avail else f"{backend} runs none of {card.name}'s artifacts"
        return result
    try:
        say(f"{entry}: compiling")
        model = zoo.load(card.name, backend=backend, artifact=artifact)
        _run_checks(card, model, result, data, timing, say)
    except Exception as exc:  # noqa: BLE001 - a backend's own failure is a result to report, not a crash of the run
        kind = "" if isinstance(exc, ZooError) else " (an unexpected error: please report it)"
        result.status, result.reason = "fail", f"{type(exc).__name__}{kind}: {exc}"
        return result
    failed = result.failures()
    result.status = "fail" if failed else "pass"
    result.reason = "; ".join(c.message for c in failed)
    return result


def _score(result: BackendResult, outputs: np.ndarray, labels: np.ndarray, classes: int) -> None:
    result.predictions = outputs.argmax(1)
    result.accuracy = float((result.predictions == labels).mean())
    top5 = np.argsort(-outputs, axis=1, kind="stable")[:, :5]
    result.top5_accuracy = float((top5 == labels[:, None]).any(1).mean())
    result.confusion = np.zeros((classes, classes), np.int64)
    np.add.at(result.confusion, (labels, result.predictions), 1)


def _run_checks(card: Card, model: zoo.Model, result: BackendResult, data: EvalData | None, timing: bool,
                say: Callable[[str], None]) -> None:
    tol = card.conformance.tolerance(result.backend, result.artifact or card.default_artifact)
    quant = card.output.source_quantization
    golden = load_golden(card)
    say(f"{result.entry}: golden vectors ({len(golden.inputs)})")
    result.golden = compare(*model.predict_with_logits(golden.inputs), golden.outputs, golden.logits, quant)
    rows = _budget_checks("golden", result.golden, tol)
    if data is not None:
        say(f"{result.entry}: {data.name} ({len(data.images)} images)")
        outputs, logits = model.predict_with_logits(data.images)
        _score(result, outputs, data.labels, card.num_classes)
        result.data = compare(outputs, logits, data.reference_outputs, data.reference_logits, quant)
        rows += _budget_checks("data", result.data, tol)
    for name, value, budget, passed in rows:
        cmp = result.golden if name.startswith("golden") else result.data
        result.checks.append(_make_check(card, result.backend, name, value, budget, passed, cmp))
    if data is not None:
        result.checks += _accuracy_checks(card, result, data, tol)
    if timing:
        say(f"{result.entry}: timing")
        images = data.images[:256] if data is not None else golden.inputs
        result.latency_ms, result.throughput_ips = _time(model, images)
    fp = model.footprint()
    result.footprint = fp.as_dict() if fp else None
    result.instructions_per_inference = model.instructions_per_inference()

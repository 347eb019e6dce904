"""`zoo validate --report DIR`: the evaluation report beside the JSON.

Per backend: top-1 and top-5 accuracy, per-class accuracy, the confusion matrix (JSON and
PNG); where backends disagree with the reference, which samples flip (indices, and a
picture grid of them); for device backends, the instructions of each layer (:mod:`.layers`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zoo.atomic import atomic_write, output_error
from zoo.conformance.harness import BackendResult, EvalData
from zoo.conformance.layers import layer_lines, layer_profile
from zoo.conformance.validate import ValidationReport

__all__ = ["write_report"]

GRID_MAX = 64


def _flips(result: BackendResult, data: EvalData) -> list[dict[str, int]]:
    ref_pred = data.reference_outputs.argmax(1)
    idx = np.flatnonzero(result.predictions != ref_pred)
    return [{"index": int(i), "label": int(data.labels[i]), "reference": int(ref_pred[i]),
             "backend": int(result.predictions[i])} for i in idx]


def _backend_section(name: str, r: BackendResult, data: EvalData, labels: tuple[str, ...], folder: Path,
                     reference: str) -> tuple[dict[str, Any], list[str]]:
    from zoo.plots import confusion_png, image_grid_png

    slug = name.replace(":", "_")
    flips = _flips(r, data)
    confusion_png(r.confusion, labels, f"{name} on {data.name}", folder / f"confusion_{slug}.png")
    entry = {"accuracy": r.accuracy, "top5_accuracy": r.top5_accuracy, "per_class_accuracy":
             dict(zip(labels, r.per_class_accuracy() or [], strict=False)), "confusion": r.confusion.tolist(),
             "flips_vs_reference": flips}
    lines = [f"## {name}", "", f"top-1 {r.accuracy:.2%}, top-5 {r.top5_accuracy:.2%}; "
             f"{len(flips)} image(s) classified differently from {reference}.", "",
             f"![confusion matrix of {name}](confusion_{slug}.png)", ""]
    if flips and name != reference:
        shown = flips[:GRID_MAX]
        captions = [f"#{f['index']} {labels[f['label']]}: {labels[f['reference']]}→{labels[f['backend']]}"
                    for f in shown]
        image_grid_png(data.images[[f["index"] for f in shown]], captions,
                       f"{name} vs {reference}: true: reference→{name}", folder / f"flips_{slug}.png")
        lines += [f"![flips of {name}](flips_{slug}.png)", ""]
    return entry, lines


def write_report(report: ValidationReport, folder: Path) -> Path:
    """Write report.json, report.md and the PNGs into `folder`; returns the Markdown file.

    Backends without evaluation results (skipped, failed before running) are listed, not drawn.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(folder, exc, "report folder") from None
    data, labels = report.data, report.card.labels
    reference = report.card.conformance.reference_backend
    lines = [f"# {report.card.name}: evaluation report", "",
             f"Dataset: {data.name if data else 'none'}; reference backend: {reference}.", ""]
    backends: dict[str, Any] = {}
    for name, r in report.results.items():
        if data is None or r.confusion is None:
            lines += [f"## {name}", "", f"{r.status}: {r.reason or 'no evaluation results'}", ""]
        else:
            backends[name], section = _backend_section(name, r, data, labels, folder, reference)
            lines += section
        prof, why = layer_profile(report.card, r)
        if prof is not None:
            backends.setdefault(name, {})["layer_instructions"] = prof.as_dict()
            lines += layer_lines(name, prof)
        elif why:
            lines += [why, ""]
    atomic_write(folder / "report.json", json.dumps({"model": report.card.name, "dataset": data.name if data else None,
                                                     "labels": list(labels), "backends": backends}, indent=1) + "\n",
                 "report")
    md = folder / "report.md"
    atomic_write(md, "\n".join(lines), "report")
    return md

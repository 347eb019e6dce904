"""The models x backends matrix as data, Markdown and a terminal table; merging matrices of several runs.

The JSON keeps each entry's record as the harness gives it (``BackendResult.as_dict()`` plus
``model``, ``entry`` and ``dataset``); rendering reads only the public result keys and shows a
missing one as "—", so new or dropped harness fields do not break it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from zoo.errors import InputError
from zoo.matrix.jobs import JobOutcome

__all__ = ["COLUMNS", "cells", "check_writable", "markdown", "matrix_data", "merge", "passed", "table", "write_atomic"]

COLUMNS = ("status", "accuracy", "max |Δ| LSB", "top-1 agreement", "flash / RAM (B)", "instructions / inference")


def _failed_record(outcome: JobOutcome) -> dict[str, Any]:
    job = outcome.job
    reason = f"the job failed {outcome.attempts or 0} time(s), not retried further: " + " | ".join(outcome.errors)
    return {"model": job.model, "entry": job.backend, "dataset": None, "backend": job.backend, "status": "fail",
            "reason": reason}


def matrix_data(outcomes: Sequence[JobOutcome], executor: str) -> dict[str, Any]:
    """The matrix of a run: ``models`` (model -> entry -> record) and ``jobs`` (how each job went)."""
    models: dict[str, dict[str, Any]] = {}
    jobs: dict[str, Any] = {}
    for outcome in outcomes:
        job, result = outcome.job, outcome.result
        entries = result["entries"] if result else {job.backend: _failed_record(outcome)}
        models.setdefault(job.model, {}).update(entries)
        jobs[job.key] = {"model": job.model, "backend": job.backend, "status": "done" if outcome.ok else "failed",
                         "attempts": outcome.attempts, "errors": outcome.errors, "seconds": outcome.seconds,
                         "worker": result.get("worker") if result else None, "limit": job.limit}
    return {"executor": executor, "models": models, "jobs": jobs}


def merge(paths: Sequence[Path]) -> dict[str, Any]:
    """One matrix from the JSON files of several runs (e.g. one CI job per backend).

    Raises:
        InputError: a file is missing or not a matrix, or two files hold the same job.
    """
    merged: dict[str, Any] = {"executor": "merged", "models": {}, "jobs": {}}
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
            models, jobs = data["models"], data["jobs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path} is not a matrix written by `zoo matrix --json` ({type(exc).__name__}: "
                             f"{exc}); give the JSON files of earlier runs") from None
        for key in jobs:
            if key in merged["jobs"]:
                raise InputError(f"job {key} is in two of the files to merge ({path} and an earlier one); "
                                 "merge the results of distinct runs")
        merged["jobs"].update(jobs)
        for model, entries in models.items():
            merged["models"].setdefault(model, {}).update(entries)
    return merged


def passed(data: dict[str, Any], require_available: bool = False) -> bool:
    """No entry failed (and, with `require_available`, none was skipped)."""
    bad = {"fail", "skipped"} if require_available else {"fail"}
    return not any(r.get("status") in bad for entries in data["models"].values() for r in entries.values())


def _metric(r: dict[str, Any]) -> str:
    if r.get("accuracy") is not None:
        return f"{r['accuracy'] * 100:.2f} %"
    metric = r.get("metric")  # a task's own metric (e.g. an AUC), where the harness reports one
    if isinstance(metric, dict) and metric.get("value") is not None:
        return f"{metric.get('name', 'metric')} {metric['value']:.4g}"
    return "—"


def cells(r: dict[str, Any]) -> list[str]:
    """The row of one entry, in the order of :data:`COLUMNS`."""
    fp = r.get("footprint") or {}
    status = r.get("status", "—")
    if status != "pass" and r.get("reason"):
        status += f" ({r['reason'][:60]})"
    ipi = r.get("instructions_per_inference")
    return [status, _metric(r),
            "—" if r.get("max_abs_lsb") is None else str(r["max_abs_lsb"]),
            "—" if r.get("top1_agreement") is None else f"{r['top1_agreement'] * 100:.2f} %",
            f"{fp['flash_bytes']:,} / {fp['ram_bytes']:,}" if "flash_bytes" in fp and "ram_bytes" in fp else "—",
            "—" if ipi is None else f"{ipi:,}"]


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(data: dict[str, Any], title: str = "Backend conformance matrix") -> str:
    """The matrix as Markdown: one table per model, then how each job went."""
    lines = [f"# {title}", ""]
    for model, entries in sorted(data["models"].items()):
        dataset = next((e.get("dataset") for e in entries.values() if e.get("dataset")), None)
        lines += [f"## {model}" + (f" (accuracy on {dataset})" if dataset else ""), "",
                  "| backend | " + " | ".join(_escape(c) for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
        lines += [f"| {entry} | " + " | ".join(_escape(c) for c in cells(r)) + " |" for entry, r in sorted(entries.items())]
        lines.append("")
    lines += ["## Jobs", "", "| job | status | tries | seconds | worker | errors |", "|---|---|---|---|---|---|"]
    for key, j in sorted(data["jobs"].items()):
        seconds = "—" if j.get("seconds") is None else f"{j['seconds']:.1f}"
        errors = _escape("; ".join(j.get("errors") or []))[:300] or "—"
        lines.append(f"| {key} | {j.get('status')} | {j.get('attempts')} | {seconds} | {j.get('worker') or '—'} | "
                     f"{errors} |")
    return "\n".join(lines) + "\n"


STYLE = {"pass": "green", "fail": "bold red", "skipped": "yellow"}


def table(data: dict[str, Any]) -> Table:
    """The matrix as one terminal table (model, entry, then :data:`COLUMNS`)."""
    out = Table("model", "backend", *COLUMNS, title="conformance matrix", title_justify="left")
    for model, entries in sorted(data["models"].items()):
        for entry, r in sorted(entries.items()):
            row = cells(r)
            row = [escape(c) for c in row]
            row[0] = f"[{STYLE.get(r.get('status', ''), 'white')}]{row[0]}[/]"
            out.add_row(escape(model), escape(entry), *row)
    return out


def check_writable(path: Path) -> None:
    """Fail now, not after the run, when `path` cannot be written (its folder is created if missing).

    Raises:
        InputError: `path` is a folder, or its folder cannot be created or written.
    """
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name to write the matrix to")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder of {path}: {exc.strerror}; choose another path") from None
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"cannot write to {path.parent} (permission denied); choose another path")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it (never a half-written file).

    Raises:
        InputError: the file cannot be written.
    """
    check_writable(path)
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror}; choose another path") from None

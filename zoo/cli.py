"""The `zoo` command: a thin layer over the library API.

Exit codes: 0 ok, 1 a check failed (or a backend failed), 2 usage or input error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Table

import zoo
from zoo import registry
from zoo.errors import (ArtifactError, BackendUnavailableError, CardError, InputError, OutputError, UnknownNameError,
                        ZooError)
from zoo.escape import rich_escape as esc
from zoo.proc import exit_on_signals

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
USAGE_ERRORS = (InputError, CardError, UnknownNameError, ArtifactError, BackendUnavailableError, OutputError)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def _errors_to_exit(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZooError as exc:
            _error(str(exc))
            sys.exit(EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILED)
        except OSError as exc:  # a safety net: zoo turns the OSErrors it expects into ZooErrors naming the fix
            where = f"{exc.filename}: " if exc.filename else ""
            _error(f"{where}{exc.strerror or exc}")
            sys.exit(EXIT_FAILED)
        except MemoryError:
            _error("out of memory; pass fewer or smaller images at a time")
            sys.exit(EXIT_FAILED)
    return wrapper


def _error(message: str) -> None:
    err.print(f"[bold red]error:[/] {esc(message)}", markup=True, highlight=False)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--card", "cards", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Extra model card file or folder (repeatable); also ZOO_CARDS.")
@click.version_option(zoo.__version__, prog_name="zoo")
def main(cards: tuple[Path, ...]) -> None:
    """A model zoo for microcontroller models."""
    exit_on_signals()  # SIGTERM/SIGHUP clean up (tools, temporary files) as Ctrl-C does
    if cards:
        _errors_to_exit(registry.add_cards)(list(cards))


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors_to_exit
def list_cmd(as_json: bool) -> None:
    """List registered models."""
    names = zoo.list_models()
    if as_json:
        return _emit_json([{"name": n, "description": zoo.get_card(n).description} for n in names])
    table = Table("model", "task", "classes", "artifacts", "publisher")
    for n in names:
        c = zoo.get_card(n)
        table.add_row(n, c.task, str(c.num_classes), ", ".join(f"{k} ({a.format})" for k, a in c.artifacts.items()),
                      esc(c.publisher))
    out.print(table)


@main.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the whole card as JSON.")
@_errors_to_exit
def info(model: str, as_json: bool) -> None:
    """Show a model's card: identity, artifacts, tensors, reported figures."""
    card = zoo.get_card(model)
    if as_json:
        return _emit_json(card.model_dump(mode="json"))
    out.print(f"[bold]{card.name}[/] {esc(card.version)} — {card.task}, {card.num_classes} classes, "
              f"by {esc(card.publisher)}")
    out.print(card.description, markup=False, highlight=False)
    out.print(f"license: {card.license}", markup=False, highlight=False)
    table = Table("artifact", "file", "format", "bytes", "sha256")
    for k, a in card.artifacts.items():
        table.add_row(k, a.file, a.format, str(a.size), a.sha256[:16] + "…")
    out.print(table)
    for role, spec in (("input", card.input), ("output", card.output)):
        out.print(f"{role}: {spec.name} {list(spec.shape)} {spec.dtype} {spec.layout} — {spec.description}",
                  markup=False, highlight=False)
    if card.reported:
        for acc in card.reported.accuracy:
            out.print(f"reported top-1 ({acc.artifact}): {acc.top1_percent}% on {acc.dataset} {acc.split} "
                      f"({acc.samples} images), {card.reported.tool} {card.reported.tool_version}", markup=False,
                      highlight=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors_to_exit
def backends(as_json: bool) -> None:
    """List backends and whether each can run here (and if not, why and how to fix it)."""
    found = zoo.list_backends()
    if as_json:
        return _emit_json({n: {"available": a.ok, "reason": a.reason, "fix": a.fix} for n, a in found.items()})
    table = Table("backend", "available", "details")
    for name, avail in found.items():
        detail = _summary(name) if avail else avail.message()
        table.add_row(esc(name), "[green]yes[/]" if avail else "[red]no[/]", esc(detail))
    out.print(table)


def _summary(name: str) -> str:
    return registry.backend_class(name).summary


@main.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--backend", "-b", default="tflite", show_default=True, help="Backend name (see `zoo backends`).")
@click.option("--top-k", "-k", default=3, show_default=True, type=click.IntRange(1), help="Classes to show per image.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors_to_exit
def predict(model: str, images: tuple[Path, ...], backend: str, top_k: int, as_json: bool) -> None:
    """Classify IMAGES (PNG or .npy; uint8 grey, white on black) with MODEL."""
    from zoo.images import read_images

    batch, sources = read_images(list(images))
    m = zoo.load(model, backend=backend)
    probs = m.predict(batch)
    labels = m.card.labels
    k = min(top_k, len(labels))
    rows = []
    for source, p in zip(sources, probs, strict=True):
        order = np.argsort(-p, kind="stable")[:k]
        rows.append({"image": source, "top": [{"label": labels[j], "index": int(j), "score": float(p[j])} for j in order]})
    if as_json:
        return _emit_json({"model": m.card.name, "backend": backend, "predictions": rows})
    table = Table("image", *[f"#{i + 1}" for i in range(k)])
    for r in rows:
        table.add_row(esc(r["image"]), *[esc(f"{t['label']} ({t['score']:.3f})") for t in r["top"]])
    out.print(table)


@main.command()
@click.argument("model")
@click.option("--backend", "-b", "backends", multiple=True, help="Backend to check (repeatable; default: all).")
@click.option("--dataset", "-d", default=None, help="Evaluation dataset (default: the card's, else its stand-in).")
@click.option("--limit", "-n", type=click.IntRange(1), default=None, help="Use at most N evaluation images.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the results as JSON to this file.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the evaluation report (per-class accuracy, confusion matrices, flips) to this folder.")
@click.option("--no-timing", is_flag=True, help="Skip latency and throughput measurements.")
@_errors_to_exit
def validate(model: str, backends: tuple[str, ...], dataset: str | None, limit: int | None, json_path: Path | None,
             report_dir: Path | None, no_timing: bool) -> None:
    """Run every (or the given) backend through the conformance checks; exit 1 if any fails."""
    from zoo.atomic import check_target
    from zoo.conformance.table import report_table
    from zoo.conformance.validate import validate as run_validate

    if json_path:
        check_target(json_path, "validation results")  # now, not after a long validation

    with err.status("validating") as status:
        report = run_validate(model, list(backends) or None, dataset, limit, timing=not no_timing,
                              progress=lambda msg: status.update(esc(msg)))
    out.print(report_table(report))
    for name, r in report.results.items():
        if r.status != "pass":
            out.print(f"[bold]{esc(name)}[/] {r.status}: {esc(r.reason)}", highlight=False)
    if json_path:
        report.write_json(json_path)
        out.print(f"wrote {json_path}", markup=False, highlight=False)
    if report_dir:
        from zoo.conformance.report import write_report

        out.print(f"wrote {write_report(report, report_dir)}", markup=False, highlight=False)
    sys.exit(EXIT_OK if report.passed else EXIT_FAILED)


@main.command()
@click.argument("model")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: where the card's golden file lives).")
@_errors_to_exit
def golden(model: str, out_path: Path | None) -> None:
    """Regenerate MODEL's golden vectors with its reference backend (.npz + .sha256)."""
    from zoo.conformance.golden import golden_path, make_golden, write_golden

    card = zoo.get_card(model)
    path = out_path or golden_path(card)
    made = make_golden(card)
    digest = write_golden(made, path)
    kinds = dict(zip(*np.unique(made.kinds, return_counts=True)))
    counts = ", ".join(f"{int(v)} {k}" for k, v in kinds.items())
    click.echo(f"wrote {path} ({counts}; sha256 {digest})")


@main.command("export")
@click.argument("model")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--lowering", type=click.Choice(["int8", "float"]), default="int8", show_default=True)
@_errors_to_exit
def export_cmd(model: str, out_dir: Path, lowering: str) -> None:
    """Copy MODEL's Cortex-M7 C model library (sources, header, metadata.json) to OUT_DIR."""
    import shutil

    from zoo.atomic import atomic_dir

    if out_dir.exists() and not (out_dir.is_dir() and not any(out_dir.iterdir())):
        raise InputError(f"{out_dir} exists and is not empty (or not a folder); give a new or empty folder")
    m = zoo.load(model, backend="tvm-cortexm7", lowering=lowering)
    with atomic_dir(out_dir, "model library") as tmp:  # all of it or nothing
        shutil.copytree(m.runner.dir / "library", tmp, dirs_exist_ok=True)
    click.echo(f"wrote {out_dir}: " + ", ".join(sorted(p.name for p in out_dir.iterdir())))


@main.command()
@click.argument("model")
@click.option("--check", is_flag=True, help="Exit 1 if the committed Markdown is stale instead of writing it.")
@_errors_to_exit
def card(model: str, check: bool) -> None:
    """Render MODEL's Markdown card from its YAML card and latest validation (`zoo validate --json`)."""
    from zoo.cardgen import write_card

    path, ok = write_card(zoo.get_card(model), check=check)
    if check and not ok:
        err.print(f"{path} is stale: regenerate it with `zoo card {model}` and commit it", markup=False, highlight=False)
        sys.exit(EXIT_FAILED)
    click.echo(f"{path} is up to date" if check else f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()

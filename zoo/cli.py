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
from rich.markup import escape
from rich.table import Table

import zoo
from zoo import registry
from zoo.card import TASKS, TensorSpec
from zoo.errors import ArtifactError, BackendUnavailableError, CardError, InputError, OutputError, UnknownNameError, ZooError
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
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


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
        files = ", ".join(f"{k} ({a.format})" for k, a in c.artifacts.items())
        table.add_row(n, c.task, str(c.num_classes) if c.labels else "—", files, escape(c.publisher))
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
    classes = f", {card.num_classes} classes" if card.labels else ""
    out.print(f"[bold]{escape(card.name)}[/] {escape(card.version)} — {card.task}{classes}, by {escape(card.publisher)}")
    out.print(card.description, markup=False, highlight=False)
    out.print(f"license: {card.license}", markup=False, highlight=False)
    table = Table("artifact", "file", "format", "bytes", "sha256")
    for k, a in card.artifacts.items():
        table.add_row(k, a.file, a.format, str(a.size), a.sha256[:16] + "…")
    out.print(table)
    for role, specs in (("input", card.inputs), ("output", card.outputs)):
        for spec in specs:
            out.print(f"{role}: {escape(spec.name)} {list(spec.shape)} {spec.dtype} {spec.layout} — "
                      f"{escape(spec.description)}", highlight=False)
            if spec.pixels is not None:
                px = spec.pixels
                out.print(f"  pictures: value = pixel x {px.scale:.6g} + {px.offset:g}, then quantized "
                          f"({escape(px.source)})", highlight=False)
    out.print(f"reference: {card.conformance.reference_backend}", highlight=False)
    for fig in card.reported:
        where = ", ".join(str(x) for x in (fig.tool, fig.tool_version, fig.board, fig.dataset) if x)
        out.print(f"reported {fig.metric} ({fig.artifact}): {'~' if fig.approx else ''}{fig.value:g} {fig.unit}"
                  + (f" — {escape(where)}" if where else ""), highlight=False)


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
        table.add_row(escape(name), "[green]yes[/]" if avail else "[red]no[/]", escape(detail))
    out.print(table)


def _summary(name: str) -> str:
    return registry.backend_class(name).summary


def _read_arrays(paths: list[Path], spec: TensorSpec) -> tuple[np.ndarray, list[str]]:
    """Examples of a non-image input from .npy files: one example of the input's shape, or a batch of them."""
    per = tuple(spec.shape[1:])
    parts, sources = [], []
    for path in paths:
        if path.suffix.lower() != ".npy":
            raise InputError(f"{path}: the model's input {spec.name!r} is not an image ({spec.layout} {list(per)}); "
                             "give .npy files of that shape (one example, or a batch (N, ...))")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {path} as a .npy array: {exc}") from None
        arr = arr[None] if arr.shape == per else arr
        if arr.shape[1:] != per:
            raise InputError(f"{path} holds shape {list(arr.shape)}; expected {list(per)} or (N, {', '.join(map(str, per))})")
        parts.append(arr)
        sources += [f"{path}[{i}]" for i in range(len(arr))] if len(arr) > 1 else [str(path)]
    return np.concatenate(parts), sources


@main.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--backend", "-b", default="tflite", show_default=True, help="Backend name (see `zoo backends`).")
@click.option("--top-k", "-k", default=3, show_default=True, type=click.IntRange(1), help="Classes to show per image.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors_to_exit
def predict(model: str, images: tuple[Path, ...], backend: str, top_k: int, as_json: bool) -> None:
    """Run MODEL on IMAGES (PNG or .npy; for non-image models .npy of the input's shape): the top classes of a
    classifier, the anomaly score of an autoencoder, the output values of a regression model.

    Pictures (and uint8 .npy pixels) become the input's values by the card's ``pixels`` mapping; a .npy in
    the input's own dtype is taken as tensor values."""
    from zoo.conformance.metrics import anomaly_scores, dequantize
    from zoo.images import read_images
    from zoo.inputs import pixels_to_input

    m = zoo.load(model, backend=backend)
    spec = m.input_specs[0]
    if spec.layout == "NHWC":
        pictures, sources = read_images(list(images), channels=spec.shape[-1])
        batch = pixels_to_input(pictures, spec, model)
    else:
        batch, sources = _read_arrays(list(images), spec)
    outputs = m.predict(batch)
    card = m.card
    if card.kind == "classifier":
        k = min(top_k, len(card.labels))
        scores = dequantize(outputs, m.output_specs[0]).reshape(len(outputs), -1)  # int8 outputs as real values
        rows = [{"image": source, "top": [{"label": card.labels[j], "index": int(j), "score": float(p[j])}
                                          for j in np.argsort(-p, kind="stable")[:k]]}
                for source, p in zip(sources, scores, strict=True)]
        cells = [[f"{t['label']} ({t['score']:.3f})" for t in r["top"]] for r in rows]
        head = [f"#{i + 1}" for i in range(k)]
    elif card.kind == "autoencoder":
        score = anomaly_scores(outputs, m.output_specs[0], batch, m.input_specs[0])
        rows = [{"image": source, "anomaly_score": float(v)} for source, v in zip(sources, score, strict=True)]
        cells, head = [[f"{r['anomaly_score']:.6g}"] for r in rows], ["anomaly score (reconstruction MSE)"]
    else:
        real = dequantize(outputs, m.output_specs[0])  # int8 outputs as the real values they stand for
        rows = [{"image": source, "output": np.round(o, 6).tolist()} for source, o in zip(sources, real, strict=True)]
        cells, head = [[escape(str(np.round(o, 4).tolist())[:200])] for o in real], ["output (real values)"]
    if as_json:
        return _emit_json({"model": card.name, "backend": backend, "predictions": rows})
    table = Table("input", *head)
    for r, row_cells in zip(rows, cells, strict=True):
        table.add_row(escape(str(r["image"])), *row_cells)
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
                              progress=lambda msg: status.update(escape(msg)))
    out.print(report_table(report))
    for name, r in report.results.items():
        if r.status != "pass":
            out.print(f"[bold]{escape(name)}[/] {r.status}: {escape(r.reason)}", highlight=False)
    if json_path:
        report.write_json(json_path)
        out.print(f"wrote {json_path}", markup=False, highlight=False)
    if report_dir:
        from zoo.conformance.report import write_report

        out.print(f"wrote {write_report(report, report_dir)}", markup=False, highlight=False)
    sys.exit(EXIT_OK if report.passed else EXIT_FAILED)


@main.command()
@click.argument("models", nargs=-1)
@click.option("--backend", "-b", "backends", multiple=True, help="Backend (repeatable; default: all).")
@click.option("--limit", "-n", type=click.IntRange(1), default=None, help="Use at most N evaluation images per job.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: one Ray task per job (pip extra ray).")
@click.option("--workers", "-j", type=click.IntRange(1), default=None,
              help="Jobs at once (local pool, or the CPUs of a local Ray cluster); default: one per core.")
@click.option("--address", default=None, help="Ray cluster to connect to (HOST:PORT); default: start a local one.")
@click.option("--job-timeout", type=click.FloatRange(1, min_open=False), default=None,
              help="Seconds one try of a job may run before it is stopped (default: 3600).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the matrix as JSON to this file.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the matrix as Markdown to this file.")
@click.option("--title", default="Backend conformance matrix", show_default=True, help="Markdown title.")
@click.option("--merge", "merge_paths", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Merge these `--json` files of earlier runs instead of running jobs (repeatable).")
@click.option("--require-backends", is_flag=True, help="Exit 1 when a backend is unavailable (skipped), too.")
@_errors_to_exit
def matrix(models: tuple[str, ...], backends: tuple[str, ...], limit: int | None, executor: str,
           workers: int | None, address: str | None, job_timeout: float | None, json_path: Path | None,
           md_path: Path | None, title: str, merge_paths: tuple[Path, ...], require_backends: bool) -> None:
    """Every (model, backend) pair (default: all of each) through `zoo validate`'s checks, as one matrix."""
    from zoo.matrix.command import run_command
    from zoo.matrix.render import markdown, passed, table, write_atomic

    outputs = [p for p in (json_path, md_path) if p]
    data = run_command(list(models), list(backends), limit, executor, workers, address, job_timeout,
                       list(merge_paths), outputs, err)
    out.print(table(data))
    if json_path:
        write_atomic(json_path, json.dumps(data, indent=2) + "\n")
        out.print(f"wrote {json_path}", highlight=False)
    if md_path:
        write_atomic(md_path, markdown(data, title))
        out.print(f"wrote {md_path}", highlight=False)
    sys.exit(EXIT_OK if passed(data, require_backends) else EXIT_FAILED)


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
    kinds = dict(zip(*np.unique(made.kinds, return_counts=True), strict=True))
    counts = ", ".join(f"{int(v)} {k}" for k, v in kinds.items())
    click.echo(f"wrote {path} ({counts}; sha256 {digest})")


def _device_backends() -> list[str]:
    """Registered backends that build a C model library (``exports_library``), in name order."""
    names = []
    for name in registry.backend_names():
        try:
            if getattr(registry.backend_class(name), "exports_library", False):
                names.append(name)
        except BackendUnavailableError:
            continue
    return names


@main.command("export")
@click.argument("model")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-b", "--backend", default="tvm-cortexm7", show_default=True,
              help="A device backend (tvm-cortexm0, tvm-cortexm4, tvm-cortexm7, tvm-cortexm33, tvm-cortexm55, ...).")
@click.option("--lowering", type=click.Choice(["int8", "float"]), default="int8", show_default=True)
@_errors_to_exit
def export_cmd(model: str, out_dir: Path, backend: str, lowering: str) -> None:
    """Copy MODEL's C model library as device BACKEND builds it (sources, header, metadata.json) to OUT_DIR."""
    import shutil

    from zoo.atomic import atomic_dir

    if out_dir.exists() and not (out_dir.is_dir() and not any(out_dir.iterdir())):
        raise InputError(f"{out_dir} exists and is not empty (or not a folder); give a new or empty folder")
    if not getattr(registry.backend_class(backend), "exports_library", False):
        raise InputError(f"backend {backend!r} builds no C model library; choose a device backend: "
                         f"{', '.join(_device_backends())}")
    m = zoo.load(model, backend=backend, lowering=lowering)
    with atomic_dir(out_dir, "model library") as tmp:  # all of it or nothing
        shutil.copytree(m.runner.dir / "library", tmp, dirs_exist_ok=True)
    click.echo(f"wrote {out_dir}: " + ", ".join(sorted(p.name for p in out_dir.iterdir())))
    click.echo(f"build it for the {m.backend.target.core} with: arm-none-eabi-gcc {' '.join(m.backend.target.cflags)} -O2")


@main.command("diff")
@click.argument("model")
@click.option("--backend", "-b", "backends", multiple=True, required=True,
              help="Backend to compare (give exactly two: -b A -b B; Δ is A - B).")
@click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Inputs: a .npy batch (single-input models) or a .npz keyed by input name.")
@click.option("--golden", is_flag=True, help="Use the card's golden inputs (the default).")
@click.option("--limit", "-n", type=click.IntRange(1), default=None, help="Use at most N examples.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the comparison as JSON to this file.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write diff.json, diff.md and figures (Δ per layer, where the first differing tensor differs).")
@_errors_to_exit
def diff_cmd(model: str, backends: tuple[str, ...], input_path: Path | None, golden: bool, limit: int | None,
             json_path: Path | None, report_dir: Path | None) -> None:
    """Compare two backends on MODEL layer by layer and name the first layer where they part.

    Exit 0 when every compared tensor is identical, 1 when they differ, 2 on a usage error."""
    from zoo.diff import diff, load_inputs
    from zoo.diff.table import diff_table, summary_lines

    if input_path is not None and golden:
        raise InputError("give either --input FILE or --golden, not both")
    inputs = load_inputs(input_path, zoo.get_card(model)) if input_path is not None else None
    with err.status("running both backends"):
        report = diff(model, list(backends), inputs, limit, input_source=str(input_path) if input_path else None)
    out.print(diff_table(report))
    for line in summary_lines(report):
        out.print(line, highlight=False)
    if json_path:
        report.write_json(json_path)
        out.print(f"wrote {escape(str(json_path))}", highlight=False)
    if report_dir:
        from zoo.diff.report import write_report

        out.print(f"wrote {escape(str(write_report(report, report_dir)))}", highlight=False)
    sys.exit(EXIT_OK if report.identical else EXIT_FAILED)


class _CardGroup(click.Group):
    """`zoo card MODEL` renders (the default); `zoo card init MODEL.tflite` writes a new card."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        positional = [a for a in args if not a.startswith("-")]
        if positional and positional[0] not in self.commands and not (args and args[0] in ("-h", "--help")):
            args = ["render", *args]
        return super().parse_args(ctx, args)


@main.group(cls=_CardGroup)
def card() -> None:
    """Model cards: `zoo card MODEL [--check]` renders the Markdown; `zoo card init FILE.tflite` writes a card."""


@card.command("render")
@click.argument("model")
@click.option("--check", is_flag=True, help="Exit 1 if the committed Markdown is stale instead of writing it.")
@_errors_to_exit
def card_render(model: str, check: bool) -> None:
    """Render MODEL's Markdown card from its YAML card and latest validation (`zoo validate --json`)."""
    from zoo.cardgen import write_card

    path, ok = write_card(zoo.get_card(model), check=check)
    if check and not ok:
        err.print(f"{escape(str(path))} is stale: regenerate it with `zoo card {escape(model)}` and commit it",
                  highlight=False)
        sys.exit(EXIT_FAILED)
    click.echo(f"{path} is up to date" if check else f"wrote {path}")


@card.command("init")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Registry name of the new card (lower case, digits, _ . -).")
@click.option("--labels", default=None, help="Class names in output order, comma-separated (classifiers).")
@click.option("--task", type=click.Choice(list(TASKS)), default=None, help="Task (default: guessed from the model).")
@click.option("--url", default=None, help="Where the file is published (default: its local path).")
@click.option("--value-range", nargs=2, type=float, default=None, help="Real range of a float32 input.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder for the card and its golden vectors.")
@_errors_to_exit
def card_init(model_file: Path, name: str, labels: str | None, task: str | None, url: str | None,
              value_range: tuple[float, float] | None, out_dir: Path) -> None:
    """Write a card for MODEL_FILE (.tflite): tensors and quantization read from it, file pinned by sha256,
    golden vectors from the reference (tflm), budgets measured against LiteRT's kernel sets."""
    from zoo.cardinit import init_card

    names = [x.strip() for x in labels.split(",")] if labels else None
    with err.status("measuring budgets"):
        result = init_card(model_file, name, out_dir, task=task, labels=names, url=url,
                           value_range=list(value_range) if value_range else None)
    click.echo(f"wrote {result.card_path} and {result.golden_path}")
    for item in result.todo:
        click.echo(f"  fill in: {item}")
    click.echo(f"then: zoo --card {result.card_path} validate {name}")


if __name__ == "__main__":  # pragma: no cover
    main()

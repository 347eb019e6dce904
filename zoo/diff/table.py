"""The terminal view of a :class:`zoo.diff.DiffReport`: one row per layer and a verdict below it."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from zoo.diff.compare import LayerDiff
from zoo.diff.run import DiffReport

__all__ = ["diff_table", "summary_lines"]

NAME_CHARS = 48
_STYLE = {"identical": "green", "tie": "yellow", "differs": "red", "not compared": "dim"}


def short_name(name: str, width: int = NAME_CHARS) -> str:
    """A tensor name cut to `width` characters (TFLite's fused names run to hundreds), its end kept."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _amount(layer: LayerDiff) -> tuple[str, str]:
    if layer.max_abs is None or layer.differing is None:
        return "", ""
    value = f"{layer.max_abs:g}" if layer.step is not None or layer.max_abs == 0 else f"{layer.max_abs:.3g}"
    return value, f"{layer.differing:.2%}"


def diff_table(report: DiffReport) -> Table:
    """One row per compared tensor: operator, tensor, shape, max |Δ| in its steps, share differing, status."""
    a, b = report.backends
    table = Table("#", "operator", "tensor", "shape", "max |Δ|", "differing", "status",
                  title=f"{escape(report.model)}: {escape(a)} vs {escape(b)}, {report.examples} examples "
                        f"({escape(report.inputs)}), {'every layer' if report.scope == 'layers' else 'outputs only'}")
    first, over = report.first_differing, report.first_over_one_step
    for layer in report.layers:
        marks = [m for m, hit in (("first differing", layer is first), ("first > 1 step", layer is over)) if hit]
        status = layer.status + (f": {layer.reason}" if layer.reason else "")
        style = _STYLE.get(layer.status, "")
        value, share = _amount(layer)
        table.add_row(str(layer.operator), layer.op, escape(short_name(layer.name)), "x".join(map(str, layer.shape[1:])),
                      value, share, f"[{style}]{escape(status)}[/]" + (f" [bold]← {', '.join(marks)}[/]" if marks else ""))
    return table


def _describe(layer: LayerDiff) -> str:
    tie = ", a rounding tie (|Δ| = 1 wherever it differs)" if layer.status == "tie" else ""
    return (f"#{layer.operator} {layer.op} {escape(layer.name)!r}: max |Δ| {layer.max_abs:g} {escape(layer.unit)} in "
            f"{layer.differing:.2%} of its elements, {layer.examples_differing} of the examples{tie}")


def summary_lines(report: DiffReport) -> list[str]:
    """The verdict: identical, or the first differing layer and the first one over a step; then the notes."""
    lines = []
    compared = [x for x in report.layers if x.status != "not compared"]
    what = "layer" if report.scope == "layers" else "output"
    if report.identical:
        lines.append(f"[green]every compared {what} is identical[/] ({len(compared)} of {len(report.layers)})")
    elif not compared:
        lines.append(f"[yellow]no {what} could be compared[/]")
    first, over = report.first_differing, report.first_over_one_step
    if first is not None:
        lines.append(f"first differing {what}: {_describe(first)}")
    if over is not None and over is not first:
        lines.append(f"first {what} over one step: {_describe(over)}")
    lines += [f"note: {escape(note)}" for note in report.notes]
    return lines

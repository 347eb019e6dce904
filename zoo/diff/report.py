"""`zoo diff --report DIR`: diff.json, diff.md and two figures.

- ``delta_per_layer.png``: max |Δ| (in each tensor's own steps) and the share of differing
  elements per layer, in execution order, the first differing layer marked.
- ``first_diverging.png``: where the first differing tensor differs: differing elements per
  channel and, for image-like tensors, per pixel (summed over examples and channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.atomic import atomic_write
from zoo.diff.run import DiffReport
from zoo.diff.table import short_name
from zoo.plots import _NO_STAMP, _pyplot

__all__ = ["write_report"]


def _delta_png(report: DiffReport, path: Path) -> None:
    plt = _pyplot()
    layers = [x for x in report.layers if x.status != "not compared"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(layers) + 2), 4), dpi=100)
    xs = np.arange(len(layers))
    ax.bar(xs, [x.max_abs for x in layers], color=["tab:red" if x.over_one_step else "tab:orange" if x.differs
                                                   else "tab:green" for x in layers])
    ax.set_ylabel("max |Δ| (own steps)")
    ax.set_xticks(xs, [f"#{x.operator} {x.op}" for x in layers], rotation=60, ha="right", fontsize=7)
    share = ax.twinx()
    share.plot(xs, [100 * (x.differing or 0) for x in layers], "k.-", lw=1)
    share.set_ylabel("elements differing (%)")
    first = report.first_differing
    if first is not None and first in layers:
        ax.axvline(layers.index(first), color="tab:red", ls="--", lw=1)
    a, b = report.backends
    ax.set_title(f"{report.model}: {a} vs {b}, {report.examples} examples ({report.scope})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata=_NO_STAMP)
    plt.close(fig)


def _divergence_png(report: DiffReport, path: Path) -> None:
    plt = _pyplot()
    where, first = report.divergence or {}, report.first_differing
    grid = where.get("per_pixel")
    fig, axes = plt.subplots(1, 2 if grid else 1, figsize=(10 if grid else 6, 4), dpi=100, squeeze=False)
    channels = where.get("per_channel") or []
    axes[0, 0].bar(np.arange(len(channels)), channels, color="tab:red")
    axes[0, 0].set_xlabel("channel")
    axes[0, 0].set_ylabel("differing elements")
    if grid:
        im = axes[0, 1].imshow(np.asarray(grid), cmap="Reds")
        axes[0, 1].set_title("differing elements per pixel", fontsize=8)
        fig.colorbar(im, ax=axes[0, 1], fraction=0.046)
    if first is not None:
        fig.suptitle(f"first differing: #{first.operator} {first.op} {short_name(first.name, 60)}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata=_NO_STAMP)
    plt.close(fig)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (tensor names may hold '|' or backticks)."""
    return text.replace("|", "\\|").replace("`", "'")


def _markdown(report: DiffReport, figures: list[str]) -> str:
    a, b = report.backends
    first, over = report.first_differing, report.first_over_one_step
    lines = [f"# {report.model}: {a} vs {b}", "",
             f"{report.examples} examples ({report.inputs}); compared: "
             f"{'every layer both expose' if report.scope == 'layers' else 'the outputs only'}.", ""]
    lines += [f"- note: {n}" for n in report.notes] + ([""] if report.notes else [])
    lines.append("Every compared tensor is identical." if report.identical else
                 f"First differing layer: #{first.operator} {first.op} `{_cell(first.name)}`." if first else "")
    if over is not None:
        lines.append(f"First layer over one step: #{over.operator} {over.op} `{_cell(over.name)}` (max |Δ| {over.max_abs:g}).")
    lines += ["", "| # | operator | tensor | shape | max abs Δ | differing | status |", "|---|---|---|---|---|---|---|"]
    for x in report.layers:
        share = f"{x.differing:.2%}" if x.differing is not None else ""
        lines.append(f"| {x.operator} | {x.op} | `{_cell(short_name(x.name))}` | {'x'.join(map(str, x.shape[1:]))} | "
                     f"{'' if x.max_abs is None else f'{x.max_abs:g}'} | {share} | {x.status} {_cell(x.reason)} |")
    lines += [""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def write_report(report: DiffReport, folder: Path) -> Path:
    """Write diff.json, diff.md and the figures into `folder` (created); returns the Markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    report.write_json(folder / "diff.json")
    figures = []
    if any(x.status != "not compared" for x in report.layers):
        _delta_png(report, folder / "delta_per_layer.png")
        figures.append("delta_per_layer.png")
    if report.divergence is not None:
        _divergence_png(report, folder / "first_diverging.png")
        figures.append("first_diverging.png")
    path = folder / "diff.md"
    atomic_write(path, _markdown(report, figures), "diff report")
    return path

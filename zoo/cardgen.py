"""`zoo card MODEL`: render the Markdown model card from the YAML card and the latest validation.

The YAML card is the source of truth; the validation results are the JSON that
``zoo validate MODEL --json model_cards/MODEL.validation.json`` writes. Rendering reads only
those two files, so ``--check`` can tell whether the committed Markdown is stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from zoo import registry
from zoo.card import Card, Figure
from zoo.atomic import atomic_write
from zoo.conformance.results_file import read_results
from zoo.escape import md, md_code, md_link

__all__ = ["render_card", "validation_path", "write_card"]

MISSING = "[More Information Needed]"


def validation_path(card: Card) -> Path:
    """Where a card's latest validation results live: beside the YAML card."""
    return registry.card_path(card.name).with_name(f"{card.name}.validation.json")


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.2f} %"


def _fig(f: Figure) -> str:
    return f"{'~' if f.approx else ''}{f.value:g} {f.unit}"


def _flips(r: dict[str, Any]) -> str:
    parts = [r.get(k) for k in ("golden", "data") if r.get(k)]
    if not parts:
        return MISSING
    return f"{sum(p['flips'] for p in parts)} ({sum(p['near_tie_flips'] for p in parts)})"


def _table_text(text: str) -> str:
    """Text for one Markdown table cell: one line, pipes and other Markdown/HTML syntax escaped."""
    return md(text)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("zoo", "templates"), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False)
    env.filters.update(num=_num, pct=_pct, fig=_fig, flips=_flips, table=_table_text, md=md, code=md_code, link=md_link)
    return env


def _io_bytes(card: Card) -> dict[str, int]:
    """Bytes of one input and one output tensor (the buffers a caller of the device model provides)."""
    import numpy as np

    return {role: int(np.prod(spec.shape[1:])) * np.dtype(spec.dtype).itemsize
            for role, spec in (("input", card.input), ("output", card.output))}


def comparison_rows(card: Card) -> list[dict[str, Any]]:
    """Device figures to compare with: the publisher's (KiB converted to bytes; cycles from time x clock,
    which are not emulated instructions) and the card's cited comparisons."""
    rows: list[dict[str, Any]] = []
    rep = card.reported
    fp = next((f for f in (rep.footprint if rep else ()) if f.artifact == card.default_artifact), None)
    if rep and fp:
        t = next((t for t in rep.inference_time if t.artifact == card.default_artifact), None)
        cycles = round(t.inference_ms * 1e-3 * t.clock_mhz * 1e6) if t else None
        rows.append({"name": f"{rep.tool} {rep.tool_version}", "target": t.board if t else fp.series,
                     "ram_bytes": round(fp.total_ram.value * 1024), "flash_bytes": round(fp.total_flash.value * 1024),
                     "weights_bytes": round(fp.weights_flash.value * 1024), "code_bytes": round(fp.code_flash.value * 1024),
                     "arena_bytes": round(fp.activation_ram.value * 1024),
                     "count": cycles, "per_inference": f"{cycles:,} cycles ({t.inference_ms} ms at {t.clock_mhz:g} MHz)"
                     if t else MISSING, "source": f"{card.publisher}: {rep.source.title} (approximate totals)"})
    for c in card.comparisons:
        rows.append({"name": c.name, "target": c.target, "ram_bytes": c.ram_bytes, "flash_bytes": c.flash_bytes,
                     "count": c.instructions_per_inference, "source": c.source,
                     "per_inference": MISSING if c.instructions_per_inference is None
                     else f"{c.instructions_per_inference:,} instructions"})
    return rows


def render_card(card: Card, validation: dict[str, Any] | None, confusion_png: str | None,
                validation_file: str) -> str:
    """The Markdown card as text.

    Args:
        card: the model card.
        validation: the parsed validation JSON, or None (measured sections then show as missing).
        confusion_png: relative path of the confusion-matrix image, or None.
        validation_file: the name of the validation file, for the header.
    """
    validation = validation or {"dataset": None, "reference": None, "backends": {}, "provenance": None}
    backends = list(validation["backends"].items())
    tolerances = [(f"default, {a}", t) for a, t in card.conformance.tolerances.items()]
    tolerances += [(f"{b}, {a}", t) for b, per in card.conformance.backend_tolerances.items() for a, t in per.items()]
    prov = validation.get("provenance") or {}
    context = {
        "card": card, "validation": validation, "missing": MISSING, "validation_file": validation_file,
        "reported_tool": f"{card.reported.tool} {card.reported.tool_version}" if card.reported else MISSING,
        "backends": [(n, r) for n, r in backends if r["status"] != "skipped"],
        "device_rows": [(n, r) for n, r in backends if r.get("footprint")],
        "host_rows": [(n, r) for n, r in backends if r.get("latency_ms") is not None and not r.get("footprint")],
        "tolerances": tolerances, "confusion_png": confusion_png, "machine": prov.get("machine", MISSING),
        "card_file": registry.card_path(card.name).name, "comparison_rows": comparison_rows(card),
        "io_bytes": _io_bytes(card),
    }
    return _environment().get_template("model_card.md.j2").render(**context)


def _confusion_png(validation: dict[str, Any], card: Card, path: Path) -> None:
    from zoo.plots import confusion_png

    ref = validation["backends"][validation["reference"]]
    confusion_png(ref["confusion"], card.labels, f"{card.name}, {validation['reference']} on "
                  f"{validation['dataset']} (row-normalised)", path)


def write_card(card: Card, check: bool = False) -> tuple[Path, bool]:
    """Render the Markdown card (and its confusion-matrix PNG) beside the YAML card.

    Args:
        card: the model card.
        check: compare with the file on disk instead of writing it.

    Returns:
        (path of the Markdown file, whether it is up to date / was written).

    Raises:
        ArtifactError: the validation JSON exists but cannot be read or is malformed.
        OutputError: the Markdown card or its PNG cannot be written (each is replaced atomically).
    """
    vpath = validation_path(card)
    validation = read_results(vpath)
    md_path = vpath.with_name(f"{card.name}.md")
    png = vpath.with_name(f"{card.name}_confusion.png")
    confusion = (validation["backends"].get(validation.get("reference") or "") or {}).get("confusion") if validation \
        else None
    has_png = bool(confusion) and len(confusion) == card.num_classes and all(len(r) == card.num_classes
                                                                               for r in confusion)
    text = render_card(card, validation, png.name if has_png else None, vpath.name)
    if check:
        try:
            return md_path, md_path.is_file() and md_path.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            return md_path, False
    if has_png:
        _confusion_png(validation, card, png)
    atomic_write(md_path, text, "Markdown card")
    return md_path, True
